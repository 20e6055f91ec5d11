import Dispatch
import Foundation
import Synchronization
import Testing
@testable import HotlineCore

/// A recognizer stand-in for the pool's own logic (lending, waiting, cancellation).
final class FakeRecognizer: StreamingSpeechRecognizing {
    let name: String
    init(name: String) { self.name = name }
    var sampleRate: Int { 16_000 }
    func recognize(_ samples: [Float], search: RecognitionSearch, alternatives: Int) throws -> Recognition {
        Recognition(text: name, words: [], confidence: 1)
    }
    func initialAdaptation(narrowband: Bool) -> ChannelAdaptation { ChannelAdaptation(cepstralMean: []) }
    func beginUtterance(search: RecognitionSearch, adaptation: ChannelAdaptation?) throws {}
    func feed(_ samples: [Float]) throws {}
    func partialText() -> String { name }
    func endUtterance(alternatives: Int) throws -> (Recognition, ChannelAdaptation) {
        (Recognition(text: name, words: [], confidence: 1), ChannelAdaptation(cepstralMean: []))
    }
}

@Suite struct RecognizerPoolTests {
    static func pool(_ size: Int) throws -> RecognizerPool {
        let counter = Mutex(0)
        return try RecognizerPool(size: size) {
            FakeRecognizer(name: "r\(counter.withLock { $0 += 1; return $0 })")
        }
    }

    @Test func lendsEachRecognizerToOneBorrowerAtATime() async throws {
        let pool = try Self.pool(2)
        let a = try await pool.borrow()
        let b = try await pool.borrow()
        #expect(a.index != b.index)
        #expect(pool.statistics.busy == 2 && !pool.hasFreeRecognizer)
        let names = try await (a.run { $0.partialText() }, b.run { $0.partialText() })
        #expect(names.0 != names.1)
        a.release()
        a.release()  // a second release is harmless
        #expect(pool.statistics.busy == 1)
        await #expect(throws: CancellationError.self) { try await a.run { $0.partialText() } }
        b.release()
        let statistics = pool.statistics
        #expect(statistics.size == 2 && statistics.busy == 0 && statistics.waiting == 0 && statistics.loans == 2 && statistics.waits == 0)
    }

    @Test func borrowersWaitInOrderWhenAllAreBusy() async throws {
        let pool = try Self.pool(1)
        let first = try await pool.borrow()
        let order = Recorder()
        await withTaskGroup(of: Void.self) { group in
            for n in 1...3 {
                group.addTask {
                    let lease = try? await pool.borrow()
                    order.append(n)
                    lease?.release()
                }
                // Let each waiter queue before the next.
                while pool.statistics.waiting < n { await Task.yield() }
            }
            first.release()
        }
        #expect(order.values == [1, 2, 3])
        #expect(pool.statistics.waits == 3 && pool.statistics.busy == 0)
    }

    @Test func aCancelledWaiterLeavesTheQueue() async throws {
        let pool = try Self.pool(1)
        let held = try await pool.borrow()
        let waiter = Task { try await pool.borrow() }
        while pool.statistics.waiting < 1 { await Task.yield() }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(pool.statistics.waiting == 0)
        held.release()
        #expect(pool.statistics.busy == 0)
    }

    @Test func aRecognizerThatFailsToLoadFailsThePool() {
        struct LoadError: Error {}
        #expect(throws: LoadError.self) { try RecognizerPool(size: 2) { throw LoadError() } }
    }
}

@Suite struct CallAudioFormatTests {
    @Test func telephoneFormatsValidateAndOthersAreNamed() throws {
        for format in [CallAudioFormat.muLaw8k, .aLaw8k, .linear8k, .linear16k] { try format.validate() }
        #expect(throws: CallError.unsupportedFormat("mulaw at 16000 Hz (G.711 is 8000 Hz only)")) {
            try CallAudioFormat(encoding: .muLaw, sampleRate: 16_000).validate()
        }
        #expect(throws: CallError.self) { try CallAudioFormat(encoding: .linear16, sampleRate: 4_000).validate() }
    }

    @Test func encodeAndDecodeRoundTrip() {
        let samples: [Float] = [0, 0.25, -0.5, 0.999, -1]
        #expect(CallAudioFormat.linear8k.decode(CallAudioFormat.linear8k.encode(samples)) == PCM.floats(PCM.int16(samples)))
        #expect(CallAudioFormat.muLaw8k.encode(samples).count == 5)
        #expect(CallAudioFormat.linear16k.bytes(forSeconds: 0.02) == 640)
        #expect(CallAudioFormat.muLaw8k.bytes(forSeconds: 0.02) == 160)
    }
}

/// Collects values from concurrent tasks.
@Suite(.serialized) struct RecognizerSchedulingTests {
    @Test func aFinishedUtteranceIsDecodedBeforeOthersStillBeingSpoken() async throws {
        let pool = try RecognizerPool(size: 3, workers: 1) { FakeRecognizer(name: "r") }
        let blocker = try await pool.borrow(), speaking = try await pool.borrow(), finished = try await pool.borrow()
        let gate = DispatchSemaphore(value: 0)
        let order = Recorder()
        // The only worker is busy; a live job and then an urgent one queue behind it.
        let held = Task { try await blocker.run { _ in gate.wait() } }
        try await Task.sleep(for: .milliseconds(50))
        let live = Task { try await speaking.run(.live) { _ in order.append(1) } }
        try await Task.sleep(for: .milliseconds(50))
        let urgent = Task { try await finished.run(.urgent) { _ in order.append(2) } }
        try await Task.sleep(for: .milliseconds(50))
        #expect(pool.statistics.queueWait > 0.04)
        gate.signal()
        _ = try await (held.value, live.value, urgent.value)
        #expect(order.values == [2, 1])
        #expect(pool.statistics.queueWait == 0)
    }

    @Test func busyFractionCountsTheWorkersCPU() async throws {
        let pool = try RecognizerPool(size: 1, workers: 1) { FakeRecognizer(name: "r") }
        #expect(pool.statistics.busyFraction == 0 && pool.statistics.workers == 1)
        let lease = try await pool.borrow()
        // 0.3 s of this thread's CPU (however busy the machine), then a second boundary so the window holds it (the
        // current second is not counted yet).
        try await lease.run { _ in
            let start = RecognizerPool.threadCPU()
            var spin = 0
            while RecognizerPool.threadCPU() - start < 0.3 { spin &+= 1 }
            _ = spin
        }
        try await Task.sleep(for: .milliseconds(1_100))
        let busy = pool.statistics.busyFraction
        #expect(busy > 0.05 && busy < 0.15, "busy \(busy)")  // 0.3 s of the last 4 s of one worker: 0.075
        lease.release()
    }
}

final class Recorder: Sendable {
    private let storage = Mutex<[Int]>([])
    func append(_ value: Int) { storage.withLock { $0.append(value) } }
    var values: [Int] { storage.withLock { $0 } }
}
