import Foundation

// MARK: - Word error rate

/// Word-level alignment counts between a reference and a hypothesis.
public struct WordErrorCounts: Sendable, Equatable, Codable {
    /// Reference words.
    public var referenceWords = 0
    /// Words that matched.
    public var correct = 0
    /// Reference words replaced by another word.
    public var substitutions = 0
    /// Reference words missing from the hypothesis.
    public var deletions = 0
    /// Hypothesis words with no reference word.
    public var insertions = 0

    /// Zero counts.
    public init() {}

    /// Counts with the given values.
    public init(referenceWords: Int, correct: Int, substitutions: Int, deletions: Int, insertions: Int) {
        self.referenceWords = referenceWords
        self.correct = correct
        self.substitutions = substitutions
        self.deletions = deletions
        self.insertions = insertions
    }

    /// Errors (S + D + I).
    public var errors: Int { substitutions + deletions + insertions }

    /// (S + D + I) / N; 0 for an empty reference with an empty hypothesis, 1 per inserted word otherwise.
    public var rate: Double {
        referenceWords > 0 ? Double(errors) / Double(referenceWords) : Double(insertions)
    }

    /// Adds two sets of counts.
    public static func + (lhs: Self, rhs: Self) -> Self {
        Self(
            referenceWords: lhs.referenceWords + rhs.referenceWords, correct: lhs.correct + rhs.correct,
            substitutions: lhs.substitutions + rhs.substitutions, deletions: lhs.deletions + rhs.deletions,
            insertions: lhs.insertions + rhs.insertions
        )
    }
}

/// Levenshtein alignment of word sequences, as speech-recognition scoring does it.
public enum WordErrorRate {
    /// Normalises text for scoring: lower case, sentence markers and fillers removed, alternate-pronunciation
    /// marks (`read(2)`) dropped, punctuation other than apostrophes removed.
    public static func normalizedWords(_ text: String) -> [String] {
        text.lowercased()
            .split(whereSeparator: { $0.isWhitespace })
            .compactMap { raw -> String? in
                var word = String(raw)
                if word == "<s>" || word == "</s>" || word == "<sil>" { return nil }
                if word.hasPrefix("["), word.hasSuffix("]") { return nil }  // [noise], [breath]
                if word.hasPrefix("++"), word.hasSuffix("++") { return nil }
                if let paren = word.firstIndex(of: "("), word.hasSuffix(")") { word = String(word[..<paren]) }
                word = String(word.filter { $0.isLetter || $0.isNumber || $0 == "'" })
                return word.isEmpty ? nil : word
            }
    }

    /// Aligns reference and hypothesis texts and counts the errors.
    public static func counts(reference: String, hypothesis: String) -> WordErrorCounts {
        counts(reference: normalizedWords(reference), hypothesis: normalizedWords(hypothesis))
    }

    /// Aligns word sequences and counts the errors (minimum edit distance; ties prefer substitutions).
    public static func counts(reference: [String], hypothesis: [String]) -> WordErrorCounts {
        let n = reference.count, m = hypothesis.count
        // cost[i][j]: edits to turn reference[..<i] into hypothesis[..<j]; op remembers the last step.
        var cost = [[Int]](repeating: [Int](repeating: 0, count: m + 1), count: n + 1)
        var op = [[UInt8]](repeating: [UInt8](repeating: 0, count: m + 1), count: n + 1)  // 0 ok, 1 sub, 2 del, 3 ins
        for i in 1...max(n, 1) where i <= n { cost[i][0] = i; op[i][0] = 2 }
        for j in 1...max(m, 1) where j <= m { cost[0][j] = j; op[0][j] = 3 }
        if n > 0, m > 0 {
            for i in 1...n {
                for j in 1...m {
                    let same = reference[i - 1] == hypothesis[j - 1]
                    var best = cost[i - 1][j - 1] + (same ? 0 : 1)
                    var step: UInt8 = same ? 0 : 1
                    if cost[i - 1][j] + 1 < best { best = cost[i - 1][j] + 1; step = 2 }
                    if cost[i][j - 1] + 1 < best { best = cost[i][j - 1] + 1; step = 3 }
                    cost[i][j] = best
                    op[i][j] = step
                }
            }
        }
        var result = WordErrorCounts()
        result.referenceWords = n
        var i = n, j = m
        while i > 0 || j > 0 {
            switch op[i][j] {
            case 0: result.correct += 1; i -= 1; j -= 1
            case 1: result.substitutions += 1; i -= 1; j -= 1
            case 2: result.deletions += 1; i -= 1
            default: result.insertions += 1; j -= 1
            }
        }
        return result
    }
}

// MARK: - References

/// Reads reference (or hypothesis) transcripts keyed by utterance id.
public enum ReferenceTranscripts {
    /// An error naming the line that could not be read.
    public struct ParseError: Error, CustomStringConvertible, Sendable, Equatable {
        /// Source name and line.
        public var description: String
    }

    /// Parses either format, line by line: Sphinx `<s> text </s> (id)` (also `text (id score)` as the
    /// recognizers' `.hyp`/`.match` files write it) or TSV `id<TAB>text`. Blank lines and `#` comments are skipped.
    public static func parse(_ contents: String, source: String = "reference") throws(ParseError) -> [(id: String, text: String)] {
        var entries: [(id: String, text: String)] = []
        for (number, rawLine) in contents.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if let tab = line.firstIndex(of: "\t") {
                let id = line[..<tab].trimmingCharacters(in: .whitespaces)
                let text = line[line.index(after: tab)...].trimmingCharacters(in: .whitespaces)
                guard !id.isEmpty else { throw ParseError(description: "\(source):\(number + 1): empty id before the tab") }
                entries.append((id, text))
                continue
            }
            guard line.hasSuffix(")"), let open = line.lastIndex(of: "(") else {
                throw ParseError(description: "\(source):\(number + 1): expected '<s> text </s> (id)' or 'id<TAB>text'")
            }
            let inside = line[line.index(after: open)..<line.index(before: line.endIndex)]
            guard let id = inside.split(separator: " ").first.map(String.init), !id.isEmpty else {
                throw ParseError(description: "\(source):\(number + 1): empty utterance id in parentheses")
            }
            entries.append((id, line[..<open].trimmingCharacters(in: .whitespaces)))
        }
        return entries
    }

    /// The id a file contributes to scoring: its name without directories and extension.
    public static func id(forPath path: String) -> String {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return name }
        return String(name[..<dot])
    }
}
