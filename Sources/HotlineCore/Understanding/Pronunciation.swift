// MARK: - Pronunciations for unknown words

/// Converts espeak-ng's ASCII phoneme notation (as `espeak-ng -x` prints it for English) to the CMU phone set
/// the acoustic model uses, so words missing from the dictionary can still be recognised.
public enum ESpeakToCMU {
    /// Longest symbols first: each espeak symbol and the CMU phones it becomes.
    static let table: [(String, [String])] = [
        ("aI@", ["AY", "ER"]), ("aU@", ["AW", "ER"]),
        ("tS", ["CH"]), ("dZ", ["JH"]), ("aI", ["AY"]), ("aU", ["AW"]), ("eI", ["EY"]), ("oU", ["OW"]), ("OI", ["OY"]),
        ("e@", ["EH", "R"]), ("i@", ["IY", "R"]), ("I@", ["IH", "R"]), ("U@", ["UH", "R"]), ("O@", ["AO", "R"]), ("A@", ["AA", "R"]),
        ("o@", ["AO", "R"]), ("3:", ["ER"]), ("A:", ["AA"]), ("O:", ["AO"]), ("i:", ["IY"]), ("u:", ["UW"]), ("aa", ["AE"]),
        ("@L", ["AH", "L"]), ("@2", ["AH"]), ("@5", ["AH"]), ("I2", ["IH"]), ("I#", ["IH"]), ("a#", ["AH"]), ("t#", ["T"]),
        ("d#", ["D"]), ("r-", ["R"]), ("n-", ["N"]), ("l-", ["L"]), ("m-", ["M"]),
        ("3", ["ER"]), ("a", ["AE"]), ("@", ["AH"]), ("E", ["EH"]), ("I", ["IH"]), ("i", ["IY"]), ("0", ["AA"]), ("O", ["AO"]),
        ("U", ["UH"]), ("u", ["UW"]), ("V", ["AH"]), ("e", ["EH"]), ("o", ["OW"]), ("A", ["AA"]),
        ("T", ["TH"]), ("D", ["DH"]), ("S", ["SH"]), ("Z", ["ZH"]), ("N", ["NG"]), ("j", ["Y"]), ("x", ["K"]),
        ("p", ["P"]), ("b", ["B"]), ("t", ["T"]), ("d", ["D"]), ("k", ["K"]), ("g", ["G"]), ("f", ["F"]), ("v", ["V"]),
        ("s", ["S"]), ("z", ["Z"]), ("h", ["HH"]), ("m", ["M"]), ("n", ["N"]), ("l", ["L"]), ("r", ["R"]), ("w", ["W"]),
    ]

    /// Marks that carry no phone: stress, length, syllable and word boundaries.
    static let ignored: Set<Character> = ["'", ",", "%", "=", "_", ":", "|", " ", "-", "#", "?", "!", ";"]

    /// The CMU phones, space-separated, or `nil` when a symbol has no CMU counterpart.
    public static func convert(_ espeak: String) -> String? {
        var phones: [String] = []
        var rest = Substring(espeak)
        while let first = rest.first {
            if let (symbol, mapped) = table.first(where: { rest.hasPrefix($0.0) }) {
                phones += mapped
                rest = rest.dropFirst(symbol.count)
            } else if ignored.contains(first) {
                rest = rest.dropFirst()
            } else {
                return nil
            }
        }
        return phones.isEmpty ? nil : phones.joined(separator: " ")
    }
}
