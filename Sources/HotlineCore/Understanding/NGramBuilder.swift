import Foundation

// MARK: - Domain language model

/// Builds a trigram language model (ARPA text) from example sentences, with absolute discounting and
/// back-off weights, plus extra words from a general model that share a small part of the unigram mass so
/// callers who step outside the examples are still heard as words rather than forced into the domain.
public struct NGramBuilder: Sendable {
    /// Discount taken from every seen n-gram. Default 0.5.
    public var discount = 0.5
    /// Share of unigram probability given to the extra (general) words. Default 0.1.
    public var extraShare = 0.1

    /// Makes a builder.
    public init() {}

    /// The ARPA text for `sentences` (each a list of words) and `extraWords`.
    public func arpa(sentences: [[String]], extraWords: [String] = []) -> String {
        var unigrams: [String: Double] = [:]
        var bigrams: [[String]: Double] = [:]
        var trigrams: [[String]: Double] = [:]
        for sentence in sentences where !sentence.isEmpty {
            let words = ["<s>"] + sentence + ["</s>"]
            for word in words.dropFirst() { unigrams[word, default: 0] += 1 }
            for i in 1..<words.count { bigrams[[words[i - 1], words[i]], default: 0] += 1 }
            for i in 2..<words.count { trigrams[[words[i - 2], words[i - 1], words[i]], default: 0] += 1 }
        }
        let extras = Array(Set(extraWords).subtracting(unigrams.keys).subtracting(["<s>", "</s>"])).sorted()

        // Unigrams: the domain's relative frequencies, scaled to leave `extraShare` for the extras.
        let total = unigrams.values.reduce(0, +)
        let domainShare = extras.isEmpty ? 1 : 1 - extraShare
        var p1: [String: Double] = [:]
        for (word, count) in unigrams { p1[word] = domainShare * count / total }
        for word in extras { p1[word] = extraShare / Double(extras.count) }

        // Bigrams and trigrams with absolute discounting; back-off weights make each history sum to one.
        func discounted<Key: Hashable>(_ counts: [Key: Double], history: (Key) -> [String]) -> (prob: [Key: Double], historyTotals: [[String]: (count: Double, types: Double)]) {
            var totals: [[String]: (count: Double, types: Double)] = [:]
            for (key, count) in counts {
                let h = history(key)
                totals[h, default: (0, 0)].count += count
                totals[h, default: (0, 0)].types += 1
            }
            var prob: [Key: Double] = [:]
            for (key, count) in counts { prob[key] = (count - discount) / totals[history(key)]!.count }
            return (prob, totals)
        }
        let (p2, bigramHistories) = discounted(bigrams) { Array($0.prefix(1)) }
        let (p3, trigramHistories) = discounted(trigrams) { Array($0.prefix(2)) }

        func lowerBigram(_ h: String, _ w: String) -> Double {
            if let p = p2[[h, w]] { return p }
            return backoff1[h, default: 1] * (p1[w] ?? 0)
        }
        var backoff1: [String: Double] = [:]
        for (history, totals) in bigramHistories {
            let h = history[0]
            let freed = discount * totals.types / totals.count
            let seenLower = bigrams.keys.filter { $0[0] == h }.reduce(0.0) { $0 + (p1[$1[1]] ?? 0) }
            backoff1[h] = freed / max(1e-9, 1 - seenLower)
        }
        var backoff2: [[String]: Double] = [:]
        for (history, totals) in trigramHistories {
            let freed = discount * totals.types / totals.count
            let seenLower = trigrams.keys.filter { Array($0.prefix(2)) == history }.reduce(0.0) { $0 + lowerBigram(history[1], $1[2]) }
            backoff2[history] = freed / max(1e-9, 1 - seenLower)
        }

        func log10p(_ p: Double) -> String { String(format: "%.4f", p > 0 ? Foundation.log10(p) : -99) }
        var lines = ["\\data\\", "ngram 1=\(p1.count + 1)", "ngram 2=\(p2.count)", "ngram 3=\(p3.count)", "", "\\1-grams:"]
        lines.append("-99.0000 <s> \(log10p(backoff1["<s>"] ?? 1))")
        for word in p1.keys.sorted() {
            let bow = backoff1[word].map { " \(log10p($0))" } ?? (word == "</s>" ? "" : " 0.0000")
            lines.append("\(log10p(p1[word]!)) \(word)\(bow)")
        }
        lines += ["", "\\2-grams:"]
        for key in p2.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            let bow = backoff2[key].map { " \(log10p($0))" } ?? ""
            lines.append("\(log10p(p2[key]!)) \(key.joined(separator: " "))\(bow)")
        }
        lines += ["", "\\3-grams:"]
        for key in p3.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            lines.append("\(log10p(p3[key]!)) \(key.joined(separator: " "))")
        }
        lines += ["", "\\end\\", ""]
        return lines.joined(separator: "\n")
    }
}

