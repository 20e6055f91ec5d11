// MARK: - Slots

/// A value found in what the caller said.
public struct SlotValue: Sendable, Equatable, Codable {
    /// The kind: `digits`, `number`, `money`, `date`, `time` or `yes_no`.
    public var name: String
    /// The normalised value: "4567", "120", "120.50", "monday", "tomorrow", "march 3", "15:30", "yes".
    public var value: String
    /// Whether the value is sensitive (a card or account number: 8 digits or more).
    public var sensitive: Bool

    /// The value as logs and screens may show it: sensitive digits masked but for the last four.
    public var masked: String {
        guard sensitive else { return value }
        return String(repeating: "*", count: max(0, value.count - 4)) + value.suffix(4)
    }
}

/// Finds spoken numbers, digit strings, money amounts, dates, times and yes/no in an utterance.
public struct SlotExtractor: Sendable {
    /// Makes an extractor.
    public init() {}

    static let units: [String: Int] = [
        "zero": 0, "oh": 0, "o": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
        "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
        "eighteen": 18, "nineteen": 19,
    ]
    static let tens: [String: Int] = ["twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90]
    static let ordinals: [String: Int] = [
        "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10,
        "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17,
        "eighteenth": 18, "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
    ]
    static let months = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"]
    static let weekdays = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    static let yes: Set<String> = ["yes", "yeah", "yep", "yup", "sure", "correct", "right", "absolutely", "definitely", "okay", "ok"]
    static let no: Set<String> = ["no", "nope", "nah", "negative", "incorrect", "wrong"]

    /// Whether a word is a number word ("seven", "forty", "hundred", "third").
    public static func isNumberWord(_ word: String) -> Bool {
        units[word] != nil || tens[word] != nil || ordinals[word] != nil || ["hundred", "thousand", "million"].contains(word) || word.allSatisfy(\.isNumber)
    }

    /// Every slot value in the text, in order of appearance.
    public func extract(from text: String) -> [SlotValue] {
        let words = TextNormalizer.words(text)
        var slots: [SlotValue] = []
        var index = 0
        while index < words.count {
            let word = words[index]
            // Dates: relative days, weekdays, "march third", "the fifteenth".
            if ["today", "tomorrow", "yesterday"].contains(word) || SlotExtractor.weekdays.contains(word) {
                slots.append(SlotValue(name: "date", value: word, sensitive: false))
                index += 1
                continue
            }
            if SlotExtractor.months.contains(word) {
                var value = word
                var next = index + 1
                if next < words.count, words[next] == "the" { next += 1 }
                if next < words.count, let (day, used) = SlotExtractor.ordinal(words, from: next) {
                    value += " \(day)"
                    next += used
                }
                slots.append(SlotValue(name: "date", value: value, sensitive: false))
                index = next
                continue
            }
            if word == "the", index + 1 < words.count, let (day, used) = SlotExtractor.ordinal(words, from: index + 1) {
                slots.append(SlotValue(name: "date", value: "day \(day)", sensitive: false))
                index += 1 + used
                continue
            }
            // Numbers: a run of number words.
            if let run = SlotExtractor.numberRun(words, from: index) {
                index = run.end
                let after = index < words.count ? words[index] : ""
                if ["dollar", "dollars", "buck", "bucks"].contains(after) {
                    var amount = run.value.map(String.init) ?? run.digits
                    index += 1
                    // "and fifty cents" / "fifty cents"
                    var next = index
                    if next < words.count, words[next] == "and" { next += 1 }
                    if let cents = SlotExtractor.numberRun(words, from: next), cents.end < words.count, ["cent", "cents"].contains(words[cents.end]),
                        let value = cents.value, value < 100
                    {
                        amount += "." + (value < 10 ? "0\(value)" : "\(value)")
                        index = cents.end + 1
                    }
                    slots.append(SlotValue(name: "money", value: amount, sensitive: false))
                } else if ["am", "pm", "oclock", "o'clock"].contains(after), let value = run.value {
                    let hour = after == "pm" && value < 12 ? value + 12 : value
                    slots.append(SlotValue(name: "time", value: "\(hour):00", sensitive: false))
                    index += 1
                } else if run.isDigitString {
                    slots.append(SlotValue(name: "digits", value: run.digits, sensitive: run.digits.count >= 8))
                } else if let value = run.value {
                    slots.append(SlotValue(name: "number", value: String(value), sensitive: false))
                }
                continue
            }
            if SlotExtractor.yes.contains(word) || SlotExtractor.no.contains(word) {
                if !slots.contains(where: { $0.name == "yes_no" }) {
                    slots.append(SlotValue(name: "yes_no", value: SlotExtractor.yes.contains(word) ? "yes" : "no", sensitive: false))
                }
            }
            index += 1
        }
        return slots
    }

    /// Replaces sensitive digit strings (spoken or written) in text with a mask, for logs and stored transcripts.
    public func redact(_ text: String) -> String {
        let words = TextNormalizer.words(text)
        var output: [String] = []
        var index = 0
        for span in SlotExtractor.sensitiveSpans(words) {
            output.append(contentsOf: words[index..<span.range.lowerBound])
            if let digits = span.cleanDigits {
                output.append(String(repeating: "*", count: digits.count - 4) + digits.suffix(4))
            } else {
                // A number the recognizer half-heard: all of it masked, but for a clean last four digits.
                output.append("****" + words[span.keptFrom..<span.range.upperBound].compactMap { SlotExtractor.units[$0].map(String.init) }.joined())
            }
            index = span.range.upperBound
        }
        output.append(contentsOf: words[index...])
        return output.joined(separator: " ")
    }

    // MARK: - Number words

    struct NumberRun {
        var end: Int
        var digits: String  // each word's digits concatenated ("four five six" → "456")
        var value: Int?  // the words read as one number ("one hundred twenty" → 120)
        var isDigitString: Bool  // read digit by digit (at least three single digits, or written digits)
    }

    static func ordinal(_ words: [String], from start: Int) -> (Int, Int)? {
        guard start < words.count else { return nil }
        if let value = ordinals[words[start]] { return (value, 1) }
        if let ten = tens[words[start]], start + 1 < words.count, let unit = ordinals[words[start + 1]], unit < 10 { return (ten + unit, 2) }
        if let value = Int(words[start].filter(\.isNumber)), words[start].hasSuffix("st") || words[start].hasSuffix("nd")
            || words[start].hasSuffix("rd") || words[start].hasSuffix("th")
        {
            return (value, 1)
        }
        return nil
    }

    static func numberRun(_ words: [String], from start: Int) -> NumberRun? {
        var index = start
        var digits = ""
        var singles = 0
        var total = 0
        var current = 0
        var sawNumber = false
        var written = false
        while index < words.count {
            let word = words[index]
            if let number = Int(word), word.allSatisfy(\.isNumber) {
                digits += word
                current += number
                written = true
            } else if word == "double" || word == "triple", index + 1 < words.count, let unit = units[words[index + 1]], unit < 10 {
                digits += String(repeating: String(unit), count: word == "double" ? 2 : 3)
                singles += word == "double" ? 2 : 3
                index += 2
                sawNumber = true
                continue
            } else if let unit = units[word], !(word == "o" && !sawNumber) {
                digits += String(unit)
                if unit < 10 { singles += 1 }
                current += unit
            } else if let ten = tens[word] {
                digits += String(ten)
                current += ten
            } else if word == "a", !sawNumber, index + 1 < words.count, words[index + 1] == "hundred" || words[index + 1] == "thousand" {
                // "a hundred dollars", "a thousand"
                digits += "1"
                current = 1
            } else if word == "hundred", sawNumber {
                current = max(1, current) * 100
            } else if word == "thousand", sawNumber {
                total += max(1, current) * 1000
                current = 0
            } else if word == "and", sawNumber, index + 1 < words.count, units[words[index + 1]] != nil || tens[words[index + 1]] != nil {
                // "one hundred and twenty"
            } else {
                break
            }
            sawNumber = true
            index += 1
        }
        guard sawNumber, index > start else { return nil }
        let isDigits = written ? digits.count >= 3 : singles >= 3 && singles * 2 >= (index - start)
        return NumberRun(end: index, digits: digits, value: isDigits && digits.count > 9 ? nil : total + current, isDigitString: isDigits)
    }
}

// MARK: - Redaction of recognised words

extension SlotExtractor {
    /// Recognised words with card and account numbers masked the way `redact(_:)` masks text: each word of a digit
    /// string of 8 or more digits becomes "*" except those giving the last four digits. Times and confidences stay.
    public func redact(words: [RecognizedWord]) -> [RecognizedWord] {
        // Normalise word by word, remembering which recognised word each normalised one came from.
        var normalized: [String] = []
        var owner: [Int] = []
        for (index, word) in words.enumerated() {
            for piece in TextNormalizer.words(word.word) {
                normalized.append(piece)
                owner.append(index)
            }
        }
        var masked = Set<Int>()
        for span in SlotExtractor.sensitiveSpans(normalized) {
            for position in span.range.lowerBound..<span.keptFrom { masked.insert(owner[position]) }
        }
        return words.enumerated().map { index, word in
            guard masked.contains(index) else { return word }
            var copy = word
            copy.word = "*"
            return copy
        }
    }

