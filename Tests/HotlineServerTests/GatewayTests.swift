import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HotlineCore
import HotlineEngines
@testable import HotlineServer
import HummingbirdWSClient
import Logging
import Metrics
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization
import Testing

// MARK: - A real server on loopback

/// A bot for protocol tests: greets, and hands the caller to the "cards" queue after their first utterance.
struct HandoffBot: CallBot {
    func configuration(for call: CallStart) -> CallConfiguration {
        var configuration = CallConfiguration()
        configuration.noInputTimeout = nil
        return configuration
    }

    func responder(for call: CallStart) async -> (any CallResponder)? {
        ReplyToEachUtterance(greeting: Reply(text: "Hello.")) { result in
            Reply(text: "Connecting you to the cards team.", handoff: Handoff(queue: "cards", reason: "test", transcript: ["caller: \(result.utterance.text)"]))
        }
    }
}

enum Keys {
    static let gateway = "gateway-key-0123456789"
    static let qa = "qa-key-0123456789abcdef"
    static let admin = "admin-key-0123456789abcdef"
}

/// One Prometheus registry for every test server in the process, bootstrapped once as swift-metrics' backend (as
/// `hotline serve` does), so `/metrics` shows what the calls counted.
enum TestMetrics {
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()
}

/// Starts `hotline serve`'s services on free loopback ports with real recognizers and synthesis.
struct TestServer {
    let http: Int
    let audioSocket: Int
    let server: HotlineServer

    static let pool = Result { try RecognizerPool(size: 2) { try PocketSphinxRecognizer() } }

    static func run(bot: any CallBot = HandoffBot(), quality: QualityServices? = nil, speech: (any SpeechServices)? = nil,
                    pool custom: RecognizerPool? = nil, admission: CallHost.Admission = CallHost.Admission(),
                    _ body: (TestServer) async throws -> Void) async throws {
        var configuration = ServerConfiguration()
        configuration.httpPort = 0
        configuration.audioSocketPort = 0
        configuration.shutdownGrace = 5
        configuration.keys = [APIKey(name: "gw", secret: Keys.gateway, roles: [.gateway], maximumCalls: 8),
                              APIKey(name: "qa", secret: Keys.qa, roles: [.qa]), APIKey(name: "admin", secret: Keys.admin, roles: [.admin])]
        var logger = Logger(label: "test-server")
        logger.logLevel = .warning
        let host = CallHost(pool: try custom ?? pool.get(), renderer: PromptRenderer(synthesizer: try ESpeakSynthesizer.shared()), bot: bot,
                            observers: quality.map { [$0.recorder] } ?? [], rules: try QualityFixture.rules.get(), node: quality?.feed.node ?? "test-node",
                            admission: admission)
        let server = HotlineServer(configuration: configuration, host: host, speech: speech, metrics: TestMetrics.registry, logger: logger,
                                   quality: quality)
        let (ports, sink) = AsyncStream.makeStream(of: (String, Int).self)
        let services = server.services(onHTTPBound: { sink.yield(("http", $0)) }, onAudioSocketBound: { sink.yield(("audiosocket", $0)) })
        let group = ServiceGroup(configuration: .init(services: services, logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var bound: [String: Int] = [:]
            for await (name, port) in ports {
                bound[name] = port
                if bound.count == 2 { break }
            }
            do {
                try await body(TestServer(http: bound["http"]!, audioSocket: bound["audiosocket"]!, server: server))
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// GET a path; returns status and body.
    func get(_ path: String, key: String? = nil) async throws -> (Int, Data) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(http)\(path)")!)
        if let key { request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as! HTTPURLResponse).statusCode, data)
    }

    /// A call's outcome, once it is no longer live (waits up to 10 s).
    func outcome(_ id: String) async throws -> CallView {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        for _ in 0..<100 {
            let (status, data) = try await get("/v1/calls/\(id)", key: Keys.gateway)
            if status == 200 {
                let outcome = try decoder.decode(CallView.self, from: data)
                if outcome.status != .live { return outcome }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure(description: "call \(id) did not end")
    }
}

/// Strings collected by concurrent tasks.
final class Collected: Sendable {
    private let items = Mutex<[String]>([])
    func append(_ item: String) { items.withLock { $0.append(item) } }
    var all: [String] { items.withLock { $0 } }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
}

/// go forward ten meters (pocketsphinx-testdata) with silence around it, as 8 kHz samples.
enum Recording {
    static let goForward: [Float] = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: "/usr/share/pocketsphinx/test/data/goforward.raw"))
        let samples = PCM.floats(PCM.int16(littleEndianBytes: Array(data)))
        return [Float](repeating: 0, count: 4_000) + Resampler.resample(samples, from: 16_000, to: 8_000) + [Float](repeating: 0, count: 12_000)
    }()

    static func frames(_ format: CallAudioFormat) -> [[UInt8]] {
        let bytes = format.encode(goForward)
        let size = format.bytes(forSeconds: 0.02)
        return stride(from: 0, to: bytes.count, by: size).map { Array(bytes[$0..<min($0 + size, bytes.count)]) }
    }
}

// MARK: - AudioSocket client

/// An Asterisk stand-in speaking AudioSocket over a real TCP connection, using the project's codec.
struct AudioSocketClient {
    let channel: NIOAsyncChannel<AudioSocketMessage, AudioSocketMessage>

