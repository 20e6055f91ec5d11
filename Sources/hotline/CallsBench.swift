import ArgumentParser
import Foundation
import HotlineCore
import HotlineEngines
import Synchronization

// MARK: - hotline bench calls

/// Which recognition the simulated calls use.
enum BenchSearch: String, CaseIterable, ExpressibleByArgument {
    /// The general en-us language model, decoded live (partials, per-call CMN).
    case lm
    /// The cards JSGF grammar, decoded whole after each utterance.
    case grammar
    /// Both, one after the other.
    case both
}

struct CallsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calls",
        abstract: "N simulated calls in one process, replaying real recordings at real-time pace.",
        discussion: """
            Each call is an 8 kHz μ-law leg: the bot greets, the caller says real recorded sentences \
            (pocketsphinx-testdata: LibriVox sentences with the general language model, the cards recordings with \
            the cards grammar) with pauses, the bot answers every utterance with a freshly synthesized reply, and \
            callers who speak over a reply barge in. Calls start at staggered times. For each N it prints whether \
            every call kept up with real time (no overload, every final within 1 s of its endpoint, audio fed on \
            schedule), the p50/p95/p99 latency from the endpoint (end of speech plus the end hangover, which is \
            printed and not included) to the final and to the first reply audio, and CPU and RSS per call.
            """
    )

    @Option(help: "lm, grammar or both.")
    var search: BenchSearch = .both

    @Option(help: "Call counts to try with the language model, comma-separated.")
    var lmCalls = "1,2,4,6,8"

    @Option(help: "Call counts to try with the grammar, comma-separated.")
    var grammarCalls = "8,16,24,32"

    @Option(help: "Seconds each round of calls lasts.")
    var seconds: Double = 30

    @Option(help: "Recognizers in the pool (default: one per call for the language model, one per core for the grammar).")
    var pool: Int?

    func run() async throws {
        let data = "/usr/share/pocketsphinx/test/data"
        guard FileManager.default.fileExists(atPath: data) else { throw ValidationError("\(data): apt-get install pocketsphinx-testdata") }
        let hangover = VoiceActivityDetector.Configuration().endDuration
        print(String(format: "%d cores; each call %.0f s of 8 kHz μ-law; end-of-speech hangover %.0f ms (excluded from latencies)",
                     ProcessInfo.processInfo.activeProcessorCount, seconds, hangover * 1000))
        if search != .grammar {
            let sentences = try FileManager.default.contentsOfDirectory(atPath: data + "/librivox").filter { $0.hasSuffix(".wav") }.sorted()
                .map { data + "/librivox/" + $0 }
            try await runSeries(name: "general language model, live decoding", counts: parse(lmCalls), recordings: sentences, grammar: nil)
        }
        if search != .lm {
            let cards = (1...5).map { String(format: "%@/cards/%03d.wav", data, $0) }
            try await runSeries(name: "cards grammar, whole-utterance decoding", counts: parse(grammarCalls), recordings: cards, grammar: data + "/cards/cards.gram")
        }
    }

    private func parse(_ list: String) throws -> [Int] {
        let counts = list.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }.filter { $0 > 0 }
        guard !counts.isEmpty else { throw ValidationError("no call counts in '\(list)'") }
        return counts
    }

    private func runSeries(name: String, counts: [Int], recordings: [String], grammar: String?) async throws {
        let poolSize = pool ?? (grammar == nil ? counts.max()! : ProcessInfo.processInfo.activeProcessorCount)
        let before = ResourceUsage.now()
        var configuration = PocketSphinxConfiguration()
        configuration.grammar = grammar
        let recognizers = try RecognizerPool(size: poolSize) { try PocketSphinxRecognizer(configuration: configuration) }
        let baseline = ResourceUsage.now()
        print("")
        print("\(name): pool of \(poolSize) recognizers, \(String(format: "%.0f", baseline.rssMB - before.rssMB)) MB")
        print("  calls  kept up  finals  barge-ins  overloads   final p50/p95/p99 ms     reply audio p50/p95/p99 ms   CPU/call  RSS/call MB")
        let legs = try recordings.map { path -> [Float] in
            let reader = try SndFileAudioDecoder().open(.file(path: path))
            let samples = try reader.readAll()
            return Resampler.resample(samples, from: reader.info.sampleRate, to: 8_000)
        }
        let renderer = PromptRenderer(synthesizer: try ESpeakSynthesizer.shared())
        var largestKeptUp = 0
        for count in counts {
            let round = try await runRound(calls: count, legs: legs, pool: recognizers, renderer: renderer, grammar: grammar != nil)
            let usage = ResourceUsage.now()
            let cpuPerCall = round.cpuSeconds / round.wall / Double(count)
            print(String(
                format: "  %5d  %3d/%-3d  %6d  %9d  %9d   %5.0f %5.0f %5.0f         %5.0f %5.0f %5.0f          %6.3f  %8.1f",
                count, round.keptUp, count, round.finals, round.bargeIns, round.overloads,
                round.finalLatency.percentile(50) * 1000, round.finalLatency.percentile(95) * 1000, round.finalLatency.percentile(99) * 1000,
                round.replyLatency.percentile(50) * 1000, round.replyLatency.percentile(95) * 1000, round.replyLatency.percentile(99) * 1000,
                cpuPerCall, max(0, usage.rssMB - baseline.rssMB) / Double(count)
            ))
            if round.keptUp == count { largestKeptUp = max(largestKeptUp, count) }
        }
        print("  largest N that kept up: \(largestKeptUp)")
    }

    struct Round {
        var keptUp = 0
        var finals = 0
        var bargeIns = 0
        var overloads = 0
        var finalLatency: [Double] = []
        var replyLatency: [Double] = []
        var cpuSeconds = 0.0
        var wall = 0.0
    }

    private func runRound(calls: Int, legs: [[Float]], pool: RecognizerPool, renderer: PromptRenderer, grammar: Bool) async throws -> Round {
        let start = ResourceUsage.now()
        let clock = ContinuousClock()
        let began = clock.now
        let results = try await withThrowingTaskGroup(of: CallOutcome.self) { group in
            for index in 0..<calls {
                group.addTask {
                    try await Self.simulateCall(index: index, legs: legs, seconds: seconds, pool: pool, renderer: renderer, grammar: grammar)
                }
            }
            var outcomes: [CallOutcome] = []
            for try await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        let end = ResourceUsage.now()
        var round = Round()
        for outcome in results {
            round.finals += outcome.finals
            round.bargeIns += outcome.bargeIns
            round.overloads += outcome.overloads
            round.finalLatency += outcome.finalLatency
            round.replyLatency += outcome.replyLatency
            if outcome.overloads == 0, (outcome.finalLatency.max() ?? 0) < 1.0, outcome.maximumLag < 0.1, outcome.finals > 0 { round.keptUp += 1 }
        }
        round.cpuSeconds = end.cpuSeconds - start.cpuSeconds
        round.wall = (clock.now - began).seconds
        return round
    }

    struct CallOutcome: Sendable {
        var finals = 0
        var bargeIns = 0
        var overloads = 0
        var finalLatency: [Double] = []
        var replyLatency: [Double] = []
        var maximumLag = 0.0
    }

    /// One call: staggered start, sentences with pauses at real-time pace, a reply to every utterance.
    private static func simulateCall(index: Int, legs: [[Float]], seconds: Double, pool: RecognizerPool, renderer: PromptRenderer, grammar: Bool) async throws -> CallOutcome {
        let format = CallAudioFormat.muLaw8k
        var audio = [Float](repeating: 0, count: Int(Double(index % 10) * 0.37 * 8_000) + 2_400)  // staggered start
        var next = index % legs.count
        while audio.count < Int(seconds * 8_000) {
            audio += legs[next] + [Float](repeating: 0, count: 8_000 * (1 + (index + next) % 3))  // 1–3 s pauses
            next = (next + 1) % legs.count
        }
        audio += [Float](repeating: 0, count: 12_000)
        let bytes = format.encode(audio)
        var configuration = CallConfiguration()
        configuration.noInputTimeout = nil
        if grammar { configuration.decoding = .whole }
        let session = try CallSession(
            id: "bench-\(index)", format: format, configuration: configuration, pool: pool, renderer: renderer,
            responder: ReplyToEachUtterance { result in Reply(text: "Thanks. I heard \(result.utterance.text). Is there anything else?") }
        )
        return await withTaskGroup(of: CallOutcome?.self) { group in
            group.addTask { await session.run(); return nil }
            group.addTask {
                var outcome = CallOutcome()
                for await event in session.events {
                    switch event {
                    case .final(let result):
                        outcome.finals += 1
                        outcome.finalLatency.append(result.latency)
                    case .playbackStarted(_, _, _, let latency?):
                        outcome.replyLatency.append(latency)
                    case .bargeIn: outcome.bargeIns += 1
                    case .overloaded: outcome.overloads += 1
                    default: break
                    }
                }
                return outcome
            }
            session.say("Thank you for calling. How can I help you today?")
            let clock = ContinuousClock()
            let start = clock.now
            let chunk = format.bytes(forSeconds: 0.02)
            var lag = 0.0
            var offset = 0
            var frame = 0
            while offset < bytes.count {
                let due = start + .milliseconds(20 * frame)
                lag = max(lag, (clock.now - due).seconds)
                session.receive(frame: Array(bytes[offset..<min(offset + chunk, bytes.count)]))
                offset += chunk
                frame += 1
                try? await clock.sleep(until: start + .milliseconds(20 * frame))
            }
            session.hangUp()
            var result = CallOutcome()
            for await outcome in group { if let outcome { result = outcome } }
            result.maximumLag = lag
            return result
        }
    }
}

/// Process CPU time and resident memory.
struct ResourceUsage {
    var cpuSeconds: Double
    var rssMB: Double

    static func now() -> ResourceUsage {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let cpu = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        // Current RSS from /proc (ru_maxrss is the peak).
        let statm = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? ""
        let pages = statm.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? 0
        return ResourceUsage(cpuSeconds: cpu, rssMB: pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576)
    }
}

extension Array where Element == Double {
    /// The p-th percentile (nearest rank); 0 for an empty array.
    func percentile(_ p: Double) -> Double {
        guard !isEmpty else { return 0 }
        let sorted = self.sorted()
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
        return sorted[Swift.max(0, Swift.min(sorted.count - 1, rank))]
    }
}
