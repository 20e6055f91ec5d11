public import Foundation
public import HotlineCore
public import Logging
import Metrics
import Synchronization

// MARK: - Registry

/// Live calls (each with its ledger, the call's one record) and the views of recent finished ones, in memory.
/// Thread-safe: the registry's lock guards the tables; each call's ledger has a lock of its own, so calls never wait
/// for each other's events.
public final class CallRegistry: Sendable {
    /// A live call: its ledger and how to hang it up.
    final class LiveCall: Sendable {
        let ledger: Mutex<CallLedger>
        let hangUp: @Sendable (String) -> Void
        let keyName: String?
        /// Set when the node hung the call up because it is shutting down.
        let interruption = Mutex<String?>(nil)

        init(ledger: CallLedger, keyName: String?, hangUp: @escaping @Sendable (String) -> Void) {
            self.ledger = Mutex(ledger)
            self.keyName = keyName
            self.hangUp = hangUp
        }
    }

    private struct State {
        var live: [String: LiveCall] = [:]
        var finished: [String: (view: CallView, bytes: Int)] = [:]
        var finishedOrder: [String] = []
        var finishedHead = 0
        var finishedBytes = 0
        var callsByKey: [String: Int] = [:]
        var draining = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    /// How many finished calls' views are kept for lookups.
    public let retainedOutcomes: Int
    /// How many bytes of finished calls' views are kept at most (a long call's transcript weighs more than a short one's).
    public let retainedBytes: Int

    /// Makes a registry keeping the last `retainedOutcomes` finished calls, as long as they fit in `retainedBytes`.
    public init(retainedOutcomes: Int = 10_000, retainedBytes: Int = 32 << 20) {
        self.retainedOutcomes = retainedOutcomes
        self.retainedBytes = retainedBytes
        Self.retainedGauge.record(0)
        Self.retainedBytesGauge.record(0)
    }

    static let retainedGauge = Gauge(label: "hotline_finished_calls_retained")
    static let retainedBytesGauge = Gauge(label: "hotline_finished_calls_retained_bytes")

    /// Why a call was refused.
    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case draining
        case limit(key: String, limit: Int)
        case duplicate(String)
        /// Past capacity: taking the call would degrade every call.
        case overloaded(String)

        public var description: String {
            switch self {
            case .draining: "the server is shutting down and takes no new calls"
            case .limit(let key, let limit): "API key '\(key)' already has \(limit) concurrent call(s), its limit"
            case .duplicate(let id): "a call with id \(id) is already live"
            case .overloaded(let why): why
            }
        }
    }

    /// Registers a new call with its ledger; `limit` is the key's concurrent-call limit. `hangUp` ends the call (shutdown).
    func admit(_ call: CallStart, ledger: CallLedger, limit: Int?, hangUp: @escaping @Sendable (String) -> Void) throws(Refusal) {
        try state.withLock { (state) throws(Refusal) in
            if state.draining { throw .draining }
            if state.live[call.id] != nil { throw .duplicate(call.id) }
            if let key = call.keyName, let limit, state.callsByKey[key, default: 0] >= limit { throw .limit(key: key, limit: limit) }
            if let key = call.keyName { state.callsByKey[key, default: 0] += 1 }
            state.live[call.id] = LiveCall(ledger: ledger, keyName: call.keyName, hangUp: hangUp)
        }
    }

    private func live(_ id: String) -> LiveCall? { state.withLock { $0.live[id] } }

    /// Folds an event into a live call's ledger; returns what changed.
    func apply(_ id: String, _ event: CallEvent) -> [CallLedger.Change] {
        live(id)?.ledger.withLock { $0.apply(event) } ?? []
    }

    /// Notes a problem with a live call's input in its ledger; returns what changed.
    func noteError(_ id: String, _ message: String) -> [CallLedger.Change] {
        live(id)?.ledger.withLock { $0.noteError(message) } ?? []
    }