extension FlowDefinition {
    /// Training sentences for the flow's domain language model: every example, and each example again with
    /// each synonym of a word or phrase it contains (so "i lost my card" also teaches "i lost my debit card").
    public func languageModelSentences(maximumVariantsPerExample: Int = 12) -> [[String]] {
        var sentences: [[String]] = []
        var seen = Set<[String]>()
        func add(_ words: [String]) { if !words.isEmpty, seen.insert(words).inserted { sentences.append(words) } }
        let groups = synonyms.map { canonical, variants in ([canonical] + variants).map { TextNormalizer.words($0) } }
        for intent in intents {
            for example in intent.examples {
                let words = TextNormalizer.spokenWords(example)
                add(words)
                var variants = 0
                for group in groups {
                    // Short phrases only: swapping a word for a long paraphrase makes sentences nobody says.
                    for phrase in group where !phrase.isEmpty && phrase.count <= 2 {
                        guard let range = words.firstRange(of: phrase) else { continue }
                        for other in group where other != phrase && other.count <= 2 && variants < maximumVariantsPerExample {
                            add(Array(words[..<range.lowerBound]) + other + Array(words[range.upperBound...]))
                            variants += 1
                        }
                    }
                }
            }
        }
        // What callers answer when a state asks for a slot ("savings", "fifty dollars").
        for slot in (dialog?.slots.values.sorted { $0.name < $1.name }) ?? [] {
            for answer in slot.answerSentences { add(TextNormalizer.spokenWords(answer)) }
        }
        // Callers read card and account numbers out whatever they were asked: the model knows digit strings, so a
        // number is heard as digits (and masked) rather than as words that sound alike ("mine want to free for").
        for sentence in Self.digitSentences { add(sentence) }
        return sentences
    }

    /// Digit strings with the lead-ins callers use: every pair of digits follows every other once (a de Bruijn
    /// sequence), in runs of 16 as on a card.
    static let digitSentences: [[String]] = {
        let names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
        // De Bruijn sequence B(10, 2): 100 digits holding each ordered pair once, and the first digit again to close it.
        var sequence: [Int] = []
        var a = [Int](repeating: 0, count: 20)
        func generate(_ t: Int, _ p: Int) {
            if t > 2 {
                if 2 % p == 0 { sequence.append(contentsOf: a[1...p]) }
            } else {
                a[t] = a[t - p]
                generate(t + 1, p)
                for digit in (a[t - p] + 1)..<10 {
                    a[t] = digit
                    generate(t + 1, t)
                }
            }
        }
        generate(1, 1)
        sequence.append(sequence[0])
        let leads = [["my", "card", "number", "is"], ["my", "account", "number", "is"], ["it", "is"], ["the", "number", "is"], []]
        return stride(from: 0, to: sequence.count - 1, by: 15).enumerated().map { index, start in
            leads[index % leads.count] + sequence[start..<min(start + 16, sequence.count)].map { names[$0] }
        }
    }()
}

extension TextNormalizer {
    /// Words as a pronunciation dictionary spells them: lower case, apostrophes kept ("what's", "i'd").
    public static func spokenWords(_ text: String) -> [String] {
        var cleaned = ""
        for character in text.lowercased() {
            if character.isLetter || character.isNumber || character == "'" { cleaned.append(character) } else if character == "’" {
                cleaned.append("'")
            } else {
                cleaned.append(" ")
            }
        }
        return cleaned.split(separator: " ").map(String.init)
    }
}
