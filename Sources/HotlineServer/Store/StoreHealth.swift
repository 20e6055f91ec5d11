public import Foundation
public import HotlineCore
public import Logging
import Metrics
public import ServiceLifecycle
import Synchronization

// MARK: - Store health: an outage seen in seconds, one warning down and one notice up

/// Whether the transcript store answers, as every store operation of this node and a probe every second find it. The
/// first failure marks it unavailable (one warning, with the error); the first success after that marks it available
/// again (one notice, with the outage's length from the start of the first failed operation). While it is
/// unavailable, QA reads fail at once with 503 instead of waiting on the database; calls never wait on it.
public final class StoreHealth: Sendable {
    /// The store's state as readiness and the QA API report it.
    public struct Status: Sendable, Equatable, Codable {
        /// Whether the store answered its last operation.
        public var available: Bool
        /// How long it has been unavailable (seconds; 0 while available).
        public var unavailableSeconds: Double
        /// The error that made it unavailable.
        public var error: String?
    }

    private struct State {
        var down: (since: ContinuousClock.Instant, error: String)?
        var upSince: ContinuousClock.Instant = .now
        var outages = 0
    }

    private let state = Mutex(State())
    private let logger: Logger
    private let changes: Mutex<[@Sendable (Status) -> Void]> = Mutex([])

    /// Makes the health of a store that answered just now (it was opened and migrated).
    public init(logger: Logger) {
        self.logger = logger
        Self.available.record(1)
        Self.unavailableFor.record(0)
        Self.outagesCounter.increment(by: 0)
    }

    /// The state now.
    public var status: Status {
        state.withLock { state in
            guard let down = state.down else { return Status(available: true, unavailableSeconds: 0, error: nil) }
            return Status(available: false, unavailableSeconds: (ContinuousClock.now - down.since).seconds, error: down.error)
        }
    }

    /// Whether the store answers.
    public var isAvailable: Bool { state.withLock { $0.down == nil } }

    /// How long the store has answered without a failure (`nil` while it is unavailable).
    public var availableFor: Duration? { state.withLock { $0.down == nil ? ContinuousClock.now - $0.upSince : nil } }

    /// Outages seen since start-up.
    public var outages: Int { state.withLock { $0.outages } }

    /// Calls `handler` with the new status whenever the store goes down or comes back.
    public func onChange(_ handler: @escaping @Sendable (Status) -> Void) {
        changes.withLock { $0.append(handler) }
    }

    /// An operation that started at `started` succeeded.
    public func succeeded() {
        let outage = state.withLock { state -> Duration? in
            guard let down = state.down else { return nil }
            state.down = nil
            state.upSince = .now
            return ContinuousClock.now - down.since
        }
        guard let outage else { return }
        Self.available.record(1)
        Self.unavailableFor.record(0)
        logger.notice("transcript store available again", metadata: ["outage_seconds": "\(String(format: "%.2f", outage.seconds))"])
        notify()
    }

    /// An operation that started at `started` failed with `error`.
    public func failed(_ error: any Error, startedAt started: ContinuousClock.Instant) {
        let message = StoreHealth.describe(error)
        let first = state.withLock { state -> Bool in
            guard state.down == nil else { return false }
            state.down = (since: min(started, .now), error: message)
            state.outages += 1
            return true
        }
        guard first else { return }
        Self.available.record(0)
        Self.outagesCounter.increment()
        logger.warning("transcript store unavailable: calls go on, their records are queued; QA reads answer 503 until it is back",
                       metadata: ["error": "\(message)"])
        notify()
    }

    /// Refreshes the outage-length gauge (the probe calls it every second).
    func tick() {
        Self.unavailableFor.record(status.unavailableSeconds)
    }

    private func notify() {
        let status = status
        for handler in changes.withLock({ $0 }) { handler(status) }
    }

    /// An error as one readable line (PostgresNIO's errors hide their cause in `description` of nested values).
    static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        return text.count > 300 ? String(text.prefix(300)) + "…" : text
    }

    static let available = Gauge(label: "hotline_store_available")
    static let unavailableFor = Gauge(label: "hotline_store_unavailable_seconds")
    static let outagesCounter = Counter(label: "hotline_store_outages_total")
}

