import Foundation
import HotlineCore
import Logging
import Metrics
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

// MARK: - Asterisk AudioSocket listener

/// Accepts AudioSocket connections from Asterisk: one call per connection, one child task each. The first message
/// must be the call UUID; the call starts with the first audio (its type gives the rate). Bot audio is paced at one
/// 20 ms frame per 20 ms; barge-in stops sending; when the bot ends or hands off, the audio already sent plays out,
/// then Hotline sends a hangup and closes, and the dialplan asks `/v1/calls/{uuid}` where to route the caller.
struct AudioSocketServer: Service, CustomStringConvertible {
    var description: String { "AudioSocketServer(\(configuration.audioSocketHost):\(configuration.audioSocketPort))" }

    let configuration: ServerConfiguration
    let host: CallHost
    let logger: Logger
    let onBound: @Sendable (Int) -> Void

    func run() async throws {
        let rates = configuration.audioSocketRates
        let maximumPayload = configuration.audioSocketMaxPayload
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: configuration.audioSocketHost, port: configuration.audioSocketPort) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<AudioSocketMessage, AudioSocketMessage>.audioSocket(wrapping: channel, maximumPayload: maximumPayload, rates: rates)
                }
            }
        let port = server.channel.localAddress?.port ?? configuration.audioSocketPort
        logger.info("AudioSocket listening", metadata: ["address": "\(configuration.audioSocketHost):\(port)"])
        onBound(port)
        // On shutdown (after the drainer has let live calls finish): stop accepting and close what is still open
        // (connections that never started a call).
        let open = OpenChannels()
        await withDiscardingTaskGroup { group in
            await withGracefulShutdownHandler {
                do {
                    try await server.executeThenClose { connections in
                        for try await connection in connections {
                            guard open.insert(connection.channel) else {
                                connection.channel.close(promise: nil)
                                continue
                            }
                            group.addTask {
                                await serve(connection)
                                open.remove(connection.channel)
                            }
                        }
                    }
                } catch {
                    logger.debug("AudioSocket listener closed", metadata: ["error": "\(error)"])
                }
            } onGracefulShutdown: {
                server.channel.close(promise: nil)
                open.closeAll()
            }
        }
        logger.notice("AudioSocket listener stopped")
    }

    /// Whether a peer may connect (the protocol carries no credentials, so the network is the credential).
    func allowed(_ address: SocketAddress?) -> Bool {
        let allow = configuration.audioSocketAllow
        if allow.contains("any") { return true }
        guard let ip = address?.ipAddress else { return false }
        let plain = ip.hasPrefix("::ffff:") ? String(ip.dropFirst(7)) : ip
        return allow.contains { rule in
            rule.hasSuffix(".") || rule.hasSuffix(":") ? plain.hasPrefix(rule) || ip.hasPrefix(rule) : plain == rule || ip == rule
        }
    }

    func serve(_ connection: NIOAsyncChannel<AudioSocketMessage, AudioSocketMessage>) async {
        var logger = self.logger
        let peer = connection.channel.remoteAddress
        logger[metadataKey: "peer"] = "\(peer?.ipAddress ?? "?")"
        guard let address = peer?.ipAddress else {
            // Closed before its address could be read (a port scan, a health check): nothing was refused.
            logger.debug("AudioSocket connection closed before its peer address was known")
            try? await connection.channel.close()
            return
        }
        guard allowed(peer) else {
            logger.warning("AudioSocket connection refused: peer \(address) is not in audiosocket.allow")
            HotlineServer.authFailures.increment()
            try? await connection.channel.close()
            return
        }
        do {
            try await connection.executeThenClose { inbound, outbound in
                try await runCall(inbound: inbound, outbound: outbound, channel: connection.channel, logger: logger)
            }
        } catch {
            logger.debug("AudioSocket connection closed", metadata: ["error": "\(error)"])
        }
    }

    private func runCall(
        inbound: NIOAsyncChannelInboundStream<AudioSocketMessage>, outbound: NIOAsyncChannelOutboundWriter<AudioSocketMessage>, channel: any Channel,
        logger: Logger
    ) async throws {
        var messages = inbound.makeAsyncIterator()
        // The UUID comes first, promptly: a silent peer is closed after 10 s.
        let timer = channel.eventLoop.scheduleTask(in: .seconds(10)) { channel.close(promise: nil) }
        let first: AudioSocketMessage?
        do {
            first = try await messages.next()
            timer.cancel()
        } catch {
            timer.cancel()
            logger.error("AudioSocket connection closed: \(error)")
            HotlineServer.protocolErrors(gateway: .audioSocket).increment()
            try? await outbound.write(.hangup)
            return
        }
        guard case .uuid(let uuid) = first else {
            let got = first.map { "\($0.kind)" } ?? "nothing within 10 s"
            logger.error("AudioSocket connection closed: the first message must be the call UUID (type 0x01), got \(got)")
            HotlineServer.protocolErrors(gateway: .audioSocket).increment()
            try? await outbound.write(.hangup)
            return
        }
        let id = uuid.uuidString.lowercased()
        var callLogger = logger
        callLogger[metadataKey: "call"] = "\(id)"
        // Past capacity the call is refused at once (hangup), so Asterisk's dialplan can route it elsewhere.
        if let overload = host.overload {
            CallHost.refused.increment()
            callLogger.warning("AudioSocket call refused: \(overload)")
            try? await outbound.write(.hangup)
            return
        }
        // The call starts with its first audio, whose type gives the rate; DTMF before it is kept.
        var early: [Character] = []
        var firstAudio: (ByteBuffer, Int)?
        // A call must start (first audio) within 30 s of its UUID.
        let audioTimer = channel.eventLoop.scheduleTask(in: .seconds(30)) { channel.close(promise: nil) }
        defer { audioTimer.cancel() }  // early returns
        waiting: while true {
            let message: AudioSocketMessage?
            do { message = try await messages.next() } catch {
                callLogger.error("AudioSocket call closed before audio: \(error)")
                HotlineServer.protocolErrors(gateway: .audioSocket).increment()
                try? await outbound.write(.hangup)
                return
            }
            switch message {
            case .audio(let buffer, let rate)?:
                firstAudio = (buffer, rate)
                break waiting
            case .dtmf(let digit)?:
                early.append(digit)
            case .uuid?:
                callLogger.error("AudioSocket call closed: a second UUID message")
                try? await outbound.write(.hangup)
                return
            case .error(let code)?:
                callLogger.warning("AudioSocket call ended before audio: Asterisk reported \(AudioSocketMessage.describe(errorCode: code))")
                return
            case .hangup?, nil:
                callLogger.info("AudioSocket call hung up before any audio")
                return
            }
        }
        audioTimer.cancel()
        guard let (buffer, rate) = firstAudio else { return }
        let start = CallStart(id: id, gateway: .audioSocket)
        let format = CallAudioFormat(encoding: .linear16, sampleRate: rate)
        let frameBytes = format.bytes(forSeconds: 0.02)
        do {
            try await host.withCall(start, format: format, logger: logger) { call in
                let pacer = PacedAudio(frameBytes: frameBytes)
                return try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        try? await pacer.run { bytes in try await outbound.write(.audio(ByteBuffer(bytes: bytes), sampleRate: rate)) }
                    }
                    group.addTask {
                        for await event in call.events {
                            switch event {
                            case .playbackAudio(_, let bytes): pacer.enqueue(bytes)
                            case .bargeIn: pacer.clear()
                            default: break
                            }
                        }
                        // The call is over: let the last prompt play out (bounded), then hang up and close.
                        await pacer.playOut(bytesPerSecond: format.bytes(forSeconds: 1))
                        try? await outbound.write(.hangup)
                        channel.close(promise: nil)
                    }
                    call.session.receive(frame: Array(buffer.readableBytesView))
                    for digit in early { call.session.receive(dtmf: digit) }
                    var reason = "caller hung up"
                    reading: while let message = try await messages.next() {
                        switch message {
                        case .audio(let buffer, let messageRate):
                            guard messageRate == rate else {
                                throw AudioSocketProtocolError(description: "audio at \(messageRate) Hz in a call that started at \(rate) Hz")
                            }
                            call.session.receive(frame: Array(buffer.readableBytesView))
                        case .dtmf(let digit):
                            call.session.receive(dtmf: digit)
                        case .hangup:
                            break reading
                        case .error(let code):
                            reason = "Asterisk reported \(AudioSocketMessage.describe(errorCode: code))"
                            if code.map({ $0 & 0x01 == 0 }) ?? true { await call.reportError(reason, kind: "gateway") }
                            break reading
                        case .uuid:
                            throw AudioSocketProtocolError(description: "a second UUID message in the call")
                        }
                    }
                    call.session.hangUp(reason: reason)
                    try await group.waitForAll()
                    return reason
                }
            }
            // Ended by a protocol error or the bot: make sure Asterisk is told.
            try? await outbound.write(.hangup)
        } catch let refusal as CallRegistry.Refusal {
            callLogger.warning("AudioSocket call refused: \(refusal)")
            try? await outbound.write(.hangup)
        }
    }
}

