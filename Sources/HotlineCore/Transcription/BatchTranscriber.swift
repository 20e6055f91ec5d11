import Foundation
import Synchronization

// MARK: - Batch transcription

/// What a batch reports as it runs. Delivered from worker threads; the handler must be thread-safe.
public enum BatchEvent: Sendable {
    /// A worker began an input.
    case started(index: Int, path: String)
    /// An utterance of an input was decoded.
    case utterance(index: Int, Utterance)
    /// An input is done.
    case finished(index: Int, Transcript)
    /// An input failed; the batch goes on.
    case failed(index: Int, path: String, reason: String)
}

/// Totals of a batch.
public struct BatchSummary: Sendable, Equatable {
    /// Inputs given.
    public var files = 0
    /// Inputs transcribed.
    public var succeeded = 0
    /// Inputs that failed.
    public var failed = 0
    /// Seconds of audio transcribed.
    public var audioSeconds = 0.0
    /// Wall-clock seconds for the whole batch.
    public var wallSeconds = 0.0

    /// Wall time over audio time (lower is faster).
    public var realTimeFactor: Double { audioSeconds > 0 ? wallSeconds / audioSeconds : 0 }
}

/// Transcribes many inputs in parallel: one worker thread per job, each with its own recognizer (models are
/// loaded once per worker, not per file). A failed input is reported and the rest of the batch continues.
public struct BatchTranscriber: Sendable {
    /// Makes a recognizer for a worker; called once per worker, on that worker's thread.
    public typealias RecognizerFactory = @Sendable () throws -> any SpeechRecognizing

    private let makeRecognizer: RecognizerFactory
    private let decoder: any AudioDecoding
    /// Worker count.
    public let jobs: Int

    /// Makes a batch runner with `jobs` workers (at least one).
    public init(jobs: Int, decoder: any AudioDecoding, makeRecognizer: @escaping RecognizerFactory) {
        self.jobs = max(1, jobs)
        self.decoder = decoder
        self.makeRecognizer = makeRecognizer
    }

    /// Runs the batch to completion. Throws only when no worker could load a recognizer at all.
    public func run(
        _ inputs: [AudioInput], options: TranscriptionOptions, onEvent: @escaping @Sendable (BatchEvent) -> Void
    ) throws -> BatchSummary {
        let clock = ContinuousClock()
        let start = clock.now
        let state = Mutex(State())
        let workers = min(jobs, max(1, inputs.count))
        let done = DispatchGroup()
        for _ in 0..<workers {
            done.enter()
            let thread = Thread { [decoder, makeRecognizer] in
                defer { done.leave() }
                let recognizer: any SpeechRecognizing
                do {
                    recognizer = try makeRecognizer()
                } catch {
                    state.withLock { $0.loadErrors.append(String(describing: error)) }
                    return
                }
                state.withLock { $0.workersReady += 1 }
                let transcriber = Transcriber(recognizer: recognizer, decoder: decoder)
                while let index = state.withLock({ $0.take(count: inputs.count) }) {
                    let input = inputs[index]
                    onEvent(.started(index: index, path: input.path))
                    do {
                        let transcript = try transcriber.transcribe(input, options: options) { onEvent(.utterance(index: index, $0)) }
                        state.withLock { $0.record(success: transcript.audio.duration) }
                        onEvent(.finished(index: index, transcript))
                    } catch {
                        state.withLock { $0.record(success: nil) }
                        onEvent(.failed(index: index, path: input.path, reason: String(describing: error)))
                    }
                }
            }
            thread.stackSize = 16 << 20
            thread.start()
        }
        done.wait()
        let final = state.withLock { $0 }
        if final.workersReady == 0, let error = final.loadErrors.first {
            throw BatchError(description: "could not load the recognizer: \(error)")
        }
        var summary = BatchSummary()
        summary.files = inputs.count
        summary.succeeded = final.succeeded
        summary.failed = final.failed
        summary.audioSeconds = final.audioSeconds
        summary.wallSeconds = (clock.now - start).seconds
        return summary
    }

    private struct State {
        var next = 0
        var succeeded = 0
        var failed = 0
        var audioSeconds = 0.0
        var workersReady = 0
        var loadErrors: [String] = []

        mutating func take(count: Int) -> Int? {
            guard next < count else { return nil }
            defer { next += 1 }
            return next
        }

        mutating func record(success duration: Double?) {
            if let duration {
                succeeded += 1
                audioSeconds += duration
            } else {
                failed += 1
            }
        }
    }
}

/// A batch that could not run at all.
public struct BatchError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public var description: String
}