/// The store did not answer in time.
public struct StoreTimeout: Error, CustomStringConvertible {
    /// The operation's name.
    public let operation: String
    /// The time limit.
    public let seconds: Double
    public var description: String { "the transcript store did not answer \(operation) within \(String(format: "%.1f", seconds)) s" }
}

/// The store is known to be unavailable, so a read was not tried (it answers 503).
public struct StoreUnavailable: Error, CustomStringConvertible {
    /// The store's state.
    public let health: StoreHealth.Status
    public var description: String {
        "the transcript store is unavailable (for \(Int(health.unavailableSeconds.rounded())) s: \(health.error ?? "no answer")); "
            + "live calls are still answered and their records are queued; try again shortly"
    }
}

/// Runs `operation`, giving up after `limit`: the caller gets ``StoreTimeout`` then, and the operation is cancelled and
/// left to finish on its own (a query already sent cannot be taken back, but nobody waits for it).
func withDeadline<T: Sendable>(_ limit: Duration, _ name: String, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let gate = DeadlineGate<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            gate.continuation.withLock { $0 = continuation }
            let work = Task {
                do { gate.finish(.success(try await operation())) } catch { gate.finish(.failure(error)) }
            }
            let timer = Task {
                try? await Task.sleep(for: limit)
                gate.finish(.failure(StoreTimeout(operation: name, seconds: limit.seconds)))
            }
            gate.tasks.withLock { $0 = [work, timer] }
        }
    } onCancel: {
        gate.finish(.failure(CancellationError()))
    }
}

/// The one answer of ``withDeadline(_:_:_:)``: the operation's or the timer's, whichever comes first.
private final class DeadlineGate<T: Sendable>: Sendable {
    let continuation = Mutex<CheckedContinuation<T, any Error>?>(nil)
    let tasks = Mutex<[Task<Void, Never>]>([])

    func finish(_ result: Result<T, any Error>) {
        guard let continuation = continuation.withLock({ $0.take() }) else { return }
        tasks.withLock { $0 }.forEach { $0.cancel() }
        continuation.resume(with: result)
    }
}

/// Probes the store every second (`SELECT 1` with the store's time limit), so an outage is seen within a few seconds
/// even when nothing is being written, and its end as soon as it answers again; refreshes the queue gauges.
public struct StoreProbe: Service, CustomStringConvertible {
    public var description: String { "StoreProbe" }

    let store: any TranscriptStore
    let health: StoreHealth
    let writer: StoreWriter?
    let interval: Duration
    let timeout: Duration

    /// Makes the probe of `store` (the raw store, not a guarded one: it must try even while the store is down).
    public init(store: any TranscriptStore, health: StoreHealth, writer: StoreWriter?, interval: Duration = .seconds(1), timeout: Duration) {
        self.store = store
        self.health = health
        self.writer = writer
        self.interval = interval
        self.timeout = timeout
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await probe()
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// One probe.
    public func probe() async {
        let started = ContinuousClock.now
        do {
            try await withDeadline(timeout, "a probe") { [store] in try await store.ping() }
            // A store that answers reads but still fails writes (a locked SQLite file, a read-only replica) is not back:
            // then the writer's own next success says so.
            if writer?.isFailing != true { health.succeeded() }
        } catch is CancellationError {
            return
        } catch {
            health.failed(error, startedAt: started)
        }
        health.tick()
        writer?.recordGauges()
    }
}

// MARK: - The guarded store: time limits, health, failing fast

/// The store as the server uses it: every operation has a time limit and tells ``StoreHealth`` how it went; with
/// `failFast`, an operation is not even tried while the store is known to be unavailable (``StoreUnavailable``, a 503).
/// The writer uses it without `failFast` (it retries until the store is back); QA reads, sessions and the node watch
/// with it.
public struct GuardedStore: TranscriptStore, FeedRelay {
    /// The store itself.
    public let base: any TranscriptStore
    /// Its health.
    public let health: StoreHealth
    /// The time limit of one operation.
    public let timeout: Duration
    /// Whether operations fail at once while the store is unavailable.
    public let failFast: Bool

