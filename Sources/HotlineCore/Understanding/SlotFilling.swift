// MARK: - Filling several slots from one sentence

/// Fills every slot a sentence carries at once, the way a person hears it: "move a hundred from savings to checking"
/// gives the amount, the source and the destination; "checking, no wait, savings" means savings; "savings, not
/// checking" means savings; "make it two hundred" changes the amount.
public enum SlotFilling {
    /// Phrases with which a caller takes back what they just said: a value after the last one wins.
    static let corrections: [[String]] = [
        ["no", "wait"], ["wait"], ["i", "mean"], ["sorry"], ["actually"], ["make", "that"], ["make", "it"], ["change", "that", "to"],
        ["change", "it", "to"], ["rather"], ["instead"], ["scratch", "that"], ["no"], ["oops"],
    ]
    /// Words that may stand between a marker and the value it marks ("to my savings account").
    static let fillers: Set<String> = ["my", "the", "your", "our", "a", "an", "me"]

    /// Where the words after the caller's last correction begin, if they corrected themselves and said something after.
    public static func correctionStart(_ words: [String]) -> Int? {
        var found: Int?
        for start in words.indices {
            for phrase in corrections where start + phrase.count < words.count && Array(words[start..<start + phrase.count]) == phrase {
                found = max(found ?? 0, start + phrase.count)
            }
        }
        return found
    }

    private struct Mention {
        var start: Int
        var end: Int
        var value: String
        /// The slot a marker before it names, if any.
        var marked: String?
    }

    /// The values `slots` take from `text`. `asked` is the slot the bot just asked for (a bare answer fills it);
    /// `preference` orders the slots an unmarked value may go to when several could take it (the one asked first,
    /// then the most recently filled, then the rest).
    /// `current` holds the values the call already has: an unmarked value goes first to a slot it would change (in
    /// "make that savings", savings is news for the slot that holds checking, not for the one that holds savings).
    public static func fill(_ slots: [SlotDefinition], in text: String, extracted: [SlotValue], asked: String? = nil,
                            preference: [String] = [], current: [String: String] = [:]) -> [String: SlotValue] {
        let words = TextNormalizer.words(text)
        let stems = words.map(TextNormalizer.stem)
        let correction = correctionStart(words)
        var result: [String: SlotValue] = [:]
        // Built-in kinds: the value after a correction wins; a correction also lets a bare number answer ("make it sixty").
        for slot in slots {
            guard case .builtin = slot.kind else { continue }
            if let correction {
                let tail = words[correction...].joined(separator: " ")
                if let value = slot.value(in: tail, extracted: SlotExtractor().extract(from: tail), asked: true) {
                    result[slot.name] = value
                    continue
                }
            }
            // A bare number in a request that carries an amount and no other number is the amount ("move a hundred to savings").
            let onlyNumber = slot.kind == .builtin("money") && !slots.contains { $0.kind == .builtin("number") }
            if let value = slot.value(in: text, extracted: extracted, asked: slot.name == asked || onlyNumber) { result[slot.name] = value }
        }
        // Choice slots: every mention of a value, given to the slot its marker names, else to the preferred slot.
        let choices = slots.filter { if case .choice = $0.kind { true } else { false } }
        guard !choices.isEmpty else { return result }
        var mentions: [Mention] = []
        for slot in choices {
            guard case .choice(let values) = slot.kind else { continue }
            for (value, phrases) in values {
                for phrase in [value] + phrases {
                    let wanted = TextNormalizer.words(phrase).map(TextNormalizer.stem)
                    guard !wanted.isEmpty, wanted.count <= stems.count else { continue }
                    for start in 0...(stems.count - wanted.count) where Array(stems[start..<start + wanted.count]) == wanted {
                        mentions.append(Mention(start: start, end: start + wanted.count, value: value))
                    }
                }
            }
        }
        // One mention per place: the longest phrase ("savings account" over "savings").
        mentions.sort { $0.start != $1.start ? $0.start < $1.start : $0.end > $1.end }
        var kept: [Mention] = []
        for mention in mentions where !kept.contains(where: { $0.start <= mention.start && mention.start < $0.end }) { kept.append(mention) }
        var candidates: [String: [Mention]] = [:]
        for var mention in kept {
            // The words before it, past fillers: a marker names the slot; "not" takes the value back.
            var before = mention.start - 1
            while before >= 0, fillers.contains(words[before]) { before -= 1 }
            if before >= 0, words[before] == "not" { continue }
            let eligible = choices.filter { slot in
                if case .choice(let values) = slot.kind { return values[mention.value] != nil }
                return false
            }
            for slot in eligible where mention.marked == nil {
                for marker in slot.markers {
                    let markerWords = TextNormalizer.words(marker)
                    let from = before - markerWords.count + 1
                    if from >= 0, Array(words[from...before]) == markerWords { mention.marked = slot.name }
                }
            }
            func order(_ name: String) -> (Int, Int) {
                let news = current[name].map { $0 == mention.value ? 1 : 0 } ?? 0
                return (news, rank(name, asked: asked, preference: preference))
            }
            let owner = mention.marked ?? eligible.map(\.name).sorted { order($0) < order($1) }.first
            if let owner { candidates[owner, default: []].append(mention) }
        }
        for (name, found) in candidates {
            let marked = found.filter { $0.marked != nil }
            let pool = marked.isEmpty ? found : marked
            let chosen: Mention?
            if let correction, let last = found.last(where: { $0.start >= correction }) {
                chosen = last
            } else if Set(pool.map(\.value)).count == 1 {
                chosen = pool.first
            } else {
                chosen = nil  // two values and nothing to choose between them: ask rather than guess
            }
            if let chosen { result[name] = SlotValue(name: name, value: chosen.value, sensitive: false) }
        }
        return result
    }

    private static func rank(_ name: String, asked: String?, preference: [String]) -> Int {
        if name == asked { return -1 }
        return preference.firstIndex(of: name) ?? preference.count
    }
}
