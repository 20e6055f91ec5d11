import Foundation
import HotlineCore
import HotlineStore
import Logging
import Synchronization
import HotlineTestSupport
import Testing


private let hour: TimeInterval = 3600
private let base = Date(timeIntervalSince1970: 1_789_999_200)  // a fixed hour, so reports group predictably

private func call(_ id: String, at offset: TimeInterval = 0, status: CallStatus = .contained, intent: String? = nil, score: Double? = nil,
                  worst: Severity? = nil, queue: String? = nil, reason: String? = nil) -> CallRecord {
    CallRecord(id: id, gateway: .audioSocket, callerNumber: "+15550100", node: "node-a", startedAt: base.addingTimeInterval(offset),
               endedAt: status == .live ? nil : base.addingTimeInterval(offset + 60), status: status, endReason: status == .live ? nil : "caller hung up",
               duration: 60, intent: intent, handoffQueue: queue, handoffReason: reason, score: score, worstSeverity: worst)
}

private func line(_ callId: String, _ sequence: Int, _ text: String, speaker: String = "caller", intent: String? = nil) -> UtteranceRecord {
    UtteranceRecord(callId: callId, sequence: sequence, speaker: speaker, text: text, start: Double(sequence) * 3, end: Double(sequence) * 3 + 2,
                    confidence: speaker == "caller" ? 0.8 : nil,
                    words: text.split(separator: " ").enumerated().map { RecognizedWord(word: String($1), start: Double($0), end: Double($0) + 0.4, confidence: 0.9) },
                    intent: intent, intentConfidence: intent == nil ? nil : 0.7, slots: intent == nil ? [:] : ["digits": "****1234"], search: "domain")
}

