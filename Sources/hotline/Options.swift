public import ArgumentParser
import Foundation
public import HotlineCore
import HotlineEngines
import HotlineServer
import Logging

// MARK: - Shared options

/// Which recognition model and search to use.
struct ModelOptions: ParsableArguments {
    @Option(help: "Acoustic model directory (default: Debian's en-us model).")
    var model: String?

    @Option(help: "N-gram language model, ARPA or binary (default: Debian's en-us.lm.bin).")
    var lm: String?

    @Option(help: "Pronunciation dictionary (default: Debian's cmudict-en-us.dict).")
    var dict: String?

    @Option(help: "JSGF grammar to recognise with instead of the language model.")
    var grammar: String?

    @Option(help: "Keyword list ('phrase /threshold/' per line) to spot instead of full recognition.")
    var keywords: String?

    @Option(name: .customLong("decoder-option"), help: ArgumentHelp("Extra PocketSphinx option as FLAG=VALUE (repeatable), e.g. -beam=1e-60.", valueName: "flag=value"))
    var decoderOptions: [String] = []

    func validate() throws {
        for option in decoderOptions where !option.hasPrefix("-") || !option.contains("=") {
            throw ValidationError("--decoder-option \(option): expected -flag=value")
        }
        if grammar != nil && keywords != nil { throw ValidationError("--grammar and --keywords cannot be combined") }
        for (flag, path) in [("--model", model), ("--lm", lm), ("--dict", dict), ("--grammar", grammar), ("--keywords", keywords)] {
            if let path, !FileManager.default.fileExists(atPath: path) { throw ValidationError("\(flag) \(path): no such file") }
        }
    }

    var configuration: PocketSphinxConfiguration {
        var configuration = PocketSphinxConfiguration()
        if let model { configuration.acousticModel = model }
        if let lm { configuration.languageModel = lm }
        if let dict { configuration.dictionary = dict }
        configuration.grammar = grammar
        configuration.keywords = keywords
        configuration.extraOptions = decoderOptions.flatMap { option -> [String] in
            let parts = option.split(separator: "=", maxSplits: 1).map(String.init)
            return [parts[0], parts.count > 1 ? parts[1] : ""]
        }
        return configuration
    }
}

/// How to read headerless files and channels.
struct AudioOptions: ParsableArguments {
    @Option(help: "Sample rate of headerless (raw) input, Hz (default 16000; 8000 for .ul/.al/.sln files).")
    var rate: Int?

    @Option(help: "Encoding of headerless input: s16le, mulaw or alaw. Giving it treats every input as headerless.")
    var encoding: SampleEncoding?

    @Option(name: .customLong("raw-channels"), help: "Channels in headerless input.")
    var rawChannels: Int = 1

    @Option(help: "split: transcribe each channel on its own (stereo calls); mix: average channels first.")
    var channels: ChannelMode = .split

    @Option(help: "Labels of the channels of a multi-channel recording, comma-separated.")
    var speakers: String = "caller,agent"

    @Option(help: "whole: decode each utterance whole (most accurate); live: as a live call does, adapting to the channel.")
    var decoding: UtteranceDecoding = .whole

    func validate() throws {
        if let rate, rate <= 0 || rate > 384_000 { throw ValidationError("--rate must be between 1 and 384000 Hz") }
        if rawChannels < 1 || rawChannels > 16 { throw ValidationError("--raw-channels must be between 1 and 16") }
    }

    /// Headerless extensions and what they imply.
    static let rawExtensions: [String: (SampleEncoding, Int?)] = [
        "raw": (.linear16, nil), "pcm": (.linear16, nil), "sln": (.linear16, 8000), "s16": (.linear16, nil),
        "ul": (.muLaw, 8000), "ulaw": (.muLaw, 8000), "mulaw": (.muLaw, 8000), "mu": (.muLaw, 8000),
        "al": (.aLaw, 8000), "alaw": (.aLaw, 8000),
    ]

    /// The input for a path: headerless when `--encoding` is given or the extension says so.
    func input(for path: String) -> AudioInput {
        AudioOptions.input(for: path, encoding: encoding, rate: rate, channels: rawChannels)
    }

