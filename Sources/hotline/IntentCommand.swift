import ArgumentParser
import Foundation
import HotlineCore
import HotlineEngines

// MARK: - hotline intent

/// The default flow, relative to the working directory (the repository).
let defaultFlowPath = "Models/flows/bank.yaml"

/// Loads a flow for a command, or prints the error (file, line, problem) and exits with status 2.
func loadFlow(_ path: String) throws -> FlowDefinition {
    do {
        return try FlowLoader.load(path: path)
    } catch {
        printError("error: \(error)")
        throw ExitCode(2)
    }
}

/// Loads a flow with a dialog for a command that talks through it, or says why not and exits with status 2.
func loadDialogFlow(_ path: String) throws -> (FlowDefinition, DialogDefinition) {
    let definition = try loadFlow(path)
    guard let dialog = definition.dialog else {
        printError("error: \(path): the flow has no states to talk through")
        throw ExitCode(2)
    }
    return (definition, dialog)
}

struct IntentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "intent",
        abstract: "What callers mean: the top intent, its confidence and the alternatives, for text or audio.",
        discussion: """
            Each argument is an audio file (transcribed first, its n-best list used) or text. With --labels \
            (TSV: intent<TAB>text or intent<TAB>audio-path) it prints accuracy, a confusion table and the \
            misclassified items, next to a keyword-only baseline (an IVR that needs the literal words).
            """
    )

    @Argument(help: "Text or audio files.")
    var inputs: [String] = []

    @Option(help: "Flow file.")
    var flow: String = defaultFlowPath

    @Option(help: "Labelled items to score: intent<TAB>text, intent<TAB>audio-path, or intent<TAB>audio-path<TAB>what was said (adds WER).")
    var labels: String?

    @Flag(help: "Print JSON.")
    var json = false

    @Flag(help: "Recognise audio with the general language model instead of the flow's domain model.")
    var general = false

    @Option(help: "Most frequent general-model words the domain model backs off to.")
    var generalWords = 3_000

    @Flag(help: "Decode audio as a call does, live in 20 ms blocks with the channel's running cepstral mean carried from one file to the next (default: whole utterances).")
    var live = false

    @OptionGroup var model: ModelOptions

    func validate() throws {
        if inputs.isEmpty && labels == nil { throw ValidationError("give text, audio files, or --labels FILE") }
    }

    func run() async throws {
        let definition = try loadFlow(flow)
        let matcher = definition.makeMatcher()
        let understanding = Understanding(matcher: matcher, model: model.configuration, flow: general ? nil : definition, generalWords: generalWords,
                                          live: live)
        if let labels {
            try await evaluate(labels, understanding: understanding, intents: definition.intents.map(\.name))
            return
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        for input in inputs {
            let (match, transcript) = try await understanding.understand(input)
            if json {
                let report = Report(input: input, transcript: transcript, intent: match.intent, confidence: match.confidence,
                                    needsConfirmation: match.needsConfirmation, slots: SlotExtractor().extract(from: transcript),
                                    alternatives: Array(match.alternatives.prefix(5)))
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                let others = match.alternatives.prefix(4).map { "\($0.intent) \(String(format: "%.2f", $0.score))" }.joined(separator: ", ")
                print("\(input == transcript ? "" : "\(input): ")\"\(transcript)\" → \(match.intent ?? "none") (confidence \(String(format: "%.2f", match.confidence))\(match.needsConfirmation ? ", to confirm" : "")); \(others)")
                let slots = SlotExtractor().extract(from: transcript)
                if !slots.isEmpty { print("  slots: " + slots.map { "\($0.name)=\($0.masked)" }.joined(separator: ", ")) }
            }
        }
    }

    struct Report: Encodable {
        var input: String
        var transcript: String
        var intent: String?
        var confidence: Double
        var needsConfirmation: Bool
        var slots: [SlotValue]
        var alternatives: [IntentScore]
    }

    private func evaluate(_ path: String, understanding: Understanding, intents: [String]) async throws {
        let entries: [(id: String, text: String)]
        do {
            entries = try ReferenceTranscripts.parse(String(contentsOfFile: path, encoding: .utf8), source: path)
        } catch {
            throw ValidationError("\(path): \(error)")
        }
        let baseline = KeywordBaseline(intents: intents)
        var evaluation = IntentEvaluation()
        var keywordEvaluation = IntentEvaluation()
        var words = WordErrorCounts()
        for (intent, field) in entries {
            // intent<TAB>audio-path<TAB>what was said: the third column scores the transcript too.
            let parts = field.split(separator: "\t", maxSplits: 1).map(String.init)
            let input = parts[0]
            let (match, transcript) = try await understanding.understand(input)
            if parts.count == 2 { words = words + WordErrorRate.counts(reference: parts[1], hypothesis: transcript) }
            evaluation.record(expected: intent, predicted: match.intent, input: input, transcript: transcript == input ? nil : transcript,
                              needsConfirmation: match.needsConfirmation)
            keywordEvaluation.record(expected: intent, predicted: baseline.match(transcript), input: input)
        }
        if json {
            struct Summary: Encodable {
                var accuracy: Double
                var outrightAccuracy: Double
                var wrongActions: Double
                var keywordBaseline: Double
                var declinedRequests: Int
                var unrelated: [String: Int]
                var items: [IntentEvaluation.Item]
                var confusion: [String: [String: Int]]
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(Summary(accuracy: evaluation.accuracy, outrightAccuracy: evaluation.outrightAccuracy,
                                                                 wrongActions: evaluation.wrongActions, keywordBaseline: keywordEvaluation.accuracy,
                                                                 declinedRequests: evaluation.declinedRequests,
                                                                 unrelated: ["count": evaluation.unrelated.count, "acted": evaluation.unrelated.acted,
                                                                             "confirmed": evaluation.unrelated.confirmed, "declined": evaluation.unrelated.declined],
                                                                 items: evaluation.items, confusion: evaluation.confusion)), as: UTF8.self))
            return
        }
        print(String(format: "intent accuracy: %.1f%% of %d (keyword-only baseline: %.1f%%)", evaluation.accuracy * 100, entries.count, keywordEvaluation.accuracy * 100))
        print(String(format: "  acted on without asking: %.1f%% right, %.1f%% wrong; the rest confirmed first or not understood",
                     evaluation.outrightAccuracy * 100, evaluation.wrongActions * 100))
        if evaluation.declinedRequests > 0 {
            print("  declined as out of scope (the caller hears what the bot can do): \(evaluation.declinedRequests)")
        }
        let unrelated = evaluation.unrelated
        if unrelated.count > 0 {
            func share(_ count: Int) -> String { String(format: "%d (%.1f%%)", count, Double(count) * 100 / Double(unrelated.count)) }
            print("unrelated (labelled out_of_scope): \(unrelated.count); acted on as an intent \(share(unrelated.acted)), confirmed as one "
                + "\(share(unrelated.confirmed)), declined or not understood \(share(unrelated.declined))")
        }
        if words.referenceWords > 0 { print(String(format: "transcript WER: %.1f%% of %d words", words.rate * 100, words.referenceWords)) }
        print("\nconfusion (expected → predicted: count), errors only:")
        for (expected, row) in evaluation.confusion.sorted(by: { $0.key < $1.key }) {
            let wrong = row.filter { $0.key != expected }.sorted { $0.key < $1.key }
            if !wrong.isEmpty { print("  \(expected) → " + wrong.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + " (of \(row.values.reduce(0, +)))") }
        }
        print("\nmisclassified:")
        for item in evaluation.misclassified {
            print("  [\(item.expected) → \(item.predicted)] \(item.input)" + (item.transcript.map { " (heard: \"\($0)\")" } ?? ""))
        }
    }
}

