import Foundation

// MARK: - Intents

/// An intent defined by examples of what callers say.
public struct IntentDefinition: Sendable, Equatable {
    /// The intent's name, such as `lost_card`.
    public var name: String
    /// Example utterances, written the way callers speak.
    public var examples: [String]

    /// Makes an intent.
    public init(name: String, examples: [String]) {
        self.name = name
        self.examples = examples
    }
}

/// One intent's score for an utterance.
public struct IntentScore: Sendable, Equatable, Codable {
    /// The intent.
    public var intent: String
    /// Similarity 0…1.
    public var score: Double
}

/// What the matcher made of an utterance.
public struct IntentMatch: Sendable, Equatable, Codable {
    /// The intent, or `nil` for "none of these".
    public var intent: String?
    /// Confidence in `intent` (or, when `nil`, in the best candidate), 0…1.
    public var confidence: Double
    /// All candidates, best first.
    public var alternatives: [IntentScore]
    /// The text the decision rests on (the best hypothesis).
    public var text: String
    /// Whether `intent` is only the best guess: the bot should ask ("you'd like to check your balance, is that
    /// right?") before acting on it. Set when the match is weak or unclear, or the recognizer doubted the words.
    public var needsConfirmation: Bool = false
    /// Whether words the flow does not know decided it: a weak match turned into `out_of_scope` (or none).
    public var declined: Bool = false
}

/// Matches utterances to intents by similarity to their examples, so callers need not say the magic words.
///
/// Text is normalised (contractions, stems, synonyms); each example and each intent as a whole becomes a
/// TF-IDF vector of words and word pairs, weighted so words that tell intents apart count most. An utterance
/// scores against an intent by its best example and by the intent's centroid (which generalises over all the
/// examples). Recognizer n-best lists are scored together (each hypothesis weighted by rank) and words the
/// recognizer was unsure of count less. Three outcomes, as a careful human agent would have them: a clear match is
/// acted on; a plausible but uncertain one (score at least `confirmScore`, confidence under `acceptConfidence`, or
/// words the recognizer doubted) is the intent to confirm first; below `confirmScore` the answer is "none of these".
public struct IntentMatcher: Sendable {
    /// Tuning.
    public struct Configuration: Sendable, Equatable {
        /// Scores below this are not acted on without confirmation. Default 0.3.
        public var minimumScore = 0.3
        /// Scores below this are "none of these"; from here to an accepted match the intent is confirmed first.
        /// Default 0.2.
        public var confirmScore = 0.2
        /// Confidence at or above which a match (scoring at least `minimumScore`) is acted on without asking.
        /// Measured on the bank flow: spoken paraphrases acted on wrongly fell from 14 to 9 of 72, typed ones stayed
        /// at 0 with 13 of 72 confirmed first. Default 0.7.
        public var acceptConfidence = 0.7
        /// Weight of the best single example against the intent's centroid. Default 0.6.
        public var exampleWeight = 0.6
        /// Softmax temperature for the confidence. Default 0.08.
        public var temperature = 0.08
        /// Recognitions whose words the recognizer itself doubts this much (mean word posterior below it) are never
        /// acted on without confirmation: forced into the domain's words, talk about something else sounds like a
        /// request. Default 0.1.
        public var minimumRecognitionConfidence = 0.1
        /// A doubtful match (one the bot would confirm) whose content words are at least this share unknown to the flow
        /// ("can you get me a taxi") is about something the flow does not serve: it is `out_of_scope` when the flow
        /// has that intent, else none of these, never a guess to confirm. A clear "yes", "no", "repeat" or
        /// "goodbye" needs half its content words unknown for that ("what day is thanksgiving this year" is not "have a
        /// good day"); other clear matches stand. Default 0.34.
        public var unknownShare = 0.34
        /// A doubted recognition whose words match an example this closely ("what's my balance") is acted on all the
        /// same: the recognizer's word posteriors are low on short utterances even when every word is right. Default 0.8.
        public var closeMatchScore = 0.8

        /// Default settings.
        public init() {}
    }

    typealias Vector = [String: Double]

    private let normalizer: TextNormalizer
    /// The matcher's tuning.
    public let configuration: Configuration
    private let names: [String]
    private let exampleVectors: [[Vector]]
    private let centroids: [Vector]
    private let idf: [String: Double]

    /// Words that carry no intent by themselves; they still form word pairs ("not working").
    static let stopWords: Set<String> = [
        "a", "an", "the", "i", "me", "my", "mine", "you", "your", "we", "our", "it", "is", "am", "are", "was", "be", "been",
        "to", "of", "for", "on", "in", "at", "and", "or", "so", "do", "did", "doe", "have", "has", "had", "can", "could",
        "would", "will", "shall", "should", "please", "just", "like", "um", "uh", "hi", "hello", "hey",
        "this", "that", "there", "some", "with", "about", "get", "got", "need", "want", "wanted", "would", "know", "let", "us",
        "if", "what", "how", "also", "then", "really", "well", "oh",
    ]

