public import HotlineCore
import PocketSphinx
import Foundation

// MARK: - PocketSphinx recognizer

/// Where the recognizer's model files are and which search it starts with.
public struct PocketSphinxConfiguration: Sendable, Equatable {
    /// Debian's `pocketsphinx-en-us` install location.
    public static let debianModelRoot = "/usr/share/pocketsphinx/model/en-us"

    /// Acoustic model directory (`-hmm`). Default Debian's en-us model.
    public var acousticModel = debianModelRoot + "/en-us"
    /// Pronunciation dictionary (`-dict`). Default Debian's CMU dictionary.
    public var dictionary = debianModelRoot + "/cmudict-en-us.dict"
    /// N-gram language model (`-lm`), used when no grammar or keyword list is given. Default Debian's en-us model.
    public var languageModel: String? = debianModelRoot + "/en-us.lm.bin"
    /// A JSGF grammar that replaces the language model as the standard search (`-jsgf`).
    public var grammar: String?
    /// A keyword list (`phrase /threshold/` per line) that replaces the language model (`-kws`).
    public var keywords: String?
    /// Feature parameters file (`-featparams`), for a front end tuned to a channel.
    public var featureParameters: String?
    /// Any other PocketSphinx options, as flag/value pairs (`["-beam", "1e-60"]`); they override the defaults.
    public var extraOptions: [String] = []

    /// Decoder settings Hotline changes from PocketSphinx's defaults.
    ///
    /// - `-remove_silence no`, `-remove_noise no`: Hotline finds utterances with its own voice activity detector,
    ///   so the decoder's silence removal only shifts word times, and its spectral noise subtraction keeps a noise
    ///   estimate from one utterance to the next: a pooled decoder would carry one call's noise into another and
    ///   results would depend on history. Off, times are exact and results reproducible; LibriVox WER unchanged
    ///   (28.2%), through an 8 kHz μ-law channel better (49.3% → 42.3%).
    /// - `-fwdflat no`: the second (flat-lexicon) pass costs about 100 ms after every live utterance (end of speech
    ///   to final: 138 → 34 ms) and measured here it hurts telephone audio: whole-utterance WER through an 8 kHz
    ///   μ-law channel 42.3% → 26.8% on the LibriVox sentences and 40.6% → 31.2% on the cards, goforward and
    ///   numbers recordings; on wideband audio 28.2% → 29.6% (one word) and 15.6% → 15.6%.
    public static let decoderDefaults: [(String, String)] = [("-remove_silence", "no"), ("-remove_noise", "no"), ("-fwdflat", "no")]

    /// Default settings: the general en-us language model.
    public init() {}

    /// The command-line options this configuration stands for.
    public var options: [(String, String)] {
        var options: [(String, String)] = [("-hmm", acousticModel), ("-dict", dictionary)]
        if let grammar {
            options.append(("-jsgf", grammar))
        } else if let keywords {
            options.append(("-kws", keywords))
        } else if let languageModel {
            options.append(("-lm", languageModel))
        }
        if let featureParameters { options.append(("-featparams", featureParameters)) }
        var extra: [(String, String)] = []
        var iterator = extraOptions.makeIterator()
        while let flag = iterator.next(), let value = iterator.next() { extra.append((flag, value)) }
        let overridden = Set(extra.map(\.0))
        return options + Self.decoderDefaults.filter { !overridden.contains($0.0) } + extra
    }
}

/// A recognizer over one PocketSphinx decoder. Loads the model when made; not thread-safe (one per worker).
public final class PocketSphinxRecognizer: StreamingSpeechRecognizing {
    private let decoder: Decoder
    private let standardSearch: String
    /// The model's initial cepstral mean (`cmninit`), for utterances of a channel not heard before.
    private let initialMean: [Float]
    /// The configuration it was made with.
    public let configuration: PocketSphinxConfiguration

    /// Loads the model. Throws an error naming the files when they cannot be loaded.
    public init(configuration: PocketSphinxConfiguration = PocketSphinxConfiguration()) throws {
        self.configuration = configuration
        for (flag, path) in configuration.options where ["-hmm", "-dict", "-lm", "-jsgf", "-kws", "-featparams"].contains(flag) {
            guard FileManager.default.fileExists(atPath: path) else {
                throw PocketSphinxError("\(flag) \(path): no such file (is pocketsphinx-en-us installed?)")
            }
        }
        decoder = try Decoder(options: configuration.options)
        standardSearch = decoder.activeSearch
        initialMean = decoder.cepstralMean
    }

    /// Samples per second the model expects.
    public var sampleRate: Int { decoder.sampleRate }

    /// Names of the searches the decoder holds.
    public var searchNames: [String] { decoder.searchNames }

    /// Adds a named language-model search from a file.
    public func addLanguageModel(named name: String, file: String) throws { try decoder.addLanguageModel(named: name, file: file) }
    /// Adds a named JSGF grammar search from a file.
    public func addGrammar(named name: String, file: String) throws { try decoder.addGrammar(named: name, file: file) }
    /// Adds a named JSGF grammar search from text.
    public func addGrammar(named name: String, jsgf: String) throws { try decoder.addGrammar(named: name, jsgf: jsgf) }
    /// The dictionary's pronunciation of a word, or `nil`.
    public func pronunciation(of word: String) -> String? { decoder.pronunciation(of: word) }
    /// Adds a word with CMU phones to the dictionary.
    public func addWord(_ word: String, phones: String) throws { try decoder.addWord(word, phones: phones) }
    /// Adds a named keyword-spotting search from a file.
    public func addKeywords(named name: String, file: String) throws { try decoder.addKeywords(named: name, file: file) }

