import ArgumentParser
import Foundation
import HotlineCore
import HotlineEngines

// MARK: - hotline bench cards

/// How well spoken card numbers are masked: readings by natural-sounding voices, through the telephone channel,
/// recognised as a caller's free answer (the flow's domain model, and the general model) and as the answer to a
/// question for the number (the digits grammar); then the text the store would keep.
struct CardsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cards",
        abstract: "Masking of spoken card numbers: recall on readings by natural voices, false positives on the paraphrases.",
        discussion: """
            Makes --readings random 16-digit card numbers per voice, read in groups of four with a lead-in ("my card \
            number is …"), by each voice of --voices (hibari:NAME from PyPI's hibari-tts, festival:NAME such as \
            ked_diphone from festvox-kdlpc16k), passes each through the 8 kHz μ-law telephone channel, and recognises it \
            with the flow's domain model, the general model and the digits grammar. For each: the share of readings \
            taken for a card number (masked, sensitive_data raised), the most digits left readable in a row after \
            masking, and the digits recognised right. Then the share of the paraphrase set (ordinary requests) taken \
            for a card number. Voices that are not installed are skipped with a note.
            """
    )

    @Option(help: "Card numbers per voice.")
    var readings = 12

    @Option(parsing: .upToNextOption, help: "Voices: hibari:NAME, festival:NAME.")
    var voices = ["hibari:heart", "festival:ked_diphone"]

    @Option(help: "The flow whose domain model hears free answers.")
    var flow = "Models/flows/bank.yaml"

    @Option(help: "Ordinary requests for the false-positive rate (intent<TAB>text).")
    var paraphrases = "Tests/Fixtures/bank-paraphrases.tsv"

    @Flag(help: "Print what was recognised for each reading.")
    var verbose = false

    @Option(help: "Seed for the card numbers.")
    var seed: UInt64 = 17

    struct Tally {
        var readings = 0
        var caught = 0
        var worstExposed = 0
        var digitsRight = 0
        var digits = 0
    }

    func run() async throws {
        let definition = try loadFlow(flow)
        let configuration = PocketSphinxConfiguration()
        let recognizer = try PocketSphinxRecognizer(configuration: configuration)
        try recognizer.prepare(for: definition, domainModel: await DomainModel.build(for: definition, recognizer: configuration))
        if !recognizer.searchNames.contains(StateSearch.digits.searchName) {
            try recognizer.addGrammar(named: StateSearch.digits.searchName, jsgf: StateSearch.digitsGrammar)
        }
        let searches: [(String, RecognitionSearch)] = [("domain model", .named("domain")), ("general model", .standard),
                                                       ("digits grammar", .named(StateSearch.digits.searchName))]
        let work = NSTemporaryDirectory() + "hotline-cards-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        var generator = SeededGenerator(seed: seed)
        let extractor = SlotExtractor()
        let leads = ["my card number is", "it is", "the number on the card is", "sure, it's"]
        var totals = [String: Tally]()
        print("card numbers read by each voice through the telephone channel (8 kHz μ-law), \(readings) per voice")
        for voice in voices {
            var tallies = [String: Tally]()
            var made = 0
            for index in 0..<readings {
                let digits = (0..<16).map { _ in Int.random(in: 0...9, using: &generator) }
                let groups = stride(from: 0, to: 16, by: 4).map { digits[$0..<$0 + 4].map { Self.names[$0] }.joined(separator: " ") }
                let text = leads[index % leads.count] + " " + groups.joined(separator: ", ") + "."
                let path = "\(work)/\(made).wav"
                guard try Self.synthesize(text, voice: voice, to: path, speed: [1.0, 0.9, 1.1][index % 3], seed: index) else {
                    print("  \(voice): not installed, skipped")
                    break
                }
                made += 1
                let reader = try SndFileAudioDecoder().open(.file(path: path))
                let samples = try reader.readAll()
                let phone = TelephoneChannel.decode(TelephoneChannel.encode(samples, from: reader.info.sampleRate), to: 16_000)
                for (name, search) in searches {
                    let heard = try recognizer.recognize(phone, search: search, alternatives: 0).text
                    if verbose { print("    \(name): \(heard)  →  \(extractor.redact(heard))") }
                    var tally = tallies[name] ?? Tally()
                    tally.readings += 1
                    if extractor.containsSensitiveNumber(heard) { tally.caught += 1 }
                    tally.worstExposed = max(tally.worstExposed, Self.longestDigitRun(extractor.redact(heard)))
                    let spoken = Self.digitString(heard)
                    tally.digitsRight += WordErrorRate.counts(reference: digits.map(String.init).joined(separator: " "),
                                                              hypothesis: spoken.map(String.init).joined(separator: " ")).correct
                    tally.digits += 16
                    tallies[name] = tally
                }
            }
            for (name, _) in searches {
                guard let tally = tallies[name] else { continue }
                print(Self.row("\(voice), \(name)", tally))
                var total = totals[name] ?? Tally()
                total.readings += tally.readings
                total.caught += tally.caught
                total.worstExposed = max(total.worstExposed, tally.worstExposed)
                total.digitsRight += tally.digitsRight
                total.digits += tally.digits
                totals[name] = total
            }
        }
        for (name, _) in searches {
            if let total = totals[name] { print(Self.row("all voices, \(name)", total)) }
        }
        let texts = try String(contentsOfFile: paraphrases, encoding: .utf8).split(separator: "\n")
            .filter { !$0.hasPrefix("#") && $0.contains("\t") }.compactMap { $0.split(separator: "\t").last.map(String.init) }
        let flagged = texts.filter(extractor.containsSensitiveNumber)
        print(String(format: "false positives: %d of %d paraphrases (%.1f%%) taken for a card number%@", flagged.count, texts.count,
                     Double(flagged.count) / Double(max(1, texts.count)) * 100, flagged.isEmpty ? "" : ": " + flagged.joined(separator: " | ")))
    }

    static let names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

    static func row(_ label: String, _ tally: Tally) -> String {
        String(format: "  %@ masked %3d/%-3d (%5.1f%%)  most digits readable in a row after masking %2d  digits recognised %5.1f%%",
               label.padding(toLength: 42, withPad: " ", startingAt: 0), tally.caught, tally.readings,
               Double(tally.caught) / Double(max(1, tally.readings)) * 100, tally.worstExposed,
               Double(tally.digitsRight) / Double(max(1, tally.digits)) * 100)
    }

    /// The digits a text spells, in order ("four five oh" → [4, 5, 0]).
    static func digitString(_ text: String) -> [Int] {
        TextNormalizer.words(text).flatMap { word -> [Int] in
            if word.allSatisfy(\.isNumber) { return word.compactMap(\.wholeNumberValue) }
            if word == "oh" || word == "o" { return [0] }
            return names.firstIndex(of: word).map { [$0] } ?? []
        }
    }

    /// The most digits readable in a row in a (masked) text: digit words and written digits.
    static func longestDigitRun(_ text: String) -> Int {
        var longest = 0
        var run = 0
        for word in TextNormalizer.words(text) {
            if word.allSatisfy(\.isNumber) {
                run += word.count
            } else if names.contains(word) || word == "oh" {
                run += 1
            } else {
                run = 0
            }
            longest = max(longest, run)
        }
        return longest
    }

    /// Reads `text` with `voice` into a WAV file; false when the voice is not installed.
    static func synthesize(_ text: String, voice: String, to path: String, speed: Double, seed: Int) throws -> Bool {
        let parts = voice.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw ValidationError("a voice is hibari:NAME or festival:NAME, not '\(voice)'") }
        let process = Process()
        let input = Pipe()
        switch parts[0] {
        case "hibari":
            guard let hibari = findExecutable("hibari") else { return false }
            process.executableURL = URL(fileURLWithPath: hibari)
            process.arguments = ["--voice", parts[1], "--speed", String(speed), "--seed", String(seed), "-o", path, text]
        case "festival":
            guard let text2wave = findExecutable("text2wave") else { return false }
            process.executableURL = URL(fileURLWithPath: text2wave)
            process.arguments = ["-eval", "(voice_\(parts[1]))", "-o", path]
            process.standardInput = input
        default:
            throw ValidationError("unknown voice kind '\(parts[0])' (hibari or festival)")
        }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        if parts[0] == "festival" {
            input.fileHandleForWriting.write(Data(text.utf8))
            try input.fileHandleForWriting.close()
        }
        process.waitUntilExit()
        return process.terminationStatus == 0 && FileManager.default.fileExists(atPath: path)
    }
}

/// A small deterministic random number generator (SplitMix64), so a benchmark's card numbers are the same each run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
