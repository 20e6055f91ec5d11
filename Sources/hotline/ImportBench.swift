import ArgumentParser
import Foundation
import HotlineCore
import HotlineEngines
import HotlineStore
import SndFile

// MARK: - hotline bench import

/// `hotline qa import` on two-channel agent calls against a sequential `pocketsphinx_continuous` run over both channels
/// of the same files: throughput, WER per speaker, and memory for an hour-long recording.
struct ImportBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "hotline qa import against a sequential pocketsphinx_continuous run over both channels of the same calls.",
        discussion: """
            Builds a batch from the scripted agent calls of Tests/Fixtures/agent-calls (8 kHz μ-law stereo), each copy a \
            distinct file (so none is found already imported), to about --minutes of audio. Times `hotline qa import` \
            (all cores, a fresh SQLite store, the agent rules) and a shell loop of `pocketsphinx_continuous -infile` over \
            each channel of each file (same model; the channels split and resampled to 16 kHz beforehand, not timed), each \
            as a child process: wall time, hours of audio per hour, peak RSS, and the WER of each speaker's words against \
            the script. Then imports one recording of --long-minutes and one of a minute with one job and compares their \
            peak memory.
            """
    )

    @Option(help: "Minutes of two-channel audio in the batch.")
    var minutes: Double = 10

    @Option(name: .shortAndLong, help: "Workers for hotline qa import (default: one per core).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Minutes of the single long recording whose peak memory is compared with a 1-minute one (0 skips).")
    var longMinutes: Double = 60

    @Option(help: "The scripted calls (WAVs and calls.tsv).")
    var calls = "Tests/Fixtures/agent-calls"

    func run() async throws {
        let manager = FileManager.default
        guard let continuous = findExecutable("pocketsphinx_continuous") else {
            throw ValidationError("pocketsphinx_continuous not found (apt-get install pocketsphinx)")
        }
        let scripts = try Self.scripts(calls + "/calls.tsv")
        guard !scripts.isEmpty else { throw ValidationError("\(calls)/calls.tsv: no calls") }
        let work = NSTemporaryDirectory() + "hotline-bench-import-\(getpid())"
        try manager.createDirectory(atPath: work + "/batch", withIntermediateDirectories: true)
        try manager.createDirectory(atPath: work + "/channels", withIntermediateDirectories: true)
        defer { try? manager.removeItem(atPath: work) }

        // The batch: distinct copies of the calls; each channel also as 16 kHz mono for pocketsphinx_continuous.
        var files: [(path: String, call: String)] = []
        var channelFiles: [String] = []
        var seconds = 0.0
        var copy = 0
        var channels: [String: [[Float]]] = [:]
        for call in scripts.keys.sorted() {
            let reader = try SndFileAudioDecoder().open(.file(path: "\(calls)/\(call)"))
            var lanes: [[Float]] = Array(repeating: [], count: reader.info.channels)
            while let block = try reader.readBlock(maxFrames: 16_384) { for (index, lane) in block.enumerated() { lanes[index] += lane } }
            channels[call] = lanes.map { Resampler.resample($0, from: reader.info.sampleRate, to: 16_000) }
        }
        while seconds < minutes * 60 {
            copy += 1
            for call in scripts.keys.sorted() {
                let name = (call as NSString).deletingPathExtension + "-r\(copy)"
                let path = "\(work)/batch/\(name).wav"
                try Self.distinctCopy(of: "\(calls)/\(call)", to: path, tag: name)
                files.append((path, call))
                seconds += Double(channels[call]![0].count) / 16_000
                for (index, speaker) in ["caller", "agent"].enumerated() {
                    let channelPath = "\(work)/channels/\(name).\(speaker).wav"
                    try SoundFile(writingPath: channelPath, format: .wav16, sampleRate: 16_000).write(floats: channels[call]![index])
                    channelFiles.append(channelPath)
                }
            }
        }
        print(String(format: "batch: %d two-channel calls (%d × %d scripted calls), %.1f min of audio, %d cores",
                     files.count, copy, scripts.count, seconds / 60, ProcessInfo.processInfo.activeProcessorCount))

        // hotline qa import, into a fresh store.
        let store = "sqlite:\(work)/calls.sqlite"
        let hotline = try runMeasured([selfExecutable(), "qa", "import", work + "/batch", "--json", "--quiet", "--jobs", String(jobs), "--store", store],
                                      stdout: work + "/import.jsonl")
        var ids: [String: String] = [:]
        for line in try String(contentsOfFile: work + "/import.jsonl", encoding: .utf8).split(separator: "\n") {
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let file = object["file"] as? String, let id = object["call_id"] as? String else { continue }
            ids[file] = id
        }
        var hotlineCounts: [String: WordErrorCounts] = [:]
        let opened = try await TranscriptStores.open(store)
        for (path, call) in files {
            guard let id = ids[path], let detail = try await opened.detail(of: id) else { continue }
            for speaker in ["caller", "agent"] {
                let heard = detail.utterances.filter { $0.speaker == speaker }.map(\.text).joined(separator: " ")
                hotlineCounts[speaker, default: WordErrorCounts()] = hotlineCounts[speaker, default: WordErrorCounts()]
                    + WordErrorRate.counts(reference: scripts[call]![speaker] ?? "", hypothesis: heard)
            }
        }
        try? await opened.close()

        // Sequential pocketsphinx_continuous over each channel, same model files.
        let model = PocketSphinxConfiguration()
        let loopScript = """
            for f in "$@"; do echo "==> $f"; "\(continuous)" -infile "$f" -hmm "\(model.acousticModel)" \
            -lm "\(model.languageModel ?? "")" -dict "\(model.dictionary)" -logfn /dev/null; done
            """
        let loop = try runMeasured(["/bin/bash", "-c", loopScript, "loop"] + channelFiles, stdout: work + "/loop.txt")
        var heardByFile: [String: String] = [:]
        var current: String?
        for line in try String(contentsOfFile: work + "/loop.txt", encoding: .utf8).split(separator: "\n") {
            if line.hasPrefix("==> ") {
                current = String(line.dropFirst(4))
                heardByFile[current!] = ""
            } else if let current {
                heardByFile[current, default: ""] += " " + line
            }
        }
        var loopCounts: [String: WordErrorCounts] = [:]
        for (path, call) in files {
            let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
            for speaker in ["caller", "agent"] {
                loopCounts[speaker, default: WordErrorCounts()] = loopCounts[speaker, default: WordErrorCounts()]
                    + WordErrorRate.counts(reference: scripts[call]![speaker] ?? "", hypothesis: heardByFile["\(work)/channels/\(name).\(speaker).wav"] ?? "")
            }
        }

        func row(_ label: String, _ run: MeasuredRun, _ counts: [String: WordErrorCounts]) -> String {
            let both = (counts["caller"] ?? WordErrorCounts()) + (counts["agent"] ?? WordErrorCounts())
            return label.padding(toLength: 34, withPad: " ", startingAt: 0)
                + String(format: "%7.1f  %8.1f  %11.0f  %6.1f%%  %6.1f%%  %6.1f%%", run.wall, seconds / run.wall, run.peakMB,
                         (counts["caller"]?.rate ?? 0) * 100, (counts["agent"]?.rate ?? 0) * 100, both.rate * 100)
        }
        print("")
        print("                                   wall s  audio h/h  peak RSS MB  caller   agent    both (WER)")
        print(row("hotline qa import (\(jobs) jobs)", hotline, hotlineCounts))
        print(row("pocketsphinx_continuous loop", loop, loopCounts))
        print(String(format: "throughput ratio: %.2f× (hotline stores each call with its findings; the loop only prints words)", loop.wall / hotline.wall))
        if hotline.status != 0 || loop.status != 0 { print("warning: exit status hotline \(hotline.status), loop \(loop.status)") }

        // One long recording against a short one: memory must not grow with length.
        guard longMinutes > 0 else { return }
        var runs: [(minutes: Double, run: MeasuredRun)] = []
        for length in [1, longMinutes] {
            let path = "\(work)/long-\(Int(length)).wav"
            try Self.longRecording(from: scripts.keys.sorted().map { "\(calls)/\($0)" }, minutes: length, path: path)
            let run = try runMeasured([selfExecutable(), "qa", "import", path, "--quiet", "--jobs", "1", "--store", "sqlite:\(work)/long-\(Int(length)).sqlite"],
                                      stdout: "/dev/null")
            runs.append((length, run))
            try? manager.removeItem(atPath: path)
        }
        for (length, run) in runs {
            print(String(format: "one recording of %4.0f min, 1 job: %7.1f s wall (%.1f× real time), peak RSS %.0f MB, status %d", length, run.wall,
                         length * 60 / run.wall, run.peakMB, run.status))
        }
        print(String(format: "peak RSS ratio %.0f min / 1 min: %.2f (flat memory: close to 1)", longMinutes, runs[1].run.peakMB / runs[0].run.peakMB))
    }

    /// calls.tsv: file → speaker → what they said (their turns joined).
    static func scripts(_ path: String) throws -> [String: [String: String]] {
        var result: [String: [String: String]] = [:]
        for row in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").dropFirst() {
            let fields = row.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count >= 3 else { continue }
            var bySpeaker: [String: String] = [:]
            for turn in fields[2].components(separatedBy: " | ") {
                guard let colon = turn.firstIndex(of: ":") else { continue }
                bySpeaker[String(turn[..<colon]), default: ""] += " " + turn[turn.index(after: colon)...]
            }
            result[String(fields[0])] = bySpeaker
        }
        return result
    }

    /// A byte-for-byte copy of a WAV with a `LIST` chunk naming it appended (the audio is the same; the content differs).
    static func distinctCopy(of source: String, to path: String, tag: String) throws {
        var data = try Data(contentsOf: URL(fileURLWithPath: source))
        var text = Data("INFOICMT".utf8)
        var comment = Data(tag.utf8) + Data([0])
        if comment.count % 2 == 1 { comment.append(0) }
        text += withUnsafeBytes(of: UInt32(comment.count).littleEndian) { Data($0) } + comment
        data += Data("LIST".utf8) + withUnsafeBytes(of: UInt32(text.count).littleEndian) { Data($0) } + text
        let riffSize = UInt32(data.count - 8).littleEndian
        data.replaceSubrange(4..<8, with: withUnsafeBytes(of: riffSize) { Data($0) })
        try data.write(to: URL(fileURLWithPath: path))
    }

    /// The calls one after another (with 2 s between them) to `minutes`, as one 8 kHz μ-law stereo WAV, written in pieces.
    static func longRecording(from sources: [String], minutes: Double, path: String) throws {
        var calls: [[Float]] = []
        for source in sources {
            let reader = try SndFileAudioDecoder().open(.file(path: source))
            var interleaved: [Float] = []
            while let block = try reader.readBlock(maxFrames: 16_384) {
                for frame in 0..<block[0].count { for lane in block { interleaved.append(lane[frame]) } }
            }
            calls.append(interleaved + [Float](repeating: 0, count: 2 * 16_000))
        }
        let file = try SoundFile(writingPath: path, format: .wavMuLaw, sampleRate: 8_000, channels: 2)
        var frames = 0, index = 0
        while Double(frames) < minutes * 60 * 8_000 {
            try file.write(floats: calls[index % calls.count])
            frames += calls[index % calls.count].count / 2
            index += 1
        }
    }
}
