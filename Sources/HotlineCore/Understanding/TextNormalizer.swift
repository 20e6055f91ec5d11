// MARK: - Text normalisation

/// Turns what a caller said (typed, or as the recognizer spelled it) into comparable tokens: lower case,
/// contractions expanded, punctuation dropped, plural and verb endings stemmed, synonyms mapped to one word.
public struct TextNormalizer: Sendable {
    /// Phrases mapped to a canonical word (multi-word phrases allowed), longest first when applied.
    private let phrases: [(words: [String], canonical: String)]

    /// Makes a normaliser with synonym groups: canonical word → phrases meaning the same.
    public init(synonyms: [String: [String]] = [:]) {
        var phrases: [(words: [String], canonical: String)] = []
        for (canonical, variants) in synonyms {
            let target = TextNormalizer.stem(canonical.lowercased())
            for variant in variants {
                let words = TextNormalizer.words(variant).map(TextNormalizer.stem)
                if !words.isEmpty { phrases.append((words, target)) }
            }
        }
        self.phrases = phrases.sorted { $0.words.count > $1.words.count }
    }

    /// Words, lower case, contractions expanded, punctuation removed (no stemming).
    public static func words(_ text: String) -> [String] {
        var cleaned = ""
        for character in text.lowercased() {
            if character.isLetter || character.isNumber { cleaned.append(character) } else if character == "'" || character == "’" {
                cleaned.append("'")
            } else {
                cleaned.append(" ")
            }
        }
        return cleaned.split(separator: " ").flatMap { expand(String($0)) }
    }

    private static let contractions: [String: [String]] = [
        "can't": ["can", "not"], "cannot": ["can", "not"], "won't": ["will", "not"], "don't": ["do", "not"],
        "doesn't": ["does", "not"], "didn't": ["did", "not"], "isn't": ["is", "not"], "aren't": ["are", "not"],
        "wasn't": ["was", "not"], "haven't": ["have", "not"], "hasn't": ["has", "not"], "couldn't": ["could", "not"],
        "wouldn't": ["would", "not"], "shouldn't": ["should", "not"], "i'm": ["i", "am"], "it's": ["it", "is"],
        "what's": ["what", "is"], "where's": ["where", "is"], "that's": ["that", "is"], "there's": ["there", "is"],
        "how's": ["how", "is"], "i've": ["i", "have"], "i'd": ["i", "would"], "i'll": ["i", "will"],
        "you're": ["you", "are"], "we're": ["we", "are"], "they're": ["they", "are"], "let's": ["let", "us"],
        "gonna": ["going", "to"], "wanna": ["want", "to"], "gotta": ["got", "to"],
    ]

    private static func expand(_ word: String) -> [String] {
        if let expanded = contractions[word] { return expanded }
        if word.hasSuffix("'s") { return [String(word.dropLast(2))] }
        return [word.replacingApostrophes()]
    }

    /// A light stemmer: strips common English inflections so "cards", "blocked" and "blocking" meet "card", "block".
    public static func stem(_ word: String) -> String {
        guard word.count > 3, word.allSatisfy(\.isLetter) else { return word }
        for (suffix, replacement) in [("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")] where word.hasSuffix(suffix) {
            if suffix == "s" && (word.hasSuffix("ss") || word.hasSuffix("us") || word.hasSuffix("is")) { continue }
            if suffix == "es" && !(word.hasSuffix("ches") || word.hasSuffix("shes") || word.hasSuffix("sses") || word.hasSuffix("xes")) { continue }
            var stem = String(word.dropLast(suffix.count)) + replacement
            guard stem.count >= 3 else { continue }
            // "stopped" → "stop", "blocking" → "block"; keep "ss" ("passed" → "pass").
            if suffix == "ing" || suffix == "ed", let last = stem.last, stem.dropLast().last == last, last != "s", last != "l" {
                stem.removeLast()
            }
            return stem
        }
        return word
    }

    /// Stemmed tokens with synonym phrases replaced by their canonical word.
    public func tokens(_ text: String) -> [String] {
        let tokens = TextNormalizer.words(text).map(TextNormalizer.stem)
        guard !phrases.isEmpty else { return tokens }
        var result: [String] = []
        var index = 0
        outer: while index < tokens.count {
            for phrase in phrases where index + phrase.words.count <= tokens.count {
                if Array(tokens[index..<index + phrase.words.count]) == phrase.words {
                    result.append(phrase.canonical)
                    index += phrase.words.count
                    continue outer
                }
            }
            result.append(tokens[index])
            index += 1
        }
        return result
    }
}

extension String {
    fileprivate func replacingApostrophes() -> String { String(filter { $0 != "'" }) }
}
