import Dispatch
import Foundation
import Synchronization

// MARK: - Recognizer pool

/// A fixed set of streaming recognizers lent to calls one utterance at a time, and the threads that run them.
///
/// Decoders hold state for the utterance they are decoding, so a live call needs one for as long as the caller speaks;
/// CPU is the scarcer thing. The pool therefore keeps two numbers apart: `size` decoders (memory: one per utterance in
/// progress) and `workers` threads (CPU: one per core) that run the decoders' work, never on the Swift concurrency
/// pool, so a busy decoder cannot starve sockets or timers. Work is taken most urgent first: finishing an utterance
/// the caller has stopped speaking (``Lease/Priority/urgent``) goes before keeping up with one still being spoken
/// (``Lease/Priority/live``), so the answer a caller waits for is not queued behind other callers' speech. A
/// borrower waits (in FIFO order) when all decoders are lent out.
public final class RecognizerPool: Sendable {
    /// Usage figures.
    public struct Statistics: Sendable, Equatable {
        /// Recognizers in the pool.
        public var size: Int
        /// Recognizers lent out now.
        public var busy: Int
        /// Borrowers waiting now.
        public var waiting: Int
        /// Loans made so far.
        public var loans: Int
        /// Loans that had to wait.
        public var waits: Int
        /// Threads running recognizer work.
        public var workers: Int = 0
        /// CPU the workers spent decoding over the last few seconds, as a share of one core per worker, 0…1.
        public var busyFraction: Double = 0
        /// Seconds the oldest queued piece of recognizer work has waited for a worker (0 when none waits).
        public var queueWait: Double = 0
    }

    private struct State {
        var free: [Slot] = []
        var waiters: [(id: Int, continuation: CheckedContinuation<Slot?, Never>)] = []
        var nextWaiter = 0
        var loans = 0
        var waits = 0
    }

    private let state: Mutex<State>
    private let scheduler: Scheduler
    /// Recognizers in the pool.
    public let size: Int
    /// Threads running recognizer work.
    public var workers: Int { scheduler.workers }

    /// Makes `size` recognizers now (failing fast when the model cannot be loaded), run by `workers` threads (default:
    /// one per core).
    public init(size: Int, workers: Int? = nil, makeRecognizer: () throws -> any StreamingSpeechRecognizing) throws {
        precondition(size > 0, "a pool needs at least one recognizer")
        var slots: [Slot] = []
        for index in 0..<size { slots.append(Slot(recognizer: try makeRecognizer(), index: index)) }
        self.size = size
        state = Mutex(State(free: slots))
        scheduler = Scheduler(workers: max(1, workers ?? ProcessInfo.processInfo.activeProcessorCount))
    }

    deinit { scheduler.stop() }

    /// Current usage.
    public var statistics: Statistics {
        let load = scheduler.load
        return state.withLock {
            Statistics(size: size, busy: size - $0.free.count, waiting: $0.waiters.count, loans: $0.loans, waits: $0.waits,
                       workers: scheduler.workers, busyFraction: load.busyFraction, queueWait: load.queueWait)
        }
    }

    /// CPU seconds the calling thread has used (what decoding costs, apart from the time other threads had the core).
    public static func threadCPU() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// Whether a recognizer is free right now.
    public var hasFreeRecognizer: Bool { state.withLock { !$0.free.isEmpty } }