    /// Whether `text` holds a digit string long enough to be a card or account number.
    public func containsSensitiveNumber(_ text: String) -> Bool {
        !SlotExtractor.sensitiveSpans(TextNormalizer.words(text)).isEmpty
    }

    /// A stretch of words that is a card or account number: `range` is masked but for the words from `keptFrom` on
    /// (the last four digits, when they were heard cleanly). `cleanDigits`: the digits, when every word of it is a
    /// digit word or a written number.
    struct SensitiveSpan {
        var range: Range<Int>
        var keptFrom: Int
        var cleanDigits: String?
    }

    /// Every card or account number in `words`: clean digit strings of 8 digits or more, numbers heard with noise
    /// (``noisyNumberRun(_:from:)``), each stretched over digits that follow it after a word or two of noise ("… seven
    /// seven four two dear a seven three nine eight"): those are the rest of the same number, and the four before them
    /// were not its last.
    static func sensitiveSpans(_ words: [String]) -> [SensitiveSpan] {
        var spans: [SensitiveSpan] = []
        var index = 0
        while index < words.count {
            var span: SensitiveSpan
            if let run = numberRun(words, from: index), run.isDigitString, run.digits.count >= 8 {
                var keepFrom = run.end
                var kept = 0
                while keepFrom > index {
                    let digits = numberRun([words[keepFrom - 1]], from: 0)?.digits.count ?? 0
                    if kept + digits > 4 { break }
                    kept += digits
                    keepFrom -= 1
                }
                span = SensitiveSpan(range: index..<run.end, keptFrom: keepFrom, cleanDigits: run.digits)
            } else if let noisy = noisyNumberRun(words, from: index) {
                span = SensitiveSpan(range: noisy.span, keptFrom: noisy.keptFrom, cleanDigits: nil)
            } else {
                if let run = numberRun(words, from: index) { index = max(run.end, index + 1) } else { index += 1 }
                continue
            }
            // More digits after a word or two of noise: the same number goes on.
            while true {
                var next = span.range.upperBound
                var gap = 0
                while next < words.count, digitWeight(words[next]) == nil, gap < 2 {
                    next += 1
                    gap += 1
                }
                var end = next
                while end < words.count, digitWeight(words[end]) != nil { end += 1 }
                guard end - next >= 2 else { break }
                span = SensitiveSpan(range: span.range.lowerBound..<end, keptFrom: end, cleanDigits: nil)
            }
            spans.append(span)
            index = span.range.upperBound
        }
        return spans
    }

