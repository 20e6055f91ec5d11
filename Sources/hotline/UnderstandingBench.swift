import ArgumentParser
import Foundation
import HotlineCore
import HotlineEngines

// MARK: - hotline bench understanding

/// Spoken understanding: the paraphrase set and the unrelated set read by natural-sounding voices, put through the
/// telephone channel and recognised as the bot hears a caller (the flow's domain model, 5-best), then matched.
struct UnderstandingBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "understanding",
        abstract: "Spoken intent accuracy on natural voices through the telephone channel, against the same sentences typed.",
        discussion: """
            Reads every sentence of --paraphrases (intent<TAB>text) and --unrelated with each voice of --voices \
            (hibari:NAME from PyPI's hibari-tts, festival:NAME such as ked_diphone from festvox-kdlpc16k), passes it \
            through the 8 kHz μ-law telephone channel, recognises it with the flow's domain model (and with --general \
            the general model too) and matches it. Prints, per voice and for all: intent accuracy (acted on or confirmed \
            first), acted on at once right and wrong, transcript WER, and how many unrelated sentences were taken for \
            one of the flow's intents. --write DIR keeps the telephone audio as 8 kHz μ-law WAV files with a TSV \
            (intent<TAB>file<TAB>text) that 'hotline intent --labels' reads. Voices that are not installed are skipped.
            """
    )

    @Option(parsing: .upToNextOption, help: "Voices: hibari:NAME, festival:NAME.")
    var voices = ["hibari:heart", "festival:ked_diphone"]

    @Option(help: "The flow.")
    var flow = "Models/flows/bank.yaml"

    @Option(help: "Requests with their intents (intent<TAB>text).")
    var paraphrases = "Tests/Fixtures/bank-paraphrases.tsv"

    @Option(help: "Sentences the flow does not serve (out_of_scope<TAB>text).")
    var unrelated = "Tests/Fixtures/bank-unrelated.tsv"

    @Option(help: "Keep the telephone audio here (8 kHz μ-law WAV) with a labels file, spoken.tsv.")
    var write: String?

    @Flag(help: "Also recognise with the general language model.")
    var general = false

    @Flag(help: "Print each sentence, what was heard and what was decided.")
    var verbose = false

    func run() async throws {
        let definition = try loadFlow(flow)
        let matcher = definition.makeMatcher()
        let configuration = PocketSphinxConfiguration()
        let recognizer = try PocketSphinxRecognizer(configuration: configuration)
        try recognizer.prepare(for: definition, domainModel: await DomainModel.build(for: definition, recognizer: configuration))
        func sentences(_ path: String) throws -> [(intent: String, text: String)] {
            try ReferenceTranscripts.parse(String(contentsOfFile: path, encoding: .utf8), source: path).map { ($0.id, $0.text) }
        }
        let labelled = try sentences(paraphrases) + sentences(unrelated)
        var searches: [(String, RecognitionSearch)] = [("domain model", .named(StateSearch.domain.searchName))]
        if general { searches.append(("general model", .standard)) }
        let work = NSTemporaryDirectory() + "hotline-understanding-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        if let write { try FileManager.default.createDirectory(atPath: write, withIntermediateDirectories: true) }
        var manifest: [String] = []
        var typed = IntentEvaluation()
        for (intent, text) in labelled { let match = matcher.match(text); typed.record(expected: intent, predicted: match.intent, input: text, needsConfirmation: match.needsConfirmation) }
        print("\(labelled.count) sentences (\(labelled.count { $0.intent != "out_of_scope" }) requests, \(labelled.count { $0.intent == "out_of_scope" }) unrelated) "
            + "per voice, through the telephone channel (8 kHz μ-law)")
        print(Self.row("typed (no audio)", typed, words: WordErrorCounts()))
        var totals: [String: (IntentEvaluation, WordErrorCounts)] = [:]
        for voice in voices {
            var results: [String: (IntentEvaluation, WordErrorCounts)] = [:]
            var made = 0
            for (index, item) in labelled.enumerated() {
                let path = "\(work)/\(index).wav"
                guard try CardsBench.synthesize(item.text, voice: voice, to: path, speed: 1.0, seed: index) else {
                    print("  \(voice): not installed, skipped")
                    break
                }
                made += 1
                let reader = try SndFileAudioDecoder().open(.file(path: path))
                let codes = TelephoneChannel.encode(try reader.readAll(), from: reader.info.sampleRate)
                if let write {
                    let name = "\(voice.replacingOccurrences(of: ":", with: "-"))-\(String(format: "%03d", index)).wav"
                    try Self.muLawWAV(codes).write(to: URL(fileURLWithPath: "\(write)/\(name)"))
                    manifest.append("\(item.intent)\t\(write)/\(name)\t\(item.text)")
                }
                let phone = TelephoneChannel.decode(codes, to: 16_000)
                for (name, search) in searches {
                    let recognition = try recognizer.recognize(phone, search: search, alternatives: 5)
                    let match = matcher.match(recognition)
                    var (evaluation, words) = results[name] ?? (IntentEvaluation(), WordErrorCounts())
                    evaluation.record(expected: item.intent, predicted: match.intent, input: item.text, transcript: recognition.text,
                                      needsConfirmation: match.needsConfirmation)
                    words = words + WordErrorRate.counts(reference: item.text, hypothesis: recognition.text)
                    results[name] = (evaluation, words)
                    if verbose {
                        print("    [\(item.intent) → \(match.intent ?? "none")\(match.needsConfirmation ? "?" : "")] \(item.text)  (heard: \(recognition.text))")
                    }
                }
            }
            guard made > 0 else { continue }
            for (name, _) in searches {
                guard let (evaluation, words) = results[name] else { continue }
                print(Self.row("\(voice), \(name)", evaluation, words: words))
                var total = totals[name] ?? (IntentEvaluation(), WordErrorCounts())
                total.0.items += evaluation.items
                total.1 = total.1 + words
                totals[name] = total
            }
        }
        for (name, _) in searches {
            if let (evaluation, words) = totals[name] { print(Self.row("all voices, \(name)", evaluation, words: words)) }
        }
        if let write {
            let header = "# Made by `hotline bench understanding --write \(write)`: voice, sentence and the telephone channel (8 kHz μ-law).\n"
            try (header + manifest.joined(separator: "\n") + "\n").write(toFile: "\(write)/spoken.tsv", atomically: true, encoding: .utf8)
            print("wrote \(manifest.count) files and \(write)/spoken.tsv")
        }
    }

    /// One line: requests (accuracy, acted right/wrong), WER, unrelated taken for an intent.
    static func row(_ label: String, _ evaluation: IntentEvaluation, words: WordErrorCounts) -> String {
        var requests = IntentEvaluation()
        requests.items = evaluation.items.filter { $0.expected != "out_of_scope" }
        let unrelated = evaluation.unrelated
        let wer = words.referenceWords > 0 ? String(format: "WER %5.1f%%", words.rate * 100) : "WER     —"
        return String(format: "  %@ requests %5.1f%% (at once: %5.1f%% right, %4.1f%% wrong; %2d declined)  %@  unrelated taken for an intent %2d/%d (%d acted on, %d confirmed)",
                      label.padding(toLength: 40, withPad: " ", startingAt: 0), requests.accuracy * 100, requests.outrightAccuracy * 100,
                      requests.wrongActions * 100, requests.declinedRequests, wer, unrelated.acted + unrelated.confirmed, unrelated.count,
                      unrelated.acted, unrelated.confirmed)
    }

    /// A WAV file of 8 kHz μ-law codes, as a telephone line carries them.
    static func muLawWAV(_ codes: [UInt8]) -> Data {
        var data = Data()
        func append(_ value: UInt32, _ bytes: Int) { withUnsafeBytes(of: value.littleEndian) { data += Data($0.prefix(bytes)) } }
        let padded = codes.count % 2
        data += Data("RIFF".utf8); append(UInt32(4 + 26 + 12 + 8 + codes.count + padded), 4); data += Data("WAVE".utf8)
        data += Data("fmt ".utf8); append(18, 4); append(7, 2); append(1, 2); append(8_000, 4); append(8_000, 4); append(1, 2); append(8, 2); append(0, 2)
        data += Data("fact".utf8); append(4, 4); append(UInt32(codes.count), 4)
        data += Data("data".utf8); append(UInt32(codes.count), 4); data += Data(codes)
        if padded == 1 { data.append(0) }
        return data
    }
}