    @discardableResult
    /// Moves a call from live to finished: closes its ledger (failed when `failure` is set, interrupted when the node
    /// hung it up to shut down) and returns the final changes and the final view.
    func finish(_ call: CallStart, failure: String?) -> (changes: [CallLedger.Change], view: CallView, record: CallRecord)? {
        guard let entry = state.withLock({ $0.live[call.id] }) else { return nil }
        let closing: CallLedger.Closing = entry.interruption.withLock { $0 }.map { .interrupted($0) } ?? failure.map { .failed($0) } ?? .normal
        let (changes, view, record) = entry.ledger.withLock { ledger in
            let changes = ledger.close(closing)
            return (changes, CallView(ledger), ledger.record)
        }
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.live[call.id] = nil
            if let key = entry.keyName { state.callsByKey[key, default: 1] -= 1 }
            let bytes = view.estimatedBytes
            if let previous = state.finished[call.id] { state.finishedBytes -= previous.bytes } else { state.finishedOrder.append(call.id) }
            state.finished[call.id] = (view, bytes)
            state.finishedBytes += bytes
            // The oldest go first, by count and by bytes.
            while state.finishedOrder.count - state.finishedHead > retainedOutcomes
                || (state.finishedBytes > retainedBytes && state.finishedOrder.count - state.finishedHead > 1) {
                let id = state.finishedOrder[state.finishedHead]
                state.finishedHead += 1
                if let dropped = state.finished.removeValue(forKey: id) { state.finishedBytes -= dropped.bytes }
            }
            if state.finishedHead > 1024, state.finishedHead * 2 > state.finishedOrder.count {
                state.finishedOrder.removeFirst(state.finishedHead)
                state.finishedHead = 0
            }
            Self.retainedGauge.record(state.finished.count)
            Self.retainedBytesGauge.record(state.finishedBytes)
            var waiters: [CheckedContinuation<Void, Never>] = []
            if state.live.isEmpty { swap(&waiters, &state.idleWaiters) }
            return waiters
        }
        waiters.forEach { $0.resume() }
        return (changes, view, record)
    }

    /// The live calls, oldest first.
    public var liveCalls: [CallView] {
        state.withLock { Array($0.live.values) }.map { $0.ledger.withLock { CallView($0) } }.sorted { $0.startedAt < $1.startedAt }
    }

    /// How many calls are live, by gateway.
    func liveCount(_ gateway: Gateway) -> Int {
        state.withLock { Array($0.live.values) }.count { $0.ledger.withLock { $0.record.gateway } == gateway }
    }

    /// How many calls are live.
    public var liveCount: Int { state.withLock { $0.live.count } }

    /// Finished calls whose views are kept, and their estimated size in bytes.
    public var retained: (calls: Int, bytes: Int) { state.withLock { ($0.finished.count, $0.finishedBytes) } }

    /// A call's view by id: live, or finished recently.
    public func view(of id: String) -> CallView? {
        if let live = live(id) { return live.ledger.withLock { CallView($0) } }
        return state.withLock { $0.finished[id]?.view }
    }

    /// Whether new calls are refused (shutting down).
    public var isDraining: Bool { state.withLock { $0.draining } }

    /// The reason a call hung up by a shutting-down node is given.
    static let shutdownReason = "the node shut down while the call was live"

    /// Stops taking calls, waits up to `grace` for live calls to end, then hangs up the rest (recorded as interrupted)
    /// and waits for them to close.
    public func drain(grace: Duration, logger: Logger) async {
        let count = state.withLock { state -> Int in
            state.draining = true
            return state.live.count
        }
        guard count > 0 else { return }
        logger.info("shutting down: waiting for live calls to finish", metadata: ["calls": "\(count)", "grace": "\(grace)"])
        // Polled: a waiter for "idle" cannot be cancelled, so it must not race a timer in a task group.
        let deadline = ContinuousClock.now + grace
        while !state.withLock({ $0.live.isEmpty }), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        let remaining = state.withLock { Array($0.live.values) }
        if !remaining.isEmpty {
            logger.warning("shutting down: hanging up calls still live after the grace period", metadata: ["calls": "\(remaining.count)"])
            for call in remaining {
                call.interruption.withLock { $0 = Self.shutdownReason }
                call.hangUp("server shutting down")
            }
            await waitUntilIdle()
        }
    }

    /// Returns when no call is live (also when cancelled).
    func waitUntilIdle() async {
        await withCheckedContinuation { continuation in
            let idle = state.withLock { state -> Bool in
                if state.live.isEmpty { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }
}
