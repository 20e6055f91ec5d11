import HotlineCore
@testable import HotlineServer
import Logging
import Synchronization
import Testing

@Suite struct RegistryTests {
    static func ledger(_ call: CallStart) -> CallLedger { CallLedger(call, node: "test", rules: QualityRules(rules: []), hasBot: true) }

    @Test func perKeyLimitAndDuplicates() throws {
        let registry = CallRegistry()
        let first = CallStart(id: "a", gateway: .twilio, keyName: "ivr")
        try registry.admit(first, ledger: Self.ledger(first), limit: 1) { _ in }
        let second = CallStart(id: "b", gateway: .twilio, keyName: "ivr")
        #expect(throws: CallRegistry.Refusal.limit(key: "ivr", limit: 1)) {
            try registry.admit(second, ledger: Self.ledger(second), limit: 1) { _ in }
        }
        #expect(throws: CallRegistry.Refusal.duplicate("a")) { try registry.admit(first, ledger: Self.ledger(first), limit: nil) { _ in } }
        registry.finish(first, failure: nil)
        try registry.admit(second, ledger: Self.ledger(second), limit: 1) { _ in }
        #expect(registry.view(of: "a")?.status == .abandoned, "a bot call that served nothing is not contained")
        #expect(registry.liveCalls.map(\.id) == ["b"])
    }

    /// Finished calls are kept by count and by bytes: long transcripts push the oldest out sooner; the newest stays.
    @Test func finishedCallsBoundedByCountAndBytes() throws {
        let registry = CallRegistry(retainedOutcomes: 100, retainedBytes: 40_000)
        for index in 0..<300 {
            let call = CallStart(id: "call-\(index)", gateway: .audioSocket)
            var ledger = Self.ledger(call)
            _ = ledger.begin()
            let text = String(repeating: "a long line of words ", count: index % 2 == 0 ? 2 : 40)
            let spoken = Utterance(channel: 0, speaker: "caller", start: 1, end: 2, text: text, confidence: 0.9, words: [])
            _ = ledger.apply(.final(UtteranceResult(utterance: spoken, alternatives: [], search: .standard, decoding: .live, endpointedAt: 2, latency: 0.1)))
            try registry.admit(call, ledger: ledger, limit: nil) { _ in }
            registry.finish(call, failure: nil)
            let retained = registry.retained
            #expect(retained.calls <= 100)
            #expect(retained.bytes <= 40_000 || retained.calls == 1)
        }
        #expect(registry.view(of: "call-299") != nil, "the newest is kept")
        #expect(registry.view(of: "call-0") == nil, "the oldest went")
        #expect(registry.retained.calls < 100, "the bytes bound bit before the count")
    }

    /// A call that outlives the grace period is hung up, recorded as interrupted, and draining returns once it has ended.
    @Test func drainHangsUpLateCalls() async throws {
        let registry = CallRegistry()
        let call = CallStart(id: "late", gateway: .audioSocket)
        let reasons = Mutex<[String]>([])
        try registry.admit(call, ledger: Self.ledger(call), limit: nil) { reason in
            reasons.withLock { $0.append(reason) }
            _ = registry.apply(call.id, .ended(at: 3, reason: reason, byBot: false))
            registry.finish(call, failure: nil)
        }
        await registry.drain(grace: .milliseconds(200), logger: Logger(label: "test"))
        #expect(reasons.withLock { $0 } == ["server shutting down"])
        #expect(registry.view(of: "late")?.endReason == "server shutting down")
        #expect(registry.view(of: "late")?.status == .interrupted)
        let next = CallStart(id: "new", gateway: .vosk)
        #expect(throws: CallRegistry.Refusal.draining) { try registry.admit(next, ledger: Self.ledger(next), limit: nil) { _ in } }
    }
}
