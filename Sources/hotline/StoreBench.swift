import ArgumentParser
import Foundation
import HotlineCore
import HotlineEngines
import HotlineServer
import HotlineStore
import Logging
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization

// MARK: - hotline bench store

struct StoreBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Transcript store throughput and live-feed latency (SQLite, and PostgreSQL when --postgres is given).",
        discussion: """
            For each store: (1) throughput: --calls concurrent calls append utterances (words with times, intent, slots) \
            as fast as the store takes them, for --seconds; (2) the live path: --calls calls each finalise an utterance \
            every --interval seconds (jittered) through the real observer (redaction, QA rules, ordered writer, feed) \
            inside a running `hotline serve` HTTP listener, while a QA client reads the Server-Sent Events stream over \
            loopback; latency is from the final to the event arriving at the client. With PostgreSQL a second node's \
            feed also receives each event through LISTEN/NOTIFY, and that latency is printed too. Every utterance is \
            checked to be in the store afterwards.
            """
    )

    @Option(help: "Concurrent calls writing.")
    var calls = 50

    @Option(help: "Seconds each phase lasts.")
    var seconds: Double = 15

    @Option(help: "Seconds between one call's utterances in the live phase.")
    var interval: Double = 3

    @Option(help: "A PostgreSQL URL to measure as well (a scratch database: the bench writes into it).")
    var postgres: String?

    func run() async throws {
        var logger = Logger(label: "hotline.bench")
        logger.logLevel = .error
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hotline-bench-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var targets = [("SQLite", "sqlite:\(directory)/calls.sqlite")]
        if let postgres { targets.append(("PostgreSQL", postgres)) }
        print(String(format: "%d cores; %d calls; %.0f s phases; live phase: one utterance per call every %.1f s", ProcessInfo.processInfo.activeProcessorCount,
                     calls, seconds, interval))
        let recognizerPool = try RecognizerPool(size: 1) { try PocketSphinxRecognizer() }
        for (name, url) in targets {
            let store = try await TranscriptStores.open(url, logger: logger)
            let rate = try await throughput(store)
            try await store.close()
            print(String(format: "%@ throughput: %.0f utterances/s (%d calls appending concurrently)", name, rate, calls))
            try await live(name: name, store: try await TranscriptStores.open(url, logger: logger), url: url, pool: recognizerPool, logger: logger)
        }
    }

    /// Utterances per second with `calls` concurrent writers.
    func throughput(_ store: any TranscriptStore) async throws -> Double {
        let started = ContinuousClock.now
        let deadline = started + .milliseconds(Int(seconds * 1000))
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
            for call in 0..<calls {
                group.addTask {
                    let id = "throughput-\(call)-\(UUID().uuidString.prefix(8))"
                    try await store.save(call: CallRecord(id: id, gateway: .recording))
                    var written = 0
                    while ContinuousClock.now < deadline {
                        try await store.append(utterance: Self.line(call: id, sequence: written))
                        written += 1
                    }
                    return written
                }
            }
            return try await group.reduce(0, +)
        }
        return Double(total) / (ContinuousClock.now - started).seconds
    }

    /// The live path through a running HTTP listener; prints feed latency and checks the store.
    func live(name: String, store: any TranscriptStore, url: String, pool: RecognizerPool, logger: Logger) async throws {
        let quality = QualityServices(store: store, node: "bench-a", encoder: nil, logger: logger)
        let recorder = quality.recorder
        var settings = ServerConfiguration()
        settings.httpPort = 0
        settings.audioSocketEnabled = false
        settings.keys = [APIKey(name: "qa", secret: "bench-qa-key-0123456789", roles: [.qa])]
        let host = CallHost(pool: pool, renderer: nil, bot: SilentBot(), observers: [recorder])
        let server = HotlineServer(configuration: settings, host: host, speech: nil, metrics: PrometheusCollectorRegistry(), logger: logger, quality: quality)
        // A second node on the same database hears the first through LISTEN/NOTIFY.
        let other = store is PostgresTranscriptStore ? try await TranscriptStores.open(url, logger: logger) : nil
        let otherFeed = other.map { QualityServices(store: $0, node: "bench-b", encoder: nil, logger: logger).feed }
        let log = LatencyLog()
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        // The server's own shutdown flushes the writer and closes the store; the count is checked on a fresh connection.
        let services = server.services(onHTTPBound: { portSink.yield($0) })
        let group = ServiceGroup(configuration: .init(services: services, logger: logger))
        var emitted = 0
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var port = 0
            for await bound in ports {
                port = bound
                break
            }
            let client = LiveFeedClient(port: port, key: "bench-qa-key-0123456789") { event in
                if event.kind == .utterance, let line = event.utterance { log.arrived("\(line.callId)#\(line.sequence)", remote: false) }
            }
            try await client.wait(for: ": connected", timeout: .seconds(10))
            let relayTask = otherFeed.map { feed in
                Task {
                    for await event in feed.subscribe(role: .qa) where event.kind == .utterance {
                        if let line = event.utterance { log.arrived("\(line.callId)#\(line.sequence)", remote: true) }
                    }
                }
            }
            if otherFeed != nil { try await Task.sleep(for: .seconds(1)) }  // the listener subscribes
            let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
            emitted = try await withThrowingTaskGroup(of: Int.self) { callers in
                for index in 0..<calls {
                    callers.addTask {
                        let start = CallStart(id: "live-\(index)-\(UUID().uuidString.prefix(8))", gateway: .audioSocket)
                        var ledger = CallLedger(start, node: "bench", rules: QualityRules(rules: []), hasBot: false)
                        await recorder.call(start, changed: ledger.begin())
                        var count = 0
                        try await Task.sleep(for: .milliseconds(Int.random(in: 0...Int(interval * 1000))))
                        while ContinuousClock.now < deadline {
                            var result = Self.result(at: Double(count) * interval)
                            result.id = count
                            log.sent("\(start.id)#\(count)")
                            await recorder.call(start, changed: ledger.apply(.final(result)))
                            count += 1
                            try await Task.sleep(for: .milliseconds(Int(interval * 1000 * Double.random(in: 0.8...1.2))))
                        }
                        await recorder.call(start, changed: ledger.apply(.ended(at: Double(count) * interval, reason: "bench", byBot: false)))
                        await recorder.call(start, changed: ledger.close())
                        return count
                    }
                }
                return try await callers.reduce(0, +)
            }
            try await Task.sleep(for: .seconds(1))
            relayTask?.cancel()
            client.stop()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        let dropped = quality.writer.dropped
        otherFeed?.shutdown()
        try await other?.close()
        let check = try await TranscriptStores.open(url, logger: logger)
        let page = try await check.calls(matching: CallQuery(text: "balance", limit: 500))
        var stored = 0
        for call in page.calls where call.id.hasPrefix("live-") { stored += try await check.detail(of: call.id)?.utterances.count ?? 0 }
        try await check.close()
        let local = log.local
        print(String(format: "%@ live feed: %d utterances (%.1f/s), viewer over HTTP SSE p50/p95/p99 %.1f / %.1f / %.1f ms (%d received); stored %d of %d; writer dropped %d",
                     name, emitted, Double(emitted) / seconds, local.percentile(50) * 1000, local.percentile(95) * 1000, local.percentile(99) * 1000,
                     local.count, stored, emitted, dropped))
        let across = log.remote
        if !across.isEmpty {
            print(String(format: "%@ across nodes (LISTEN/NOTIFY): p50/p95/p99 %.1f / %.1f / %.1f ms (%d received)", name, across.percentile(50) * 1000,
                         across.percentile(95) * 1000, across.percentile(99) * 1000, across.count))
        }
    }

    static func line(call: String, sequence: Int) -> UtteranceRecord {
        let words = ["i", "want", "to", "check", "my", "balance", "please", "thanks"]
        return UtteranceRecord(callId: call, sequence: sequence, speaker: "caller", text: words.joined(separator: " "), start: Double(sequence) * 3,
                               end: Double(sequence) * 3 + 2, confidence: 0.8,
                               words: words.enumerated().map { RecognizedWord(word: $1, start: Double(sequence) * 3 + Double($0) * 0.25,
                                                                               end: Double(sequence) * 3 + Double($0) * 0.25 + 0.2, confidence: 0.9) },
                               intent: "check_balance", intentConfidence: 0.7, slots: [:], search: "domain")
    }

    static func result(at time: Double) -> UtteranceResult {
        let line = line(call: "", sequence: 0)
        let words = line.words.map { RecognizedWord(word: $0.word, start: $0.start + time, end: $0.end + time, confidence: $0.confidence) }
        return UtteranceResult(utterance: Utterance(channel: 0, speaker: "caller", start: time, end: time + 2, text: line.text, confidence: 0.8, words: words),
                               alternatives: [], search: .named("domain"), decoding: .live, endpointedAt: time + 2.5, latency: 0.05)
    }
}

/// A bot with nothing to say (the store bench drives the observer itself).
private struct SilentBot: CallBot {
    func configuration(for call: CallStart) -> CallConfiguration { CallConfiguration() }
    func responder(for call: CallStart) async -> (any CallResponder)? { nil }
}

/// When each utterance was finalised and how long it took to reach the viewers.
final class LatencyLog: Sendable {
    private struct State {
        var sent: [String: ContinuousClock.Instant] = [:]
        var local: [Double] = []
        var remote: [Double] = []
    }

    private let state = Mutex(State())

    func sent(_ key: String) { state.withLock { $0.sent[key] = .now } }

    func arrived(_ key: String, remote: Bool) {
        let now = ContinuousClock.now
        state.withLock { state in
            guard let start = state.sent[key] else { return }
            if remote { state.remote.append((now - start).seconds) } else { state.local.append((now - start).seconds) }
        }
    }

    var local: [Double] { state.withLock { $0.local } }
    var remote: [Double] { state.withLock { $0.remote } }
}
