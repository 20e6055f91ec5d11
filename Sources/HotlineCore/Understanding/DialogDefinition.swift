// MARK: - Dialog flows

/// Which recognition search a dialog state listens with.
public enum StateSearch: Sendable, Equatable {
    /// The flow's domain language model (the default).
    case domain
    /// The general language model.
    case general
    /// A JSGF grammar file.
    case grammar(path: String)
    /// A keyword list file.
    case keywords(path: String)
    /// The built-in grammar of spoken digits ("four five three nine …", "double oh"), for states that ask for a card or
    /// account number: the recognizer can only hear digits there, so a number is not half-heard as other words.
    case digits

    /// The name the recognizer knows this search by.
    public var searchName: String {
        switch self {
        case .domain: "domain"
        case .general: "general"
        case .grammar(let path): "grammar:" + path
        case .keywords(let path): "keywords:" + path
        case .digits: "digits"
        }
    }

    /// The JSGF grammar of ``digits``: digit words, with "double"/"triple" and an optional lead-in.
    public static let digitsGrammar = """
        #JSGF V1.0;
        grammar digits;
        public <number> = [<lead>] <digit>+;
        <lead> = my card number is | my account number is | the number is | it is | my number is | sure | yes;
        <digit> = zero | oh | one | two | three | four | five | six | seven | eight | nine | double | triple;
        """
}

/// A call to the bank's systems for data (a balance, an order status), with a spoken fallback when it fails.
public struct WebhookCall: Sendable, Equatable {
    /// The URL; the bot POSTs JSON `{"intent", "slots", "caller"}` and reads a flat JSON object back.
    public var url: String
    /// Seconds to wait. Default 3.
    public var timeout: Double = 3
    /// Said when the call fails or times out.
    public var fallback: String

    /// Makes a webhook call.
    public init(url: String, timeout: Double = 3, fallback: String) {
        self.url = url
        self.timeout = timeout
        self.fallback = fallback
    }
}

/// Fetches webhook data. The dialog stays synchronous; the responder runs the fetch between turns.
public protocol WebhookFetching: Sendable {
    /// POSTs `payload` as JSON and returns the reply's top-level fields as text; throws on failure or timeout.
    func fetch(_ call: WebhookCall, payload: [String: String]) async throws -> [String: String]
}

/// What the bot does when an intent is heard in a state.
public struct DialogAction: Sendable, Equatable {
    /// Text to say first (slot values in `{braces}` are filled in).
    public var say: String?
    /// The state to go to next (`nil` stays, unless the action ends the call or hands off).
    public var goTo: String?
    /// Hand the caller to this queue.
    public var handoff: String?
    /// End the call.
    public var end: Bool
    /// Fetch data first; its fields fill `{placeholders}` in `say` (the fallback is said if it fails).
    public var webhook: WebhookCall?
    /// Slots to clear first (a "no" to a confirmation), so the states that ask for them ask again.
    public var forget: [String]

    /// Makes an action.
    public init(say: String? = nil, goTo: String? = nil, handoff: String? = nil, end: Bool = false, webhook: WebhookCall? = nil, forget: [String] = []) {
        self.say = say
        self.goTo = goTo
        self.handoff = handoff
        self.end = end
        self.webhook = webhook
        self.forget = forget
    }
}

/// One state of a dialog.
public struct DialogState: Sendable, Equatable {
    /// The state's name.
    public var name: String
    /// What the bot says on entering (slot values in `{braces}`).
    public var prompt: String
    /// The search for the caller's answer.
    public var search: StateSearch
    /// Intents this state expects (empty: any).
    public var expects: [String]
    /// Said after an answer that matched nothing (in turn; the last repeats).
    public var reprompts: [String]
    /// Said when the caller says nothing.
    public var noInput: String?
    /// Actions by intent.
    public var transitions: [String: DialogAction]
    /// The slot this state asks for. The state is passed over when the call already has it (the caller said it
    /// earlier, perhaps with the request itself); an answer that fills it goes on to `next`.
    public var ask: String?
    /// Where an `ask` state goes once its slot is filled.
    public var next: String?

    /// Makes a state.
    public init(name: String, prompt: String, search: StateSearch = .domain, expects: [String] = [], reprompts: [String] = [],
                noInput: String? = nil, transitions: [String: DialogAction] = [:], ask: String? = nil, next: String? = nil) {
        self.name = name
        self.prompt = prompt
        self.search = search
        self.expects = expects
        self.reprompts = reprompts
        self.noInput = noInput
        self.transitions = transitions
        self.ask = ask
        self.next = next
    }
}

/// Where callers are handed to a person.
public struct HandoffPolicy: Sendable, Equatable {
    /// The queue when nothing more specific applies.
    public var defaultQueue = "general"
    /// Queue by skill: the caller's intent → queue.
    public var queueByIntent: [String: String] = [:]
    /// Unmatched answers in a row before handing off. Default 2.
    public var maximumNoMatch = 2
    /// Silences in a row before handing off. Default 2.
    public var maximumNoInput = 2
    /// What the bot says when it hands off (`{queue}` is filled in).
    public var message = "Let me connect you with someone who can help. Please hold."

    /// Default policy.
    public init() {}
}

/// The dialog part of a flow.
public struct DialogDefinition: Sendable, Equatable {
    /// The first state.
    public var start: String
    /// States by name.
    public var states: [String: DialogState]
    /// Handoff rules.
    public var handoff: HandoffPolicy
    /// The slots the flow collects, by name.
    public var slots: [String: SlotDefinition]
    /// The slots each intent carries, filled from the words of the request itself.
    public var intentSlots: [String: [String]]
    /// How the bot names each intent as a caller's reason for calling ("your lost card"), for returning callers.
    public var topics: [String: String] = [:]
    /// How the bot checks an uncertain understanding of each intent ("report a lost or stolen card"), completing
    /// "It sounds like you'd like to …".
    public var confirmations: [String: String] = [:]

    /// Makes a dialog.
    public init(start: String, states: [String: DialogState], handoff: HandoffPolicy = HandoffPolicy(), slots: [String: SlotDefinition] = [:],
                intentSlots: [String: [String]] = [:]) {
        self.start = start
        self.states = states
        self.handoff = handoff
        self.slots = slots
        self.intentSlots = intentSlots
    }
}