    static func connect(port: Int) async throws -> AudioSocketClient {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<AudioSocketMessage, AudioSocketMessage>.audioSocket(wrapping: channel) }
        }
        return AudioSocketClient(channel: channel)
    }
}

/// What came back on a call.
struct Received: Sendable {
    var audioBytes = 0
    var frames = 0
    var hangup = false
    var closed = false
}

// MARK: - Tests

@Suite(.serialized) struct GatewayTests {
    /// A full bot call over AudioSocket: audio in, final transcript, the greeting and the reply as paced 20 ms frames,
    /// handoff, hangup from Hotline, and the outcome by UUID over HTTP.
    @Test func audioSocketBotCall() async throws {
        try await TestServer.run { server in
            let uuid = UUID()
            let client = try await AudioSocketClient.connect(port: server.audioSocket)
            let received = try await client.channel.executeThenClose { inbound, outbound in
                try await withThrowingTaskGroup(of: Received.self) { group in
                    group.addTask {
                        var received = Received()
                        var frameTimes: [ContinuousClock.Instant] = []
                        for try await message in inbound {
                            switch message {
                            case .audio(let buffer, let rate):
                                #expect(rate == 8_000)
                                #expect(buffer.readableBytes <= 320)
                                received.audioBytes += buffer.readableBytes
                                received.frames += 1
                                frameTimes.append(.now)
                            case .hangup: received.hangup = true
                            default: break
                            }
                        }
                        // Paced: the frames of the first prompt took about as long to arrive as they last.
                        if frameTimes.count > 20 {
                            let spread = (frameTimes[20] - frameTimes[0])
                            #expect(spread > .milliseconds(300), "20 frames arrived in \(spread): not paced at 20 ms")
                        }
                        return received
                    }
                    try await outbound.write(.uuid(uuid))
                    for frame in Recording.frames(.linear8k) {
                        try await outbound.write(.audio(ByteBuffer(bytes: frame), sampleRate: 8_000))
                        try await Task.sleep(for: .milliseconds(5))
                    }
                    return try await group.next()!
                }
            }
            #expect(received.hangup, "Hotline hangs up after the handoff prompt")
            #expect(received.audioBytes > 8_000, "greeting and reply audio came back")
            let outcome = try await server.outcome(uuid.uuidString.lowercased())
            #expect(outcome.status == .handedOff)
            #expect(outcome.handoff?.queue == "cards")
            let caller = outcome.transcript.filter { $0.speaker == "caller" }.map(\.text).joined(separator: " ")
            #expect(caller.contains("forward"), "caller said go forward ten meters; heard '\(caller)'")
            #expect(outcome.transcript.contains { $0.speaker == "bot" && $0.text.contains("cards team") })
        }
    }

