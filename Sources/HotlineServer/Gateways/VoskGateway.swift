import Foundation
import HotlineCore
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import Synchronization

// MARK: - vosk-server compatible transcription

/// `ws://host/` and `ws://host/v1/gateways/vosk`: what vosk-server speaks, so its clients work unchanged (with a key in
/// the URL's `token` or a header). An optional `{"config": {...}}` text frame, then binary s16le mono frames, each
/// answered by exactly one JSON message (`partial`, or `result`/`text` when an utterance ended); `{"eof" : 1}` gets the
/// final result and closes. Transcription only: the general model, decoded live.
struct VoskGateway {
    let server: HotlineServer

    func register(on router: Router<HotlineRequestContext>) {
        for path in ["/", "v1/gateways/vosk"] {
            router.ws(RouterPath(path)) { request, _ in
                try server.requireGatewayCredentials(request)
                return .upgrade([:])
            } onUpgrade: { inbound, outbound, context in
                await handle(inbound: inbound, outbound: outbound, request: context.request, logger: context.logger)
            }
        }
    }

    struct Configuration {
        var sampleRate = 8_000
        var words = false
        var alternatives = 0
    }

    /// Results waiting for the next reply.
    final class Collector: Sendable {
        struct State {
            var partial = ""
            var finals: [UtteranceResult] = []
            var markers: Set<String> = []
            var waiter: (String, CheckedContinuation<Void, Never>)?
        }

        let state = Mutex(State())

        func record(_ event: CallEvent) {
            let resume = state.withLock { state -> CheckedContinuation<Void, Never>? in
                switch event {
                case .partial(let text, _): state.partial = text
                case .final(let result):
                    state.finals.append(result)
                    state.partial = ""
                case .marker(let name):
                    if let (waiting, continuation) = state.waiter, waiting == name {
                        state.waiter = nil
                        return continuation
                    }
                    state.markers.insert(name)
                default: break
                }
                return nil
            }
            resume?.resume()
        }

        func wait(for marker: String) async {
            await withCheckedContinuation { continuation in
                let seen = state.withLock { state -> Bool in
                    if state.markers.remove(marker) != nil { return true }
                    state.waiter = (marker, continuation)
                    return false
                }
                if seen { continuation.resume() }
            }
        }

        /// The reply to one frame: the oldest unreported final, or the partial.
        func reply(_ configuration: Configuration) -> [String: Any] {
            state.withLock { state in
                if !state.finals.isEmpty { return VoskGateway.result([state.finals.removeFirst()], configuration) }
                return ["partial": state.partial]
            }
        }

        /// Everything not yet reported, as one final result.
        func finalReply(_ configuration: Configuration) -> [String: Any] {
            state.withLock { state in
                defer { state.finals.removeAll() }
                return VoskGateway.result(state.finals, configuration)
            }
        }
    }

    static func result(_ finals: [UtteranceResult], _ configuration: Configuration) -> [String: Any] {
        let text = finals.map(\.utterance.text).joined(separator: " ")
        let words: [[String: Any]] = finals.flatMap(\.utterance.words).map {
            ["conf": $0.confidence, "start": $0.start, "end": $0.end, "word": $0.word]
        }
        if configuration.alternatives > 0 {
            var alternatives: [[String: Any]] = []
            if finals.count == 1 {
                for (index, alternative) in finals[0].alternatives.prefix(configuration.alternatives).enumerated() {
                    var entry: [String: Any] = ["confidence": alternative.score, "text": alternative.text]
                    if index == 0, configuration.words { entry["result"] = words }
                    alternatives.append(entry)
                }
            }
            if alternatives.isEmpty {
                var entry: [String: Any] = ["confidence": 0.0, "text": text]
                if configuration.words { entry["result"] = words }
                alternatives = [entry]
            }
            return ["alternatives": alternatives]
        }
        var object: [String: Any] = ["text": text]
        if configuration.words, !words.isEmpty { object["result"] = words }
        return object
    }