    /// Guards `base`.
    public init(_ base: any TranscriptStore, health: StoreHealth, timeout: Duration, failFast: Bool) {
        self.base = base
        self.health = health
        self.timeout = timeout
        self.failFast = failFast
    }

    private func run<T: Sendable>(_ name: String, _ operation: @escaping @Sendable (any TranscriptStore) async throws -> T) async throws -> T {
        if failFast, !health.isAvailable { throw StoreUnavailable(health: health.status) }
        let started = ContinuousClock.now
        do {
            let result = try await withDeadline(timeout, name) { [base] in try await operation(base) }
            health.succeeded()
            return result
        } catch is CancellationError {
            throw CancellationError()
        } catch where base.isRejection(error) {
            // The store answered: it refused this one operation.
            health.succeeded()
            throw error
        } catch {
            health.failed(error, startedAt: started)
            throw failFast ? StoreUnavailable(health: health.status) : error
        }
    }

    public func migrate() async throws { try await run("a migration") { try await $0.migrate() } }
    public func ping() async throws { try await run("a probe") { try await $0.ping() } }
    public func save(call: CallRecord) async throws { try await run("a call's record") { try await $0.save(call: call) } }
    public func append(utterance: UtteranceRecord) async throws { try await run("a line") { try await $0.append(utterance: utterance) } }
    public func append(event: CallEventRecord) async throws { try await run("an event") { try await $0.append(event: event) } }
    public func append(finding: Finding) async throws { try await run("a finding") { try await $0.append(finding: finding) } }
    public func save(review: Review) async throws { try await run("a review") { try await $0.save(review: review) } }
    public func save(recording: Recording) async throws { try await run("a recording") { try await $0.save(recording: recording) } }
    public func call(id: String) async throws -> CallRecord? { try await run("a call") { try await $0.call(id: id) } }
    public func detail(of id: String) async throws -> CallDetail? { try await run("a call's detail") { try await $0.detail(of: id) } }
    public func recording(of id: String) async throws -> Recording? { try await run("a recording") { try await $0.recording(of: id) } }
    public func calls(matching query: CallQuery) async throws -> CallPage { try await run("a search") { try await $0.calls(matching: query) } }
    public func report(from: Date?, to: Date?) async throws -> CallReport { try await run("a report") { try await $0.report(from: from, to: to) } }
    public func deleteCalls(startedBefore date: Date) async throws -> Int { try await run("a deletion") { try await $0.deleteCalls(startedBefore: date) } }
    public func close() async throws { try await base.close() }
    public func isRejection(_ error: any Error) -> Bool { base.isRejection(error) }
    public func heartbeat(node: String) async throws { try await run("a heartbeat") { try await $0.heartbeat(node: node) } }
    public func silentNodes(olderThan seconds: Double, except: String) async throws -> [String] {
        try await run("the node list") { try await $0.silentNodes(olderThan: seconds, except: except) }
    }
    public func forget(node: String) async throws { try await run("a node") { try await $0.forget(node: node) } }
    public func interruptLiveCalls(ofNode node: String, reason: String) async throws -> [CallRecord] {
        try await run("closing a node's calls") { try await $0.interruptLiveCalls(ofNode: node, reason: reason) }
    }
    public func save(session: WebSession) async throws { try await run("a session") { try await $0.save(session: session) } }
    public func session(digest: String) async throws -> WebSession? { try await run("a session") { try await $0.session(digest: digest) } }
    public func deleteSession(digest: String) async throws { try await run("a session") { try await $0.deleteSession(digest: digest) } }
    public func deleteExpiredSessions() async throws -> Int { try await run("sessions") { try await $0.deleteExpiredSessions() } }

    /// Relaying goes to the store's relay as it is (a publish is fire-and-forget; listening lasts).
    public var relay: (any FeedRelay)? { base as? any FeedRelay }
    public func publish(_ payload: String) async throws {
        guard let relay else { return }
        try await withDeadline(timeout, "a relayed event") { try await relay.publish(payload) }
    }
    public func listen(_ receive: @escaping @Sendable (String) async -> Void) async throws {
        guard let relay else { return }
        try await relay.listen(receive)
    }
}
