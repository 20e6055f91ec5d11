@testable import HotlineServer
import Logging
import Synchronization
import Testing

@Suite struct RegistryTests {
    @Test func perKeyLimitAndDuplicates() throws {
        let registry = CallRegistry()
        let first = CallStart(id: "a", gateway: .twilio, keyName: "ivr")
        try registry.admit(first, limit: 1) { _ in }
        #expect(throws: CallRegistry.Refusal.limit(key: "ivr", limit: 1)) {
            try registry.admit(CallStart(id: "b", gateway: .twilio, keyName: "ivr"), limit: 1) { _ in }
        }
        #expect(throws: CallRegistry.Refusal.duplicate("a")) { try registry.admit(first, limit: nil) { _ in } }
        registry.finish(first) { $0.status = .completed }
        try registry.admit(CallStart(id: "b", gateway: .twilio, keyName: "ivr"), limit: 1) { _ in }
        #expect(registry.outcome(of: "a")?.status == .completed)
        #expect(registry.liveCalls.map(\.id) == ["b"])
    }

    /// A call that outlives the grace period is hung up, and draining returns once it has ended.
    @Test func drainHangsUpLateCalls() async throws {
        let registry = CallRegistry()
        let call = CallStart(id: "late", gateway: .audioSocket)
        let reasons = Mutex<[String]>([])
        try registry.admit(call, limit: nil) { reason in
            reasons.withLock { $0.append(reason) }
            registry.finish(call) { $0.endReason = reason }
        }
        await registry.drain(grace: .milliseconds(200), logger: Logger(label: "test"))
        #expect(reasons.withLock { $0 } == ["server shutting down"])
        #expect(registry.outcome(of: "late")?.endReason == "server shutting down")
        #expect(throws: CallRegistry.Refusal.draining) { try registry.admit(CallStart(id: "new", gateway: .vosk), limit: nil) { _ in } }
    }
}