    /// Borrows a recognizer, waiting for one when all are busy. Throws `CancellationError` if the task is
    /// cancelled while waiting. Give it back with ``Lease/release()``.
    public func borrow() async throws -> Lease {
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        let slot: Slot? = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Slot?, Never>) in
                let immediate = state.withLock { state -> Slot?? in
                    if Task.isCancelled { return .some(nil) }
                    if let slot = state.free.popLast() {
                        state.loans += 1
                        return .some(slot)
                    }
                    state.waits += 1
                    state.waiters.append((id, continuation))
                    return .none
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Slot?, Never>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiter?.resume(returning: nil)
        }
        guard let slot else { throw CancellationError() }
        return Lease(slot: slot, pool: self)
    }

    fileprivate func giveBack(_ slot: Slot) {
        let waiter = state.withLock { state -> CheckedContinuation<Slot?, Never>? in
            if state.waiters.isEmpty {
                state.free.append(slot)
                return nil
            }
            state.loans += 1
            return state.waiters.removeFirst().continuation
        }
        waiter?.resume(returning: slot)
    }

    fileprivate func schedule(_ priority: Lease.Priority, _ job: @escaping @Sendable () -> Void) { scheduler.submit(priority, job) }

    /// A pooled recognizer.
    fileprivate final class Slot: @unchecked Sendable {
        // Invariant making this @unchecked Sendable: `recognizer` is touched only by the job of the lease that holds
        // the slot, and a lease runs one job at a time (each `run` is awaited before the next).
        let recognizer: any StreamingSpeechRecognizing
        let index: Int

        init(recognizer: any StreamingSpeechRecognizing, index: Int) {
            self.recognizer = recognizer
            self.index = index
        }
    }

    // MARK: - Lease

    /// One loan of a recognizer. Work on it runs on the pool's worker threads, one job at a time (await each `run`
    /// before the next). Releasing twice is harmless; work after release throws.
    public final class Lease: Sendable {
        /// How soon a piece of work is needed.
        public enum Priority: Int, Sendable, Comparable {
            /// Keeping up with a caller who is still speaking.
            case live = 0
            /// An utterance the caller has finished: someone is waiting for its result.
            case urgent = 1

            public static func < (a: Priority, b: Priority) -> Bool { a.rawValue < b.rawValue }
        }

        private let slot: Slot
        private let pool: Mutex<RecognizerPool?>
        /// The recognizer's position in the pool (for logs).
        public var index: Int { slot.index }

        fileprivate init(slot: Slot, pool: RecognizerPool) {
            self.slot = slot
            self.pool = Mutex(pool)
        }

        /// Runs `body` with the recognizer on a worker thread.
        public func run<T: Sendable>(
            _ priority: Priority = .urgent, _ body: @escaping @Sendable (any StreamingSpeechRecognizing) throws -> T
        ) async throws -> T {
            guard let pool = pool.withLock({ $0 }) else { throw CancellationError() }
            return try await withCheckedThrowingContinuation { continuation in
                pool.schedule(priority) { [slot] in
                    continuation.resume(with: Result { try body(slot.recognizer) })
                }
            }
        }

        /// Schedules `body` with the recognizer on a worker thread and returns at once. The caller keeps the lease's rule:
        /// no other work on this lease until `body` has run.
        public func schedule(_ priority: Priority, _ body: @escaping @Sendable (any StreamingSpeechRecognizing) -> Void) {
            guard let pool = pool.withLock({ $0 }) else { return }
            pool.schedule(priority) { [slot] in body(slot.recognizer) }
        }

        /// Returns the recognizer to the pool.
        public func release() {
            pool.withLock { pool in
                defer { pool = nil }
                return pool
            }?.giveBack(slot)
        }
    }

    // MARK: - Worker threads

    /// A fixed set of threads taking jobs most urgent first, first come first served within a priority.
    private final class Scheduler: Sendable {
        private struct Queued {
            var job: @Sendable () -> Void
            var queued: ContinuousClock.Instant
        }

        private struct State {
            var queues: [[Queued]] = [[], []]  // by priority
            var heads = [0, 0]
            var stopped = false
            /// Busy seconds per whole second of the clock, for the last `window` seconds.
            var busy: [Double] = Array(repeating: 0, count: Scheduler.window)
            var second = 0
        }

        static let window = 5
        let workers: Int
        private let state = Mutex(State())
        private let available = DispatchSemaphore(value: 0)
        private let origin = ContinuousClock.now

        init(workers: Int) {
            self.workers = workers
            for index in 0..<workers {
                let thread = Thread { [self] in
                    // Named from inside: a name set before start does not reach the system thread here, and a worker
                    // would show as the thread that made it ("com.apple.root.default-qos") in top -H and ps.
                    try? "recognizer.\(index)".write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8)
                    work()
                }
                thread.start()
            }
        }

        func submit(_ priority: Lease.Priority, _ job: @escaping @Sendable () -> Void) {
            state.withLock { $0.queues[priority.rawValue].append(Queued(job: job, queued: .now)) }
            available.signal()
        }

        func stop() {
            state.withLock { $0.stopped = true }
            for _ in 0..<workers { available.signal() }
        }

        /// The busy share of the last few seconds and the age of the oldest queued job.
        var load: (busyFraction: Double, queueWait: Double) {
            let now = ContinuousClock.now
            return state.withLock { state in
                advance(&state, to: now)
                let busy = state.busy.reduce(0, +) - state.busy[state.second % Self.window]
                var oldest: ContinuousClock.Instant?
                for priority in 0..<state.queues.count where state.heads[priority] < state.queues[priority].count {
                    let queued = state.queues[priority][state.heads[priority]].queued
                    oldest = min(oldest ?? queued, queued)
                }
                return (min(1, busy / Double((Self.window - 1) * workers)), oldest.map { (now - $0).seconds } ?? 0)
            }
        }

        private func second(of instant: ContinuousClock.Instant) -> Int { Int((instant - origin).seconds) }

        /// Moves the window to the second `now` falls in, clearing the seconds passed over.
        private func advance(_ state: inout State, to now: ContinuousClock.Instant) {
            let current = second(of: now)
            guard current > state.second else { return }
            for passed in (state.second + 1)...min(current, state.second + Self.window) { state.busy[passed % Self.window] = 0 }
            state.second = current
        }

        private func work() {
            while true {
                available.wait()
                let next = state.withLock { state -> Queued? in
                    if state.stopped { return nil }
                    for priority in stride(from: state.queues.count - 1, through: 0, by: -1) where state.heads[priority] < state.queues[priority].count {
                        let job = state.queues[priority][state.heads[priority]]
                        state.heads[priority] += 1
                        if state.heads[priority] > 256, state.heads[priority] * 2 > state.queues[priority].count {
                            state.queues[priority].removeFirst(state.heads[priority])
                            state.heads[priority] = 0
                        }
                        return job
                    }
                    return nil
                }
                guard let next else {
                    if state.withLock({ $0.stopped }) { return }
                    continue
                }
                // CPU time, not wall time: on a loaded machine a job's wall time also counts the time other threads had the core.
                let cpu = RecognizerPool.threadCPU()
                next.job()
                let used = RecognizerPool.threadCPU() - cpu
                let ended = ContinuousClock.now
                state.withLock { state in
                    advance(&state, to: ended)
                    state.busy[state.second % Self.window] += used
                }
            }
        }
    }
}
