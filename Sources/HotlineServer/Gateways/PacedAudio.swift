import Metrics
import Synchronization

// MARK: - Paced playback

/// Bot audio waiting to be sent to a gateway that plays frames as they arrive (AudioSocket, jambonz): ``run(_:)`` sends
/// one frame per frame duration, on a fixed schedule that restarts after idle time; ``clear()`` drops what is queued
/// (barge-in). Thread-safe.
final class PacedAudio: Sendable {
    private struct State {
        var queue: [UInt8] = []
        var wake: CheckedContinuation<Void, Never>?
        var stopped = false
        /// When audio arrived to an empty queue (the start of a prompt), until its first frame is sent.
        var burstQueued: ContinuousClock.Instant?
    }

    /// From a prompt's first audio reaching the pacer to its first frame written to the gateway.
    static let pacing = Metrics.Timer(label: "hotline_turn_pacing_seconds")

    private let state = Mutex(State())
    /// Bytes per frame (20 ms of the leg's audio).
    let frameBytes: Int
    /// Time per frame.
    let frameDuration: Duration

    init(frameBytes: Int, frameDuration: Duration = .milliseconds(20)) {
        self.frameBytes = frameBytes
        self.frameDuration = frameDuration
    }

    /// Queues audio to send.
    func enqueue(_ bytes: [UInt8]) {
        let wake = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.stopped else { return nil }
            if state.queue.isEmpty { state.burstQueued = .now }
            state.queue += bytes
            defer { state.wake = nil }
            return state.wake
        }
        wake?.resume()
    }

    /// Drops queued audio (the caller barged in).
    func clear() { state.withLock { $0.queue.removeAll() } }

    /// Bytes waiting.
    var queuedBytes: Int { state.withLock { $0.queue.count } }

    /// Ends ``run(_:)`` (queued audio is dropped).
    func stop() {
        let wake = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.stopped = true
            state.queue.removeAll()
            defer { state.wake = nil }
            return state.wake
        }
        wake?.resume()
    }

    /// Returns once everything queued has been sent (or cleared, or the pacer stopped), or the task is cancelled.
    /// Polled, so a caller racing it against a timeout is never left waiting for it.
    func drained() async {
        while !Task.isCancelled, state.withLock({ !$0.queue.isEmpty && !$0.stopped }) {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Lets what is queued play out (at most its duration plus 2 s), then stops: the end of a call.
    func playOut(bytesPerSecond: Int) async {
        let seconds = Double(queuedBytes) / Double(bytesPerSecond) + 2
        _ = try? await withTimeout(.milliseconds(Int(seconds * 1000))) { await self.drained() }
        stop()
    }

    /// Sends frames until stopped or cancelled; `write` errors end it.
    func run(_ write: @Sendable ([UInt8]) async throws -> Void) async throws {
        // However it ends (stopped, cancelled, a failed write), nothing more will be sent.
        defer { stop() }
        try await withTaskCancellationHandler { try await loop(write) } onCancel: { stop() }
    }

    private func loop(_ write: @Sendable ([UInt8]) async throws -> Void) async throws {
        let clock = ContinuousClock()
        var next = clock.now
        while !Task.isCancelled {
            let (frame, stopped, burst) = state.withLock { state -> ([UInt8]?, Bool, ContinuousClock.Instant?) in
                if state.stopped { return (nil, true, nil) }
                guard !state.queue.isEmpty else { return (nil, false, nil) }
                let count = min(frameBytes, state.queue.count)
                let frame = Array(state.queue.prefix(count))
                state.queue.removeFirst(count)
                defer { state.burstQueued = nil }
                return (frame, false, state.burstQueued)
            }
            if stopped { return }
            guard let frame else {
                // Idle: wait for audio, then start a fresh schedule.
                await withCheckedContinuation { continuation in
                    let ready = state.withLock { state -> Bool in
                        if !state.queue.isEmpty || state.stopped { return true }
                        state.wake = continuation
                        return false
                    }
                    if ready { continuation.resume() }
                }
                next = max(next, clock.now)
                continue
            }
            try await write(frame)
            if let burst { Self.pacing.recordSeconds((clock.now - burst).seconds) }
            next = next.advanced(by: frameDuration)
            // After a stall (a loaded machine), resume the pace from now rather than bursting the missed frames:
            // the gateway plays frames as they arrive.
            if next < clock.now - frameDuration * 2 { next = clock.now }
            try await clock.sleep(until: next)
        }
    }
}

/// Runs `operation`, giving up after `timeout` (returns `nil` then). The operation must end when cancelled: the
/// group waits for it.
func withTimeout<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T? {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
