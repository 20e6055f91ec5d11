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
/// write is idempotent, so a retry after an ambiguous failure duplicates nothing. The queue's depth, failures and
/// outages are in metrics and logs. Only when the queue is full is a write dropped (counted and logged).
public final class StoreWriter: Sendable {
    private struct State {
        var queue: [StoreOperation] = []
        var head = 0
        var writing = false
        var unavailableSince: ContinuousClock.Instant?
        var lastError: String?
        var dropped = 0
        var written = 0
    }

    /// The store written to.
    public let store: any TranscriptStore
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
    public init(store: any TranscriptStore, capacity: Int = 100_000, logger: Logger) {
        self.store = store
        self.capacity = capacity
        self.logger = logger
        // Every store metric is on /metrics from the start, at its resting value, not only after the first failure.
        Self.available.record(1)
        Self.depth.record(0)
        Self.failures.increment(by: 0)
        Self.droppedCounter.increment(by: 0)
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
            if state.queue.count - state.head >= capacity {
                // Full: the oldest write goes (the newest carry the latest state of a call).
                dropped = state.queue[state.head]
                state.head += 1
                state.dropped += 1
            }
            state.queue.append(operation)
            Self.depth.record(state.queue.count - state.head)
            return dropped
        }
        if let dropped {
            Self.droppedCounter.increment()
            logger.error("transcript store queue full: a write was dropped", metadata: ["call": "\(dropped.callId)", "capacity": "\(capacity)"])
        }
        wake.yield()
    }

    /// Writes waiting (including one being written).
    public var pending: Int { shared.state.withLock { $0.queue.count - $0.head + ($0.writing ? 1 : 0) } }

    /// Whether the store is failing writes right now.
    public var isUnavailable: Bool { shared.state.withLock { $0.unavailableSince != nil } }

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

    private static func drain(_ shared: Shared, store: any TranscriptStore, logger: Logger) async {
        var backoff = Duration.milliseconds(50)
        while !Task.isCancelled {
            let next = shared.state.withLock { state -> StoreOperation? in
                guard state.head < state.queue.count else { return nil }
                state.writing = true
                return state.queue[state.head]
            }
            guard let operation = next else { return }
            let started = ContinuousClock.now
            do {
                try await write(operation, to: store)
                writeTime.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
                let outage = shared.state.withLock { state -> Duration? in
                    state.head += 1
                    state.written += 1
                    state.writing = false
                    if state.head > 1024, state.head * 2 > state.queue.count {
                        state.queue.removeFirst(state.head)
                        state.head = 0
                    }
                    depth.record(state.queue.count - state.head)
                    defer { state.unavailableSince = nil }
                    return state.unavailableSince.map { ContinuousClock.now - $0 }
                }
                if let outage {
                    available.record(1)
                    logger.notice("transcript store available again; queued writes resumed", metadata: ["outage_seconds": "\(outage.seconds)"])
                }
                backoff = .milliseconds(50)
            } catch {
                failures.increment()
                let first = shared.state.withLock { state -> Bool in
                    state.writing = false
                    state.lastError = "\(error)"
                    defer { if state.unavailableSince == nil { state.unavailableSince = .now } }
                    return state.unavailableSince == nil
                }
                if first {
                    available.record(0)
                    logger.warning("transcript store unavailable: writes are queued and retried", metadata: [
                        "error": "\(error)", "queued": "\(shared.state.withLock { $0.queue.count - $0.head })",
                    ])
                }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(2))
            }
        }
    }

    private static func write(_ operation: StoreOperation, to store: any TranscriptStore) async throws {
        switch operation {
        case .call(let call): try await store.save(call: call)
        case .utterance(let line): try await store.append(utterance: line)
        case .event(let event): try await store.append(event: event)
        case .finding(let finding): try await store.append(finding: finding)
        case .recording(let recording): try await store.save(recording: recording)
        }
    }

    static let depth = Gauge(label: "hotline_store_queue_depth")
    static let available = Gauge(label: "hotline_store_available")
    static let failures = Counter(label: "hotline_store_write_failures_total")
    static let droppedCounter = Counter(label: "hotline_store_dropped_writes_total")
    static let writeTime = Metrics.Timer(label: "hotline_store_write_seconds")
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