    /// A caller who vanishes (socket closed without hangup) still leaves everything they said.
    @Test func audioSocketClientVanishes() async throws {
        try await TestServer.run { server in
            let uuid = UUID()
            let client = try await AudioSocketClient.connect(port: server.audioSocket)
            try await client.channel.executeThenClose { _, outbound in
                try await outbound.write(.uuid(uuid))
                for frame in Recording.frames(.linear8k).prefix(200) {  // through the end of the sentence, no hangup
                    try await outbound.write(.audio(ByteBuffer(bytes: frame), sampleRate: 8_000))
                }
            }
            let outcome = try await server.outcome(uuid.uuidString.lowercased())
            let caller = outcome.transcript.filter { $0.speaker == "caller" }.map(\.text).joined(separator: " ")
            #expect(caller.contains("forward"), "heard '\(caller)'")
        }
    }

    /// A full bot call over Twilio Media Streams: connected/start/media in; media, mark and (on barge-in) clear out;
    /// marks echoed back; the stream closed by Hotline after the handoff prompt; custom parameters reach the call.
    @Test func twilioBotCall() async throws {
        try await TestServer.run { server in
            let callSid = "CA" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
            let events = Collected()
            // Twilio cannot send headers: the key comes as the custom parameter "token".
            let configuration = WebSocketClientConfiguration()
            try await WebSocketClient.connect(url: "ws://127.0.0.1:\(server.http)/v1/gateways/twilio", configuration: configuration,
                                              logger: Logger(label: "twilio")) { inbound, outbound, _ in
                func send(_ json: String) async throws { try await outbound.write(.text(json)) }
                try await send(#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#)
                try await send("""
                    {"event":"start","sequenceNumber":"1","start":{"accountSid":"AC1","streamSid":"MZ1","callSid":"\(callSid)",\
                    "tracks":["inbound"],"customParameters":{"caller":"+15551234567","token":"\(Keys.gateway)"},\
                    "mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":"MZ1"}
                    """)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await message in inbound.messages(maxSize: 1 << 20) {
                            guard case .text(let text) = message,
                                  let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                                  let event = object["event"] as? String else { continue }
                            #expect(object["streamSid"] as? String == "MZ1")
                            events.append(event)
                            if event == "mark", let name = (object["mark"] as? [String: Any])?["name"] as? String {
                                // Twilio echoes a mark once the audio before it has played.
                                try await outbound.write(.text(#"{"event":"mark","sequenceNumber":"9","streamSid":"MZ1","mark":{"name":"\#(name)"}}"#))
                            }
                        }
                    }
                    for (index, frame) in Recording.frames(.muLaw8k).enumerated() {
                        // Hotline closes the stream once it has handed off: stop sending then, as Twilio does.
                        guard (try? await send("""
                            {"event":"media","sequenceNumber":"\(index + 2)","media":{"track":"inbound","chunk":"\(index + 1)",\
                            "timestamp":"\(index * 20)","payload":"\(Data(frame).base64EncodedString())"},"streamSid":"MZ1"}
                            """)) != nil else { break }
                        try await Task.sleep(for: .milliseconds(5))
                    }
                    try await group.waitForAll()  // until Hotline closes the stream
                }
            }
            let seen = events.all
            #expect(seen.contains("media"))
            #expect(seen.filter { $0 == "mark" }.count >= 1)
            let outcome = try await server.outcome(callSid)
            #expect(outcome.status == .handedOff)
            #expect(outcome.callerNumber == "+15551234567")
            #expect(outcome.transcript.contains { $0.speaker == "caller" && $0.text.contains("forward") }, "\(outcome.transcript)")
        }
    }

    /// vosk clients: one reply per binary frame, partials then a result with words, and the final result on eof.
    @Test func voskTranscription() async throws {
        try await TestServer.run { server in
            let replies = Collected()
            var configuration = WebSocketClientConfiguration()
            configuration.additionalHeaders[.authorization] = "Bearer \(Keys.gateway)"
            let bytes = CallAudioFormat.linear8k.encode(Recording.goForward)
            let frames = stride(from: 0, to: bytes.count, by: 4_000).map { Array(bytes[$0..<min($0 + 4_000, bytes.count)]) }
            try await WebSocketClient.connect(url: "ws://127.0.0.1:\(server.http)/", configuration: configuration, logger: Logger(label: "vosk")) { inbound, outbound, _ in
                var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                func reply() async throws {
                    guard case .text(let text)? = try await messages.next() else { throw TestFailure(description: "no reply") }
                    replies.append(text)
                }
                try await outbound.write(.text(#"{"config":{"sample_rate":8000,"words":true}}"#))
                for frame in frames {
                    try await outbound.write(.binary(ByteBuffer(bytes: frame)))
                    try await reply()  // exactly one per frame, in order
                }
                try await outbound.write(.text(#"{"eof" : 1}"#))
                try await reply()
            }
            let all = try replies.all.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
            #expect(all.count == frames.count + 1)
            #expect(all.dropLast().allSatisfy { $0["partial"] != nil || $0["text"] != nil })
            let text = all.compactMap { $0["text"] as? String }.joined(separator: " ")
            #expect(text.contains("forward"), "\(text)")
            let words = all.compactMap { $0["result"] as? [[String: Any]] }.flatMap { $0 }
            #expect(words.contains { ($0["word"] as? String) == "forward" && ($0["start"] as? Double ?? 0) > 0.4 })
        }
    }

    /// mod_audio_fork: metadata, L16 frames; playAudio, transcription and transfer come back as JSON.
    @Test func audioForkBotCall() async throws {
        try await TestServer.run { server in
            let types = Collected()
            var configuration = WebSocketClientConfiguration()
            configuration.additionalHeaders[.authorization] = "Basic \(Data("freeswitch:\(Keys.gateway)".utf8).base64EncodedString())"
            configuration.additionalHeaders[.secWebSocketProtocol] = "audio.drachtio.org"
            let id = UUID().uuidString.lowercased()
            try await WebSocketClient.connect(url: "ws://127.0.0.1:\(server.http)/v1/gateways/audio-fork", configuration: configuration,
                                              logger: Logger(label: "fork")) { inbound, outbound, _ in
                try await outbound.write(.text(#"{"callId":"\#(id)","from":"+15550001111","sampleRate":8000}"#))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await message in inbound.messages(maxSize: 4 << 20) {
                            guard case .text(let text) = message,
                                  let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                                  let type = object["type"] as? String else { continue }
                            types.append(type)
                        }
                    }
                    for frame in Recording.frames(.linear8k) {
                        guard (try? await outbound.write(.binary(ByteBuffer(bytes: frame)))) != nil else { break }
                        try await Task.sleep(for: .milliseconds(5))
                    }
                    try await group.waitForAll()
                }
            }
            let seen = types.all
            #expect(seen.contains("playAudio"))
            #expect(seen.contains("transcription"))
            #expect(seen.last == "transfer", "\(seen)")
            let outcome = try await server.outcome(id)
            #expect(outcome.status == .handedOff)
            #expect(outcome.gateway == .audioFork)
        }
    }

    /// jambonz listen, stereo: the caller's left channel is heard; prompts come back as binary L16; the socket is
    /// closed after the handoff.
    @Test func jambonzStereoCall() async throws {
        try await TestServer.run { server in
            let binaryBytes = Collected()
            var configuration = WebSocketClientConfiguration()
            configuration.additionalHeaders[.authorization] = "Bearer \(Keys.gateway)"
            configuration.additionalHeaders[.secWebSocketProtocol] = "audio.jambonz.org"
            let id = UUID().uuidString.lowercased()
            try await WebSocketClient.connect(url: "ws://127.0.0.1:\(server.http)/v1/gateways/jambonz", configuration: configuration,
                                              logger: Logger(label: "jambonz")) { inbound, outbound, _ in
                try await outbound.write(.text(#"{"callSid":"\#(id)","from":"+15550002222","sampleRate":8000,"mixType":"stereo"}"#))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await message in inbound.messages(maxSize: 4 << 20) {
                            if case .binary(let buffer) = message { binaryBytes.append("\(buffer.readableBytes)") }
                        }
                    }
                    // Caller on the left, loud noise on the right: only the left may be heard.
                    let noise = (0..<Recording.goForward.count).map { _ in Float.random(in: -0.3...0.3) }
                    var stereo = [Float](repeating: 0, count: Recording.goForward.count * 2)
                    for (index, sample) in Recording.goForward.enumerated() {
                        stereo[2 * index] = sample
                        stereo[2 * index + 1] = noise[index]
                    }
                    let bytes = CallAudioFormat.linear8k.encode(stereo)
                    for offset in stride(from: 0, to: bytes.count, by: 640) {
                        let frame = Array(bytes[offset..<min(offset + 640, bytes.count)])
                        guard (try? await outbound.write(.binary(ByteBuffer(bytes: frame)))) != nil else { break }
                        try await Task.sleep(for: .milliseconds(5))
                    }
                    try await group.waitForAll()
                }
            }
            #expect(binaryBytes.all.compactMap { Int($0) }.reduce(0, +) > 8_000, "prompt audio came back as binary frames")
            let outcome = try await server.outcome(id)
            #expect(outcome.status == .handedOff)
            #expect(outcome.transcript.contains { $0.speaker == "caller" && $0.text.contains("forward") }, "\(outcome.transcript)")
        }
    }

    /// Bad input closes that one call with a clear error while another call goes on; wrong credentials are refused.
    @Test func malformedInputClosesOnlyThatCall() async throws {
        try await TestServer.run { server in
            let good = UUID()
            let client = try await AudioSocketClient.connect(port: server.audioSocket)
            try await client.channel.executeThenClose { inbound, outbound in
                try await outbound.write(.uuid(good))
                let frames = Recording.frames(.linear8k)
                for frame in frames.prefix(50) { try await outbound.write(.audio(ByteBuffer(bytes: frame), sampleRate: 8_000)) }

                // An unknown AudioSocket message type.
                let bad = UUID()
                let raw = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: server.audioSocket) { channel in
                    channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
                }
                try await raw.executeThenClose { rawInbound, rawOutbound in
                    var bytes = ByteBuffer(bytes: [0x01, 0x00, 0x10])
                    withUnsafeBytes(of: bad.uuid) { _ = bytes.writeBytes($0) }
                    bytes.writeBytes([0x10, 0x00, 0x04, 0, 0, 0, 0])  // audio starts the call
                    bytes.writeBytes([0x42, 0x00, 0x01, 0x00])
                    try await rawOutbound.write(bytes)
                    for try await _ in rawInbound {}  // Hotline closes the connection
                }
                let failed = try await server.outcome(bad.uuidString.lowercased())
                #expect(failed.status == .failed)
                #expect(failed.errors.contains { $0.contains("unknown message type 0x42") }, "\(failed.errors)")

                // Bad base64 on Twilio.
                var configuration = WebSocketClientConfiguration()
                configuration.additionalHeaders[.authorization] = "Bearer \(Keys.gateway)"
                let closeFrame = try await WebSocketClient.connect(url: "ws://127.0.0.1:\(server.http)/v1/gateways/twilio", configuration: configuration,
                                                                   logger: Logger(label: "twilio")) { inbound, outbound, _ in
                    try await outbound.write(.text("""
                        {"event":"start","sequenceNumber":"1","start":{"callSid":"CAbad","streamSid":"MZ2"},"streamSid":"MZ2"}
                        """))
                    try await outbound.write(.text(#"{"event":"media","sequenceNumber":"2","media":{"track":"inbound","payload":"***"},"streamSid":"MZ2"}"#))
                    for try await _ in inbound {}
                }
                #expect(closeFrame?.reason?.contains("not valid base64") == true, "\(String(describing: closeFrame))")
                // Media before start.
                let early = try await WebSocketClient.connect(url: "ws://127.0.0.1:\(server.http)/v1/gateways/twilio", configuration: configuration,
                                                              logger: Logger(label: "twilio")) { inbound, outbound, _ in
                    try await outbound.write(.text(#"{"event":"media","sequenceNumber":"2","media":{"payload":"AAAA"},"streamSid":"MZ3"}"#))
                    for try await _ in inbound {}
                }
                #expect(early?.reason?.contains("before 'start'") == true)
                // Bad JSON on vosk.
                let json = try await WebSocketClient.connect(url: "ws://127.0.0.1:\(server.http)/v1/gateways/vosk", configuration: configuration,
                                                             logger: Logger(label: "vosk")) { inbound, outbound, _ in
                    try await outbound.write(.text("{config"))
                    for try await _ in inbound {}
                }
                #expect(json?.reason?.contains("bad JSON") == true)
                // A wrong Twilio token parameter: closed at start, before any audio is used.
                let refused = try await WebSocketClient.connect(url: "ws://127.0.0.1:\(server.http)/v1/gateways/twilio",
                                                                logger: Logger(label: "twilio")) { inbound, outbound, _ in
                    try await outbound.write(.text("""
                        {"event":"start","sequenceNumber":"1","start":{"callSid":"CAtoken","streamSid":"MZ4","customParameters":{"token":"nope-0123456789abcdef"}},"streamSid":"MZ4"}
                        """))
                    for try await _ in inbound {}
                }
                #expect(refused?.reason?.contains("credentials are not valid") == true, "\(String(describing: refused))")
                #expect(try await server.get("/v1/calls/CAtoken", key: Keys.qa).0 == 404, "a refused call leaves no record")
                // Wrong credentials: the upgrade is refused.
                var wrong = WebSocketClientConfiguration()
                wrong.additionalHeaders[.authorization] = "Bearer not-the-key-0123456789"
                await #expect(throws: (any Error).self) {
                    try await WebSocketClient.connect(url: "ws://127.0.0.1:\(server.http)/v1/gateways/twilio", configuration: wrong,
                                                      logger: Logger(label: "twilio")) { _, _, _ in }
                }

                // The good call was not disturbed: it finishes and is understood.
                for frame in frames.dropFirst(50) { try await outbound.write(.audio(ByteBuffer(bytes: frame), sampleRate: 8_000)) }
                try await outbound.write(.hangup)
                for try await _ in inbound {}
            }
            let outcome = try await server.outcome(good.uuidString.lowercased())
            #expect(outcome.status != .failed)
            #expect(outcome.transcript.contains { $0.speaker == "caller" && $0.text.contains("forward") }, "\(outcome.transcript)")
        }
    }

    /// Only health is open; roles decide the rest; the OpenAPI document is served.
    @Test func accessControl() async throws {
        try await TestServer.run { server in
            #expect(try await server.get("/health").0 == 200)
            #expect(try await server.get("/ready").0 == 200)
            #expect(try await server.get("/v1/calls").0 == 401)
            #expect(try await server.get("/v1/calls", key: "wrong-key-0123456789").0 == 401)
            #expect(try await server.get("/v1/calls", key: Keys.gateway).0 == 403)
            #expect(try await server.get("/v1/calls", key: Keys.qa).0 == 200)
            #expect(try await server.get("/metrics", key: Keys.qa).0 == 403)
            #expect(try await server.get("/v1/calls/none", key: Keys.qa).0 == 404)
            let (status, data) = try await server.get("/openapi.json")
            #expect(status == 200)
            let document = try JSONSerialization.jsonObject(with: data) as? [String: Any]
            #expect((document?["paths"] as? [String: Any])?["/v1/calls/{id}"] != nil)
        }
    }
}
