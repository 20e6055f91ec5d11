import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HotlineCore
import HotlineEngines
@testable import HotlineServer
import HotlineStore
import HotlineTestSupport
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing

// MARK: - Fixtures

/// A bot that keeps the caller on the line: greets with the recording disclosure and answers every utterance by
/// reading out a card number (which must never be stored or shown unmasked).
struct ChattyBot: CallBot {
    static let reply = "Your card four one one one two two two two three three three three four four four four is now blocked."

    func configuration(for call: CallStart) -> CallConfiguration {
        var configuration = CallConfiguration()
        configuration.noInputTimeout = nil
        return configuration
    }

    func responder(for call: CallStart) async -> (any CallResponder)? {
        ReplyToEachUtterance(greeting: Reply(text: "Hello. This call may be recorded.")) { _ in
            Reply(text: Self.reply, interpretation: Interpretation(intent: "lost_card", confidence: 0.8, slots: ["card": "****4444"], request: "lost_card",
                                                                   progress: .served))
        }
    }
}

/// A bot that asks about the caller's request and waits: a caller who hangs up then abandons the call. On every
/// second call, the system it needs fails first and the caller hears the fallback.
struct AskingBot: CallBot {
    let calls = Shared(0)

    func configuration(for call: CallStart) -> CallConfiguration {
        var configuration = CallConfiguration()
        configuration.noInputTimeout = nil
        return configuration
    }

    func responder(for call: CallStart) async -> (any CallResponder)? {
        let failing = calls.value.withLock { count in
            count += 1
            return count % 2 == 0
        }
        return ReplyToEachUtterance(greeting: Reply(text: "Hello. This call may be recorded. How can I help?")) { _ in
            failing
                ? Reply(text: "Sorry, I can't reach your account right now.",
                        interpretation: Interpretation(intent: "check_balance", confidence: 0.9, request: "check_balance", progress: .failed,
                                                       failure: "http://127.0.0.1:8089/v1/balance: connection refused"))
                : Reply(text: "How much would you like to move?",
                        interpretation: Interpretation(intent: "transfer_money", confidence: 0.9, request: "transfer_money", progress: .asking))
        }
    }
}

/// The transcript store, writer, feed and recorder of a test server.
struct QualityFixture {
    let quality: QualityServices

