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
            For each protocol and each N it starts `hotline serve` (the bank flow, its default recognizers unless \
            --recognizers), keeps N callers on the line for --seconds (a caller whose call ends redials), each saying short \
            bank requests (--sentences) at real-time pace in 20 ms frames and answering like the gateway would (Twilio marks \
            echoed). The gap is measured at the client as a caller hears it: from sending the last voiced frame of a sentence \
            to receiving the first voiced frame of the bot's reply (the end hangover included). A sentence the bot started \
            talking over (its reply began before the caller's last word: a turn cut short) is counted apart, not timed. A \
            call keeps real time when it had no overload, no failure, and every sentence got a reply. Prints p50/p95/p99, calls kept in real time, \
            failures, the server's CPU and RSS per call, and the server's own breakdown of a turn from its /metrics \
            histograms: end hangover, waiting for a recognizer, the final decode, dialog (with webhooks), synthesis to the \
            first audio, and pacing to the first frame on the wire (a turn answered during its hangover has its wait, \
            decode and dialog inside the hangover, not after it).
            """
    )

    @Option(help: "Concurrent call counts, comma-separated.")
    var calls = "4,8,16,24"

    @Option(name: .customLong("protocol"), help: "audiosocket, twilio or both.")
    var gateway: BenchProtocol = .both

    @Option(help: "Seconds each round lasts.")
    var seconds: Double = 30

    @Option(help: "Recognizers in the server's pool (default: the server's own default).")
    var recognizers: Int?

    @Option(help: "The hotline executable to run as the server (default: this one), to compare builds with the same load.")
    var server: String?

    @Option(help: "Transcript stores to compare, comma-separated: sqlite (a fresh file per round), none, or a postgres:// URL.")
    var stores = "sqlite"

    @Option(help: "What callers say: bank (short bank requests read by two natural voices, 8 kHz μ-law, Tests/Fixtures/spoken) or librivox (long read sentences).")
    var sentences: BenchSentences = .bank

    @Option(name: .customLong("decoder-option"), help: ArgumentHelp("A PocketSphinx option for the recognizer cost table, as -flag=value (repeatable): what a cheaper search would save.", valueName: "flag=value"))
    var decoderOptions: [String] = []

    @Flag(help: "Print the recognizer cost table and stop.")
    var costsOnly = false

    @Flag(help: "Leave out the recognizer cost table (it takes most of a minute on one core before the rounds).")
    var skipCosts = false

    @Option(help: "Seconds over which the callers' first calls start (callers follow the same script, so a short spread makes them all speak at once: a burst).")
    var stagger: Double = 10

    func run() async throws {
        let counts = calls.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }.filter { $0 > 0 }
        guard !counts.isEmpty else { throw ValidationError("no call counts in '\(calls)'") }
        // A script per caller: callers sharing scripts would say the same sentences, and one hard sentence would weigh
        // as many times in the percentiles.
        let scripts = try CallerScript.make(from: try sentences.files(), count: max(12, counts.max() ?? 12), pause: sentences == .bank ? 6 : 5)
        print(String(format: "%d cores; bank flow; callers say %@ at 8 kHz in 20 ms frames; %.0f s rounds; starts spread over %.0f s",
                     ProcessInfo.processInfo.activeProcessorCount, sentences.description, seconds, stagger))
        print("gap: the caller's last voiced frame sent → the bot's first voiced frame received (the end hangover included)")
        if sentences == .bank && !skipCosts {
            // Measured on this thread while nothing else runs: a search's cost, apart from the load.
            let files = Array(try BenchSentences.bank.files().prefix(16))
            let options = decoderOptions.flatMap { option -> [String] in
                let parts = option.split(separator: "=", maxSplits: 1).map(String.init)
                return parts.count == 2 ? parts : []
            }
            let costs = try await RecognizerCost.measure(files: files, flowPath: "Models/flows/bank.yaml", options: options)
            print("recognizer CPU per second of caller audio (\(files.count) requests, one thread):")
            for row in costs {
                print(String(format: "  %@ %@  %.3f s  (speech from %.0f callers at once per core)", row.search.padding(toLength: 15, withPad: " ", startingAt: 0),
                             row.decoding.padding(toLength: 5, withPad: " ", startingAt: 0), row.cpuPerSecond, 1 / row.cpuPerSecond))
            }
            fflush(nil)
        }
        if costsOnly { return }
        let protocols: [BenchProtocol] = gateway == .both ? [.audiosocket, .twilio] : [gateway]
        let storeList = stores.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for proto in protocols {
            for store in storeList {
            print("")
            print("\(proto.rawValue), store \(TranscriptStores.redacted(store)):")
            print("  calls  replies  p50 ms  p95 ms  p99 ms  talked over  real-time  failures  refused  server cores  CPU/call  RSS MB  RSS/call MB  callers' cores")
            var rounds: [(Int, Round)] = []
            for count in counts {
                let round = try await runRound(proto, calls: count, scripts: scripts, store: store)
                rounds.append((count, round))
                print(String(format: "  %5d  %7d  %6.0f  %6.0f  %6.0f  %11d  %5d/%-3d  %8d  %7d  %12.2f  %8.3f  %6.0f  %11.1f  %14.2f",
                             count, round.latencies.count, round.latencies.percentile(50) * 1000, round.latencies.percentile(95) * 1000,
                             round.latencies.percentile(99) * 1000, round.talkedOver, round.keptUp, round.calls, round.failures, round.refused, round.serverCores,
                             round.serverCores / Double(count), round.serverRSS, (round.serverRSS - round.idleRSS) / Double(count),
                             round.clientCores))
                fflush(nil)
            }
            print("  where the time goes, p50/p95 ms per turn (the server's /metrics):")
            print("  calls  " + TurnBreakdown.parts.map { $0.title.padding(toLength: 13, withPad: " ", startingAt: 0) }.joined(separator: " ")
                  + " holding  overloads")
            for (count, round) in rounds {
                let cells = TurnBreakdown.parts.map { part -> String in
                    guard let histogram = round.breakdown.histograms[part.metric], histogram.count > 0 else { return "—".padding(toLength: 13, withPad: " ", startingAt: 0) }
                    return String(format: "%5.0f/%-7.0f", histogram.percentile(50) * 1000, histogram.percentile(95) * 1000)
                }
                print(String(format: "  %5d  ", count) + cells.joined(separator: " ") + String(format: " %7.0f  %9.0f", round.breakdown.holding, round.breakdown.overloads))
            }
            }
        }
    }

    struct Round {
        var latencies: [Double] = []
        var talkedOver = 0
        var calls = 0
        var keptUp = 0
        var failures = 0
        var serverCores = 0.0
        var serverRSS = 0.0
        var idleRSS = 0.0
        var breakdown = TurnBreakdown(metrics: "")
        var refused = 0
        var clientCores = 0.0
    }

    private func runRound(_ proto: BenchProtocol, calls count: Int, scripts: [CallerScript], store: String) async throws -> Round {
        let key = "bench-" + UUID().uuidString.lowercased()
        let server = try BenchServer.start(key: key, recognizers: recognizers, store: store, executable: self.server)
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
        let clientBefore = BenchServer.ownCPUSeconds
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
                        if result.refused {
                            // A refused caller is routed elsewhere by the PBX; this one tries again a little later.
                            results.append(result)
                            try await Task.sleep(for: .seconds(3))
                            continue
                        }
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
        round.breakdown = TurnBreakdown(metrics: await server.metrics(key: key))
        round.serverCores = (server.cpuSeconds - cpuBefore) / elapsed
        round.clientCores = (BenchServer.ownCPUSeconds - clientBefore) / elapsed
        round.serverRSS = server.peakRSSMB
        round.refused = results.count(where: \.refused)
        let answered = results.filter { !$0.refused }
        round.calls = answered.count
        round.failures = answered.count { $0.failure != nil }
        round.keptUp = answered.count { $0.failure == nil && !$0.overloaded && $0.missedReplies == 0 && !$0.lateSending }
        round.latencies = results.flatMap(\.latencies)
        round.talkedOver = results.reduce(0) { $0 + $1.talkedOver }
        for failure in Set(results.compactMap(\.failure)).prefix(3) { print("    failure: \(failure)") }
        return round
    }
}

// MARK: - What callers say

/// Which recordings the bench's callers say.
enum BenchSentences: String, CaseIterable, ExpressibleByArgument, CustomStringConvertible {
    case bank, librivox

    var description: String {
        switch self {
        case .bank: "short bank requests (Tests/Fixtures/spoken: hibari heart and festival ked through the telephone channel)"
        case .librivox: "LibriVox sentences (pocketsphinx-testdata)"
        }
    }

    /// The recordings, in a fixed order.
    func files() throws -> [String] {
        switch self {
        case .librivox:
            let data = "/usr/share/pocketsphinx/test/data/librivox"
            guard FileManager.default.fileExists(atPath: data) else { throw ValidationError("\(data): apt-get install pocketsphinx-testdata") }
            return try FileManager.default.contentsOfDirectory(atPath: data).filter { $0.hasSuffix(".wav") }.sorted().map { data + "/" + $0 }
        case .bank:
            let labels = "Tests/Fixtures/spoken/spoken.tsv"
            guard let text = try? String(contentsOfFile: labels, encoding: .utf8) else {
                throw ValidationError("\(labels) not found: run the bench from the repository's root, or use --sentences librivox")
            }
            // Requests the bot serves without ending the call, alternating voices.
            let kept: Set<String> = ["check_balance", "opening_hours", "branch_location", "recent_transactions", "loan_inquiry", "reset_password",
                                     "change_address", "card_declined", "pay_bill", "transfer_money", "lost_card"]
            let rows = text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { $0.split(separator: "\t").map(String.init) }
            let files = rows.filter { $0.count >= 2 && kept.contains($0[0]) }.map { $0[1] }
            let heart = files.filter { $0.contains("hibari") }, ked = files.filter { !$0.contains("hibari") }
            return zip(heart, ked).flatMap { [$0, $1] }
        }
    }
}

/// One caller's audio (8 kHz μ-law and L16 frames) and the frames that end each thing they say.
struct CallerScript: Sendable {
    var muLaw: [[UInt8]]
    var linear: [[UInt8]]
    /// Indexes of the last voiced frame of each sentence: the caller has finished speaking once it is sent.
    var turnEnds: Set<Int>
    /// Indexes of the first voiced frame of each sentence.
    var turnStarts: Set<Int>

    /// Scripts of five sentences each, `pause` seconds apart so the bot's reply fits between them.
    static func make(from files: [String], count: Int, pause: Double) throws -> [CallerScript] {
        let audio = try files.map { path -> [Float] in
            let reader = try SndFileAudioDecoder().open(.file(path: path))
            return Resampler.resample(try reader.readAll(), from: reader.info.sampleRate, to: 8_000)
        }
        return (0..<count).map { index in
            var samples = [Float](repeating: 0, count: 8_000 * 7)  // the greeting plays first
            var turnEnds = Set<Int>()
            var turnStarts = Set<Int>()
            for turn in 0..<5 {
                let sentence = audio[(index * 5 + turn) % audio.count]
                let frames = BenchAudio.frames(sentence)
                if let last = frames.lastIndex(where: BenchAudio.isVoiced) { turnEnds.insert(samples.count / 160 + last) }
                if let first = frames.firstIndex(where: BenchAudio.isVoiced) { turnStarts.insert(samples.count / 160 + first) }
                samples += sentence
                samples += [Float](repeating: 0, count: Int(8_000 * pause) + (160 - sentence.count % 160) % 160)
            }
            let frames = BenchAudio.frames(samples)
            return CallerScript(muLaw: frames.map { CallAudioFormat.muLaw8k.encode($0) }, linear: frames.map { CallAudioFormat.linear8k.encode($0) },
                                turnEnds: turnEnds, turnStarts: turnStarts)
        }
    }
}

/// What counts as voice in the bench: a 20 ms frame above −45 dBFS (speech, not the line's hiss or a prompt's leading silence).
enum BenchAudio {
    /// 8 kHz audio (samples or codes) in 20 ms frames, the last one short if it falls so.
    static func frames<Sample>(_ audio: [Sample]) -> [[Sample]] {
        stride(from: 0, to: audio.count, by: 160).map { Array(audio[$0..<min($0 + 160, audio.count)]) }
    }

    static func isVoiced(_ samples: [Float]) -> Bool {
        guard !samples.isEmpty else { return false }
        let power = samples.reduce(Float(0)) { $0 + $1 * $1 } / Float(samples.count)
        return 10 * log10(Double(power) + 1e-12) > -45
    }
}

/// The server's own account of each turn's parts, read from its /metrics histograms.
struct TurnBreakdown {
    struct Part {
        var title: String
        var metric: String
    }

    static let parts = [
        Part(title: "hangover", metric: "hotline_turn_hangover_seconds"),
        Part(title: "recognizer q", metric: "hotline_turn_recognizer_wait_seconds"),
        Part(title: "decode", metric: "hotline_turn_decode_seconds"),
        Part(title: "dialog", metric: "hotline_turn_dialog_seconds"),
        Part(title: "synthesis", metric: "hotline_turn_synthesis_seconds"),
        Part(title: "pacing", metric: "hotline_turn_pacing_seconds"),
    ]

    /// A cumulative Prometheus histogram.
    struct Histogram {
        var buckets: [(le: Double, count: Double)] = []
        var count: Double { buckets.last?.count ?? 0 }

        /// The percentile, interpolated within its bucket.
        func percentile(_ p: Double) -> Double {
            let rank = count * p / 100
            var previous = (le: 0.0, count: 0.0)
            for bucket in buckets {
                if bucket.count >= rank {
                    if bucket.le.isInfinite { return previous.le }
                    let span = bucket.count - previous.count
                    return previous.le + (span > 0 ? (rank - previous.count) / span : 0) * (bucket.le - previous.le)
                }
                previous = bucket
            }
            return previous.le
        }
    }

    var histograms: [String: Histogram] = [:]
    var holding = 0.0
    var overloads = 0.0

    init(metrics: String) {
        for line in metrics.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            guard parts.count >= 2, let value = Double(parts[1]) else { continue }
            let name = String(parts[0])
            if name.hasPrefix("hotline_holding_phrases_total") { holding += value }
            if name.hasPrefix("hotline_call_overloads_total") { overloads += value }
            guard let brace = name.firstIndex(of: "{"), name[..<brace].hasSuffix("_bucket"),
                  let le = name.range(of: "le=\"") else { continue }
            let metric = String(name[..<brace].dropLast("_bucket".count))
            let bound = name[le.upperBound...].prefix { $0 != "\"" }
            histograms[metric, default: Histogram()].buckets.append((bound == "+Inf" ? .infinity : Double(bound) ?? 0, value))
        }
        for key in histograms.keys { histograms[key]!.buckets.sort { $0.le < $1.le } }
    }
}

// MARK: - One call

struct CallResult: Sendable {
    var callID: String
    var latencies: [Double] = []
    var missedReplies = 0
    var talkedOver = 0
    var failure: String?
    var overloaded = false
    var lateSending = false
    /// The server refused the call (past capacity): a hangup before any greeting, or a 503.
    var refused = false
}

/// When the caller's utterances ended and when bot prompts started arriving.
final class CallTimeline: Sendable {
    private struct State {
        var endpoints: [ContinuousClock.Instant] = []
        var sentenceStarts: [ContinuousClock.Instant] = []
        var promptStarts: [ContinuousClock.Instant] = []
        var lastVoiced: ContinuousClock.Instant?
        var ended = false
        var refused = false
    }

    private let state = Mutex(State())

    /// The caller has finished a sentence (its last voiced frame was just sent).
    func endpoint() { state.withLock { $0.endpoints.append(.now) } }
    /// The caller started a sentence (its first voiced frame was just sent).
    func sentenceStarted() { state.withLock { $0.sentenceStarts.append(.now) } }

    /// A frame of the bot's audio arrived: a voiced one after a quarter second without voice starts a prompt.
    func audio(_ samples: [Float]) {
        guard BenchAudio.isVoiced(samples) else { return }
        state.withLock { state in
            let now = ContinuousClock.now
            if state.lastVoiced.map({ now - $0 > .milliseconds(250) }) ?? true { state.promptStarts.append(now) }
            state.lastVoiced = now
        }
    }

    func end() { state.withLock { $0.ended = true } }
    /// The server hung up before saying anything: the call was refused.
    func refuse() { state.withLock { $0.refused = true } }
    var refused: Bool { state.withLock { $0.refused } }
    var ended: Bool { state.withLock { $0.ended } }

    /// Latency of each endpoint to the first prompt after it (before the next endpoint); endpoints with no reply; sentences
    /// the bot started talking over (a prompt began after the caller's first voiced frame and before their last: the turn
    /// was cut short, or an earlier reply came late). A sentence talked over has no gap (the bot's answer began before
    /// it ended; what follows its end is the rest of that prompt or its pauses): it is counted apart, not timed.
    func latencies(callEnd: ContinuousClock.Instant) -> ([Double], missed: Int, talkedOver: Int) {
        state.withLock { state in
            var latencies: [Double] = []
            var missed = 0
            var talkedOver = 0
            for (index, endpoint) in state.endpoints.enumerated() {
                if index < state.sentenceStarts.count {
                    let start = state.sentenceStarts[index]
                    if state.promptStarts.contains(where: { $0 > start && $0 < endpoint }) {
                        talkedOver += 1
                        continue
                    }
                }
                let next = index + 1 < state.endpoints.count ? state.endpoints[index + 1] : callEnd
                if let reply = state.promptStarts.first(where: { $0 >= endpoint && $0 < next }) {
                    latencies.append((reply - endpoint).seconds)
                } else {
                    missed += 1
                }
            }
            return (latencies, missed, talkedOver)
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
                        var heard = false
                        for try await message in inbound {
                            if case .audio(let buffer, _) = message {
                                heard = true
                                timeline.audio(CallAudioFormat.linear8k.decode(Array(buffer.readableBytesView)))
                            }
                            if case .hangup = message {
                                if !heard { timeline.refuse() }
                                break
                            }
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
        (result.latencies, result.missedReplies, result.talkedOver) = timeline.latencies(callEnd: .now)
        if timeline.refused {
            result.refused = true
            result.failure = nil
        }
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
                                // JSON may escape the base64 alphabet's "/" as "\/".
                                if let range = text.range(of: #""payload":""#),
                                   let payload = Data(base64Encoded: String(text[range.upperBound...].prefix { $0 != "\"" })
                                    .replacingOccurrences(of: "\\/", with: "/")) {
                                    timeline.audio(CallAudioFormat.muLaw8k.decode(Array(payload)))
                                }
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
        // Past capacity the server refuses the upgrade (503; the client reports only that the upgrade failed) or closes with 1013.
        if let failure = result.failure, failure.contains("503") || failure.contains("1013") || failure.contains("upgrade failed") {
            result.refused = true
            result.failure = nil
        }
        (result.latencies, result.missedReplies, result.talkedOver) = timeline.latencies(callEnd: .now)
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
            if script.turnStarts.contains(index) { timeline.sentenceStarted() }
            if script.turnEnds.contains(index) { timeline.endpoint() }
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
    static func start(key: String, recognizers: Int?, store: String, configuration: String? = nil, executable: String? = nil) throws -> BenchServer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hotline-bench-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let portsFile = directory + "/ports.json"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable ?? "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = ["serve", "--port", "0", "--audiosocket-port", "0", "--ports-file", portsFile]
        if let configuration {
            try configuration.write(toFile: directory + "/hotline.yaml", atomically: true, encoding: .utf8)
            process.arguments! += ["--config", directory + "/hotline.yaml"]
        }
        var environment = ProcessInfo.processInfo.environment
        environment["HOTLINE_API_KEY"] = key
        if let recognizers { environment["HOTLINE_RECOGNIZERS"] = "\(recognizers)" }
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

    /// CPU seconds this process (the load generator) has used.
    static var ownCPUSeconds: Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
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

// MARK: - Recognizer cost per search

/// CPU a recognizer spends per second of caller audio with each kind of search the flows use, live (as a call decodes)
/// and whole: what bounds the calls one core can keep in real time.
enum RecognizerCost {
    struct Row {
        var search: String
        var decoding: String
        var cpuPerSecond: Double
    }

    /// Decodes `files` (8 kHz telephone recordings) with each search on this thread, timing the thread's CPU.
    static func measure(files: [String], flowPath: String, options: [String] = []) async throws -> [Row] {
        let definition = try loadFlow(flowPath)
        var full = PocketSphinxConfiguration()
        full.extraOptions = options
        let domain = try await DomainModel.build(for: definition, recognizer: full)
        let calls = try full.forCalls(on: definition, domainModel: domain)
        let audio = try files.map { path -> [Float] in
            let reader = try SndFileAudioDecoder().open(.file(path: path))
            return Resampler.resample(try reader.readAll(), from: reader.info.sampleRate, to: 16_000)
        }
        let seconds = Double(audio.reduce(0) { $0 + $1.count }) / 16_000
        let flowRecognizer = try PocketSphinxRecognizer(configuration: calls)
        try flowRecognizer.prepare(for: definition, domainModel: domain)
        let general = try PocketSphinxRecognizer(configuration: full)
        try general.addGrammar(named: StateSearch.digits.searchName, jsgf: StateSearch.digitsGrammar)
        let cases: [(String, PocketSphinxRecognizer, RecognitionSearch)] = [
            ("domain model", flowRecognizer, .named(StateSearch.domain.searchName)),
            ("digits grammar", general, .named(StateSearch.digits.searchName)),
            ("general model", general, .standard),
        ]
        var rows: [Row] = []
        for (name, recognizer, search) in cases {
            for live in [true, false] {
                let started = RecognizerPool.threadCPU()
                var adaptation = recognizer.initialAdaptation(narrowband: true)
                for samples in audio {
                    if live {
                        try recognizer.beginUtterance(search: search, adaptation: adaptation)
                        for start in stride(from: 0, to: samples.count, by: 320) { try recognizer.feed(Array(samples[start..<min(start + 320, samples.count)])) }
                        (_, adaptation) = try recognizer.endUtterance(alternatives: 5)
                    } else {
                        _ = try recognizer.recognize(samples, search: search, alternatives: 5)
                    }
                }
                rows.append(Row(search: name, decoding: live ? "live" : "whole", cpuPerSecond: (RecognizerPool.threadCPU() - started) / seconds))
            }
        }
        return rows
    }

}
