import DequeModule
public import HotlineCore
public import Logging
import Metrics
import Synchronization

/// One write for the transcript store.
public enum StoreOperation: Sendable {
    case call(CallRecord)
    case utterance(UtteranceRecord)
    case event(CallEventRecord)
    case finding(Finding)
    case recording(Recording)

    var callId: String {
        switch self {
        case .call(let call): call.id
        case .utterance(let line): line.callId
        case .event(let event): event.callId
        case .finding(let finding): finding.callId
        case .recording(let recording): recording.callId
        }
    }
}

/// Writes to the store in order, off the calls' path: calls enqueue and go on. When the database is unavailable the
/// writes wait in a bounded queue and are retried (with back-off) in their original order until it returns; every
/// write is idempotent, so a retry after an ambiguous failure duplicates nothing. Each write has the store's time
/// limit and reports to ``StoreHealth`` (which logs the outage once, down and up). The queue's depth and the age of its
/// oldest write are on `/metrics`. Only when the queue is full is a write dropped (counted and logged).
public final class StoreWriter: Sendable {
    private struct State {
        /// Queued writes, oldest first; a write leaves the queue (and memory) as soon as it is written.
        var queue: Deque<(number: Int, operation: StoreOperation, queuedAt: ContinuousClock.Instant)> = []
        var next = 0
        var failing = false
        var refusals = 0
        var dropped = 0
        var written = 0

        var depth: Int { queue.count }
        var oldest: Duration { queue.first.map { ContinuousClock.now - $0.queuedAt } ?? .zero }

        /// Takes the write numbered `number` off the queue, if it is still first (a full queue may have dropped it).
        mutating func remove(_ number: Int) {
            if queue.first?.number == number { queue.removeFirst() }
        }
    }

    /// The store written to (time-limited, reporting to its health).
    public let store: GuardedStore
    /// Writes held at most while the store is unavailable.
    public let capacity: Int
    private final class Shared: Sendable {
        let state = Mutex(State())
    }

    private let shared = Shared()
    private let wake: AsyncStream<Void>.Continuation
    private let worker: Task<Void, Never>
    private let logger: Logger

    /// Starts a writer for `store`.
    public init(store: any TranscriptStore, health: StoreHealth, timeout: Duration = .seconds(3), capacity: Int = 100_000, logger: Logger) {
        let store = GuardedStore(store, health: health, timeout: timeout, failFast: false)
        self.store = store
        self.capacity = capacity
        self.logger = logger
        // Every store metric is on /metrics from the start, at its resting value, not only after the first failure.
        Self.depth.record(0)
        Self.oldestAge.record(0)
        Self.failures.increment(by: 0)
        Self.droppedCounter.increment(by: 0)
        Self.rejected.increment(by: 0)
        let (signals, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        self.wake = wake
        let shared = shared
        worker = Task { [store, logger] in
            for await _ in signals { await Self.drain(shared, store: store, logger: logger) }
        }
    }

    /// Queues a write.
    public func enqueue(_ operation: StoreOperation) {
        let dropped = shared.state.withLock { state -> StoreOperation? in
            var dropped: StoreOperation?
            if state.depth >= capacity, let oldest = state.queue.popFirst() {
                // Full: the oldest write goes (the newest carry the latest state of a call).
                dropped = oldest.operation
                state.dropped += 1
            }
            state.next += 1
            state.queue.append((state.next, operation, .now))
            Self.depth.record(state.depth)
            return dropped
        }
        if let dropped {
            Self.droppedCounter.increment()
            logger.error("transcript store queue full: a write was dropped", metadata: ["call": "\(dropped.callId)", "capacity": "\(capacity)"])
        }
        wake.yield()
    }

    /// Writes waiting (a write stays queued until it is written).
    public var pending: Int { shared.state.withLock { $0.queue.count } }

    /// Whether the last write failed (it is being retried).
    public var isFailing: Bool { shared.state.withLock { $0.failing } }

    /// How long the oldest queued write has waited.
    public var oldestQueued: Duration { shared.state.withLock { $0.oldest } }

    /// Puts the queue's depth and oldest age on the gauges (the store probe calls it every second).
    func recordGauges() {
        let (depth, oldest) = shared.state.withLock { ($0.depth, $0.oldest) }
        Self.depth.record(depth)
        Self.oldestAge.record(oldest.seconds)
    }

    /// Writes dropped because the queue was full.
    public var dropped: Int { shared.state.withLock { $0.dropped } }

    /// Writes completed.
    public var written: Int { shared.state.withLock { $0.written } }

    /// Waits until every queued write is done, or `timeout` passes; returns whether the queue is empty.
    @discardableResult
    public func flush(timeout: Duration = .seconds(30)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while pending > 0, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(5)) }
        return pending == 0
    }

    /// Flushes (up to `timeout`), then stops the worker; what could not be written is logged.
    public func stop(timeout: Duration = .seconds(10)) async {
        if !(await flush(timeout: timeout)) {
            logger.error("transcript store: writes still queued at shutdown are lost", metadata: ["writes": "\(pending)"])
        }
        wake.finish()
        worker.cancel()
        await worker.value
    }

    private static func drain(_ shared: Shared, store: GuardedStore, logger: Logger) async {
        var backoff = Duration.milliseconds(50)
        while !Task.isCancelled {
            let next = shared.state.withLock { state -> (number: Int, operation: StoreOperation)? in
                guard let first = state.queue.first else { return nil }
                return (first.number, first.operation)
            }
            guard let (number, operation) = next else { return }
            let started = ContinuousClock.now
            do {
                try await write(operation, to: store)
                writeTime.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
                let (queued, oldest) = shared.state.withLock { state in
                    state.remove(number)
                    state.written += 1
                    state.failing = false
                    state.refusals = 0
                    return (state.depth, state.oldest)
                }
                depth.record(queued)
                oldestAge.record(oldest.seconds)
                backoff = .milliseconds(50)
            } catch {
                failures.increment()
                let refusals = shared.state.withLock { state -> Int in
                    state.failing = true
                    if store.isRejection(error) { state.refusals += 1 } else { state.refusals = 0 }
                    return state.refusals
                }
                if refusals >= 3 {
                    // The store is up but refuses this write (bad data): it would block every write after it for ever.
                    shared.state.withLock { state in
                        state.remove(number)
                        state.refusals = 0
                        state.failing = false
                    }
                    rejected.increment()
                    logger.error("transcript store refused a write three times; it is dropped so the writes after it go on",
                                 metadata: ["call": "\(operation.callId)", "error": "\(error)"])
                    continue
                }
                // An outage is logged once by the store's health.
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(2))
            }
        }
    }

    private static func write(_ operation: StoreOperation, to store: GuardedStore) async throws {
        switch operation {
        case .call(let call): try await store.save(call: call)
        case .utterance(let line): try await store.append(utterance: line)
        case .event(let event): try await store.append(event: event)
        case .finding(let finding): try await store.append(finding: finding)
        case .recording(let recording): try await store.save(recording: recording)
        }
    }

    static let depth = Gauge(label: "hotline_store_queue_depth")
    static let oldestAge = Gauge(label: "hotline_store_queue_oldest_seconds")
    static let failures = Counter(label: "hotline_store_write_failures_total")
    static let droppedCounter = Counter(label: "hotline_store_dropped_writes_total")
    static let rejected = Counter(label: "hotline_store_rejected_writes_total")
    static let writeTime = Metrics.Timer(label: "hotline_store_write_seconds")
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
