import ArgumentParser
import Foundation
import HotlineCore
import HotlineEngines
import Synchronization

// MARK: - hotline bench soak

/// A long day in minutes: callers on the line continuously, the server's resident memory sampled as the calls go by,
/// and its slope once the per-call caches are full (they are made small so that they fill early in the run).
struct SoakBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract: "Memory over a long run: N callers continuously for --minutes, RSS sampled, its slope after the caches fill.",
        discussion: """
            Starts `hotline serve` (the bank flow, an SQLite store, finished calls kept: --retained-outcomes) and keeps \
            --calls AudioSocket callers on the line (each redials when its call ends), speaking LibriVox sentences at \
            real-time pace. Every --interval seconds it prints the calls finished and the server's RSS; at the end, the \
            RSS slope (MB per hour and KB per call) over the samples taken after the caches filled (after --warm-up \
            calls, by default twice the retained outcomes), with the figures the server reports for its caches.
            """
    )

    @Option(help: "Concurrent callers.")
    var calls = 16

    @Option(help: "Minutes to run.")
    var minutes: Double = 10

    @Option(help: "Seconds between memory samples.")
    var interval: Double = 20

    @Option(help: "Finished calls the server keeps in memory (small, so the cache fills early).")
    var retainedOutcomes = 200

    @Option(help: "Calls after which the caches count as full (default: twice --retained-outcomes).")
    var warmUp: Int?

    func run() async throws {
        let scripts = try CallerScript.make(from: try BenchSentences.librivox.files(), count: 6, pause: 5)
        let key = "bench-" + UUID().uuidString.lowercased()
        let server = try BenchServer.start(key: key, recognizers: calls, store: "sqlite",
                                           configuration: "calls: {retained_outcomes: \(retainedOutcomes)}\nlog: {level: warning}\n")
        let warm = warmUp ?? retainedOutcomes * 2
        print(String(format: "%d callers for %.0f min; finished calls kept: %d; slope measured after %d calls", calls, minutes, retainedOutcomes, warm))
        print("  minute   calls   failed   RSS MB")
        let finished = Counter()
        let failed = Counter()
        let deadline = ContinuousClock.now + .seconds(minutes * 60)
        let started = ContinuousClock.now
        var samples: [(minutes: Double, calls: Int, rss: Double)] = []
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<calls {
                group.addTask {
                    try await Task.sleep(for: .milliseconds(10_000 * index / calls))
                    var attempt = 0
                    while ContinuousClock.now < deadline - .seconds(3) {
                        let script = scripts[(index + attempt) % scripts.count]
                        attempt += 1
                        let result = await BenchCaller.audioSocket(port: server.audioSocketPort, id: UUID(), script: script, until: deadline)
                        if result.failure != nil { failed.add() }
                        finished.add()
                    }
                }
            }
            while ContinuousClock.now < deadline {
                try await Task.sleep(for: .seconds(interval))
                let sample = ((ContinuousClock.now - started).seconds / 60, finished.value, server.rssMB)
                samples.append(sample)
                print(String(format: "  %6.1f  %6d   %6d   %6.1f", sample.0, sample.1, failed.value, sample.2))
                fflush(nil)  // a long run prints as it goes, also into a file
            }
            try await group.waitForAll()
        }
        let metrics = await server.metrics(key: key)
        await server.stop()
        let full = samples.filter { $0.calls >= warm }
        guard full.count >= 3 else {
            print("too few samples after \(warm) calls to measure a slope: run longer (--minutes) or keep fewer calls (--retained-outcomes)")
            return
        }
        let perHour = Self.slope(full.map { ($0.minutes / 60, $0.rss) })
        let perCall = Self.slope(full.map { (Double($0.calls), $0.rss) }) * 1024
        print(String(format: "RSS slope after the caches filled (%d samples, %d→%d calls): %+.1f MB/h, %+.2f KB per call; RSS %.1f → %.1f MB",
                     full.count, full.first!.calls, full.last!.calls, perHour, perCall, full.first!.rss, full.last!.rss))
        for name in ["hotline_finished_calls_retained", "hotline_finished_calls_retained_bytes", "hotline_qa_feed_history_events",
                     "hotline_qa_feed_history_bytes", "hotline_caller_memory_callers", "hotline_store_queue_depth"] {
            if let line = metrics.split(separator: "\n").first(where: { $0.hasPrefix(name + " ") }) { print("  " + line) }
        }
    }

    /// Least-squares slope of y over x.
    static func slope(_ points: [(Double, Double)]) -> Double {
        let n = Double(points.count)
        let mx = points.reduce(0) { $0 + $1.0 } / n
        let my = points.reduce(0) { $0 + $1.1 } / n
        let sxy = points.reduce(0) { $0 + ($1.0 - mx) * ($1.1 - my) }
        let sxx = points.reduce(0) { $0 + ($1.0 - mx) * ($1.0 - mx) }
        return sxx == 0 ? 0 : sxy / sxx
    }
}

/// A count shared by tasks.
final class Counter: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