    static let rules = Result { try QualityRulesLoader.load(path: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Models/qa/rules.yaml").standardized.path) }

    static func make(store: any TranscriptStore, node: String = "test-node") throws -> QualityFixture {
        var logger = Logger(label: "test-quality")
        logger.logLevel = .error
        return QualityFixture(quality: QualityServices(store: store, node: node, encoder: FLACRecordingEncoder(), logger: logger))
    }
}

extension TestServer {
    func json(_ path: String, key: String = Keys.qa) async throws -> [String: Any] {
        let (status, data) = try await get(path, key: key)
        guard status == 200 else { throw TestFailure(description: "GET \(path): \(status) \(String(decoding: data, as: UTF8.self))") }
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    /// Polls `path` until `condition` holds on its JSON (up to `timeout`).
    func poll(_ path: String, timeout: Duration = .seconds(60), until condition: ([String: Any]) -> Bool) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + timeout
        var last: [String: Any] = [:]
        while ContinuousClock.now < deadline {
            if let object = try? await json(path) {
                last = object
                if condition(object) { return object }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure(description: "GET \(path) never matched; last: \(last)")
    }
}

/// Keeps an AudioSocket call open: sends the recording (at once, or when `speak()` is called; silence until then), then
/// silence until told to hang up.
final class OpenCall: Sendable {
    let uuid = UUID()
    private let hangUp = Shared(false)
    private let speaking: Shared<Bool>
    private let task: Task<Void, any Error>

    /// Calls `port`; the caller says `frames` (8 kHz linear; default "go forward ten meters") once `speak()` is called
    /// (at once with `speakAtOnce`), then stays on the line in silence until `end()`.
    init(port: Int, speakAtOnce: Bool = true, frames: [[UInt8]] = Recording.frames(.linear8k)) {
        let uuid = uuid
        let hangUp = hangUp
        let speaking = Shared(speakAtOnce)
        self.speaking = speaking
        task = Task {
            let client = try await AudioSocketClient.connect(port: port)
            try await client.channel.executeThenClose { inbound, outbound in
                try await outbound.write(.uuid(uuid))
                let drain = Task { for try await _ in inbound {} }
                let silence = ByteBuffer(bytes: [UInt8](repeating: 0, count: 320))
                // A caller who hangs up before speaking says nothing.
                while !speaking.value.withLock({ $0 }), !hangUp.value.withLock({ $0 }) {
                    try await outbound.write(.audio(silence, sampleRate: 8_000))
                    try await Task.sleep(for: .milliseconds(20))
                }
                for frame in frames where !hangUp.value.withLock({ $0 }) || speaking.value.withLock({ $0 }) {
                    try await outbound.write(.audio(ByteBuffer(bytes: frame), sampleRate: 8_000))
                    try await Task.sleep(for: .milliseconds(5))
                }
                while !hangUp.value.withLock({ $0 }) {
                    try await outbound.write(.audio(silence, sampleRate: 8_000))
                    try await Task.sleep(for: .milliseconds(20))
                }
                try await outbound.write(.hangup)
                drain.cancel()
            }
        }
    }

    var id: String { uuid.uuidString.lowercased() }

    /// Starts the recording.
    func speak() { speaking.value.withLock { $0 = true } }

    func end() async throws {
        hangUp.value.withLock { $0 = true }
        try await task.value
    }
}

/// A value shared between tasks.
final class Shared<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
}

// MARK: - Tests

@Suite(.serialized) struct QualityTests {
    /// Every line is stored as it is said and can be read and searched while the call is live; the live feed carries it;
    /// the bot's card number is masked everywhere; the recording is stored when the call ends and can be fetched in ranges.
    @Test(arguments: StoreKind.available) func callStoredAsItHappens(kind: StoreKind) async throws {
        try await withScratchStore(kind) { scratch in
            let fixture = try QualityFixture.make(store: try await scratch.open())
            try await TestServer.run(bot: ChattyBot(), quality: fixture.quality) { server in
                let feed = LiveFeedClient(port: server.http, key: Keys.qa)
                try await feed.wait(for: ": connected")
                let call = OpenCall(port: server.audioSocket)
                try await feed.wait(for: "\"speaker\":\"caller\"")
                let detail = try await server.poll("/v1/qa/calls/\(call.id)") { detail in
                    ((detail["utterances"] as? [[String: Any]]) ?? []).contains { $0["speaker"] as? String == "caller" && $0["intent"] != nil }
                }
                let record = detail["call"] as! [String: Any]
                #expect(record["status"] as? String == "live", "readable while the call is live")
                let lines = detail["utterances"] as! [[String: Any]]
                let caller = lines.first { $0["speaker"] as? String == "caller" }!
                #expect((caller["text"] as! String).contains("forward"))
                #expect((caller["words"] as! [[String: Any]]).count >= 3)
                #expect(caller["intent"] as? String == "lost_card")
                #expect(caller["search"] as? String == "general")
                let search = try await server.json("/v1/qa/calls?q=forward&status=live")
                #expect((search["calls"] as! [[String: Any]]).map { $0["id"] as? String } == [call.id])

                // The card number the bot read out is masked in the store, the API and the feed.
                _ = try await server.poll("/v1/qa/calls/\(call.id)") { detail in
                    ((detail["utterances"] as? [[String: Any]]) ?? []).contains { ($0["text"] as? String ?? "").contains("now blocked") }
                }
                try await call.end()
                let ended = try await server.poll("/v1/qa/calls/\(call.id)") { ($0["call"] as? [String: Any])?["status"] as? String != "live" }
                let (_, raw) = try await server.get("/v1/qa/calls/\(call.id)", key: Keys.qa)
                let everything = String(decoding: raw, as: UTF8.self) + feed.text
                #expect(!everything.contains("one one one two two two two"), "the card number must never be stored or shown")
                #expect(everything.contains("**** four four four four is now blocked"))
                // Reading a card number out is itself a finding (critical: a live alert), pointing at the bot's line.
                let findings = ended["findings"] as! [[String: Any]]
                #expect(findings.map { $0["rule"] as? String } == ["sensitive_data"])
                let flagged = try #require(findings.first?["utterance"] as? Int)
                #expect((ended["utterances"] as! [[String: Any]])[flagged]["speaker"] as? String == "bot")
                #expect((ended["call"] as! [String: Any])["score"] as? Double == 75)
                #expect((ended["call"] as! [String: Any])["worstSeverity"] as? String == "critical")
                try await feed.wait(for: "event: alert")

                // The recording (caller left, bot right) arrives once the call is over; browsers seek with ranges.
                var recording = (0, Data())
                for _ in 0..<100 where recording.0 != 200 {
                    recording = try await server.get("/v1/qa/calls/\(call.id)/recording", key: Keys.qa)
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(recording.0 == 200)
                #expect(recording.1.prefix(4) == Data("fLaC".utf8))
                var ranged = URLRequest(url: URL(string: "http://127.0.0.1:\(server.http)/v1/qa/calls/\(call.id)/recording")!)
                ranged.setValue("Bearer \(Keys.qa)", forHTTPHeaderField: "Authorization")
                ranged.setValue("bytes=4-103", forHTTPHeaderField: "Range")
                let (part, response) = try await URLSession.shared.data(for: ranged)
                #expect((response as! HTTPURLResponse).statusCode == 206)
                #expect(part == recording.1[4..<104])
                #expect(try await server.get("/v1/qa/calls/\(call.id)/recording", key: Keys.gateway).0 == 403, "gateways cannot read recordings")
                #expect(try await server.get("/v1/qa/calls/\(call.id)/recording").0 == 401)

                // Exports.
                let (_, srt) = try await server.get("/v1/qa/calls/\(call.id)/export?format=srt", key: Keys.qa)
                let subtitles = String(decoding: srt, as: UTF8.self)
                #expect(subtitles.hasPrefix("1\n00:00:0"), "\(subtitles.prefix(200))")
                #expect(subtitles.contains("bot: Hello. This call may be recorded."))
            }
        }
    }

    /// The database is locked by another connection while the caller speaks: the lines wait in the writer's queue and
    /// are all stored once the lock is released; nothing is lost and the outage is visible.
    @Test func databaseOutageLosesNothing() async throws {
        try await withScratchStore(.sqlite) { scratch in
            let store = try SQLiteTranscriptStore(path: String(scratch.url.dropFirst("sqlite:".count)), busyTimeout: 0.05)
            try await store.migrate()
            let fixture = try QualityFixture.make(store: store)
            let writer = fixture.quality.writer
            try await TestServer.run(bot: ChattyBot(), quality: fixture.quality) { server in
                let events = fixture.quality.feed.subscribe(role: .qa)
                let outage = Task { try await store.withWriteLockHeld(for: 6) }
                try await Task.sleep(for: .milliseconds(300))
                let call = OpenCall(port: server.audioSocket)
                var callerLines = 0
                for await event in events where event.kind == .utterance && event.utterance?.speaker == "caller" {
                    callerLines += 1
                    break
                }
                #expect(callerLines == 1)
                try await Task.sleep(for: .milliseconds(200))
                #expect(writer.isFailing, "the writer saw the store fail")
                #expect(!fixture.quality.health.isAvailable, "the store's health says so")
                #expect(writer.pending > 0, "the lines are queued")
                #expect(try await store.detail(of: call.id) == nil, "nothing could be written during the outage")
                try await outage.value
                #expect(await writer.flush(timeout: .seconds(30)))
                #expect(!writer.isFailing)
                #expect(fixture.quality.health.isAvailable)
                let stored = try #require(try await store.detail(of: call.id))
                #expect(stored.utterances.contains { $0.speaker == "caller" && $0.text.contains("forward") })
                #expect(stored.utterances.contains { $0.speaker == "bot" && $0.text.hasPrefix("Hello.") })
                try await call.end()
                var final = try #require(try await store.detail(of: call.id))
                for _ in 0..<300 where final.call.status == .live {
                    try await Task.sleep(for: .milliseconds(100))
                    final = try #require(try await store.detail(of: call.id))
                }
                #expect(final.call.status != .live, "the end of the call is stored too")
                #expect(writer.dropped == 0)
            }
        }
    }

    /// A caller who hangs up at the bot's question is abandoned, not contained: in the store, the report, `/metrics` and
    /// the dashboard (Chromium). A call whose webhook failed is recorded as such and scores lower.
    @Test func abandonedAndFailedCalls() async throws {
        try await withScratchStore(.sqlite) { scratch in
            let fixture = try QualityFixture.make(store: try await scratch.open())
            try await TestServer.run(bot: AskingBot(), quality: fixture.quality) { server in
                // Other tests' calls count in the same process: compare the counters before and after.
                func counted(_ outcome: String) async throws -> Double {
                    let text = String(decoding: try await server.get("/metrics", key: Keys.admin).1, as: UTF8.self)
                    let prefix = #"hotline_calls_total{gateway="audiosocket",outcome="\#(outcome)"} "#
                    return text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Double($0.dropFirst(prefix.count)) } ?? 0
                }
                let before = (abandoned: try await counted("abandoned"), contained: try await counted("contained"))
                for failing in [false, true] {
                    let call = OpenCall(port: server.audioSocket)
                    _ = try await server.poll("/v1/qa/calls/\(call.id)") { detail in
                        ((detail["utterances"] as? [[String: Any]]) ?? []).filter { $0["speaker"] as? String == "bot" }.count >= 2
                    }
                    try await call.end()
                    let ended = try await server.poll("/v1/qa/calls/\(call.id)") { ($0["call"] as? [String: Any])?["status"] as? String != "live" }
                    let record = ended["call"] as! [String: Any]
                    let rules = (ended["findings"] as! [[String: Any]]).compactMap { $0["rule"] as? String }
                    #expect(record["status"] as? String == "abandoned")
                    #expect((record["score"] as? Double ?? 100) <= 80)
                    if failing {
                        #expect((record["outcomeReason"] as? String ?? "").contains("after a failure"), "\(record)")
                        #expect(rules.contains("backend_failure"))
                        #expect((ended["events"] as! [[String: Any]]).contains { $0["kind"] as? String == "backend-failure" })
                    } else {
                        #expect((record["outcomeReason"] as? String ?? "").contains("waited for an answer (transfer_money)"), "\(record)")
                        #expect(Set(rules).isSuperset(of: ["abandoned", "unresolved_request"]), "\(rules)")
                    }
                    #expect(try await server.outcome(call.id).status == .abandoned, "the dialplan reads the same outcome")
                }
                #expect(try await counted("abandoned") == before.abandoned + 2)
                #expect(try await counted("contained") == before.contained)
                let report = try await server.json("/v1/qa/report")
                #expect(report["abandoned"] as? Int == 2)
                #expect(report["contained"] as? Int == 0)

                // The supervisor's dashboard says the same.
                let browser = try await Browser.start()
                do {
                    try await browser.go("http://127.0.0.1:\(server.http)/qa/login")
                    try await browser.wait("document.querySelector('#key')")
                    try await browser.type(Keys.qa, into: "#key")
                    try await browser.clickAndLoad("#login")
                    try await browser.go("http://127.0.0.1:\(server.http)/qa/dashboard")
                    try await browser.wait("document.getElementById('abandoned')")
                    #expect(try await browser.run("return document.getElementById('containment').textContent") as? String == "0%")
                    #expect(try await browser.run("return document.getElementById('abandoned').textContent") as? String == "2")
                    try await browser.screenshot(QAPageTests.artifacts + "/08-dashboard-abandoned.png")
                } catch {
                    await browser.quit()
                    throw error
                }
                await browser.quit()
            }
        }
    }

    /// Two nodes on one store: node A stops heartbeating with a call live (killed); after the timeout node B closes
    /// that call as interrupted at its last line, and every viewer's live list drops it. Node B's own calls are untouched.
    @Test(arguments: StoreKind.available) func silentNodeCallsClosed(kind: StoreKind) async throws {
        try await withScratchStore(kind) { scratch in
            let storeA = try await scratch.open()
            let nodeA = try QualityFixture.make(store: storeA, node: "node-a").quality
            let nodeB = try QualityFixture.make(store: try await scratch.open(), node: "node-b").quality
            // Node A is running a call when it dies: its record, a line, its heartbeat, nothing more.
            let start = CallStart(id: "on-node-a", gateway: .twilio)
            var ledger = CallLedger(start, node: "node-a", rules: QualityRules(rules: []), hasBot: true)
            await nodeA.recorder.call(start, changed: ledger.begin())
            let spoken = Utterance(channel: 0, speaker: "caller", start: 10, end: 12.5, text: "i lost my card", confidence: 0.8, words: [])
            let final = CallEvent.final(UtteranceResult(utterance: spoken, alternatives: [], search: .standard, decoding: .live, endpointedAt: 13,
                                                        latency: 0.05))
            await nodeA.recorder.call(start, changed: ledger.apply(final))
            try await storeA.heartbeat(node: "node-a")
            #expect(await nodeA.writer.flush())
            try await nodeB.store.save(call: CallRecord(id: "on-node-b", gateway: .twilio, node: "node-b"))
            nodeB.feed.publish(FeedEvent(kind: .callStarted, callId: "on-node-a", call: ledger.record, node: "node-a"))
            #expect(nodeB.feed.liveCalls.map(\.id) == ["on-node-a"])

            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let watch = Task { try await NodeWatch(quality: nodeB, node: "node-b", interval: .milliseconds(200), timeout: 1, logger: logger).run() }
            var closed: CallRecord?
            for _ in 0..<100 {
                closed = try await nodeB.store.call(id: "on-node-a")
                if closed?.status != .live { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            // The watch tells the viewers and forgets the node right after closing its calls.
            for _ in 0..<50 where !nodeB.feed.liveCalls.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
            for _ in 0..<50 where !(try await nodeB.store.silentNodes(olderThan: 1, except: "node-b").isEmpty) {
                try await Task.sleep(for: .milliseconds(100))
            }
            watch.cancel()
            let record = try #require(closed)
            #expect(record.status == .interrupted)
            #expect(record.outcomeReason?.contains("node-a stopped") == true, "\(record.outcomeReason ?? "")")
            #expect(record.duration == 12.5, "ended at its last line")
            #expect(record.endedAt.map { abs($0.timeIntervalSince(record.startedAt) - 12.5) < 0.01 } == true)
            #expect(try await nodeB.store.call(id: "on-node-b")?.status == .live, "the live node's calls stay live")
            #expect(nodeB.feed.liveCalls.isEmpty, "viewers' live lists drop the dead node's call")
            #expect(try await nodeB.store.silentNodes(olderThan: 1, except: "node-b").isEmpty, "the dead node is forgotten once closed")
            for fixture in [nodeA, nodeB] {
                await fixture.writer.stop()
                fixture.feed.shutdown()
                try await fixture.store.close()
            }
        }
    }

    /// A viewer that reconnects with the id of the last event it saw gets what it missed; one whose id this node does
    /// not know (another node, a restart) gets a fresh snapshot of the live calls.
    @Test func feedViewerResumesOrStartsFromASnapshot() async throws {
        let feed = LiveFeed(node: "n", logger: Logger(label: "test"))
        let call = CallRecord(id: "c1", gateway: .twilio, callerNumber: "+15550100199", node: "n")
        feed.publish(FeedEvent(kind: .callStarted, callId: "c1", call: call, node: "n"))
        let (first, resumedFirst) = feed.subscribe(role: .qa, lastEventId: nil)
        #expect(!resumedFirst)
        var viewer = first.makeAsyncIterator()
        let snapshot = try #require(await viewer.next())
        #expect(snapshot.event.kind == .snapshot)
        #expect(snapshot.event.calls?.map(\.id) == ["c1"])
        #expect(snapshot.event.calls?.first?.callerNumber == "+1555…99", "masked for the qa role")
        // Away while the call changes and ends.
        feed.publish(FeedEvent(kind: .callUpdated, callId: "c1", call: call, node: "n"))
        feed.publish(FeedEvent(kind: .callEnded, callId: "c1", call: call, node: "n"))
        let (second, resumed) = feed.subscribe(role: .qa, lastEventId: snapshot.id)
        #expect(resumed)
        var back = second.makeAsyncIterator()
        #expect(await back.next()?.event.kind == .callUpdated)
        #expect(await back.next()?.event.kind == .callEnded)
        let (third, resumedThird) = feed.subscribe(role: .qa, lastEventId: "elsewhere-7")
        #expect(!resumedThird)
        var fresh = third.makeAsyncIterator()
        let again = await fresh.next()
        #expect(again?.event.kind == .snapshot && again?.event.calls?.isEmpty == true)
        feed.shutdown()
    }

    /// Two nodes on one PostgreSQL database: a viewer of node B sees node A's calls through LISTEN/NOTIFY, once, and
    /// with the role's masking.
    @Test(.enabled(if: StoreKind.available.contains(.postgres))) func feedAcrossNodes() async throws {
        try await withScratchStore(.postgres) { scratch in
            let storeA = try await scratch.open()
            let storeB = try await scratch.open()
            let nodeA = try QualityFixture.make(store: storeA, node: "node-a").quality
            let nodeB = try QualityFixture.make(store: storeB, node: "node-b").quality
            let viewer = nodeB.feed.subscribe(role: .qa)
            // Until node B's listener is subscribed, node A's events reach no one: start calls until one arrives.
            for attempt in 0..<100 where nodeB.feed.liveCalls.isEmpty {
                let start = CallStart(id: "across-\(attempt)", gateway: .twilio, callerNumber: "+15550100199")
                let ledger = CallLedger(start, node: "node-a", rules: QualityRules(rules: []), hasBot: true)
                await nodeA.recorder.call(start, changed: ledger.begin())
                try await Task.sleep(for: .milliseconds(100))
            }
            let heard = try #require(nodeB.feed.liveCalls.first)
            #expect(heard.node == "node-a")
            var iterator = viewer.makeAsyncIterator()
            #expect(await iterator.next()?.kind == .snapshot, "a viewer starts from the live list")
            let first = await iterator.next()
            #expect(first?.kind == .callStarted)
            #expect(first?.node == "node-a")
            #expect(first?.call?.callerNumber == "+1555…99", "qa viewers see masked numbers")
            // A relayed line is the same line as on its own node: words and times included.
            let start = CallStart(id: heard.id, gateway: .twilio, callerNumber: "+15550100199")
            var ledger = CallLedger(start, node: "node-a", rules: QualityRules(rules: []), hasBot: true)
            _ = ledger.begin()
            let words = (0..<24).map { RecognizedWord(word: "word\($0)", start: Double($0) * 0.4, end: Double($0) * 0.4 + 0.3, confidence: 0.9) }
            let spoken = Utterance(channel: 0, speaker: "caller", start: 0, end: 9.9, text: words.map(\.word).joined(separator: " "), confidence: 0.8,
                                   words: words)
            await nodeA.recorder.call(start, changed: ledger.apply(.final(UtteranceResult(utterance: spoken, alternatives: [], search: .standard,
                                                                                           decoding: .live, endpointedAt: 10, latency: 0.05))))
            var relayed: UtteranceRecord?
            while let event = await iterator.next() {
                if event.kind == .utterance, event.callId == heard.id { relayed = event.utterance; break }
            }
            let line = try #require(relayed)
            #expect(line.words.count == 24)
            #expect(line.words.map(\.word) == words.map(\.word))
            #expect(line.words.last?.end == words.last?.end)
            for fixture in [nodeA, nodeB] {
                await fixture.writer.stop()
                fixture.feed.shutdown()
                try await fixture.store.close()
            }
        }
    }
}
