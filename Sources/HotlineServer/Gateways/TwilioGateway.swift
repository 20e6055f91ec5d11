import Foundation
import HotlineCore
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import Synchronization

// MARK: - Twilio Media Streams

/// `wss://host/v1/gateways/twilio`: a bidirectional `<Connect><Stream>`. In: `connected`, `start`, `media`, `dtmf`, `mark`,
/// `stop`; out: `media` (μ-law, base64), `mark` after each prompt, `clear` on barge-in. The stream is closed when the
/// bot ends the call or hands off, once the last prompt has played (its mark came back): the TwiML after `<Connect>`
/// then asks `/v1/calls/{CallSid}` where to send the caller. Twilio cannot send headers or query strings, so a key may
/// come as the custom parameter `token`; `caller` (or `From`) and `language` feed the dialog and caller memory.
struct TwilioGateway {
    let server: HotlineServer

    func register(on router: Router<HotlineRequestContext>) {
        router.ws("v1/gateways/twilio") { request, _ in
            _ = try server.gatewayCredentials(request)
            return .upgrade([:])
        } onUpgrade: { inbound, outbound, context in
            await handle(inbound: inbound, outbound: outbound, request: context.request, logger: context.logger)
        }
    }

    struct Inbound: Decodable {
        var event: String
        var sequenceNumber: String?
        var streamSid: String?
        var start: Start?
        var media: Media?
        var dtmf: DTMF?
        var mark: Mark?

        struct Start: Decodable {
            var accountSid: String?
            var streamSid: String?
            var callSid: String
            var tracks: [String]?
            var customParameters: [String: String]?
            var mediaFormat: MediaFormat?
        }

        struct MediaFormat: Decodable {
            var encoding: String
            var sampleRate: Int
            var channels: Int
        }

        struct Media: Decodable {
            var track: String?
            var chunk: String?
            var timestamp: String?
            var payload: String
        }

        struct DTMF: Decodable {
            var track: String?
            var digit: String
        }

        struct Mark: Decodable {
            var name: String
        }
    }

    struct Outbound: Encodable {
        var event: String
        var streamSid: String
        var media: Media?
        var mark: Mark?

        struct Media: Encodable { var payload: String }
        struct Mark: Encodable { var name: String }
    }

