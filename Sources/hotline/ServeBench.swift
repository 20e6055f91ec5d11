import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HotlineCore
import HotlineEngines
import HotlineServer
import HotlineStore
import HummingbirdWSClient
import Logging
import NIOCore
import NIOPosix
import Synchronization

// MARK: - hotline bench serve

/// Which gateway protocol the load generator speaks.
enum BenchProtocol: String, CaseIterable, ExpressibleByArgument {
    case audiosocket, twilio, both
}

struct ServeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Load generator: N concurrent bot calls over real AudioSocket and Twilio connections to a `hotline serve` child process.",
        discussion: """
            For each protocol and each N it starts `hotline serve` (the bank flow, N recognizers unless --recognizers), \
            keeps N callers on the line for --seconds (a caller whose call ends redials), each streaming real recorded \
            sentences (pocketsphinx-testdata LibriVox, 8 kHz) at real-time pace in 20 ms frames and answering like the \
            gateway would (Twilio marks echoed). Latency is measured at the client: from sending the frame at which the \
            endpointer closes an utterance (end of speech plus the hangover, which is printed and not included) to the \
            first frame of the bot's reply. A call keeps real time when it had no overload, no failure, and every reply \
            came back. Prints p50/p95/p99, calls kept in real time, failures, and the server's CPU and RSS per call.
            """
    )

    @Option(help: "Concurrent call counts, comma-separated.")
    var calls = "4,8,16,24"

    @Option(name: .customLong("protocol"), help: "audiosocket, twilio or both.")
    var gateway: BenchProtocol = .both

    @Option(help: "Seconds each round lasts.")
    var seconds: Double = 30

    @Option(help: "Recognizers in the server's pool (default: one per call).")
    var recognizers: Int?

    @Option(help: "Transcript stores to compare, comma-separated: sqlite (a fresh file per round), none, or a postgres:// URL.")
    var stores = "sqlite"

    @Option(help: "Seconds over which the callers' first calls start (callers follow the same script, so a short spread makes them all speak at once: a burst).")
    var stagger: Double = 10

    func run() async throws {
        let data = "/usr/share/pocketsphinx/test/data/librivox"
        guard FileManager.default.fileExists(atPath: data) else { throw ValidationError("\(data): apt-get install pocketsphinx-testdata") }
        let counts = calls.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }.filter { $0 > 0 }
        guard !counts.isEmpty else { throw ValidationError("no call counts in '\(calls)'") }
        let sentences = try FileManager.default.contentsOfDirectory(atPath: data).filter { $0.hasSuffix(".wav") }.sorted().map { data + "/" + $0 }
        let scripts = try CallerScript.make(from: sentences, count: 6)
        let hangover = VoiceActivityDetector.Configuration().endDuration
        print(String(format: "%d cores; bank flow; callers speak LibriVox sentences at 8 kHz in 20 ms frames; hangover %.0f ms excluded; %.0f s rounds; starts spread over %.0f s",
                     ProcessInfo.processInfo.activeProcessorCount, hangover * 1000, seconds, stagger))
        let protocols: [BenchProtocol] = gateway == .both ? [.audiosocket, .twilio] : [gateway]
        let storeList = stores.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for proto in protocols {
            for store in storeList {
            print("")
            print("\(proto.rawValue), store \(TranscriptStores.redacted(store)):")
            print("  calls  replies  p50 ms  p95 ms  p99 ms  real-time  failures  server cores  CPU/call  RSS MB  RSS/call MB")
            for count in counts {
                let round = try await runRound(proto, calls: count, scripts: scripts, store: store)
                print(String(format: "  %5d  %7d  %6.0f  %6.0f  %6.0f  %5d/%-3d  %8d  %12.2f  %8.3f  %6.0f  %11.1f",
                             count, round.latencies.count, round.latencies.percentile(50) * 1000, round.latencies.percentile(95) * 1000,
                             round.latencies.percentile(99) * 1000, round.keptUp, round.calls, round.failures, round.serverCores,
                             round.serverCores / Double(count), round.serverRSS, (round.serverRSS - round.idleRSS) / Double(count)))
            }
            }
        }
    }

    struct Round {
        var latencies: [Double] = []
        var calls = 0
        var keptUp = 0
        var failures = 0
        var serverCores = 0.0
        var serverRSS = 0.0
        var idleRSS = 0.0
    }

    private func runRound(_ proto: BenchProtocol, calls count: Int, scripts: [CallerScript], store: String) async throws -> Round {
        let key = "bench-" + UUID().uuidString.lowercased()
        let server = try BenchServer.start(key: key, recognizers: recognizers ?? count, store: store)
        do {
            let round = try await measure(proto, calls: count, scripts: scripts, server: server, key: key)
            await server.stop()
            return round
        } catch {
            await server.stop()
            throw error
        }
    }

    private func measure(_ proto: BenchProtocol, calls count: Int, scripts: [CallerScript], server: BenchServer, key: String) async throws -> Round {
        try await Task.sleep(for: .seconds(1))
        var round = Round()
        round.idleRSS = server.rssMB
        let cpuBefore = server.cpuSeconds
        let started = ContinuousClock.now
        let deadline = started + .seconds(seconds)
        let results = try await withThrowingTaskGroup(of: [CallResult].self) { group in
            for index in 0..<count {
                group.addTask {
                    try await Task.sleep(for: .milliseconds(Int(stagger * 1000) * index / count))
                    var results: [CallResult] = []
                    var attempt = 0
                    while ContinuousClock.now < deadline - .seconds(3) {
                        let script = scripts[(index + attempt) % scripts.count]
                        attempt += 1
                        let id = UUID()
                        var result = proto == .audiosocket
                            ? await BenchCaller.audioSocket(port: server.audioSocketPort, id: id, script: script, until: deadline)
                            : await BenchCaller.twilio(port: server.httpPort, key: key, id: id, script: script, until: deadline)
                        result.overloaded = await server.callHadOverload(result.callID, key: key)
                        results.append(result)
                    }
                    return results
                }
            }
            var all: [CallResult] = []
            for try await results in group { all += results }
            return all
        }
        let elapsed = (ContinuousClock.now - started).seconds
        round.serverCores = (server.cpuSeconds - cpuBefore) / elapsed
        round.serverRSS = server.peakRSSMB
        round.calls = results.count
        round.failures = results.count { $0.failure != nil }
        round.keptUp = results.count { $0.failure == nil && !$0.overloaded && $0.missedReplies == 0 && !$0.lateSending }
        round.latencies = results.flatMap(\.latencies)
        for failure in Set(results.compactMap(\.failure)).prefix(3) { print("    failure: \(failure)") }
        return round
    }
}