    /// Words that say when, how much or how politely rather than what about: not evidence that a request is about
    /// something the flow does not know ("what have I been charged for lately").
    static let vagueWords: Set<String> = [
        "lately", "recently", "recent", "today", "tonight", "yesterday", "tomorrow", "now", "ever", "still", "already", "actually", "maybe",
        "thank", "thanks", "okay", "sorry", "morning", "afternoon", "evening", "somebody", "something", "anything", "everything", "thing",
        "stuff", "way", "lot", "little", "bit", "kind", "sort", "very", "much", "many", "more", "most", "again", "soon", "last", "next",
    ]

    /// The intents' names, in definition order.
    public var intentNames: [String] { names }

    /// Builds the matcher's vectors from intents and synonym groups.
    public init(intents: [IntentDefinition], synonyms: [String: [String]] = [:], configuration: Configuration = Configuration()) {
        let normalizer = TextNormalizer(synonyms: synonyms)
        self.normalizer = normalizer
        self.configuration = configuration
        names = intents.map(\.name)
        let rawExamples = intents.map { $0.examples.map { IntentMatcher.features(normalizer.tokens($0)) } }
        // Document frequency over intents: a feature every intent uses tells nothing.
        var documentFrequency: [String: Int] = [:]
        for examples in rawExamples {
            for feature in Set(examples.flatMap(\.keys)) { documentFrequency[feature, default: 0] += 1 }
        }
        let count = Double(max(1, intents.count))
        var idf: [String: Double] = [:]
        for (feature, frequency) in documentFrequency { idf[feature] = log(1 + count / Double(frequency)) }
        self.idf = idf
        exampleVectors = rawExamples.map { $0.map { IntentMatcher.normalized(IntentMatcher.weighted($0, idf)) } }
        centroids = rawExamples.map { examples in
            var sum: Vector = [:]
            for example in examples { for (feature, value) in IntentMatcher.normalized(example) { sum[feature, default: 0] += value } }
            return IntentMatcher.normalized(IntentMatcher.weighted(sum, idf))
        }
    }

    // MARK: - Matching

    /// Matches one text.
    public func match(_ text: String) -> IntentMatch {
        match(hypotheses: [(text, 1)])
    }

    /// Matches a recognition result: its n-best list (weighted by path score and rank) and its words' confidences.
    public func match(_ recognition: Recognition) -> IntentMatch {
        var hypotheses: [(String, Double)] = []
        var seen = Set<String>()
        // The best hypothesis, with each word weighted by the recognizer's confidence.
        let best = recognition.words.isEmpty ? recognition.text : recognition.words.map(\.word).joined(separator: " ")
        hypotheses.append((best, 1))
        seen.insert(best)
        for (rank, alternative) in recognition.alternatives.enumerated() where seen.insert(alternative.text).inserted {
            // Close runners-up count almost as much as the best (their path scores differ by little); distant ones
            // fade, but never below their rank's share.
            hypotheses.append((alternative.text, max(1 / Double(rank + 2), exp(min(0, alternative.score) / 1_000))))
        }
        let confidences = recognition.words.map { ($0.word, $0.confidence) }
        var result = match(hypotheses: hypotheses, wordConfidence: confidences)
        if !recognition.words.isEmpty, recognition.confidence < configuration.minimumRecognitionConfidence {
            let plain = match(hypotheses: [(best, 1)]).alternatives.first
            let close = plain?.intent == result.intent && (plain?.score ?? 0) >= configuration.closeMatchScore
            result.needsConfirmation = result.needsConfirmation || (result.intent != nil && !close)
            result.confidence = min(result.confidence, recognition.confidence)
        }
        return result
    }

