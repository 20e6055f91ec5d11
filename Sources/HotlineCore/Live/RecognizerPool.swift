import Dispatch
import Synchronization

// MARK: - Recognizer pool

/// A fixed set of streaming recognizers lent to calls one utterance at a time.
///
/// Decoders are not thread-safe and each costs tens of megabytes, so a process holds a few and calls borrow
/// one per utterance. Each recognizer has its own serial queue: decoding runs there, never on the Swift
/// concurrency pool, so a busy decoder cannot starve sockets or timers. A borrower waits (in FIFO order) when
/// all are busy.
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
    }

    private struct State {
        var free: [Slot] = []
        var waiters: [(id: Int, continuation: CheckedContinuation<Slot?, Never>)] = []
        var nextWaiter = 0
        var loans = 0
        var waits = 0
    }

    private let state: Mutex<State>
    /// Recognizers in the pool.
    public let size: Int

    /// Makes `size` recognizers now (failing fast when the model cannot be loaded).
    public init(size: Int, makeRecognizer: () throws -> any StreamingSpeechRecognizing) throws {
        precondition(size > 0, "a pool needs at least one recognizer")
        var slots: [Slot] = []
        for index in 0..<size { slots.append(Slot(recognizer: try makeRecognizer(), index: index)) }
        self.size = size
        state = Mutex(State(free: slots))
    }

    /// Current usage.
    public var statistics: Statistics {
        state.withLock { Statistics(size: size, busy: size - $0.free.count, waiting: $0.waiters.count, loans: $0.loans, waits: $0.waits) }
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

    /// A pooled recognizer and the serial queue its work runs on.
    fileprivate final class Slot: @unchecked Sendable {
        // Invariant making this @unchecked Sendable: `recognizer` is touched only on `queue`, and a slot is lent
        // to one borrower at a time.
        let recognizer: any StreamingSpeechRecognizing
        let queue: DispatchQueue
        let index: Int

        init(recognizer: any StreamingSpeechRecognizing, index: Int) {
            self.recognizer = recognizer
            self.index = index
            queue = DispatchQueue(label: "hotline.recognizer.\(index)")
        }
    }

    // MARK: - Lease

    /// One loan of a recognizer. Work on it runs on the recognizer's own serial queue, one job at a time.
    /// Releasing twice is harmless; work after release throws.
    public final class Lease: Sendable {
        private let slot: Slot
        private let pool: Mutex<RecognizerPool?>
        /// The recognizer's position in the pool (for logs).
        public var index: Int { slot.index }

        fileprivate init(slot: Slot, pool: RecognizerPool) {
            self.slot = slot
            self.pool = Mutex(pool)
        }

        /// Runs `body` with the recognizer on its queue.
        public func run<T: Sendable>(_ body: @escaping @Sendable (any StreamingSpeechRecognizing) throws -> T) async throws -> T {
            guard pool.withLock({ $0 != nil }) else { throw CancellationError() }
            return try await withCheckedThrowingContinuation { continuation in
                slot.queue.async { [slot] in
                    continuation.resume(with: Result { try body(slot.recognizer) })
                }
            }
        }

        /// Returns the recognizer to the pool.
        public func release() {
            pool.withLock { pool in
                defer { pool = nil }
                return pool
            }?.giveBack(slot)
        }
    }
}
