import Foundation
import Testing
@testable import HotlineCore

@Suite struct NGramBuilderTests {
    /// Parses ARPA text into log10 probabilities and back-off weights by n-gram.
    static func parse(_ arpa: String) -> (prob: [String: Double], backoff: [String: Double], counts: [Int]) {
        var prob: [String: Double] = [:], backoff: [String: Double] = [:], counts: [Int] = []
        var order = 0
        for line in arpa.split(separator: "\n") {
            if line.hasPrefix("ngram ") { counts.append(Int(line.split(separator: "=")[1])!) }
            if line.hasPrefix("\\"), line.hasSuffix("-grams:") { order = Int(String(line.dropFirst().prefix(1)))! ; continue }
            guard order > 0, !line.hasPrefix("\\") else { continue }
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count >= order + 1 else { continue }
            let key = fields[1...order].joined(separator: " ")
            prob[key] = Double(fields[0])!
            if fields.count == order + 2 { backoff[key] = Double(fields[order + 1])! }
        }
        return (prob, backoff, counts)
    }

    @Test func probabilitiesOfEveryHistorySumToOne() {
        let sentences = [["i", "lost", "my", "card"], ["i", "lost", "my", "wallet"], ["my", "card", "was", "declined"], ["check", "my", "balance"]]
        let arpa = NGramBuilder().arpa(sentences: sentences, extraWords: ["hello", "weather", "card"])
        let (prob, backoff, counts) = Self.parse(arpa)
        #expect(counts.count == 3)
        let vocabulary = prob.keys.filter { !$0.contains(" ") && $0 != "<s>" }
        #expect(Set(vocabulary).isSuperset(of: ["hello", "weather", "lost", "</s>"]))
        func p(_ history: [String], _ word: String) -> Double {
            let key = (history + [word]).joined(separator: " ")
            if let value = prob[key] { return pow(10, value) }
            guard !history.isEmpty else { return 0 }
            let bow = backoff[history.joined(separator: " ")].map { pow(10, $0) } ?? 1
            return bow * p(Array(history.dropFirst()), word)
        }
        for history in [[], ["my"], ["<s>"], ["i", "lost"], ["my", "card"], ["weather"]] as [[String]] {
            let total = vocabulary.reduce(0.0) { $0 + p(history, $1) }
            #expect(abs(total - 1) < 0.01, "history \(history) sums to \(total)")
        }
        // Seen continuations beat unseen ones.
        #expect(p(["i", "lost"], "my") > p(["i", "lost"], "weather"))
    }

    @Test func flowSentencesIncludeSynonymVariants() {
        let flow = FlowDefinition(
            name: "t", description: "", language: "en-us", synonyms: ["card": ["debit card", "bank card"]],
            intents: [IntentDefinition(name: "lost_card", examples: ["I lost my card!"])], source: "t.yaml"
        )
        let sentences = flow.languageModelSentences().map { $0.joined(separator: " ") }
        let digits = Set(FlowDefinition.digitSentences.map { $0.joined(separator: " ") })
        #expect(Set(sentences).subtracting(digits) == ["i lost my card", "i lost my debit card", "i lost my bank card"])
        #expect(digits.isSubset(of: Set(sentences)), "every flow's model knows digit strings")
    }

    /// The digit sentences hold every ordered pair of digits, so the model has seen each digit follow each other one.
    @Test func digitSentencesCoverEveryPairOfDigits() {
        let names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
        var pairs = Set<[String]>()
        for sentence in FlowDefinition.digitSentences {
            let digits = sentence.filter(names.contains)
            for index in digits.indices.dropLast() { pairs.insert([digits[index], digits[index + 1]]) }
        }
        #expect(pairs.count == 100)
    }
}