    /// The input for a path, given what the command line says of headerless audio.
    static func input(for path: String, encoding: SampleEncoding?, rate: Int?, channels: Int) -> AudioInput {
        let ext = (path as NSString).pathExtension.lowercased()
        if let encoding {
            return .raw(path: path, encoding: encoding, sampleRate: rate ?? 16_000, channels: channels)
        }
        if let (encoding, impliedRate) = rawExtensions[ext] {
            return .raw(path: path, encoding: encoding, sampleRate: rate ?? impliedRate ?? 16_000, channels: channels)
        }
        return .file(path: path)
    }

    func transcriptionOptions() -> TranscriptionOptions {
        var options = TranscriptionOptions()
        options.channelMode = channels
        options.decoding = decoding
        options.channelLabels = speakers.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        return options
    }
}

extension SampleEncoding: ExpressibleByArgument {}
extension ChannelMode: ExpressibleByArgument {}
extension TranscriptFormat: ExpressibleByArgument {}
extension UtteranceDecoding: ExpressibleByArgument {}

// MARK: - Input expansion

/// Audio file extensions a directory is searched for.
let audioExtensions: Set<String> = [
    "wav", "wave", "flac", "ogg", "oga", "opus", "aif", "aiff", "aifc", "au", "snd", "caf", "w64", "rf64", "mp3",
    "raw", "pcm", "sln", "ul", "ulaw", "mulaw", "al", "alaw",
]

/// Expands FILE, DIR and GLOB arguments into paths, in argument order, without duplicates. Arguments that
/// match nothing are returned as they are, so the batch reports them as missing files.
func expandInputs(_ arguments: [String]) -> [String] {
    var result: [String] = []
    var seen = Set<String>()
    func add(_ path: String) { if seen.insert(path).inserted { result.append(path) } }
    let manager = FileManager.default
    for argument in arguments {
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: argument, isDirectory: &isDirectory) {
            if isDirectory.boolValue {
                let base = argument.hasSuffix("/") ? String(argument.dropLast()) : argument
                let files = (manager.enumerator(atPath: argument)?.compactMap { $0 as? String } ?? [])
                    .filter { audioExtensions.contains(($0 as NSString).pathExtension.lowercased()) }
                    .sorted()
                files.forEach { add(base + "/" + $0) }
            } else {
                add(argument)
            }
        } else if argument.contains(where: { "*?[".contains($0) }) {
            let matches = globPaths(argument)
            if matches.isEmpty { add(argument) } else { matches.forEach(add) }
        } else {
            add(argument)
        }
    }
    return result
}

private func globPaths(_ pattern: String) -> [String] {
    var matches = glob_t()
    defer { globfree(&matches) }
    guard glob(pattern, 0, nil, &matches) == 0 else { return [] }
    return (0..<Int(matches.gl_pathc)).compactMap { matches.gl_pathv[$0].map { String(cString: $0) } }.sorted()
}

// MARK: - Output helpers

/// Writes to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Writes to standard output without buffering surprises when mixed with standard error.
func printOut(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}

/// Whether standard error is a terminal (for progress bars).
var standardErrorIsTerminal: Bool { isatty(STDERR_FILENO) != 0 }

/// A human duration such as "1 h 02 min", "3 min 12 s" or "4.2 s".
func humanDuration(_ seconds: Double) -> String {
    if seconds >= 3600 { return String(format: "%d h %02d min", Int(seconds) / 3600, Int(seconds) / 60 % 60) }
    if seconds >= 60 { return String(format: "%d min %02d s", Int(seconds) / 60, Int(seconds) % 60) }
    return String(format: "%.1f s", seconds)
}

// MARK: - The systems a flow's webhooks call

/// `--service NAME=URL`: where a flow's webhook service is (`sample` for the built-in sample bank).
struct FlowServiceOptions: ParsableArguments {
    @Option(name: .customLong("service"), help: ArgumentHelp("A flow service's URL, NAME=URL (repeatable); 'sample' is the built-in sample bank.",
                                                             valueName: "name=url"))
    var services: [String] = []

    /// The services as a table; a malformed one is a usage error.
    func table() throws -> [String: String] {
        var result: [String: String] = [:]
        for entry in services {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw ValidationError("--service wants NAME=URL, not '\(entry)'") }
            result[parts[0]] = parts[1]
        }
        return result
    }

    /// The dialog with its services bound (starting the sample bank where a service is `sample`).
    func bind(_ dialog: DialogDefinition, extra: [String: String] = [:]) async throws -> (DialogDefinition, SampleBank?) {
        try await SampleBank.bind(dialog, overrides: extra.merging(try table()) { $1 }, logger: Logger(label: "hotline.flow"))
    }
}
