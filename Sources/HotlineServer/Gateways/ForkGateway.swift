import Foundation
import HotlineCore
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket

// MARK: - FreeSWITCH mod_audio_fork and jambonz listen

/// `ws://host/v1/gateways/audio-fork` (subprotocol `audio.drachtio.org`) and `ws://host/v1/gateways/jambonz`
/// (`audio.jambonz.org`): one JSON text frame of call metadata, then binary L16 frames (8 or 16 kHz; `stereo` mixes put
/// the caller on the left channel, which is the one heard). mod_audio_fork gets JSON back: `playAudio` with each prompt
/// (raw L16, base64), `killAudio` on barge-in, `transcription` for each final, `transfer` on handoff, `disconnect` when
/// the bot ends the call. jambonz gets the prompts as binary L16 frames paced in real time, `killAudio` on barge-in,
/// and the socket closed at the end (its action hook then asks `/v1/calls/{callSid}`).
struct ForkGateway {
    let server: HotlineServer

    enum Peer {
        case audioFork, jambonz

        var gateway: Gateway { self == .audioFork ? .audioFork : .jambonz }
        var subprotocol: String { self == .audioFork ? "audio.drachtio.org" : "audio.jambonz.org" }
    }

    func register(on router: Router<HotlineRequestContext>) {
        for peer in [Peer.audioFork, .jambonz] {
            router.ws("v1/gateways/\(peer.gateway.rawValue)") { request, _ in
                try server.requireGatewayCredentials(request)
                // Echo the subprotocol the peer asked for, as both gateways expect.
                let asked = request.headers[.secWebSocketProtocol]?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } ?? []
                return .upgrade(asked.contains(peer.subprotocol) ? [.secWebSocketProtocol: peer.subprotocol] : [:])
            } onUpgrade: { inbound, outbound, context in
                await handle(peer, inbound: inbound, outbound: outbound, request: context.request, logger: context.logger)
            }
        }
    }

    struct Metadata {
        var id: String
        var sampleRate: Int
        var stereo: Bool
        var caller: String?
        var language: String?
        var parameters: [String: String]
    }

    /// Reads the metadata frame: ids and rates under the names each gateway uses.
    static func metadata(_ text: String, query: [String: String]) throws -> Metadata {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw HotlineServer.GatewayError(description: "the first message must be a JSON object of call metadata: \(text.prefix(80))")
        }
        var parameters: [String: String] = [:]
        for (key, value) in object {
            if let text = value as? String { parameters[key] = text } else if let number = value as? NSNumber { parameters[key] = number.stringValue }
        }
        let id = parameters["callSid"] ?? parameters["callId"] ?? parameters["uuid"] ?? parameters["call_id"] ?? UUID().uuidString.lowercased()
        let rateText = parameters["sampleRate"] ?? parameters["sample_rate"] ?? query["rate"] ?? "8000"
        guard let rate = Int(rateText), [8_000, 16_000].contains(rate) else {
            throw HotlineServer.GatewayError(description: "sample rate \(rateText) is not 8000 or 16000")
        }
        let mix = parameters["mixType"] ?? parameters["mix_type"] ?? query["mix"] ?? "mono"
        guard ["mono", "mixed", "stereo"].contains(mix) else { throw HotlineServer.GatewayError(description: "mix type '\(mix)' is not mono, mixed or stereo") }
        return Metadata(id: id, sampleRate: rate, stereo: mix == "stereo", caller: parameters["from"] ?? parameters["caller"],
                        language: parameters["language"], parameters: parameters)
    }

    func handle(_ peer: Peer, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, request: Request, logger parent: Logger) async {
        var logger = parent
        logger[metadataKey: "gateway"] = "\(peer.gateway.rawValue)"
        let gateway = peer.gateway
        let identity: Identity
        do { identity = try server.gatewayIdentity(request, token: nil) } catch {
            await server.closeWebSocket(outbound, gateway: gateway, error: "\(error)", logger: logger, code: .policyViolation)
            return
        }
        var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
        let metadata: Metadata
        do {
            guard let first = try await messages.next() else { return }
            guard case .text(let text) = first else { throw HotlineServer.GatewayError(description: "binary audio before the metadata message") }
            metadata = try Self.metadata(text, query: Dictionary(request.uri.queryParameters.map { (String($0.key), String($0.value)) }) { a, _ in a })
        } catch {
            await server.closeWebSocket(outbound, gateway: gateway, error: "\(error)", logger: logger)
            return
        }
        let call = CallStart(id: metadata.id, gateway: gateway, callerNumber: metadata.caller, language: metadata.language,
                             parameters: metadata.parameters, keyName: identity.name)
        let format = CallAudioFormat(encoding: .linear16, sampleRate: metadata.sampleRate)
        do {
            try await server.host.withCall(call, format: format, keyLimit: identity.maximumCalls, logger: logger) { active in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    let pacer = PacedAudio(frameBytes: format.bytes(forSeconds: 0.02))
                    if peer == .jambonz {
                        group.addTask { try? await pacer.run { bytes in try await outbound.write(.binary(ByteBuffer(bytes: bytes))) } }
                    }
                    group.addTask {
                        var prompt: [UInt8] = []
                        func send(_ object: [String: Any]) async {
                            guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
                            try? await outbound.write(.text(String(decoding: data, as: UTF8.self)))
                        }
                        for await event in active.events {
                            switch (peer, event) {
                            case (.jambonz, .playbackAudio(_, let bytes)):
                                pacer.enqueue(bytes)
                            case (.audioFork, .playbackAudio(_, let bytes)):
                                prompt += bytes
                            case (.audioFork, .playbackFinished):
                                await send(["type": "playAudio", "data": ["audioContentType": "raw", "sampleRate": metadata.sampleRate,
                                                                          "audioContent": Data(prompt).base64EncodedString(), "textContent": ""]])
                                prompt.removeAll()
                            case (_, .bargeIn):
                                pacer.clear()
                                prompt.removeAll()
                                await send(["type": "killAudio"])
                            case (.audioFork, .final(let result)):
                                await send(["type": "transcription", "data": [
                                    "text": result.utterance.text, "confidence": result.utterance.confidence, "is_final": true,
                                    "start": result.utterance.start, "end": result.utterance.end,
                                ]])
                            case (.audioFork, .handoff(let handoff, _)):
                                let summary = (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(handoff))) ?? [:]
                                await send(["type": "transfer", "data": summary])
                            default:
                                break
                            }
                        }
                        if Task.isCancelled { return }
                        if peer == .jambonz {
                            await pacer.playOut(bytesPerSecond: format.bytes(forSeconds: 1))
                        } else if server.host.registry.view(of: call.id)?.handoff == nil {
                            await send(["type": "disconnect"])
                        }
                        try? await outbound.close(.normalClosure, reason: "call ended")
                    }
                    var reason = "gateway closed the connection"
                    reading: while let message = try await messages.next() {
                        switch message {
                        case .binary(let buffer):
                            var bytes = Array(buffer.readableBytesView)
                            if metadata.stereo {
                                guard bytes.count % 4 == 0 else {
                                    await active.reportError("stereo frame of \(bytes.count) bytes is not whole 16-bit sample pairs; dropped", kind: "malformed_frame")
                                    continue
                                }
                                bytes = Self.leftChannel(bytes)
                            }
                            active.session.receive(frame: bytes)
                        case .text(let text):
                            // Both gateways may send JSON events mid-call (DTMF, hangup notices).
                            guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                                throw HotlineServer.GatewayError(description: "bad JSON message: \(text.prefix(80))")
                            }
                            if let dtmf = (object["dtmf"] as? [String: Any])?["digit"] as? String ?? object["digit"] as? String, let digit = dtmf.first {
                                active.session.receive(dtmf: digit)
                            } else if (object["type"] as? String ?? object["event"] as? String) == "hangup" {
                                reason = "caller hung up"
                                break reading
                            }
                        }
                    }
                    active.session.hangUp(reason: reason)
                    try await group.waitForAll()
                    return reason
                }
            }
        } catch {
            await server.closeWebSocket(outbound, gateway: gateway, error: "\(error)", logger: logger, code: .policyViolation)
            return
        }
        await server.closeIfFailed(call, outbound)
    }

    /// The left channel of interleaved 16-bit stereo.
    static func leftChannel(_ bytes: [UInt8]) -> [UInt8] {
        var left = [UInt8]()
        left.reserveCapacity(bytes.count / 2)
        var index = 0
        while index + 3 < bytes.count {
            left.append(bytes[index])
            left.append(bytes[index + 1])
            index += 4
        }
        return left
    }
}