// MARK: - What callers say

/// One caller's audio (8 kHz μ-law and L16 frames) and the frames at which the server's endpointer will close each utterance.
struct CallerScript: Sendable {
    var muLaw: [[UInt8]]
    var linear: [[UInt8]]
    /// Frame indexes whose processing ends an utterance.
    var endpoints: Set<Int>

    /// Scripts of five sentences each, spaced so the bot's reply fits between them.
    static func make(from sentences: [String], count: Int) throws -> [CallerScript] {
        let audio = try sentences.map { path -> [Float] in
            let reader = try SndFileAudioDecoder().open(.file(path: path))
            return Resampler.resample(try reader.readAll(), from: reader.info.sampleRate, to: 8_000)
        }
        return (0..<count).map { index in
            var samples = [Float](repeating: 0, count: 8_000 * 6)  // the greeting plays first
            for turn in 0..<5 {
                samples += audio[(index + turn) % audio.count]
                samples += [Float](repeating: 0, count: 8_000 * 5)
            }
            // Endpoints as the server finds them: the same detector on the same 16 kHz audio, 20 ms at a time.
            var detector = VoiceActivityDetector(sampleRate: 16_000)
            var resampler = Resampler(from: 8_000, to: 16_000)
            var endpoints = Set<Int>()
            let frames = stride(from: 0, to: samples.count, by: 160).map { Array(samples[$0..<min($0 + 160, samples.count)]) }
            for (index, frame) in frames.enumerated() {
                let decoded = CallAudioFormat.muLaw8k.decode(CallAudioFormat.muLaw8k.encode(frame))
                for event in detector.process(resampler.process(decoded)) {
                    if case .segment = event { endpoints.insert(index) }
                }
            }
            return CallerScript(muLaw: frames.map { CallAudioFormat.muLaw8k.encode($0) }, linear: frames.map { CallAudioFormat.linear8k.encode($0) },
                                endpoints: endpoints)
        }
    }
}

// MARK: - One call

struct CallResult: Sendable {
    var callID: String
    var latencies: [Double] = []
    var missedReplies = 0
    var failure: String?
    var overloaded = false
    var lateSending = false
}

/// When the caller's utterances ended and when bot prompts started arriving.
final class CallTimeline: Sendable {
    private struct State {
        var endpoints: [ContinuousClock.Instant] = []
        var promptStarts: [ContinuousClock.Instant] = []
        var lastAudio: ContinuousClock.Instant?
        var ended = false
    }

    private let state = Mutex(State())

    func endpoint() { state.withLock { $0.endpoints.append(.now) } }