/// Turns text or audio into an intent decision.
struct Understanding {
    let matcher: IntentMatcher
    let model: PocketSphinxConfiguration
    /// The flow whose domain model recognises audio (`nil`: the general model).
    let flow: FlowDefinition?
    let generalWords: Int
    /// Decode as a call does: live, with the channel's adaptation carried across inputs.
    let live: Bool
    private let recognizer = RecognizerBox()

    init(matcher: IntentMatcher, model: PocketSphinxConfiguration, flow: FlowDefinition?, generalWords: Int = 3_000, live: Bool = false) {
        self.matcher = matcher
        self.model = model
        self.flow = flow
        self.generalWords = generalWords
        self.live = live
    }

    /// The match and the transcript (the text itself for text input).
    func understand(_ input: String) async throws -> (IntentMatch, String) {
        let ext = (input as NSString).pathExtension.lowercased()
        guard audioExtensions.contains(ext), FileManager.default.fileExists(atPath: input) else { return (matcher.match(input), input) }
        let recognizer = try await recognizer.get(model, flow: flow, generalWords: generalWords)
        let reader = try SndFileAudioDecoder().open(AudioOptions.input(for: input, encoding: nil, rate: nil, channels: 1))
        var resampler = Resampler(from: reader.info.sampleRate, to: recognizer.sampleRate)
        var detector = VoiceActivityDetector(sampleRate: recognizer.sampleRate)
        var events: [VoiceActivityEvent] = []
        while let block = try reader.readBlock(maxFrames: 65_536) { events += detector.process(resampler.process(Transcriber.mixDown(block))) }
        events += detector.process(resampler.flush()) + detector.flush()
        // One caller turn: every segment's samples together, decoded once with alternatives.
        let samples = events.flatMap { event -> [Float] in if case .segment(let segment) = event { segment.samples } else { [] } }
        guard !samples.isEmpty else { return (matcher.match(""), "") }
        let search: RecognitionSearch = flow == nil ? .standard : .named("domain")
        let recognition: Recognition
        if live {
            let adaptation = self.recognizer.adaptation ?? recognizer.initialAdaptation(narrowband: reader.info.sampleRate <= 8_000)
            try recognizer.beginUtterance(search: search, adaptation: adaptation)
            for start in stride(from: 0, to: samples.count, by: 320) { try recognizer.feed(Array(samples[start..<min(start + 320, samples.count)])) }
            (recognition, self.recognizer.adaptation) = try recognizer.endUtterance(alternatives: 5)
        } else {
            recognition = try recognizer.recognize(samples, search: search, alternatives: 5)
        }
        return (matcher.match(recognition), recognition.text)
    }

