import ArgumentParser
import Foundation
import HotlineCore
import HotlineEngines
import Synchronization

// MARK: - hotline transcribe

struct TranscribeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transcribe",
        abstract: "Transcribe recordings (files, directories or glob patterns).",
        discussion: """
            Reads every format libsndfile reads (WAV PCM/μ-law/A-law/float, FLAC, Ogg Vorbis, MP3, AIFF, AU, …) and \
            headerless audio (.raw/.pcm as s16le, .ul μ-law, .al A-law, or any file with --encoding and --rate). \
            Stereo recordings are transcribed per channel and labelled (--speakers). Files are decoded in parallel, \
            one recognizer per job. Failed files are reported with the reason; the others still complete, and the \
            exit status is 1 if any failed. The JSON output follows the schema in docs/transcript-schema.md \
            (one compact document per line when several files go to standard output).
            """
    )

    @Argument(help: "Audio files, directories (searched recursively) or glob patterns.")
    var inputs: [String]

    @Option(name: .shortAndLong, help: "Output format: text, json, srt or vtt.")
    var format: TranscriptFormat = .text

    @Option(name: .shortAndLong, help: "Write one file per input into this directory instead of standard output.")
    var output: String?

    @Option(name: .shortAndLong, help: "Parallel workers (default: one per core).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Flag(name: .shortAndLong, help: "Print no progress bar or summary.")
    var quiet = false

    @OptionGroup var model: ModelOptions
    @OptionGroup var audio: AudioOptions

    func validate() throws {
        if jobs < 1 || jobs > 256 { throw ValidationError("--jobs must be between 1 and 256") }
    }

    func run() throws {
        let paths = expandInputs(inputs)
        guard !paths.isEmpty else { throw ValidationError("no input files") }
        if let output { try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true) }
        let inputs = paths.map(audio.input(for:))
        let sink = OutputSink(
            format: format, outputDirectory: output, inputs: inputs,
            progress: !quiet && standardErrorIsTerminal ? ProgressBar(total: inputs.count) : nil
        )
        let configuration = model.configuration
        let batch = BatchTranscriber(jobs: jobs, decoder: SndFileAudioDecoder()) {
            try PocketSphinxRecognizer(configuration: configuration)
        }
        let summary: BatchSummary
        do {
            summary = try batch.run(inputs, options: audio.transcriptionOptions()) { sink.handle($0) }
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        sink.finish()
        if !quiet {
            let speed = summary.realTimeFactor > 0 ? String(format: "%.1f× real time", 1 / summary.realTimeFactor) : "n/a"
            printError(String(
                format: "%d file(s), %.4f h of audio in %@ (real-time factor %.3f, %@); %d failed",
                summary.files, summary.audioSeconds / 3600, humanDuration(summary.wallSeconds), summary.realTimeFactor, speed,
                summary.failed
            ))
        }
        if summary.failed > 0 { throw ExitCode(1) }
    }
}

// MARK: - Output

/// Receives batch events from worker threads and writes transcripts, errors and progress.
final class OutputSink: Sendable {
    private struct State {
        var cueIndex = 0
        var headerWritten = false
        var usedNames = Set<String>()
        var progress: ProgressBar?
        /// Rendered transcripts waiting for earlier inputs, so standard output keeps the input order.
        var pending: [Int: String] = [:]
        var nextIndex = 0
    }

    private let format: TranscriptFormat
    private let outputDirectory: String?
    private let inputs: [AudioInput]
    private let streaming: Bool
    private let state: Mutex<State>

    init(format: TranscriptFormat, outputDirectory: String?, inputs: [AudioInput], progress: ProgressBar?) {
        self.format = format
        self.outputDirectory = outputDirectory
        self.inputs = inputs
        // One input to standard output: text and subtitles stream utterance by utterance.
        streaming = outputDirectory == nil && inputs.count == 1 && format != .json
        state = Mutex(State(progress: progress))
    }

    func handle(_ event: BatchEvent) {
        state.withLock { state in
            state.progress?.clear()
            defer { state.progress?.draw() }
            switch event {
            case .started(_, let path):
                state.progress?.current = path
            case .utterance(_, let utterance):
                guard streaming else { return }
                if !state.headerWritten {
                    printOut(TranscriptFormatter.header(for: format))
                    state.headerWritten = true
                }
                let labelled = utterance.speaker != "mono"
                switch format {
                case .text: printOut(TranscriptFormatter.textLine(utterance, labelled: labelled) + "\n")
                case .srt, .vtt:
                    state.cueIndex += 1
                    printOut(TranscriptFormatter.cue(utterance, index: state.cueIndex, format: format, labelled: labelled))
                case .json: break
                }
            case .finished(let index, let transcript):
                state.progress?.advance(audioSeconds: transcript.audio.duration)
                write(transcript, index: index, state: &state)
            case .failed(let index, _, let reason):
                state.progress?.advance(audioSeconds: 0)
                printError("error: \(reason)")
                emit("", index: index, state: &state)
            }
        }
    }

    private func write(_ transcript: Transcript, index: Int, state: inout State) {
        if let outputDirectory {
            var name = ReferenceTranscripts.id(forPath: transcript.source)
            if !state.usedNames.insert(name).inserted {
                var counter = 2
                while !state.usedNames.insert("\(name)-\(counter)").inserted { counter += 1 }
                name = "\(name)-\(counter)"
            }
            let path = "\(outputDirectory)/\(name).\(format.fileExtension)"
            do {
                try Data(transcript.rendered(as: format).utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                printError("error: \(path): could not write the transcript: \(error.localizedDescription)")
            }
            return
        }
        if streaming {
            if !state.headerWritten { printOut(TranscriptFormatter.header(for: format)) }
            return
        }
        let rendered: String
        switch format {
        case .json where inputs.count > 1:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            rendered = (try? encoder.encode(transcript)).map { String(decoding: $0, as: UTF8.self) + "\n" } ?? ""
        case .text where inputs.count > 1:
            rendered = "==> \(transcript.source) <==\n" + transcript.rendered(as: .text) + "\n"
        default:
            rendered = transcript.rendered(as: format)
        }
        emit(rendered, index: index, state: &state)
    }

    /// Prints results in input order, holding back any that finish before an earlier input.
    private func emit(_ text: String, index: Int, state: inout State) {
        guard outputDirectory == nil, !streaming else { return }
        state.pending[index] = text
        while let next = state.pending.removeValue(forKey: state.nextIndex) {
            printOut(next)
            state.nextIndex += 1
        }
    }

    func finish() {
        state.withLock { $0.progress?.clear() }
    }
}

/// A one-line progress bar on standard error, redrawn in place.
struct ProgressBar: Sendable {
    let total: Int
    var done = 0
    var audioSeconds = 0.0
    var current = ""
    let started = ContinuousClock.now

    init(total: Int) { self.total = total }

    mutating func advance(audioSeconds seconds: Double) {
        done += 1
        audioSeconds += seconds
    }

    func draw() {
        let width = 30
        let filled = total > 0 ? width * done / total : 0
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let elapsed = (ContinuousClock.now - started).seconds
        let name = current.split(separator: "/").last.map(String.init) ?? ""
        let line = String(format: "%@ %d/%d  %@ audio  %@  %@", bar, done, total, humanDuration(audioSeconds), humanDuration(elapsed), String(name.prefix(40)))
        FileHandle.standardError.write(Data(("\r" + line + "\u{1B}[K").utf8))
    }

    func clear() {
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