    /// Matches weighted hypotheses of one utterance.
    public func match(hypotheses: [(text: String, weight: Double)], wordConfidence: [(String, Double)] = []) -> IntentMatch {
        var totals = [Double](repeating: 0, count: names.count)
        var weightSum = 0.0
        let confidenceByWord = Dictionary(wordConfidence.map { (TextNormalizer.stem($0.0), $0.1) }) { max($0, $1) }
        for (index, hypothesis) in hypotheses.enumerated() where hypothesis.weight > 0 {
            var features = IntentMatcher.features(normalizer.tokens(hypothesis.text))
            if index == 0, !confidenceByWord.isEmpty {
                // Unsure words count less (floor 0.3: a wrong guess still hints at the sound).
                for (feature, value) in features where !feature.contains(" ") {
                    features[feature] = value * max(0.3, confidenceByWord[feature] ?? 1)
                }
            }
            let vector = IntentMatcher.normalized(IntentMatcher.weighted(features, idf))
            guard !vector.isEmpty else { continue }
            for intent in names.indices {
                let bestExample = exampleVectors[intent].map { IntentMatcher.cosine(vector, $0) }.max() ?? 0
                let centroid = IntentMatcher.cosine(vector, centroids[intent])
                totals[intent] += hypothesis.weight * (configuration.exampleWeight * bestExample + (1 - configuration.exampleWeight) * centroid)
            }
            weightSum += hypothesis.weight
        }
        let scores = totals.map { weightSum > 0 ? $0 / weightSum : 0 }
        let ranked = zip(names, scores).map { IntentScore(intent: $0, score: $1) }.sorted { $0.score > $1.score }
        let text = hypotheses.first?.text ?? ""
        guard let top = ranked.first, top.score > 0 else {
            return IntentMatch(intent: nil, confidence: 0, alternatives: ranked, text: text)
        }
        // Confidence: how clearly the best beats the rest (softmax), times how well it fits at all.
        let exponentials = ranked.map { exp(($0.score - top.score) / configuration.temperature) }
        let share = 1 / exponentials.reduce(0, +)
        let fit = min(1, top.score / (configuration.minimumScore * 2))
        let confidence = (share * fit * 1000).rounded() / 1000
        var intent = top.score >= configuration.confirmScore ? top.intent : nil
        let accepted = top.score >= configuration.minimumScore && confidence >= configuration.acceptConfidence
        // A clear match stands, except a formula ("have a good day") heard in a sentence about something else. The
        // unknown words are counted only when they could decide.
        let formula = intent.map { Interpretation.answerIntents.contains($0) } ?? false
        if intent != nil, !accepted || formula, unknownShare(of: text, confidence: confidenceByWord) >= (accepted ? 0.5 : configuration.unknownShare) {
            // Words the flow has never seen carry the meaning: a request about something else, not a weak one of ours.
            intent = names.contains(IntentMatcher.outOfScope) ? IntentMatcher.outOfScope : nil
            return IntentMatch(intent: intent, confidence: confidence, alternatives: ranked, text: text, needsConfirmation: false, declined: true)
        }
        return IntentMatch(intent: intent, confidence: confidence, alternatives: ranked, text: text, needsConfirmation: intent != nil && !accepted)
    }

    /// The intent a flow names for requests it does not serve.
    public static let outOfScope = "out_of_scope"

    /// The share of the text's content words (not stop words, three letters or more) the flow's examples never use.
    /// With recognizer word confidences, each word counts by how sure the recognizer was of it: an unknown word it
    /// doubted is more likely a mishearing of the flow's words than a request about something else.
    public func unknownShare(of text: String, confidence: [String: Double] = [:]) -> Double {
        let content = normalizer.tokens(text).filter {
            !IntentMatcher.stopWords.contains($0) && !IntentMatcher.vagueWords.contains($0) && $0.count >= 3 && !SlotExtractor.isNumberWord($0)
        }
        let weights = content.map { confidence[$0] ?? 1 }
        let total = weights.reduce(0, +)
        guard total > 0 else { return 0 }
        return zip(content, weights).filter { idf[$0.0] == nil }.map(\.1).reduce(0, +) / total
    }

    // MARK: - Vectors

    /// Content words (weight 1) and adjacent word pairs (weight 0.5).
    static func features(_ tokens: [String]) -> Vector {
        var vector: Vector = [:]
        for token in tokens where !stopWords.contains(token) { vector[token, default: 0] += 1 }
        for (a, b) in zip(tokens, tokens.dropFirst()) { vector["\(a) \(b)", default: 0] += 0.5 }
        return vector
    }

    static func weighted(_ vector: Vector, _ idf: [String: Double]) -> Vector {
        var result: Vector = [:]
        for (feature, value) in vector {
            guard let weight = idf[feature] else { continue }  // unknown features cannot match anything
            result[feature] = value * weight
        }
        return result
    }

    static func normalized(_ vector: Vector) -> Vector {
        let norm = vector.values.reduce(0) { $0 + $1 * $1 }.squareRoot()
        guard norm > 0 else { return [:] }
        return vector.mapValues { $0 / norm }
    }

    static func cosine(_ a: Vector, _ b: Vector) -> Double {
        let (small, large) = a.count < b.count ? (a, b) : (b, a)
        var sum = 0.0
        for (feature, value) in small { if let other = large[feature] { sum += value * other } }
        return sum
    }
}