    func handle(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, request: Request, logger parent: Logger) async {
        var logger = parent
        logger[metadataKey: "gateway"] = "twilio"
        var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
        let decoder = JSONDecoder()
        // Up to `start`: `connected` may come first; anything else is an error.
        var started: Inbound.Start?
        var streamSid = ""
        do {
            while started == nil {
                guard let message = try await messages.next() else { return }
                let event = try Self.decode(message, decoder)
                switch event.event {
                case "connected": continue
                case "start":
                    guard let start = event.start else { throw HotlineServer.GatewayError(description: "start message without its start object") }
                    started = start
                    streamSid = event.streamSid ?? start.streamSid ?? ""
                default:
                    throw HotlineServer.GatewayError(description: "'\(event.event)' message before 'start'")
                }
            }
        } catch {
            await server.closeWebSocket(outbound, gateway: .twilio, error: "\(error)", logger: logger)
            return
        }
        guard let start = started else { return }
        var parameters = start.customParameters ?? [:]
        let token = parameters.removeValue(forKey: "token")
        let identity: Identity
        do {
            identity = try server.gatewayIdentity(request, token: token)
        } catch {
            await server.closeWebSocket(outbound, gateway: .twilio, error: "\(error)", logger: logger, code: .policyViolation)
            return
        }
        if let format = start.mediaFormat, format.encoding != "audio/x-mulaw" || format.sampleRate != 8_000 || format.channels != 1 {
            await server.closeWebSocket(outbound, gateway: .twilio,
                                        error: "media format \(format.encoding) \(format.sampleRate) Hz × \(format.channels) is not audio/x-mulaw 8000 Hz mono",
                                        logger: logger)
            return
        }
        let call = CallStart(id: start.callSid, gateway: .twilio, callerNumber: parameters["caller"] ?? parameters["From"] ?? parameters["from"],
                             language: parameters["language"], parameters: parameters, keyName: identity.name)
        let marks = MarkTracker()
        let sid = streamSid
        do {
            try await server.host.withCall(call, format: .muLaw8k, keyLimit: identity.maximumCalls, logger: logger) { active in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        let encoder = JSONEncoder()
                        func send(_ message: Outbound) async throws {
                            try await outbound.write(.text(String(decoding: try encoder.encode(message), as: UTF8.self)))
                        }
                        for await event in active.events {
                            switch event {
                            case .playbackAudio(_, let bytes):
                                try? await send(Outbound(event: "media", streamSid: sid, media: .init(payload: Data(bytes).base64EncodedString())))
                            case .playbackFinished(let id, let duration):
                                let name = "prompt-\(id)"
                                marks.sent(name, duration: duration)
                                try? await send(Outbound(event: "mark", streamSid: sid, mark: .init(name: name)))
                            case .bargeIn:
                                try? await send(Outbound(event: "clear", streamSid: sid))
                            default:
                                break
                            }
                        }
                        // Over: wait for the last prompt to play (its mark), then close so the TwiML goes on.
                        if Task.isCancelled { return }  // a protocol error ends the call; its close says why
                        let wait = marks.pendingSeconds + 2
                        _ = try? await withTimeout(.milliseconds(Int(wait * 1000))) { await marks.allEchoed() }
                        try? await outbound.close(.normalClosure, reason: "call ended")
                    }
                    var reason = "caller hung up"
                    reading: while let message = try await messages.next() {
                        let event = try Self.decode(message, decoder)
                        switch event.event {
                        case "media":
                            guard let media = event.media else { throw HotlineServer.GatewayError(description: "media message \(event.sequenceNumber ?? "?") without media") }
                            if let track = media.track, track != "inbound" { continue }
                            guard let bytes = Data(base64Encoded: media.payload) else {
                                throw HotlineServer.GatewayError(description: "media message \(event.sequenceNumber ?? "?"): payload is not valid base64")
                            }
                            active.session.receive(frame: Array(bytes))
                        case "dtmf":
                            guard let digit = event.dtmf?.digit.first, event.dtmf?.digit.count == 1 else {
                                throw HotlineServer.GatewayError(description: "dtmf message \(event.sequenceNumber ?? "?") without one digit")
                            }
                            active.session.receive(dtmf: digit)
                        case "mark":
                            if let name = event.mark?.name { marks.echoed(name) }
                        case "stop":
                            reason = "stream stopped (caller hung up)"
                            break reading
                        case "connected", "start":
                            throw HotlineServer.GatewayError(description: "a second '\(event.event)' message")
                        default:
                            throw HotlineServer.GatewayError(description: "unknown event '\(event.event)'")
                        }
                    }
                    active.session.hangUp(reason: reason)
                    marks.cancel()
                    try await group.waitForAll()
                    return reason
                }
            }
        } catch {
            // 1013 "try again later" for a call refused past capacity.
            let code: WebSocketErrorCode = if case .overloaded? = error as? CallRegistry.Refusal { .unknown(1013) } else { .policyViolation }
            await server.closeWebSocket(outbound, gateway: .twilio, error: "\(error)", logger: logger, code: code)
            return
        }
        await server.closeIfFailed(call, outbound)
    }

    static func decode(_ message: WebSocketMessage, _ decoder: JSONDecoder) throws -> Inbound {
        guard case .text(let text) = message else { throw HotlineServer.GatewayError(description: "binary frame (Twilio sends JSON text frames)") }
        do {
            return try decoder.decode(Inbound.self, from: Data(text.utf8))
        } catch {
            throw HotlineServer.GatewayError(description: "bad JSON message: \(HotlineServer.describe(decodingError: error)) in \(text.prefix(80))")
        }
    }
}

/// Marks sent after prompts and their echoes: the prompt has played when its mark comes back.
final class MarkTracker: Sendable {
    private let pending = Mutex<[String: Double]>([:])