extension AudioSocketMessage {
    var kind: String {
        switch self {
        case .hangup: "hangup (0x00)"
        case .uuid: "uuid (0x01)"
        case .dtmf: "DTMF (0x03)"
        case .audio(_, let rate): "audio at \(rate) Hz"
        case .error(let code): "error (0xff, \(AudioSocketMessage.describe(errorCode: code)))"
        }
    }
}

extension HotlineServer {
    static func protocolErrors(gateway: Gateway) -> Metrics.Counter {
        Metrics.Counter(label: "hotline_errors_total", dimensions: [("kind", "protocol"), ("gateway", gateway.rawValue)])
    }
}

/// Accepted connections still open, so shutdown can close them.
final class OpenChannels: Sendable {
    private let state = Mutex<(channels: [ObjectIdentifier: any Channel], closed: Bool)>(([:], false))

    /// Adds a channel; false once shutting down.
    func insert(_ channel: any Channel) -> Bool {
        state.withLock { state in
            guard !state.closed else { return false }
            state.channels[ObjectIdentifier(channel)] = channel
            return true
        }
    }

    func remove(_ channel: any Channel) { _ = state.withLock { $0.channels.removeValue(forKey: ObjectIdentifier(channel)) } }

    func closeAll() {
        let channels = state.withLock { state in
            state.closed = true
            return Array(state.channels.values)
        }
        for channel in channels { channel.close(promise: nil) }
    }
}