    static func parseConfig(_ object: [String: Any], into configuration: inout Configuration) throws {
        guard let config = object["config"] as? [String: Any] else { throw HotlineServer.GatewayError(description: "text message is neither config nor eof") }
        if let rate = config["sample_rate"] {
            guard let number = (rate as? NSNumber)?.doubleValue, number >= 8_000, number <= 48_000 else {
                throw HotlineServer.GatewayError(description: "config.sample_rate \(rate) is not 8000 to 48000")
            }
            configuration.sampleRate = Int(number)
        }
        if let words = config["words"] as? Bool { configuration.words = words }
        if let alternatives = config["max_alternatives"] as? Int { configuration.alternatives = max(0, min(alternatives, 10)) }
    }

    func handle(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, request: Request, logger parent: Logger) async {
        var logger = parent
        logger[metadataKey: "gateway"] = "vosk"
        let identity: Identity
        do { identity = try server.gatewayIdentity(request, token: nil) } catch {
            await server.closeWebSocket(outbound, gateway: .vosk, error: "\(error)", logger: logger, code: .policyViolation)
            return
        }
        func send(_ object: [String: Any]) async throws {
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            try await outbound.write(.text(String(decoding: data, as: UTF8.self)))
        }
        var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
        var configuration = Configuration()
        // Config frames until the first audio.
        var firstAudio: [UInt8]?
        do {
            configuring: while let message = try await messages.next() {
                switch message {
                case .binary(let buffer):
                    firstAudio = Array(buffer.readableBytesView)
                    break configuring
                case .text(let text):
                    guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                        throw HotlineServer.GatewayError(description: "bad JSON message: \(text.prefix(80))")
                    }
                    if object["eof"] != nil {
                        try await send(["text": ""])
                        try? await outbound.close(.normalClosure, reason: nil)
                        return
                    }
                    try Self.parseConfig(object, into: &configuration)
                }
            }
        } catch {
            await server.closeWebSocket(outbound, gateway: .vosk, error: "\(error)", logger: logger)
            return
        }
        guard let firstAudio else { return }
        let call = CallStart(id: UUID().uuidString.lowercased(), gateway: .vosk, keyName: identity.name)
        let format = CallAudioFormat(encoding: .linear16, sampleRate: configuration.sampleRate)
        let settings = configuration
        do {
            try await server.host.withCall(call, format: format, transcriptionOnly: true, keyLimit: identity.maximumCalls, logger: logger) { active in
                let collector = Collector()
                return try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { for await event in active.events { collector.record(event) } }
                    var frames = 0
                    func answer(_ bytes: [UInt8]) async throws {
                        active.session.receive(frame: bytes)
                        // One reply per frame, after the frame is fully processed (vosk-server decodes in line too).
                        var spins = 0
                        while !active.session.isSettled {
                            spins += 1
                            if spins < 100 { await Task.yield() } else { try await Task.sleep(for: .milliseconds(1)) }
                        }
                        frames += 1
                        active.session.mark("frame-\(frames)")
                        await collector.wait(for: "frame-\(frames)")
                        try await send(collector.reply(settings))
                    }
                    try await answer(firstAudio)
                    var reason = "client closed the connection"
                    var sawEOF = false
                    reading: while let message = try await messages.next() {
                        switch message {
                        case .binary(let buffer):
                            try await answer(Array(buffer.readableBytesView))
                        case .text(let text):
                            guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                                throw HotlineServer.GatewayError(description: "bad JSON message: \(text.prefix(80))")
                            }
                            guard object["eof"] != nil else { throw HotlineServer.GatewayError(description: "config after audio (send it first)") }
                            reason = "end of stream"
                            sawEOF = true
                            break reading
                        }
                    }
                    active.session.hangUp(reason: reason)
                    try await group.waitForAll()
                    if sawEOF {
                        try await send(collector.finalReply(settings))
                        try? await outbound.close(.normalClosure, reason: nil)
                    }
                    return reason
                }
            }
        } catch {
            await server.closeWebSocket(outbound, gateway: .vosk, error: "\(error)", logger: logger, code: .policyViolation)
            return
        }
        await server.closeIfFailed(call, outbound)
    }
}