    /// Decodes a whole utterance with batch cepstral mean normalisation (the front end normalises over the
    /// utterance itself, which is what makes telephone audio recognisable with a wideband model).
    public func recognize(_ samples: [Float], search: RecognitionSearch, alternatives: Int) throws -> Recognition {
        try select(search)
        try decoder.startUtterance()
        try decoder.process(PCM.int16(samples), fullUtterance: true)
        try decoder.endUtterance()
        return result(alternatives: alternatives)
    }

    // MARK: - Streaming

    /// The model's mean for wideband audio; for narrowband, ``telephoneMean`` (when its length fits the model).
    public func initialAdaptation(narrowband: Bool) -> ChannelAdaptation {
        let telephone = PocketSphinxRecognizer.telephoneMean
        return ChannelAdaptation(cepstralMean: narrowband && telephone.count == initialMean.count ? telephone : initialMean)
    }

    /// A cepstral mean for 8 kHz telephone speech upsampled to 16 kHz, with the en-us model's front end: the
    /// running mean after live decoding of pocketsphinx-testdata's goforward, numbers, something and cards
    /// recordings passed through an 8 kHz μ-law channel (not the LibriVox sentences the benchmarks score).
    /// The model's own `cmninit` (C1 −5.3) is far from phone audio (C1 ≈ +26), which garbles a call's first
    /// utterances until the running mean catches up.
    public static let telephoneMean: [Float] = [48.73, 26.16, -41.18, 39.04, -27.92, 1.32, 13.02, -29.53, 19.53, -15.49, 0.82, 9.50, -13.71]

    /// Starts a live utterance; the front end normalises with the channel's running mean.
    public func beginUtterance(search: RecognitionSearch, adaptation: ChannelAdaptation?) throws {
        try select(search)
        // Live decoding numbers frames from the start of the stream: restart it so word times are the utterance's.
        try decoder.startStream()
        decoder.cepstralMean = adaptation?.cepstralMean ?? initialMean
        try decoder.startUtterance()
    }

    /// Feeds live audio.
    public func feed(_ samples: [Float]) throws {
        try decoder.process(PCM.int16(samples))
    }

    /// The hypothesis so far.
    public func partialText() -> String {
        decoder.hypothesis().map { PocketSphinxRecognizer.cleanText($0.text) } ?? ""
    }

    /// Ends the live utterance.
    public func endUtterance(alternatives: Int) throws -> (Recognition, ChannelAdaptation) {
        try decoder.endUtterance()
        return (result(alternatives: alternatives), ChannelAdaptation(cepstralMean: decoder.cepstralMean))
    }

    private func select(_ search: RecognitionSearch) throws {
        let name: String = switch search {
        case .standard: standardSearch
        case .named(let name): name
        }
        if decoder.activeSearch != name { try decoder.setActiveSearch(name) }
    }

    private func result(alternatives: Int) -> Recognition {
        guard let hypothesis = decoder.hypothesis() else { return Recognition(text: "", words: [], confidence: 0) }
        let rate = Double(decoder.framesPerSecond)
        let words = decoder.segments().compactMap { segment -> RecognizedWord? in
            guard let word = PocketSphinxRecognizer.spokenWord(segment.word) else { return nil }
            return RecognizedWord(
                word: word, start: Double(segment.startFrame) / rate, end: Double(segment.endFrame + 1) / rate,
                confidence: segment.posterior
            )
        }
        let text = words.isEmpty ? PocketSphinxRecognizer.cleanText(hypothesis.text) : words.map(\.word).joined(separator: " ")
        var others: [RecognitionAlternative] = []
        if alternatives > 0 {
            let best = hypothesis.score
            others = decoder.nBest(alternatives).map {
                RecognitionAlternative(text: PocketSphinxRecognizer.cleanText($0.text), score: Double($0.score - best))
            }
        }
        // The hypothesis posterior shrinks with every word, so the utterance's confidence is its words' mean posterior.
        let confidence = words.isEmpty ? hypothesis.probability : words.reduce(0) { $0 + $1.confidence } / Double(words.count)
        return Recognition(text: text, words: words, confidence: confidence, alternatives: others)
    }

    /// The word as spoken, or `nil` for silence, sentence markers and fillers; `read(2)` becomes `read`.
    static func spokenWord(_ word: String) -> String? {
        if word.hasPrefix("<") || word.hasPrefix("[") || word.hasPrefix("++") { return nil }
        var spoken = Substring(word)
        if let paren = spoken.firstIndex(of: "("), spoken.hasSuffix(")") { spoken = spoken[..<paren] }
        // Grammar searches also yield "(NULL)" segments for null transitions.
        return spoken.isEmpty ? nil : String(spoken)
    }

    static func cleanText(_ text: String) -> String {
        text.split(separator: " ").compactMap { spokenWord(String($0)) }.joined(separator: " ")
    }
}

