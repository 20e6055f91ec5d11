import ArgumentParser
import Foundation
import HotlineCore
import HotlineEngines
import SndFile

// MARK: - hotline bench

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks that print figures and comparisons (not pass/fail tests).",
        subcommands: [TranscribeBench.self, CallsBench.self, ServeBench.self, StoreBench.self, LedgerBench.self, CardsBench.self, SoakBench.self, UnderstandingBench.self, EndpointBench.self, ImportBench.self]
    )
}

/// Where Debian's pocketsphinx-testdata keeps the LibriVox sentences.
let librivoxDirectory = "/usr/share/pocketsphinx/test/data/librivox"

struct TranscribeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transcribe",
        abstract: "hotline transcribe against a sequential pocketsphinx_continuous loop on the same files.",
        discussion: """
            Builds a batch from the LibriVox sentences of pocketsphinx-testdata, repeated to about --minutes of \
            audio, then times `hotline transcribe` (all cores) and a shell loop of `pocketsphinx_continuous -infile` \
            (same model and dictionary) on it, each as a child process: wall time, real-time factor, peak RSS and \
            word error rate, and the throughput ratio. Then it passes the sentences through an 8 kHz μ-law \
            telephone channel (this project's resampler and G.711 codec) and reports the WER of that too.
            """
    )

    @Option(help: "Minutes of audio in the batch.")
    var minutes: Double = 5

    @Option(name: .shortAndLong, help: "Workers for hotline transcribe (default: one per core).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Minutes of the single long recording whose peak memory is compared with a 1-minute one (0 skips).")
    var longMinutes: Double = 10

    @Option(help: "LibriVox directory (wav files, 'transcription' reference).")
    var corpus: String = librivoxDirectory

    func run() throws {
        let manager = FileManager.default
        let referencePath = corpus + "/transcription"
        guard manager.fileExists(atPath: referencePath) else {
            throw ValidationError("\(referencePath): not found (apt-get install pocketsphinx-testdata)")
        }
        guard let continuous = findExecutable("pocketsphinx_continuous") else {
            throw ValidationError("pocketsphinx_continuous not found (apt-get install pocketsphinx)")
        }
        let references = Dictionary(
            try ReferenceTranscripts.parse(String(contentsOfFile: referencePath, encoding: .utf8), source: referencePath).map { ($0.id, $0.text) }
        ) { a, _ in a }
        let sources = try manager.contentsOfDirectory(atPath: corpus).filter { $0.hasSuffix(".wav") }.sorted().map { corpus + "/" + $0 }
        guard !sources.isEmpty else { throw ValidationError("\(corpus): no wav files") }
        let work = NSTemporaryDirectory() + "hotline-bench-\(getpid())"
        defer { try? manager.removeItem(atPath: work) }
        let batch = work + "/batch"
        try manager.createDirectory(atPath: batch, withIntermediateDirectories: true)
        var seconds = 0.0
        var copies = 0
        var files: [String] = []
        while seconds < minutes * 60 {
            copies += 1
            for source in sources {
                let link = "\(batch)/\(ReferenceTranscripts.id(forPath: source))-r\(copies).wav"
                try manager.createSymbolicLink(atPath: link, withDestinationPath: source)
                files.append(link)
                seconds += try SndFileAudioDecoder().open(.file(path: source)).info.duration ?? 0
            }
        }
        print(String(format: "batch: %d files (%d × %d LibriVox sentences), %.1f s of audio, %d cores",
                     files.count, copies, sources.count, seconds, ProcessInfo.processInfo.activeProcessorCount))

        // hotline transcribe
        let hotlineOut = work + "/hotline"
        let hotline = try runMeasured(
            [selfExecutable(), "transcribe", batch, "--output", hotlineOut, "--format", "json", "--quiet", "--jobs", String(jobs)],
            stdout: work + "/hotline.log"
        )
        var hotlineCounts = WordErrorCounts()
        for file in files {
            let name = ReferenceTranscripts.id(forPath: file)
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(hotlineOut)/\(name).json"))
            let transcript = try JSONDecoder().decode(Transcript.self, from: data)
            hotlineCounts = hotlineCounts + WordErrorRate.counts(reference: references[originalID(name)] ?? "", hypothesis: transcript.text())
        }

        // Sequential pocketsphinx_continuous loop, same model files.
        let model = PocketSphinxConfiguration()
        let script = """
            for f in "$@"; do echo "==> $f"; "\(continuous)" -infile "$f" -hmm "\(model.acousticModel)" \
            -lm "\(model.languageModel ?? "")" -dict "\(model.dictionary)" -logfn /dev/null; done
            """
        let loop = try runMeasured(["/bin/bash", "-c", script, "loop"] + files, stdout: work + "/loop.txt")
        var loopCounts = WordErrorCounts()
        var hypotheses: [String: String] = [:]
        var current: String?
        for line in try String(contentsOfFile: work + "/loop.txt", encoding: .utf8).split(separator: "\n") {
            if line.hasPrefix("==> ") {
                current = ReferenceTranscripts.id(forPath: String(line.dropFirst(4)))
                hypotheses[current!] = ""
            } else if let current {
                hypotheses[current, default: ""] += " " + line
            }
        }
        for file in files {
            let name = ReferenceTranscripts.id(forPath: file)
            loopCounts = loopCounts + WordErrorRate.counts(reference: references[originalID(name)] ?? "", hypothesis: hypotheses[name] ?? "")
        }

        print("")
        print("                              wall s    RTF   peak RSS MB    WER")
        print(row("hotline transcribe (\(jobs) jobs)", hotline, seconds, hotlineCounts))
        print(row("pocketsphinx_continuous loop", loop, seconds, loopCounts))
        print(String(format: "throughput ratio: %.2f× (target ≥ 1.8×); WER %.1f%% vs %.1f%% (target: same or lower); peak RSS %.0f MB (target < 250 MB)",
                     loop.wall / hotline.wall, hotlineCounts.rate * 100, loopCounts.rate * 100, hotline.peakMB))
        if hotline.status != 0 || loop.status != 0 {
            print("warning: exit status hotline \(hotline.status), loop \(loop.status)")
        }

        // Telephone channel: 8 kHz μ-law round trip through this project's resampler and codec.
        let phone = work + "/phone"
        try manager.createDirectory(atPath: phone, withIntermediateDirectories: true)
        for source in sources {
            let reader = try SndFileAudioDecoder().open(.file(path: source))
            let samples = try reader.readAll()
            let codes = TelephoneChannel.encode(samples, from: reader.info.sampleRate)
            try Data(codes).write(to: URL(fileURLWithPath: "\(phone)/\(ReferenceTranscripts.id(forPath: source)).ul"))
        }
        let phoneOut = work + "/phone-out"
        let phoneRun = try runMeasured(
            [selfExecutable(), "transcribe", phone, "--output", phoneOut, "--format", "json", "--quiet", "--jobs", String(jobs)],
            stdout: work + "/phone.log"
        )
        var phoneCounts = WordErrorCounts()
        var wideCounts = WordErrorCounts()
        for source in sources {
            let id = ReferenceTranscripts.id(forPath: source)
            let transcript = try JSONDecoder().decode(Transcript.self, from: Data(contentsOf: URL(fileURLWithPath: "\(phoneOut)/\(id).json")))
            phoneCounts = phoneCounts + WordErrorRate.counts(reference: references[id] ?? "", hypothesis: transcript.text())
            let wide = try JSONDecoder().decode(Transcript.self, from: Data(contentsOf: URL(fileURLWithPath: "\(hotlineOut)/\(id)-r1.json")))
            wideCounts = wideCounts + WordErrorRate.counts(reference: references[id] ?? "", hypothesis: wide.text())
        }
        print(String(format: "telephone channel (16 kHz → 8 kHz μ-law → 16 kHz): WER %.1f%% vs %.1f%% wideband on the same %d sentences (status %d)",
                     phoneCounts.rate * 100, wideCounts.rate * 100, sources.count, phoneRun.status))

        // One long recording against a short one: memory must not grow with length.
        guard longMinutes > 0 else { return }
        var sentences: [[Float]] = []
        for source in sources {
            let reader = try SndFileAudioDecoder().open(.file(path: source))
            let samples = try reader.readAll()
            sentences.append(samples + [Float](repeating: 0, count: 16_000))
        }
        func recording(minutes: Double, path: String) throws {
            let file = try SoundFile(writingPath: path, format: .wav16, sampleRate: 16_000)
            var written = 0, index = 0
            while Double(written) < minutes * 60 * 16_000 {
                try file.write(floats: sentences[index % sentences.count])
                written += sentences[index % sentences.count].count
                index += 1
            }
        }
        var runs: [(minutes: Double, run: MeasuredRun)] = []
        for minutes in [1, longMinutes] {
            let path = "\(work)/long-\(Int(minutes)).wav"
            try recording(minutes: minutes, path: path)
            let run = try runMeasured([selfExecutable(), "transcribe", path, "--quiet", "--jobs", "1", "--format", "json"], stdout: work + "/long.json")
            runs.append((minutes, run))
            try? manager.removeItem(atPath: path)
        }
        for (minutes, run) in runs {
            print(String(format: "single recording of %4.0f min, 1 job: %6.1f s wall (RTF %.3f), peak RSS %.0f MB", minutes, run.wall, run.wall / (minutes * 60), run.peakMB))
        }
        print(String(format: "peak RSS ratio %.0f min / 1 min: %.2f (flat memory: close to 1)", longMinutes, runs[1].run.peakMB / runs[0].run.peakMB))
    }

    private func originalID(_ name: String) -> String {
        guard let range = name.range(of: "-r", options: .backwards) else { return name }
        return String(name[..<range.lowerBound])
    }

    private func row(_ label: String, _ run: MeasuredRun, _ audio: Double, _ counts: WordErrorCounts) -> String {
        label.padding(toLength: 30, withPad: " ", startingAt: 0)
            + String(format: "%6.1f  %5.3f  %11.0f  %5.1f%%", run.wall, run.wall / audio, run.peakMB, counts.rate * 100)
    }
}

// MARK: - Measuring child processes

/// Wall time, exit status and peak resident memory of a child process (and its own children).
struct MeasuredRun {
    var status: Int32
    var wall: Double
    var peakMB: Double
}

/// Runs a command with standard output to a file and measures it with `wait4`.
func runMeasured(_ arguments: [String], stdout path: String) throws -> MeasuredRun {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    let cArguments = arguments.map { strdup($0) } + [nil]
    defer { cArguments.forEach { free($0) } }
    var pid: pid_t = 0
    let started = ContinuousClock.now
    let spawned = posix_spawn(&pid, arguments[0], &actions, nil, cArguments, environ)
    guard spawned == 0 else { throw ValidationError("could not start \(arguments[0]): \(String(cString: strerror(spawned)))") }
    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
    let wall = (ContinuousClock.now - started).seconds
    let exit = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    return MeasuredRun(status: exit, wall: wall, peakMB: Double(usage.ru_maxrss) / 1024)
}

/// This executable's path.
func selfExecutable() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
}

/// The first executable of that name on PATH.
func findExecutable(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
}