    func audio() {
        state.withLock { state in
            let now = ContinuousClock.now
            if state.lastAudio.map({ now - $0 > .milliseconds(150) }) ?? true { state.promptStarts.append(now) }
            state.lastAudio = now
        }
    }

    func end() { state.withLock { $0.ended = true } }
    var ended: Bool { state.withLock { $0.ended } }

    /// Latency of each endpoint to the first prompt after it (before the next endpoint); endpoints with no reply.
    func latencies(callEnd: ContinuousClock.Instant) -> ([Double], missed: Int) {
        state.withLock { state in
            var latencies: [Double] = []
            var missed = 0
            for (index, endpoint) in state.endpoints.enumerated() {
                let next = index + 1 < state.endpoints.count ? state.endpoints[index + 1] : callEnd
                if let reply = state.promptStarts.first(where: { $0 >= endpoint && $0 < next }) {
                    latencies.append((reply - endpoint).seconds)
                } else {
                    missed += 1
                }
            }
            return (latencies, missed)
        }
    }
}

enum BenchCaller {
    /// An Asterisk stand-in: UUID, paced L16 frames, hangup at the end; the bot may end the call first.
    static func audioSocket(port: Int, id: UUID, script: CallerScript, until deadline: ContinuousClock.Instant) async -> CallResult {
        var result = CallResult(callID: id.uuidString.lowercased())
        let timeline = CallTimeline()
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<AudioSocketMessage, AudioSocketMessage>.audioSocket(wrapping: channel) }
            }
            try await channel.executeThenClose { inbound, outbound in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await message in inbound {
                            if case .audio = message { timeline.audio() }
                            if case .hangup = message { break }
                        }
                        timeline.end()
                    }
                    try await outbound.write(.uuid(id))
                    result.lateSending = try await stream(script.linear, script: script, timeline: timeline, until: deadline) { frame in
                        try await outbound.write(.audio(ByteBuffer(bytes: frame), sampleRate: 8_000))
                    }
                    if !timeline.ended { try? await outbound.write(.hangup) }
                    // The server closes once the last prompt has played; don't wait forever.
                    let closer = channel.channel
                    group.addTask {
                        try await Task.sleep(for: .seconds(15))
                        closer.close(promise: nil)
                    }
                    _ = try await group.next()
                    group.cancelAll()
                }
            }
        } catch {
            result.failure = "\(error)"
        }
        (result.latencies, result.missedReplies) = timeline.latencies(callEnd: .now)
        return result
    }

    /// A Twilio stand-in: connected/start, paced media, marks echoed, stop at the end.
    static func twilio(port: Int, key: String, id: UUID, script: CallerScript, until deadline: ContinuousClock.Instant) async -> CallResult {
        let callSid = "CA" + id.uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        var result = CallResult(callID: callSid)
        let timeline = CallTimeline()
        var configuration = WebSocketClientConfiguration()
        configuration.additionalHeaders[.authorization] = "Bearer \(key)"
        let late = Mutex(false)
        do {
            try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)/v1/gateways/twilio", configuration: configuration,
                                              logger: Logger(label: "bench")) { inbound, outbound, _ in
                try await outbound.write(.text(#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#))
                try await outbound.write(.text("""
                    {"event":"start","sequenceNumber":"1","start":{"accountSid":"ACbench","streamSid":"MZ\(callSid)","callSid":"\(callSid)",\
                    "tracks":["inbound"],"customParameters":{},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},\
                    "streamSid":"MZ\(callSid)"}
                    """))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await message in inbound.messages(maxSize: 1 << 22) {
                            guard case .text(let text) = message else { continue }
                            if text.contains(#""event":"media""#) {
                                timeline.audio()
                            } else if text.contains(#""event":"mark""#), let range = text.range(of: #""name":""#) {
                                let name = text[range.upperBound...].prefix { $0 != "\"" }
                                try await outbound.write(.text(#"{"event":"mark","streamSid":"MZ\#(callSid)","mark":{"name":"\#(name)"}}"#))
                            }
                        }
                        timeline.end()
                    }
                    var sequence = 1
                    let wasLate = try await stream(script.muLaw, script: script, timeline: timeline, until: deadline) { frame in
                        sequence += 1
                        try await outbound.write(.text("""
                            {"event":"media","sequenceNumber":"\(sequence)","media":{"track":"inbound","payload":"\(Data(frame).base64EncodedString())"},\
                            "streamSid":"MZ\(callSid)"}
                            """))
                    }
                    late.withLock { $0 = wasLate }
                    if !timeline.ended {
                        try? await outbound.write(.text(#"{"event":"stop","sequenceNumber":"0","stop":{"callSid":"\#(callSid)"},"streamSid":"MZ\#(callSid)"}"#))
                    }
                    try await group.waitForAll()
                }
            }
        } catch {
            result.failure = "\(error)"
        }
        result.lateSending = late.withLock { $0 }
        (result.latencies, result.missedReplies) = timeline.latencies(callEnd: .now)
        return result
    }

    /// Sends frames at 20 ms intervals until the script, the round or the call ends; returns whether sending fell behind.
    static func stream(_ frames: [[UInt8]], script: CallerScript, timeline: CallTimeline, until deadline: ContinuousClock.Instant,
                       send: ([UInt8]) async throws -> Void) async throws -> Bool {
        let clock = ContinuousClock()
        let start = clock.now
        var late = false
        for (index, frame) in frames.enumerated() {
            let due = start + .milliseconds(20 * index)
            if clock.now - due > .milliseconds(200) { late = true }
            try await clock.sleep(until: due)
            if timeline.ended || clock.now > deadline { break }
            do { try await send(frame) } catch {
                // The server may close right after its hangup: give the reader a moment to see it.
                try? await Task.sleep(for: .milliseconds(300))
                if timeline.ended { break }
                throw error
            }
            if script.endpoints.contains(index) { timeline.endpoint() }
        }
        return late
    }
}

// MARK: - The server under test

/// `hotline serve` as a child process on free loopback ports.
final class BenchServer: Sendable {
    let process: Process
    let httpPort: Int
    let audioSocketPort: Int

    /// Starts `hotline serve`; `configuration` is YAML for a configuration file (environment variables override it).
    static func start(key: String, recognizers: Int, store: String, configuration: String? = nil) throws -> BenchServer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hotline-bench-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let portsFile = directory + "/ports.json"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = ["serve", "--port", "0", "--audiosocket-port", "0", "--ports-file", portsFile]
        if let configuration {
            try configuration.write(toFile: directory + "/hotline.yaml", atomically: true, encoding: .utf8)
            process.arguments! += ["--config", directory + "/hotline.yaml"]
        }
        var environment = ProcessInfo.processInfo.environment
        environment["HOTLINE_API_KEY"] = key
        environment["HOTLINE_RECOGNIZERS"] = "\(recognizers)"
        environment["HOTLINE_LOG_LEVEL"] = "notice"
        environment["HOTLINE_STORE"] = store == "sqlite" ? "sqlite:\(directory)/calls.sqlite" : store
        process.environment = environment
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        _ = FileManager.default.createFile(atPath: directory + "/server.log", contents: nil)
        process.standardError = FileHandle(forWritingAtPath: directory + "/server.log")
        try process.run()
        for _ in 0..<600 {
            if let text = try? String(contentsOfFile: portsFile, encoding: .utf8),
               let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
               let http = object["http"] as? Int, let audioSocket = object["audiosocket"] as? Int {
                return BenchServer(process: process, httpPort: http, audioSocketPort: audioSocket)
            }
            guard process.isRunning else { break }
            usleep(100_000)
        }
        process.terminate()
        throw ValidationError("hotline serve did not start; see \(directory)/server.log")
    }

    private init(process: Process, httpPort: Int, audioSocketPort: Int) {
        self.process = process
        self.httpPort = httpPort
        self.audioSocketPort = audioSocketPort
    }

    /// SIGTERM (graceful shutdown), then SIGKILL after 40 s.
    func stop() async {
        process.terminate()
        for _ in 0..<400 where process.isRunning { try? await Task.sleep(for: .milliseconds(100)) }
        if process.isRunning {
            print("    server did not exit after SIGTERM within 40 s; killed")
            kill(process.processIdentifier, SIGKILL)
        }
    }

    /// CPU seconds the server has used.
    var cpuSeconds: Double {
        let stat = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8)) ?? ""
        let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
        // After the command name: state is field 0, utime 11, stime 12 (clock ticks).
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    private func status(_ field: String) -> Double {
        let text = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
        return (line.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? 0) / 1024
    }

    /// Resident memory now, MB.
    var rssMB: Double { status("VmRSS") }
    /// Peak resident memory, MB.
    var peakRSSMB: Double { status("VmHWM") }

    /// The server's /metrics text.
    func metrics(key: String) async -> String {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(httpPort)/metrics")!)
        request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
        guard let (data, _) = try? await URLSession.shared.data(for: request) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }

    /// Whether the server recorded an overload on the call.
    func callHadOverload(_ id: String, key: String) async -> Bool {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(httpPort)/v1/calls/\(id)")!)
        request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
        guard let (data, _) = try? await URLSession.shared.data(for: request),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let errors = object["errors"] as? [String] else { return false }
        return errors.contains { $0.contains("overloaded") }
    }
}