    /// Loads the recognizer on first use (text-only runs never load a model).
    final class RecognizerBox {
        private var recognizer: PocketSphinxRecognizer?
        /// The channel adaptation of live decoding, carried from one input to the next.
        var adaptation: ChannelAdaptation?
        func get(_ configuration: PocketSphinxConfiguration, flow: FlowDefinition?, generalWords: Int) async throws -> PocketSphinxRecognizer {
            if let recognizer { return recognizer }
            let made = try PocketSphinxRecognizer(configuration: configuration)
            if let flow { try made.prepare(for: flow, domainModel: await DomainModel.build(for: flow, recognizer: configuration, generalWords: generalWords)) }
            recognizer = made
            return made
        }
    }
}

// MARK: - hotline flow

struct FlowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "flow", abstract: "Work with flow files.", subcommands: [FlowCheck.self, FlowTest.self])
}

struct FlowCheck: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "Validate flow files; errors name the file, line and problem.")

    @Argument(help: "Flow files.")
    var files: [String]

    func run() throws {
        var failed = false
        for file in files {
            do {
                let flow = try FlowLoader.load(path: file)
                print("\(file): ok (\(flow.name): \(flow.intents.count) intents, \(flow.intents.reduce(0) { $0 + $1.examples.count }) examples)")
            } catch {
                printError("error: \(error)")
                failed = true
            }
        }
        if failed { throw ExitCode(1) }
    }
}