@Suite("Transcript stores (the same tests on SQLite and PostgreSQL)")
struct StoreTests {
    @Test("a live call's utterances are readable as they are written; retries and updates do not duplicate", arguments: StoreKind.available)
    func liveCallWrites(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await store.save(call: call("c1", status: .live))
            try await store.append(utterance: line("c1", 0, "thank you for calling", speaker: "bot"))
            try await store.append(utterance: line("c1", 1, "i lost my card"))
            var detail = try #require(try await store.detail(of: "c1"))
            #expect(detail.call.status == .live)
            #expect(detail.utterances.map(\.text) == ["thank you for calling", "i lost my card"])
            #expect(detail.utterances[1].words.count == 4)
            #expect(detail.utterances[1].words[3] == RecognizedWord(word: "card", start: 3, end: 3.4, confidence: 0.9))
            #expect(detail.utterances[1].search == "domain")

            // The intent arrives after the words: the same line is updated, not added.
            try await store.append(utterance: line("c1", 1, "i lost my card", intent: "lost_card"))
            let event = CallEventRecord(callId: "c1", sequence: 0, kind: "barge-in", at: 2.5, detail: "prompt 1")
            let finding = Finding(callId: "c1", sequence: 0, rule: "frustration", severity: .warning, utterance: 1, at: 3, message: "caller said \"fed up\"")
            for _ in 0..<2 {  // a writer retrying after an outage
                try await store.append(event: event)
                try await store.append(finding: finding)
            }
            detail = try #require(try await store.detail(of: "c1"))
            #expect(detail.utterances.count == 2)
            #expect(detail.utterances[1].intent == "lost_card")
            #expect(detail.utterances[1].intentConfidence == 0.7)
            #expect(detail.utterances[1].slots == ["digits": "****1234"])
            #expect(detail.events == [event])
            #expect(detail.findings == [finding])
            #expect(detail.hasRecording == false)

            var finished = call("c1", status: .handedOff, intent: "lost_card", score: 90, worst: .warning, queue: "cards", reason: "caller asked for a person")
            finished.errors = ["overloaded at 3.0 s"]
            finished.handoffSummary = "caller: i lost my card"
            try await store.save(call: finished)
            #expect(try await store.call(id: "c1") == finished)
            #expect(try await store.call(id: "nope") == nil)
            #expect(try await store.detail(of: "nope") == nil)
        }
    }

    @Test("search over transcripts, filters and paging", arguments: StoreKind.available)
    func searchAndFilters(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await store.save(call: call("a", at: 0, intent: "lost_card", score: 100))
            try await store.append(utterance: line("a", 0, "my cards were stolen yesterday"))
            try await store.save(call: call("b", at: hour, status: .handedOff, intent: "check_balance", score: 65, worst: .critical, queue: "accounts",
                                            reason: "caller asked for a person"))
            try await store.append(utterance: line("b", 0, "what is my balance"))
            try await store.append(utterance: line("b", 1, "my card number is ************1234"))
            try await store.append(finding: Finding(callId: "b", sequence: 0, rule: "sensitive_data", severity: .critical, utterance: 1, at: 3, message: "x"))
            var agentCall = call("c", at: 2 * hour, status: .live)
            agentCall.agent = "Sarah"
            try await store.save(call: agentCall)
            try await store.append(utterance: line("c", 0, "hello"))

            func ids(_ query: CallQuery) async throws -> [String] { try await store.calls(matching: query).calls.map(\.id) }
            #expect(try await ids(CallQuery()) == ["c", "b", "a"])  // newest first
            #expect(try await ids(CallQuery(text: "card")) == ["b", "a"])  // stemmed: "cards" matches
            #expect(try await ids(CallQuery(text: "balance card")) == ["b"])  // every word, in any line of the call
            #expect(try await ids(CallQuery(text: "STOLEN!")) == ["a"])
            #expect(try await ids(CallQuery(text: "mortgage")) == [])
            #expect(try await ids(CallQuery(text: "'; DROP TABLE calls; --")) == [])  // searched as words, never as SQL
            #expect(try await ids(CallQuery(status: .handedOff)) == ["b"])
            #expect(try await ids(CallQuery(intent: "lost_card")) == ["a"])
            #expect(try await ids(CallQuery(rule: "sensitive_data")) == ["b"])
            #expect(try await ids(CallQuery(severity: .warning)) == ["b"])
            #expect(try await ids(CallQuery(minimumScore: 90)) == ["a"])
            #expect(try await ids(CallQuery(maximumScore: 70)) == ["b"])
            #expect(try await ids(CallQuery(from: base.addingTimeInterval(hour / 2), to: base.addingTimeInterval(1.5 * hour))) == ["b"])
            #expect(try await ids(CallQuery(callerNumber: "+15550100")).count == 3)
            #expect(try await ids(CallQuery(agent: "Sarah")) == ["c"])
            let (withAgent, without) = (try await store.call(id: "c"), try await store.call(id: "a"))
            #expect(withAgent?.agent == "Sarah" && without != nil && without?.agent == nil)
            let page = try await store.calls(matching: CallQuery(limit: 2, offset: 2))
            #expect(page.calls.map(\.id) == ["a"])
            #expect(page.total == 3)
        }
    }

    @Test("reviews, recordings and the report", arguments: StoreKind.available)
    func reviewsRecordingsReport(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await store.save(call: call("a", at: 0, intent: "lost_card", score: 100))
            try await store.save(call: call("b", at: 60, status: .handedOff, intent: "lost_card", score: 50, worst: .critical, queue: "cards",
                                            reason: "lost_card: the flow hands it to cards"))
            try await store.save(call: call("c", at: hour, status: .handedOff, intent: "pay_bill", score: 90, queue: "payments",
                                            reason: "caller asked for a person"))
            try await store.save(call: call("d", at: 2 * hour, status: .failed))
            try await store.append(finding: Finding(callId: "b", sequence: 0, rule: "sensitive_data", severity: .critical, utterance: nil, at: 1, message: "x"))
            try await store.append(finding: Finding(callId: "b", sequence: 1, rule: "frustration", severity: .warning, utterance: nil, at: 2, message: "y"))
            try await store.append(finding: Finding(callId: "c", sequence: 0, rule: "frustration", severity: .warning, utterance: nil, at: 2, message: "z"))

            try await store.save(review: Review(callId: "a", reviewer: "qa-1", scores: ["greeting": 3], comment: "first", savedAt: base))
            let review = Review(callId: "a", reviewer: "qa-1", scores: ["greeting": 5, "resolution": 4], comment: "good call",
                                savedAt: base.addingTimeInterval(10))
            try await store.save(review: review)  // the same reviewer again replaces the scorecard
            #expect(try await store.detail(of: "a")?.reviews == [review])

            let audio = Data((0..<50_000).map { UInt8($0 % 251) })
            try await store.save(recording: Recording(callId: "a", mediaType: "audio/flac", data: audio))
            #expect(try await store.recording(of: "a") == Recording(callId: "a", mediaType: "audio/flac", data: audio))
            #expect(try await store.detail(of: "a")?.hasRecording == true)
            #expect(try await store.recording(of: "b") == nil)

            let report = try await store.report(from: nil, to: nil)
            #expect(report.calls == 4)
            #expect(report.contained == 1)
            #expect(report.handedOff == 2)
            #expect(report.failed == 1)
            #expect(abs(report.containmentRate - 0.25) < 1e-9)
            #expect(report.intents == ["lost_card": 2, "pay_bill": 1])
            #expect(report.handoffsByQueue == ["cards": 1, "payments": 1])
            #expect(report.handoffsByReason == ["flow handoff (the flow hands it to cards)": 1, "caller asked for a person": 1])
            #expect(report.findingsByRule == ["sensitive_data": 1, "frustration": 2])
            #expect(report.averageScore == 80)
            #expect(report.averageReviewScore == 90)
            #expect(report.callsPerHour[base] == 2)
            #expect(report.callsPerHour.values.reduce(0, +) == 4)
            let firstHour = try await store.report(from: base, to: base.addingTimeInterval(hour))
            #expect(firstHour.calls == 2)
            #expect(firstHour.findingsByRule == ["sensitive_data": 1, "frustration": 1])
        }
    }

    @Test("retention deletes old calls with everything of theirs and keeps live ones", arguments: StoreKind.available)
    func retention(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await store.save(call: call("old", at: -30 * 24 * hour))
            try await store.append(utterance: line("old", 0, "old words"))
            try await store.append(event: CallEventRecord(callId: "old", sequence: 0, kind: "dtmf", at: 1, detail: "5"))
            try await store.append(finding: Finding(callId: "old", sequence: 0, rule: "dead_air", severity: .warning, utterance: nil, at: 1, message: "x"))
            try await store.save(review: Review(callId: "old", reviewer: "qa", scores: ["greeting": 1], comment: ""))
            try await store.save(recording: Recording(callId: "old", mediaType: "audio/flac", data: Data([1, 2, 3])))
            try await store.save(call: call("stuck-live", at: -30 * 24 * hour, status: .live))
            try await store.save(call: call("new", at: 0))
            try await store.append(utterance: line("new", 0, "new words"))

            #expect(try await store.deleteCalls(startedBefore: base.addingTimeInterval(-7 * 24 * hour)) == 1)
            #expect(try await store.detail(of: "old") == nil)
            #expect(try await store.recording(of: "old") == nil)
            #expect(try await store.calls(matching: CallQuery(text: "words")).calls.map(\.id) == ["new"])
            #expect(try await store.call(id: "stuck-live") != nil)
            #expect(try await store.report(from: nil, to: nil).findingsByRule.isEmpty)
        }
    }

    @Test("opening a store twice migrates once and keeps the data", arguments: StoreKind.available)
    func reopen(kind: StoreKind) async throws {
        try await withScratchStore(kind) { scratch in
            let first = try await scratch.open()
            try await first.save(call: call("kept"))
            try await first.close()
            let second = try await scratch.open()
            #expect(try await second.call(id: "kept")?.id == "kept")
            try await second.close()
        }
    }

    @Test("a store that cannot be reached is named in the error")
    func unreachable() async throws {
        let error = await #expect(throws: StoreError.self) {
            _ = try await TranscriptStores.open("postgres://nobody:secret@127.0.0.1:1/none", connectTimeout: 2, logger: Logger(label: "test"))
        }
        #expect(error?.message.contains("postgres://nobody:***@127.0.0.1:1/none") == true)
        #expect(error?.message.contains("secret") == false)
        #expect(TranscriptStores.redacted("postgres://u:secret@h/db") == "postgres://u:***@h/db")
        #expect(throws: StoreError.self) { _ = try PostgresTranscriptStore(url: "postgres://h/db?sslmode=maybe", logger: Logger(label: "test")) }
    }

    @Test("PostgreSQL relays live-feed events between nodes (LISTEN/NOTIFY)", .enabled(if: StoreKind.available.contains(.postgres)))
    func feedRelay() async throws {
        try await withScratchStore(.postgres) { scratch in
            let nodeA = try await scratch.open() as! PostgresTranscriptStore
            let nodeB = try await scratch.open() as! PostgresTranscriptStore
            let received = Mutex<[String]>([])
            let listener = Task { try await nodeB.listen { payload in received.withLock { $0.append(payload) } } }
            // The listener may not be subscribed yet: publish until it hears.
            for attempt in 0..<50 where received.withLock({ $0.isEmpty }) {
                try await nodeA.publish("{\"n\":\(attempt)}")
                try await Task.sleep(for: .milliseconds(100))
            }
            let heard = received.withLock { $0.first }
            #expect(heard?.hasPrefix("{\"n\":") == true)
            listener.cancel()
            try await nodeA.close()
            try await nodeB.close()
        }
        }
}
