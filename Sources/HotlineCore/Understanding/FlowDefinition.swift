// MARK: - Flow definition

/// A flow file as loaded: what the bot understands (intents, synonyms). Dialog states come with the dialog engine.
public struct FlowDefinition: Sendable, Equatable {
    /// The flow's name.
    public var name: String
    /// What the flow is for.
    public var description: String
    /// Language tag, such as `en-us`.
    public var language: String
    /// Synonym groups: canonical word → phrases meaning the same.
    public var synonyms: [String: [String]]
    /// Intents in file order.
    public var intents: [IntentDefinition]
    /// The file it came from.
    public var source: String
    /// The dialog, when the flow has states.
    public var dialog: DialogDefinition?

    /// Makes a definition.
    public init(name: String, description: String, language: String, synonyms: [String: [String]], intents: [IntentDefinition], source: String,
                dialog: DialogDefinition? = nil) {
        self.name = name
        self.description = description
        self.language = language
        self.synonyms = synonyms
        self.intents = intents
        self.source = source
        self.dialog = dialog
    }

    /// A matcher for this flow's intents.
    public func makeMatcher(configuration: IntentMatcher.Configuration = IntentMatcher.Configuration()) -> IntentMatcher {
        IntentMatcher(intents: intents, synonyms: synonyms, configuration: configuration)
    }
}

/// A flow file that cannot be used: names the file, line and column, and the problem.
public struct FlowError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file.
    public var file: String
    /// Line, from 1 (0 when unknown).
    public var line: Int
    /// Column, from 1 (0 when unknown).
    public var column: Int
    /// What is wrong.
    public var problem: String

    /// Makes an error.
    public init(file: String, line: Int, column: Int, problem: String) {
        self.file = file
        self.line = line
        self.column = column
        self.problem = problem
    }

    /// "file:line:column: problem".
    public var description: String { line > 0 ? "\(file):\(line):\(column): \(problem)" : "\(file): \(problem)" }
}
