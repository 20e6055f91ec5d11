// MARK: - Named slots

/// A piece of information a flow collects from the caller, such as the amount of a transfer or the account it goes
/// to. Intents name the slots they carry ("transfer fifty dollars to savings" fills two at once); `ask` states ask for
/// one that is still missing; `{name}` in prompts says it back.
public struct SlotDefinition: Sendable, Equatable {
    /// What kind of value fills the slot.
    public enum Kind: Sendable, Equatable {
        /// A value the extractor finds: `money`, `number`, `digits`, `date`, `time` or `yes_no`.
        case builtin(String)
        /// One of a closed set: canonical value → phrases callers use for it ("savings": ["savings", "saving account"]).
        case choice([String: [String]])
    }

    /// The kinds the extractor finds.
    public static let builtinKinds: Set<String> = ["money", "number", "digits", "date", "time", "yes_no"]

    /// The slot's name, as prompts (`{amount}`) and webhooks see it.
    public var name: String
    /// The kind of value.
    public var kind: Kind
    /// Words that mark a value as this slot's when a sentence names several ("from savings to checking": `from`
    /// marks the source account, `to` the destination). Empty: any mention may fill it.
    public var markers: [String] = []

    /// Makes a slot definition.
    public init(name: String, kind: Kind, markers: [String] = []) {
        self.name = name
        self.kind = kind
        self.markers = markers
    }

    /// The slot's value in what the caller said, or `nil`. `asked` is true when the bot has just asked for this slot:
    /// a bare number then answers a question about money ("how much?" — "fifty").
    public func value(in text: String, extracted: [SlotValue], asked: Bool) -> SlotValue? {
        switch kind {
        case .builtin(let kind):
            if let found = extracted.first(where: { $0.name == kind }) { return SlotValue(name: name, value: found.value, sensitive: found.sensitive) }
            if asked, kind == "money", let number = extracted.first(where: { $0.name == "number" }) {
                return SlotValue(name: name, value: number.value, sensitive: false)
            }
            if asked, kind == "number", let digits = extracted.first(where: { $0.name == "digits" && !$0.sensitive }) {
                return SlotValue(name: name, value: digits.value, sensitive: false)
            }
            return nil
        case .choice(let values):
            // One value named: that one. Two ("from savings to checking"): ambiguous, so the bot asks rather than guesses.
            let words = TextNormalizer.words(text).map(TextNormalizer.stem)
            var found = Set<String>()
            for (value, phrases) in values {
                for phrase in [value] + phrases {
                    let wanted = TextNormalizer.words(phrase).map(TextNormalizer.stem)
                    if !wanted.isEmpty, words.firstRange(of: wanted) != nil { found.insert(value) }
                }
            }
            guard found.count == 1, let value = found.first else { return nil }
            return SlotValue(name: name, value: value, sensitive: false)
        }
    }

    /// Sentences a caller might answer with, for the domain language model (so "savings" or "fifty dollars" can be
    /// recognised in the state that asks for it).
    public var answerSentences: [String] {
        switch kind {
        case .choice(let values):
            return values.flatMap { value, phrases in ([value] + phrases).flatMap { [$0, "my \($0)", "to my \($0)", "to \($0)"] } }
        case .builtin("money"):
            return ["fifty dollars", "one hundred dollars", "two hundred and fifty dollars", "twenty five dollars and fifty cents",
                    "a thousand dollars", "ten bucks", "five hundred", "seventy five dollars"]
        case .builtin("date"):
            return ["today", "tomorrow", "on friday", "next monday", "march the third", "on the fifteenth"]
        case .builtin("time"):
            return ["at nine am", "three pm", "ten o'clock"]
        case .builtin("digits"):
            return ["four five six seven", "one two three four five six seven eight", "zero nine eight seven"]
        case .builtin:
            return ["one", "two", "three", "twenty", "one hundred"]
        }
    }
}
