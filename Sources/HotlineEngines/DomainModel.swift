public import HotlineCore
import Foundation
import PocketSphinx

// MARK: - Domain language model

/// Builds (or reuses from the cache) a flow's domain language model: trigrams from the intent examples and
/// their synonym variants, backed off to the general model's most frequent words, limited to words the
/// pronunciation dictionary knows.
public struct DomainModel: Sendable {
    /// The ARPA file.
    public var path: String
    /// Words of the examples the dictionary does not know and espeak-ng could not pronounce (left out).
    public var unknownWords: [String]
    /// Pronunciations made with espeak-ng for words the dictionary lacks (CMU phones); add them to the decoder.
    public var pronunciations: [String: String] = [:]
    /// Training sentences used.
    public var sentences: Int

    /// Makes a description of a built model.
    public init(path: String, unknownWords: [String], pronunciations: [String: String], sentences: Int) {
        self.path = path
        self.unknownWords = unknownWords
        self.pronunciations = pronunciations
        self.sentences = sentences
    }

    /// Bumped when the way models are built changes, so old cache entries are not reused.
    static let builderVersion = 3  // 2: answers to the flow's slots are training sentences; 3: digit strings

    /// Builds the model for a flow, caching it in `cacheDirectory` (by default `cache/` beside the flow's folder,
    /// that is `Models/cache/` for `Models/flows/bank.yaml`).
    public static func build(
        for flow: FlowDefinition, recognizer configuration: PocketSphinxConfiguration = PocketSphinxConfiguration(),
        generalWords: Int = 3_000, cacheDirectory: String? = nil
    ) async throws -> DomainModel {
        let flowText = (try? String(contentsOfFile: flow.source, encoding: .utf8)) ?? flow.intents.flatMap(\.examples).joined(separator: "\n")
        let key = fnv1a("\(builderVersion)|\(generalWords)|\(configuration.dictionary)|\(configuration.languageModel ?? "")|\(flowText)")
        let directory = cacheDirectory ?? URL(fileURLWithPath: flow.source).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("cache").path
        let path = "\(directory)/\(flow.name)-\(String(key, radix: 16)).lm"
        let dictionary = try Self.dictionaryWords(configuration.dictionary)
        // Words the dictionary lacks get a pronunciation from espeak-ng's phonemes, mapped to CMU phones.
        let training = flow.languageModelSentences()
        var pronunciations: [String: String] = [:]
        var unknown = Set<String>()
        let missing = Set(training.joined()).subtracting(dictionary)
        if !missing.isEmpty, let speaker = try? ESpeakSynthesizer.shared() {
            for word in missing.sorted() {
                if let phones = ESpeakToCMU.convert(try await speaker.phonemes(for: word)) { pronunciations[word] = phones } else { unknown.insert(word) }
            }
        } else {
            unknown = missing
        }
        var sentences: [[String]] = []
        for sentence in training {
            let known = sentence.filter { !unknown.contains($0) }
            if !known.isEmpty { sentences.append(known) }
        }
        if !FileManager.default.fileExists(atPath: path) {
            let extras = try configuration.languageModel.map { try LanguageModelFile.topWords(path: $0, count: generalWords) } ?? []
            let arpa = NGramBuilder().arpa(sentences: sentences, extraWords: extras.filter(dictionary.contains))
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try Data(arpa.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        }
        return DomainModel(path: path, unknownWords: unknown.sorted(), pronunciations: pronunciations, sentences: sentences.count)
    }

    /// Every word of an ARPA file's unigrams (sentence markers left out).
    static func unigrams(arpa path: String) throws -> Set<String> {
        var words = Set<String>()
        var inUnigrams = false
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
            if line.hasPrefix("\\") {
                if inUnigrams { break }
                inUnigrams = line.trimmingCharacters(in: .whitespaces) == "\\1-grams:"
                continue
            }
            guard inUnigrams else { continue }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.count >= 2, !fields[1].hasPrefix("<") { words.insert(String(fields[1])) }
        }
        return words
    }

    /// The words of a CMU-format dictionary (alternate pronunciations folded).
    static func dictionaryWords(_ path: String) throws -> Set<String> {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var words = Set<String>()
        words.reserveCapacity(140_000)
        for line in text.split(separator: "\n") {
            guard let first = line.split(separator: " ", maxSplits: 1).first else { continue }
            words.insert(String(first.split(separator: "(").first ?? first))
        }
        return words
    }

    /// A stable 64-bit FNV-1a hash (Swift's `Hasher` differs between runs).
    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}