    // MARK: Numbers heard with recognition noise

    /// Words a recognizer writes for a digit it half-heard ("want" or "won" for one, "to" for two, "free" for three,
    /// "for" for four, "fix" for six, "ate" for eight, "mine" for nine, "owe" for oh). Alone they are ordinary words;
    /// in a long run of digits they are digits.
    static let soundsLikeDigit: Set<String> = [
        "won", "want", "wan", "to", "too", "free", "tree", "for", "fore", "fife", "fix", "sex", "sicks", "ate", "hate", "mine", "nein", "owe",
    ]

    /// How many digits a word stands for in a spoken number, and whether it surely is one (a digit word, a written
    /// number, a teen or a tens word: "forty five" in "four five three nine" said in pairs); `nil` for other words.
    static func digitWeight(_ word: String) -> (digits: Int, sure: Bool)? {
        if !word.isEmpty, word.allSatisfy(\.isNumber) { return (word.count, true) }
        if word == "oh" || word == "o" { return (1, false) }
        if let unit = units[word] { return (unit < 10 ? 1 : 2, true) }
        if tens[word] != nil { return (2, true) }
        if word == "double" || word == "triple" { return (0, true) }
        if soundsLikeDigit.contains(word) { return (1, false) }
        return nil
    }

    /// A card or account number the recognizer did not hear cleanly ("five three mine want to free for seven eight
    /// …"): from `start`, a run of words standing for digits, with at most one other word at a time between them, that
    /// adds up to 8 digits or more, of which at least 4 surely are, and in which at least 3 words in 4 stand for
    /// digits. `keptFrom`: where the last four digits begin when they were heard cleanly as four digit words (they may
    /// stay, as on a receipt); else the run's end.
    static func noisyNumberRun(_ words: [String], from start: Int) -> (span: Range<Int>, keptFrom: Int)? {
        guard start < words.count, digitWeight(words[start]) != nil else { return nil }
        var end = start
        var index = start
        var digits = 0
        var sure = 0
        var digitWords = 0
        while index < words.count {
            if let weight = digitWeight(words[index]) {
                digits += weight.digits
                if weight.sure { sure += weight.digits }
                digitWords += 1
                end = index + 1
            } else if index + 1 >= words.count || digitWeight(words[index + 1]) == nil || index == start {
                break
            }
            index += 1
        }
        guard digits >= 8, sure >= 4, digitWords * 4 >= (end - start) * 3 else { return nil }
        var keptFrom = end
        if end - start > 4, words[(end - 4)..<end].allSatisfy({ units[$0].map { $0 < 10 } == true }) { keptFrom = end - 4 }
        return (start..<end, keptFrom)
    }
}

extension SlotExtractor {
    /// `text` as written (case and punctuation kept) with card and account numbers masked: each masked stretch
    /// becomes "****"; the words giving the last four digits stay. For prompts and messages; recognised text, which
    /// is already plain words, goes through `redact(_:)`.
    public func redactKeepingForm(_ text: String) -> String {
        guard containsSensitiveNumber(text) else { return text }
        let tokens = text.split(separator: " ").map(String.init)
        let masked = redact(words: tokens.map { RecognizedWord(word: $0, start: 0, end: 0, confidence: 1) })
        var output: [String] = []
        for (token, word) in zip(tokens, masked) {
            if word.word == "*" {
                if output.last != "****" { output.append("****") }
            } else {
                output.append(token)
            }
        }
        return output.joined(separator: " ")
    }
}
