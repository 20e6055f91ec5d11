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
    /// For the states the flow makes from an intent's `ask` and `check`: the intent whose form this state belongs to.
    public var form: String?
    /// Whether this is the check of a form ("To confirm, …. Is that right?").
    public var isCheck = false

    /// The silences that end the caller's turn in this state (`nil`: the flow's).
    public var hangovers: TurnHangovers?

    /// Whether the state is an open question ("How can I help?"): no slot asked, no answer expected, no form.
    public var isOpen: Bool { ask == nil && form == nil && expects.isEmpty && transitions.keys.allSatisfy { !Interpretation.answerIntents.contains($0) } }

    /// Makes a state.
    public init(name: String, prompt: String, search: StateSearch = .domain, expects: [String] = [], reprompts: [String] = [],
                noInput: String? = nil, transitions: [String: DialogAction] = [:], ask: String? = nil, next: String? = nil, form: String? = nil,
                isCheck: Bool = false) {
        self.form = form
        self.isCheck = isCheck
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

/// How a flow serves one intent wherever the caller asks for it: slots to ask for, a check, then an action.
public struct IntentService: Sendable, Equatable {
    /// One slot the form asks for.
    public struct Field: Sendable, Equatable {
        /// The slot.
        public var slot: String
        /// The question ("How much would you like to transfer?").
        public var prompt: String
        /// Said after an answer that does not fill it.
        public var reprompts: [String] = []
        /// The search the answer is heard with.
        public var search: StateSearch = .domain

        /// Makes a field.
        public init(slot: String, prompt: String, reprompts: [String] = [], search: StateSearch = .domain) {
            self.slot = slot
            self.prompt = prompt
            self.reprompts = reprompts
            self.search = search
        }
    }

    /// The slots asked for, in order; a slot the call already has is not asked.
    public var form: [Field] = []
    /// The question that checks the form before acting ("To confirm, you'd like to move {amount} dollars …?"): yes
    /// acts, no asks again, a correction changes that slot and checks again.
    public var check: String?
    /// What serving it does: answer (`say`), fetch (`webhook`), go to a state, hand off, end the call.
    public var action: DialogAction

    /// Makes a service.
    public init(form: [Field] = [], check: String? = nil, action: DialogAction) {
        self.form = form
        self.check = check
        self.action = action
    }

    /// The state name of the form's question for `slot`, or of its check.
    public static func stateName(intent: String, part: String) -> String { "\(intent).\(part)" }
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
    /// How each intent is served wherever the caller asks for it (a state's own `on` rule comes first).
    public var serving: [String: IntentService] = [:]
    /// The state the bot goes to once a request is served and none is waiting ("Is there anything else?"); `nil`
    /// stays where the caller is.
    public var after: String?
    /// Words and phrases that show a caller losing patience, on top of the built-in ones.
    public var frustration: [String] = []
    /// The systems webhooks call, by name: a webhook URL `{bank}/v1/balance` uses `bank`. `sample` stands for the
    /// built-in sample bank.
    public var services: [String: String] = [:]
    /// The silences that end a caller's turn, in states that do not set their own.
    public var hangovers = TurnHangovers()

    /// The intent a flow names for requests it does not serve ("what's the weather like"): answered with its `say`,
    /// or handed off, never confirmed as something else.
    public static let outOfScope = IntentMatcher.outOfScope

    /// The dialog with `{service}` placeholders in webhook URLs replaced by `urls` (then by the flow's own `services`).
    public func binding(services urls: [String: String]) -> DialogDefinition {
        var bound = self
        let table = services.merging(urls) { $1 }
        func bind(_ action: inout DialogAction) {
            guard var call = action.webhook else { return }
            for (name, url) in table { call.url = call.url.replacingOccurrences(of: "{\(name)}", with: url.hasSuffix("/") ? String(url.dropLast()) : url) }
            action.webhook = call
        }
        for (name, var state) in bound.states {
            for (intent, var action) in state.transitions {
                bind(&action)
                state.transitions[intent] = action
            }
            bound.states[name] = state
        }
        for (intent, var service) in bound.serving {
            bind(&service.action)
            bound.serving[intent] = service
        }
        bound.services = table
        return bound
    }

    /// Every webhook URL the flow uses (after binding).
    public var webhookURLs: [String] {
        (states.values.flatMap { $0.transitions.values.compactMap(\.webhook?.url) } + serving.values.compactMap(\.action.webhook?.url)).sorted()
    }

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
