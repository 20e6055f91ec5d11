// MARK: - Keyword baseline

/// What a keyword-spotting IVR does: an intent is chosen only when the caller says its literal keywords (the
/// words of its name: `lost_card` → "lost", "card"; yes for `affirm`, no for `deny`). Used to show what
/// example-based matching gains, never to answer callers.
public struct KeywordBaseline: Sendable {
    private let keywords: [(intent: String, words: Set<String>)]

    /// Keywords from the intents' names.
    public init(intents: [String]) {
        let special: [String: Set<String>] = ["affirm": ["yes"], "deny": ["no"], "speak_to_agent": ["agent"], "loan_inquiry": ["loan"]]
        keywords = intents.map { name in
            (name, special[name] ?? Set(name.split(separator: "_").map(String.init).filter { !["to", "of", "the"].contains($0) }))
        }
    }

    /// The intent whose keywords the text contains most (first defined wins a tie), or `nil`.
    public func match(_ text: String) -> String? {
        let words = Set(TextNormalizer.words(text))
        var best: (intent: String, hits: Int)?
        for (intent, keys) in keywords {
            let hits = keys.intersection(words).count
            if hits > 0, hits > (best?.hits ?? 0) { best = (intent, hits) }
        }
        return best?.intent
    }
}

// MARK: - Accuracy

/// Accuracy of intent decisions against labels, with a confusion table.
public struct IntentEvaluation: Sendable, Equatable, Codable {
    /// One labelled item.
    public struct Item: Sendable, Equatable, Codable {
        /// The label.
        public var expected: String
        /// What was decided (`none` for none of these).
        public var predicted: String
        /// The input (text or audio path).
        public var input: String
        /// The transcript, for audio.
        public var transcript: String?
        /// Whether the decision was only a best guess the bot would confirm before acting on it.
        public var needsConfirmation = false
    }

    /// Every item.
    public var items: [Item] = []

    /// Makes an empty evaluation.
    public init() {}

    /// Records a decision.
    public mutating func record(expected: String, predicted: String?, input: String, transcript: String? = nil, needsConfirmation: Bool = false) {
        items.append(Item(expected: expected, predicted: predicted ?? "none", input: input, transcript: transcript, needsConfirmation: needsConfirmation))
    }

    /// Share of items decided correctly (acted on at once, or after the caller confirmed the bot's guess).
    public var accuracy: Double { items.isEmpty ? 0 : Double(items.filter { $0.expected == $0.predicted }.count) / Double(items.count) }

    /// Share of items decided correctly and clearly enough to act on without asking.
    public var outrightAccuracy: Double {
        items.isEmpty ? 0 : Double(items.filter { $0.expected == $0.predicted && !$0.needsConfirmation }.count) / Double(items.count)
    }

    /// Share of items acted on without asking that were wrong (the costly mistake: the caller is sent the wrong way).
    /// Declining a request as out of scope is not counted here: the caller hears what the bot can do and says it again
    /// (`declinedRequests` counts those).
    public var wrongActions: Double {
        items.isEmpty ? 0 : Double(items.filter {
            $0.expected != $0.predicted && $0.predicted != "none" && $0.predicted != "out_of_scope" && !$0.needsConfirmation
        }.count) / Double(items.count)
    }

    /// Requests (items not labelled `out_of_scope`) answered as out of scope.
    public var declinedRequests: Int { items.filter { $0.expected != "out_of_scope" && $0.predicted == "out_of_scope" }.count }

    /// For items labelled `out_of_scope` (things the flow does not serve): how many were acted on as one of the flow's
    /// intents at once, how many the bot would have confirmed as one, and how many were answered as out of scope or
    /// not understood (the right outcomes).
    public var unrelated: (count: Int, acted: Int, confirmed: Int, declined: Int) {
        let unrelated = items.filter { $0.expected == "out_of_scope" }
        let taken = unrelated.filter { $0.predicted != "none" && $0.predicted != "out_of_scope" }
        let acted = taken.filter { !$0.needsConfirmation }.count
        return (unrelated.count, acted, taken.count - acted, unrelated.count - taken.count)
    }

    /// Items decided wrongly.
    public var misclassified: [Item] { items.filter { $0.expected != $0.predicted } }

    /// Counts by (expected, predicted).
    public var confusion: [String: [String: Int]] {
        var table: [String: [String: Int]] = [:]
        for item in items { table[item.expected, default: [:]][item.predicted, default: 0] += 1 }
        return table
    }
}
