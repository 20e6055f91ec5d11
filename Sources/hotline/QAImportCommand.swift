import ArgumentParser
import Crypto
import Foundation
import HotlineCore
import HotlineEngines
import HotlineStore
import Synchronization

// MARK: - hotline qa import

/// Brings recorded calls (a PBX's stereo recordings of agents' calls) into the store: each channel transcribed as its
/// speaker, checked by the agent rules and scored, stored as one call with its recording.
struct QAImport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Bring recorded calls into the store: transcribed per speaker, checked by the agent rules, scored.",
        discussion: """
            Two-channel recordings (the PBX's stereo WAV from MixMonitor or FreeSWITCH, FLAC, μ-law/A-law, anything \
            libsndfile reads) are transcribed channel by channel as the speakers --speakers names, on all cores, and each \
            is stored as one call (gateway `recording`, status `completed`) with its lines, words and times, its QA \
            findings and score from --rules, and the file as the call's recording. A mono recording is stored with one \
            speaker, `mixed`, which the rules scoped to a speaker do not judge.
            The call's id comes from the file's content: importing the same recording again finds the call already there \
            and does nothing. A file that cannot be read is named with the reason and the rest import; the exit status is \
            then 1. --json prints one line per file: {"file", "call_id", "agent", "score", "findings": [rule ids]} \
            (or {"file", "error"}); "already": true when it was there before.
            --metadata CSV: a header row naming columns among file, agent, queue, caller, started_at (ISO 8601); a file \
            is matched by its path as given or by its name. Otherwise --agent and --queue apply to every file and the \
            file's modification time is the call's start.
            The store: --store, else HOTLINE_STORE, else the store in --config, else sqlite:.hotline/calls.sqlite \
            (made if missing).
            """
    )

    @Argument(help: "Recordings: files, directories (searched recursively) or glob patterns.")
    var inputs: [String]

    @Option(help: "The agent who took the calls.")
    var agent: String?

    @Option(help: "The queue the calls came through.")
    var queue: String?

    @Option(help: "A CSV of what is known of each file: columns file, agent, queue, caller, started_at.")
    var metadata: String?

    @Option(help: "The QA rules the calls are checked against.")
    var rules = "Models/qa/agent-rules.yaml"

    @Option(name: .shortAndLong, help: "Parallel workers (default: one per core).")
    var jobs = ProcessInfo.processInfo.activeProcessorCount

    @Flag(help: "One JSON line per file on standard output.")
    var json = false

    @Flag(name: .shortAndLong, help: "Print no progress bar or summary.")
    var quiet = false

    @OptionGroup var store: StoreOptions
    @OptionGroup var model: ModelOptions
    @OptionGroup var audio: AudioOptions

    func validate() throws {
        if jobs < 1 || jobs > 256 { throw ValidationError("--jobs must be between 1 and 256") }
        if audio.channels == .mix { throw ValidationError("--channels mix: a recorded call is imported with a speaker per channel") }
    }

    /// One file's outcome.
    enum Outcome {
        case imported(callId: String, record: CallRecord, findings: [Finding])
        case already(callId: String, record: CallRecord, findings: [Finding])
        case failed(String)
    }

    func run() async throws {
        let paths = expandInputs(inputs)
        guard !paths.isEmpty else { throw ValidationError("no input files") }
        let ruleSet: QualityRules
        do {
            ruleSet = try QualityRulesLoader.load(path: rules)
        } catch {
            throw ValidationError("\(error)")
        }
        let known = try metadata.map(Self.readMetadata) ?? [:]
        let transcriptStore = try await store.open(creating: true)
        do {
            try await importAll(paths, ruleSet: ruleSet, known: known, into: transcriptStore)
            try? await transcriptStore.close()
        } catch {
            try? await transcriptStore.close()
            throw error
        }
    }

    func importAll(_ paths: [String], ruleSet: QualityRules, known: [String: RecordingMetadata], into transcriptStore: any TranscriptStore) async throws {
        let shared = RecordingMetadata(agent: agent, queue: queue)

        var outcomes = [Outcome?](repeating: nil, count: paths.count)
        // What is already stored is found by content before any decoding.
        var pending: [(index: Int, id: String)] = []
        var sameAs: [Int: Int] = [:]  // a file with the same content as an earlier one in this batch → that one
        for (index, path) in paths.enumerated() {
            do {
                let id = try Self.callId(of: path)
                if let first = pending.first(where: { $0.id == id }) {
                    sameAs[index] = first.index
                } else if let record = try await transcriptStore.call(id: id) {
                    let findings = try await transcriptStore.detail(of: id)?.findings ?? []
                    outcomes[index] = .already(callId: id, record: record, findings: findings)
                } else {
                    pending.append((index, id))
                }
            } catch {
                outcomes[index] = .failed("\(path): \(Self.reason(error))")
            }
        }

        var progress = !quiet && !json && standardErrorIsTerminal ? ProgressBar(total: pending.count) : nil
        let inputs = pending.map { audio.input(for: paths[$0.index]) }
        let configuration = model.configuration
        var options = audio.transcriptionOptions()
        options.channelMode = .split
        let jobs = jobs
        let (events, continuation) = AsyncStream.makeStream(of: BatchEvent.self)
        let batch = Task.detached {
            defer { continuation.finish() }
            return try BatchTranscriber(jobs: jobs, decoder: SndFileAudioDecoder()) { try PocketSphinxRecognizer(configuration: configuration) }
                .run(inputs, options: options) { continuation.yield($0) }
        }
        let node = ProcessInfo.processInfo.hostName
        for await event in events {
            switch event {
            case .started(_, let path):
                progress?.current = path
                progress?.draw()
            case .utterance:
                break
            case .finished(let position, let transcript):
                let (index, id) = pending[position]
                let path = paths[index]
                var details = (known[path] ?? known[(path as NSString).lastPathComponent] ?? RecordingMetadata()).filled(from: shared)
                if details.startedAt == nil {
                    details.startedAt = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? Date()
                }
                let call = RecordedCall(id: id, transcript: transcript, metadata: details, rules: ruleSet, node: node)
                do {
                    try await Self.save(call, recording: path, to: transcriptStore)
                    outcomes[index] = .imported(callId: id, record: call.record, findings: call.findings)
                } catch {
                    outcomes[index] = .failed("\(path): the store refused the call: \(error)")
                }
                progress?.advance(audioSeconds: transcript.audio.duration)
                progress?.draw()
            case .failed(let position, _, let reason):
                outcomes[pending[position].index] = .failed(reason)
                progress?.advance(audioSeconds: 0)
                progress?.draw()
            }
        }
        progress?.clear()
        let summary: BatchSummary
        do {
            summary = try await batch.value
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }

        for (index, first) in sameAs {
            switch outcomes[first] {
            case .imported(let id, let record, let findings)?: outcomes[index] = .already(callId: id, record: record, findings: findings)
            case let other: outcomes[index] = other
            }
        }
        var counts = (imported: 0, already: 0, failed: 0)
        for (path, outcome) in zip(paths, outcomes) {
            switch outcome {
            case .imported(let id, let record, let findings), .already(let id, let record, let findings):
                let already: Bool
                if case .already = outcome { already = true; counts.already += 1 } else { already = false; counts.imported += 1 }
                if json {
                    printOut(Self.jsonLine(["file": path, "call_id": id, "agent": record.agent.map { $0 as Any } ?? NSNull(), "score": Int((record.score ?? 100).rounded()),
                                            "findings": findings.map(\.rule), "already": already]))
                } else if !quiet {
                    let found = findings.isEmpty ? "no findings" : findings.map(\.rule).joined(separator: ", ")
                    printOut("\(path): \(id)\(already ? " (already imported)" : ""), score \(Int((record.score ?? 100).rounded())); \(found)\n")
                }
            case .failed(let reason):
                counts.failed += 1
                if json { printOut(Self.jsonLine(["file": path, "error": reason])) }
                printError("error: \(reason)")
            case nil:
                counts.failed += 1
                printError("error: \(path): not imported")
            }
        }
        if !quiet {
            printError(String(format: "%d imported (%.4f h of audio in %@), %d already there, %d failed", counts.imported,
                              summary.audioSeconds / 3600, humanDuration(summary.wallSeconds), counts.already, counts.failed))
        }
        if counts.failed > 0 { throw ExitCode(1) }
    }

    /// Stores a call with the file as its recording.
    static func save(_ call: RecordedCall, recording path: String, to store: any TranscriptStore) async throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        try await call.save(to: store, recording: Recording(callId: call.record.id, mediaType: Recording.mediaType(forFileName: path), data: data))
    }

    /// The call id of a recording: from a digest of its bytes (read in blocks), so the same recording is the same call.
    static func callId(of path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        defer { try? handle.close() }
        var hash = SHA256()
        while let block = try handle.read(upToCount: 1 << 20), !block.isEmpty { hash.update(data: block) }
        return RecordedCall.id(sha256: hash.finalize())
    }

    static func reason(_ error: any Error) -> String {
        if let cocoa = error as? CocoaError, cocoa.code == .fileReadNoSuchFile { return "no such file" }
        return "\(error)"
    }

    static func jsonLine(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// Reads the metadata CSV: a header naming columns, then a row per file (fields may be quoted).
    static func readMetadata(_ path: String) throws -> [String: RecordingMetadata] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ValidationError("--metadata \(path): cannot be read")
        }
        let rows = CSVRows.parse(text)
        guard let header = rows.first?.map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) else {
            throw ValidationError("--metadata \(path): empty")
        }
        let allowed = ["file", "agent", "queue", "caller", "started_at"]
        if let unknown = header.first(where: { !allowed.contains($0) }) {
            throw ValidationError("--metadata \(path):1: unknown column '\(unknown)' (expected: \(allowed.joined(separator: ", ")))")
        }
        guard let fileColumn = header.firstIndex(of: "file") else { throw ValidationError("--metadata \(path):1: no 'file' column") }
        var result: [String: RecordingMetadata] = [:]
        for (number, row) in rows.enumerated().dropFirst() where !(row.count == 1 && row[0].isEmpty) {
            func value(_ column: String) -> String? {
                guard let index = header.firstIndex(of: column), index < row.count else { return nil }
                let text = row[index].trimmingCharacters(in: .whitespaces)
                return text.isEmpty ? nil : text
            }
            guard fileColumn < row.count else { throw ValidationError("--metadata \(path):\(number + 1): no file") }
            var started: Date?
            if let text = value("started_at") {
                guard let date = CallQuery.date(text) else {
                    throw ValidationError("--metadata \(path):\(number + 1): started_at '\(text)' is not a date such as 2026-11-25T10:00:00Z")
                }
                started = date
            }
            result[row[fileColumn]] = RecordingMetadata(agent: value("agent"), queue: value("queue"), callerNumber: value("caller"), startedAt: started)
        }
        return result
    }
}

/// Comma-separated rows, with fields in double quotes holding commas, newlines and doubled quotes.
enum CSVRows {
    static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var iterator = text.makeIterator()
        var pending: Character?
        while let character = pending ?? iterator.next() {
            pending = nil
            if quoted {
                if character == "\"" {
                    let next = iterator.next()
                    if next == "\"" { field.append("\"") } else { quoted = false; pending = next }
                } else {
                    field.append(character)
                }
                continue
            }
            switch character {
            case "\"": quoted = true
            case ",":
                row.append(field)
                field = ""
            case "\n", "\r\n", "\r":
                row.append(field)
                rows.append(row)
                row = []
                field = ""
            default: field.append(character)
            }
        }
        if !field.isEmpty || !row.isEmpty {
            row.append(field)
            rows.append(row)
        }
        return rows
    }
}
