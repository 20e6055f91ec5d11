import ArgumentParser
import Foundation
import HotlineCore
import HotlineEngines

// MARK: - hotline eval

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Word error rate of hypotheses or of audio files against reference transcripts.",
        discussion: """
            References are Sphinx transcription lines ('<s> text </s> (id)') or TSV ('id<TAB>text'). Each other \
            argument is a hypothesis file in either of those formats, a hotline JSON transcript (id: the source's \
            file name), or an audio file, which is transcribed first (id: its file name without extension).
            """
    )

    @Option(name: .shortAndLong, help: "Reference transcripts.")
    var reference: String

    @Argument(help: "Hypothesis files, transcripts or audio files (directories and globs are expanded).")
    var inputs: [String]

    @Flag(help: "Print the result as JSON.")
    var json = false

    @Option(name: .shortAndLong, help: "Parallel workers for audio inputs.")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @OptionGroup var model: ModelOptions
    @OptionGroup var audio: AudioOptions

    struct Row: Codable {
        var id: String
        var reference: String
        var hypothesis: String
        var counts: WordErrorCounts
        var wer: Double
    }

    struct Report: Codable {
        var utterances: [Row]
        var total: WordErrorCounts
        var wer: Double
        var errors: [String]
    }

    func run() throws {
        let references: [String: String]
        do {
            let contents = try String(contentsOfFile: reference, encoding: .utf8)
            references = Dictionary(try ReferenceTranscripts.parse(contents, source: reference).map { ($0.id, $0.text) }) { first, _ in first }
        } catch let error as ReferenceTranscripts.ParseError {
            throw ValidationError(error.description)
        } catch {
            throw ValidationError("\(reference): cannot read the reference file (\(error.localizedDescription))")
        }
        var hypotheses: [(id: String, text: String)] = []
        var errors: [String] = []
        var audioPaths: [String] = []
        for path in expandInputs(inputs) {
            let ext = (path as NSString).pathExtension.lowercased()
            if audioExtensions.contains(ext) {
                audioPaths.append(path)
                continue
            }
            do {
                hypotheses += try readHypotheses(path)
            } catch {
                errors.append("\(path): \(error)")
            }
        }
        if !audioPaths.isEmpty {
            let collected = CollectedTranscripts()
            let configuration = model.configuration
            let batch = BatchTranscriber(jobs: jobs, decoder: SndFileAudioDecoder()) { try PocketSphinxRecognizer(configuration: configuration) }
            _ = try batch.run(audioPaths.map(audio.input(for:)), options: audio.transcriptionOptions()) { collected.handle($0) }
            hypotheses += collected.results.sorted { $0.index < $1.index }.map { (ReferenceTranscripts.id(forPath: $0.transcript.source), $0.transcript.text()) }
            errors += collected.failures
        }
        var rows: [Row] = []
        var total = WordErrorCounts()
        for (id, text) in hypotheses {
            guard let referenceText = references[id] else {
                errors.append("\(id): no reference transcript with this id in \(reference)")
                continue
            }
            let counts = WordErrorRate.counts(reference: referenceText, hypothesis: text)
            total = total + counts
            rows.append(Row(id: id, reference: referenceText, hypothesis: text, counts: counts, wer: counts.rate))
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let data = try encoder.encode(Report(utterances: rows, total: total, wer: total.rate, errors: errors))
            print(String(decoding: data, as: UTF8.self))
        } else {
            let width = max(10, rows.map(\.id.count).max() ?? 0)
            print("id".padding(toLength: width, withPad: " ", startingAt: 0) + "  words  sub  del  ins     WER")
            for row in rows { print(line(row.id, row.counts, width: width)) }
            print(line("TOTAL", total, width: width))
        }
        errors.forEach { printError("error: \($0)") }
        if !errors.isEmpty || rows.isEmpty { throw ExitCode(1) }
    }

    private func line(_ id: String, _ counts: WordErrorCounts, width: Int) -> String {
        id.padding(toLength: width, withPad: " ", startingAt: 0)
            + String(format: "  %5d %4d %4d %4d  %5.1f%%", counts.referenceWords, counts.substitutions, counts.deletions, counts.insertions, counts.rate * 100)
    }

    private func readHypotheses(_ path: String) throws -> [(id: String, text: String)] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        if (path as NSString).pathExtension.lowercased() == "json" {
            let transcript = try JSONDecoder().decode(Transcript.self, from: data)
            return [(ReferenceTranscripts.id(forPath: transcript.source), transcript.text())]
        }
        return try ReferenceTranscripts.parse(String(decoding: data, as: UTF8.self), source: path)
    }
}

/// Collects finished transcripts and failures from a batch.
final class CollectedTranscripts: Sendable {
    private let state = Mutex<([(index: Int, transcript: Transcript)], [String])>(([], []))

    func handle(_ event: BatchEvent) {
        switch event {
        case .finished(let index, let transcript): state.withLock { $0.0.append((index, transcript)) }
        case .failed(_, _, let reason): state.withLock { $0.1.append(reason) }
        default: break
        }
    }

    var results: [(index: Int, transcript: Transcript)] { state.withLock { $0.0 } }
    var failures: [String] { state.withLock { $0.1 } }
}

import Synchronization
