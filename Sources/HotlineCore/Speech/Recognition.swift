// MARK: - Recognition

/// One recognised word.
public struct RecognizedWord: Sendable, Equatable, Codable {
    /// The word, lower-case, without the dictionary's alternate-pronunciation marks.
    public var word: String
    /// Start time, seconds (relative to whatever the caller of the recognizer chose as zero).
    public var start: Double
    /// End time, seconds.
    public var end: Double
    /// Posterior probability, 0…1.
    public var confidence: Double

    /// Makes a word.
    public init(word: String, start: Double, end: Double, confidence: Double) {
        self.word = word
        self.start = start
        self.end = end
        self.confidence = confidence
    }
}

/// An alternative reading of an utterance (n-best list entry).
public struct RecognitionAlternative: Sendable, Equatable, Codable {
    /// The words.
    public var text: String
    /// The decoder's path score relative to the best (0 for the best, negative for worse), log domain.
    public var score: Double

    /// Makes an alternative.
    public init(text: String, score: Double) {
        self.text = text
        self.score = score
    }
}

/// The result of decoding one utterance.
public struct Recognition: Sendable, Equatable {
    /// The best hypothesis, words separated by single spaces (empty when nothing was recognised).
    public var text: String
    /// Words with times relative to the start of the samples given.
    public var words: [RecognizedWord]
    /// Confidence in the hypothesis, 0…1 (the mean posterior of its words).
    public var confidence: Double
    /// Other readings, best first (empty unless asked for).
    public var alternatives: [RecognitionAlternative]

    /// Makes a result.
    public init(text: String, words: [RecognizedWord], confidence: Double, alternatives: [RecognitionAlternative] = []) {
        self.text = text
        self.words = words
        self.confidence = confidence
        self.alternatives = alternatives
    }
}

/// Which search the recognizer should use for an utterance.
public enum RecognitionSearch: Sendable, Equatable, Hashable {
    /// The search the recognizer was configured with (the general language model unless overridden).
    case standard
    /// A named search added to the recognizer (a domain language model, a grammar, a keyword list).
    case named(String)
}

/// A speech recognizer for whole utterances.
///
/// Implementations hold a decoder that is not thread-safe: one instance serves one stream at a time, so
/// the protocol is class-bound and not `Sendable`. Make one per worker (or borrow from a pool).
public protocol SpeechRecognizing: AnyObject {
    /// Samples per second the recognizer expects.
    var sampleRate: Int { get }
    /// Decodes one complete utterance of float samples (−1…1) at ``sampleRate``.
    func recognize(_ samples: [Float], search: RecognitionSearch, alternatives: Int) throws -> Recognition
}

extension SpeechRecognizing {
    /// Decodes with the standard search and no alternatives.
    public func recognize(_ samples: [Float]) throws -> Recognition {
        try recognize(samples, search: .standard, alternatives: 0)
    }
}

// MARK: - Streaming recognition

/// What a recognizer learns about a caller's channel while listening (the cepstral mean), carried by a call
/// from one borrowed recognizer to the next so a pooled decoder starts each utterance adapted to that line.
public struct ChannelAdaptation: Sendable, Equatable {
    /// The live cepstral mean.
    public var cepstralMean: [Float]

    /// Makes an adaptation state.
    public init(cepstralMean: [Float]) { self.cepstralMean = cepstralMean }
}

/// A recognizer that can also decode an utterance as it is spoken, for partial results and low latency.
public protocol StreamingSpeechRecognizing: SpeechRecognizing {
    /// The adaptation to start a channel not heard before with: the model's own for wideband audio, an estimate
    /// for telephone audio when `narrowband` (a phone line's spectrum is far from the model's training data).
    func initialAdaptation(narrowband: Bool) -> ChannelAdaptation
    /// Starts an utterance with a search, adapted to a channel (or to the model's default when `nil`).
    func beginUtterance(search: RecognitionSearch, adaptation: ChannelAdaptation?) throws
    /// Feeds the next samples (−1…1) at ``SpeechRecognizing/sampleRate``.
    func feed(_ samples: [Float]) throws
    /// The best hypothesis so far (empty when nothing yet).
    func partialText() -> String
    /// Ends the utterance: the final result and the channel adaptation to carry to the next one.
    func endUtterance(alternatives: Int) throws -> (Recognition, ChannelAdaptation)
}