    func sent(_ name: String, duration: Double) { pending.withLock { $0[name] = duration } }

    func echoed(_ name: String) { _ = pending.withLock { $0.removeValue(forKey: name) } }

    /// Audio seconds not yet confirmed played.
    var pendingSeconds: Double { pending.withLock { $0.values.reduce(0, +) } }

    /// Forgets every mark (the stream is over).
    func cancel() { pending.withLock { $0.removeAll() } }

    /// Returns once every mark has come back (or the task is cancelled); polled, so it can race a timeout.
    func allEchoed() async {
        while !Task.isCancelled, pending.withLock({ !$0.isEmpty }) {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }
}

// MARK: - Shared WebSocket gateway helpers

extension HotlineServer {
    /// Refuses an upgrade with wrong credentials (401). Missing credentials pass here: the gateway may send a token in
    /// its first message (Twilio), checked by ``gatewayIdentity(_:token:)``.
    func gatewayCredentials(_ request: Request) throws -> Identity? {
        guard let secret = presentedSecret(request, allowQuery: true) else { return nil }
        guard let identity = access.identify(secret: secret) else {
            Self.authFailures.increment()
            logger.warning("refused: wrong credentials", metadata: ["path": "\(request.uri.path)"])
            throw HTTPError(.unauthorized, message: "the credentials are not valid")
        }
        guard identity.has(.gateway) else { throw HTTPError(.forbidden, message: "key '\(identity.name)' lacks the gateway role") }
        return identity
    }

    /// Refuses an upgrade without valid gateway credentials (unless anonymous callers have the gateway role).
    func requireGatewayCredentials(_ request: Request) throws {
        guard try gatewayCredentials(request) != nil || access.identify(secret: nil)?.has(.gateway) == true else {
            throw HTTPError(.unauthorized, message: "credentials are required")
        }
    }

    /// The identity for a gateway connection: its request credentials, or a token from its first message.
    func gatewayIdentity(_ request: Request, token: String?) throws -> Identity {
        guard let identity = access.identify(secret: presentedSecret(request, allowQuery: true) ?? token) else {
            Self.authFailures.increment()
            throw GatewayError(description: "the credentials are not valid")
        }
        guard identity.has(.gateway) else {
            Self.authFailures.increment()
            throw GatewayError(description: identity.authenticated ? "key '\(identity.name)' lacks the gateway role" : "credentials are required")
        }
        return identity
    }

    /// What was wrong with a gateway connection (bad message, refused credentials); the connection is closed with it.
    struct GatewayError: Error, CustomStringConvertible {
        let description: String
    }

    /// After a call: if the connection broke it off (a protocol error the host recorded and logged), tell the peer why as it
    /// closes. A call the bot ended after a failure of its own closes normally.
    func closeIfFailed(_ call: CallStart, _ outbound: WebSocketOutboundWriter) async {
        guard let outcome = host.registry.view(of: call.id), outcome.status == .failed,
              outcome.outcomeReason?.hasPrefix(CallLedger.brokeOff) == true else { return }
        await closeWebSocket(outbound, gateway: call.gateway, error: outcome.endReason ?? "error", logger: nil)
    }

    /// Logs a gateway error and closes the WebSocket with it (close reasons are limited to 123 bytes).
    func closeWebSocket(_ outbound: WebSocketOutboundWriter, gateway: Gateway, error: String, logger: Logger?,
                        code: WebSocketErrorCode = .protocolError) async {
        if let logger {
            logger.error("closing \(gateway.rawValue) connection: \(error)")
            Self.protocolErrors(gateway: gateway).increment()
        }
        var reason = error
        while reason.utf8.count > 120 { reason.removeLast() }
        try? await outbound.close(code, reason: reason)
    }

    static func describe(decodingError error: any Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, _)?: "missing field '\(key.stringValue)'"
        case .typeMismatch(_, let context)?, .valueNotFound(_, let context)?:
            "wrong type at '\(context.codingPath.map(\.stringValue).joined(separator: "."))'"
        case .dataCorrupted?: "not valid JSON"
        default: "\(error)"
        }
    }
}
