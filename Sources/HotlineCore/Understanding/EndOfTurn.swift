// MARK: - When has the caller finished?

/// How far a caller's words, heard so far, go towards what the bot asked for.
public enum TurnCompleteness: String, Sendable, Equatable {
    /// A whole request or a whole answer: the caller has probably finished.
    case complete
    /// Trailing off mid-phrase ("I want to…", "from my…"): more is coming.
    case unfinished
    /// Neither: wait the usual time.
    case unknown
}

/// The silences that end a caller's turn, by how complete their words are (seconds). A flow sets them for all its
/// states and per state (`hangover:`); a yes/no question can close sooner than "how can I help you?".
public struct TurnHangovers: Sendable, Equatable {
    /// After a complete request or answer. Default 0.2.
    public var complete = 0.2
    /// After words that are neither. Default 0.3.
    public var otherwise = 0.3
    /// After an unfinished phrase. Default 0.8.
    public var unfinished = 0.8

    /// The defaults.
    public init() {}

    /// Hangovers with these values.
    public init(complete: Double, otherwise: Double, unfinished: Double) {
        self.complete = complete
        self.otherwise = otherwise
        self.unfinished = unfinished
    }

    /// The hangover for words this complete.
    public func seconds(for completeness: TurnCompleteness) -> Double {
        switch completeness {
        case .complete: complete
        case .unfinished: unfinished
        case .unknown: otherwise
        }
    }
}

/// Judges whether the words heard so far complete the caller's turn, for the state the dialog is in.
enum EndOfTurn {
    /// Words after which an English phrase cannot end: articles, prepositions, conjunctions, "I want", fillers.
    /// (Only words that cannot end a request: "please", "me", "is" ("…where the branch is") or "need" ("that's all I
    /// need") can.)
    static let unfinishedEndings: Set<String> = [
        "a", "an", "the", "my", "your", "our", "their", "his", "her", "its", "these", "those", "some",
        "to", "of", "for", "from", "with", "about", "into", "by", "and", "or", "but", "because", "if",
        "i", "i'm", "i'd", "i'll", "i've", "we", "we'd", "wanna", "um", "uh", "er", "erm",
    ]

    /// Words that answer a yes/no question by themselves.
    static let yesNo: Set<String> = [
        "yes", "yeah", "yep", "yup", "no", "nope", "nah", "correct", "right", "sure", "okay", "ok", "please", "absolutely", "definitely",
    ]

    /// How complete `heard` is in a state that asks for `asked` (a slot), a yes or no (`yesNo`), or a request (`open`).
    static func judge(_ heard: String, asked: SlotDefinition?, yesNo expectsYesNo: Bool, matcher: IntentMatcher) -> TurnCompleteness {
        let words = heard.lowercased().split(separator: " ").map(String.init)
        guard let last = words.last else { return .unknown }
        if unfinishedEndings.contains(last) && !(expectsYesNo && yesNo.contains(last) && words.count == 1) { return .unfinished }
        if expectsYesNo, words.contains(where: yesNo.contains) { return .complete }
        if let asked {
            // A number read digit by digit pauses between groups: short of a whole number, more is coming.
            if asked.kind == .builtin("digits") {
                let digits = SlotExtractor().extract(from: heard).compactMap { $0.name == "digits" ? $0.value : nil }.joined()
                return digits.count >= 8 ? .complete : .unfinished
            }
            if asked.value(in: heard, extracted: SlotExtractor().extract(from: heard), asked: true) != nil { return .complete }
        }
        let match = matcher.match(heard)
        if let intent = match.intent, intent != "out_of_scope", !match.needsConfirmation, !match.declined { return .complete }
        return .unknown
    }
}
