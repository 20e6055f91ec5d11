import Foundation

// MARK: - Running a dialog

/// Why the caller is handed to a person.
public struct Handoff: Sendable, Equatable, Codable {
    /// The queue.
    public var queue: String
    /// Why: "caller asked for a person", "repeated no match", "no input", "caller frustrated", or the flow's action.
    public var reason: String
    /// The caller's main intent so far.
    public var intent: String?
    /// Slots heard (sensitive values masked).
    public var slots: [String: String]
    /// The conversation so far, "caller: …" and "bot: …" lines (sensitive digits masked).
    public var transcript: [String]

    /// Makes a handoff.
    public init(queue: String, reason: String, intent: String? = nil, slots: [String: String] = [:], transcript: [String] = []) {
        self.queue = queue
        self.reason = reason
        self.intent = intent
        self.slots = slots
        self.transcript = transcript
    }
}

/// What the bot does after a caller turn.
public struct DialogTurn: Sendable, Equatable {
    /// What to say.
    public var say: String
    /// The search for the next answer.
    public var search: StateSearch
    /// Set when the call goes to a person.
    public var handoff: Handoff?
    /// Whether the call ends after `say`.
    public var end: Bool
    /// The intent heard, if any.
    public var intent: String?
    /// Data to fetch before the bot can answer: call ``DialogSession/complete(_:with:)`` with the result.
    public var webhook: WebhookCall?
    /// What was understood from the caller's words, on turns that answer them.
    public var heard: Interpretation? = nil
}

/// One caller's way through a dialog. Not thread-safe: one per call, driven by its session.
public struct DialogSession: Sendable {
    /// The dialog.
    public let dialog: DialogDefinition
    private let matcher: IntentMatcher
    private let slotExtractor = SlotExtractor()
    /// The current state.
    public private(set) var state: String
    /// Slot values heard so far (masked where sensitive).
    public private(set) var slots: [String: String] = [:]
    /// The caller's main intent (the first one recognised that is not a yes, no or repeat).
    public private(set) var topic: String?
    /// The request being dealt with now (the latest intent that is not a yes, no or repeat): webhooks and `ask`
    /// states work for it, while `topic` stays the reason the caller first gave.
    public private(set) var request: String?
    private var transcript: [String] = []
    /// What a returning caller last called about; a "yes" to the opening question means that again.
    private var returningTopic: String?
    private var noMatches = 0
    private var noInputs = 0
    private var pendingAction: (action: DialogAction, intent: String)?
    /// Values fetched by webhooks, for `{placeholders}`.
    private var fetched: [String: String] = [:]
    private var lastPrompt = ""
    /// The intent the bot asked the caller to confirm ("you'd like …, is that right?"), with the words it was heard in.
    private var unconfirmed: (intent: String, text: String)?

    /// Intents that answer a question rather than state a request.
    static let answers = Interpretation.answerIntents

    /// Starts at the dialog's first state.
    public init(dialog: DialogDefinition, matcher: IntentMatcher) {
        self.dialog = dialog
        self.matcher = matcher
        state = dialog.start
    }

    /// The opening turn; `greeting` goes before the start prompt when given.
    public mutating func start(greeting: String? = nil) -> DialogTurn {
        state = resolve(state)
        let current = dialog.states[state]!
        let prompt = greeting.map { "\($0) \(current.prompt)" } ?? current.prompt
        return speak(fill(prompt), search: current.search)
    }

    /// The opening turn for a caller who called before about `topic`: asks whether it is that again, so a
    /// "yes" takes them straight there.
    public mutating func start(returningAbout topic: String) -> DialogTurn {
        returningTopic = topic
        let subject = dialog.topics[topic] ?? topic.replacingOccurrences(of: "_", with: " ")
        let current = dialog.states[state]!
        return speak("Welcome back. Are you calling about \(subject) again? If not, just tell me how I can help.", search: current.search)
    }

    /// "It sounds like you'd like to check your balance. Is that right?"
    func confirmation(of intent: String) -> String {
        let guess = dialog.confirmations[intent] ?? "get help with " + intent.replacingOccurrences(of: "_", with: " ")
        return "It sounds like you'd like to \(guess). Is that right?"
    }

    /// The caller said nothing.
    public mutating func noInput() -> DialogTurn {
        noInputs += 1
        let current = dialog.states[state]!
        if noInputs >= dialog.handoff.maximumNoInput { return handOff(reason: "no input", queue: nil) }
        return speak(fill(current.noInput ?? lastPrompt), search: current.search)
    }

    /// The caller said something (text, or a recognition with its n-best list).
    public mutating func hear(_ text: String, recognition: Recognition? = nil) -> DialogTurn {
        noInputs = 0
        let masked = slotExtractor.redact(text)
        transcript.append("caller: \(masked)")
        let extracted = slotExtractor.extract(from: text)
        var heardSlots = Dictionary(extracted.map { ($0.name, $0.masked) }, uniquingKeysWith: { $1 })
        slots.merge(heardSlots) { $1 }
        let heardIn = state
        let guess = unconfirmed  // a question about a guess is answered now or not at all
        unconfirmed = nil
        // An answer to an `ask` state's question fills its slot and moves on, whatever intent the words resemble.
        if let asked = dialog.states[state]?.ask, let definition = dialog.slots[asked],
           let value = definition.value(in: text, extracted: extracted, asked: true)
        {
            slots[asked] = value.masked
            heardSlots[asked] = value.masked
            heardSlots.merge(fillSlots(of: request, text: text, extracted: extracted)) { $1 }
            noMatches = 0
            var turn = moveOn(to: dialog.states[state]?.next)
            turn.heard = Interpretation(intent: nil, confidence: recognition?.confidence ?? 1, slots: heardSlots, state: heardIn, request: request,
                                        progress: asksAboutRequest(state) ? .asking : .served)
            return turn
        }
        var match = recognition.map(matcher.match) ?? matcher.match(text)
        if match.needsConfirmation, let candidate = match.intent, DialogSession.answers.contains(candidate) {
            // A doubtful "yes", "no", "repeat" or "goodbye" cannot be confirmed by asking. A yes or no counts where it
            // answers the question just asked (the state expects it or has a rule for it); anything else doubtful is
            // "none of these" (the bot must not hang up on noise that sounded like "goodbye").
            let current = dialog.states[state]!
            let answersQuestion = ["affirm", "deny"].contains(candidate)
                && (guess != nil || current.expects.contains(candidate) || current.transitions[candidate] != nil)
            if !answersQuestion { match.intent = nil }
        }
        if let guess {
            // The answer to "you'd like …, is that right?": yes acts on the guess, no asks again, anything else is
            // a new request.
            if match.intent == "affirm" {
                heardSlots.merge(fillSlots(of: guess.intent, text: guess.text, extracted: slotExtractor.extract(from: guess.text))) { $1 }
                match.intent = guess.intent
                match.needsConfirmation = false
            } else if match.intent == "deny" {
                let current = dialog.states[state]!
                var turn = speak("Okay, my mistake. Please tell me again, in a few words, what you'd like to do.", search: current.search)
                turn.heard = Interpretation(intent: "deny", confidence: match.confidence, slots: heardSlots, state: heardIn, request: request,
                                            progress: .notUnderstood)
                return turn
            }
        }
        if match.needsConfirmation, let candidate = match.intent, !DialogSession.answers.contains(candidate), handles(candidate) {
            unconfirmed = (candidate, text)
            let current = dialog.states[state]!
            var turn = speak(confirmation(of: candidate), search: current.search)
            turn.heard = Interpretation(intent: candidate, confidence: match.confidence, slots: heardSlots, state: heardIn, request: candidate,
                                        progress: .asking)
            return turn
        }
        if let intent = match.intent { heardSlots.merge(fillSlots(of: intent, text: text, extracted: extracted)) { $1 } }
        var turn = understand(match)
        turn.heard = Interpretation(intent: turn.intent, confidence: match.confidence, slots: heardSlots, state: heardIn, request: request,
                                    progress: progress(after: turn))
        return turn
    }

    /// Whether a state asks about the request in hand: a slot, or a yes/no confirmation.
    private func asksAboutRequest(_ name: String) -> Bool {
        guard let state = dialog.states[name] else { return false }
        return state.ask != nil || (!state.expects.isEmpty && Set(state.expects).isSubset(of: ["affirm", "deny"]))
    }

    /// What a turn did about the caller's request (`nil`: nothing new, e.g. a "repeat", a goodbye, a handoff other than
    /// for want of an automated answer, or a webhook still to run).
    private func progress(after turn: DialogTurn) -> TurnProgress? {
        if let handoff = turn.handoff { return handoff.reason.hasPrefix(DialogSession.noAutomatedAnswer) ? .unserved : nil }
        if turn.webhook != nil { return nil }
        if unconfirmed != nil { return .asking }
        if turn.intent == nil { return .notUnderstood }
        if turn.intent == "repeat" || turn.intent == "goodbye" { return nil }
        return asksAboutRequest(state) ? .asking : .served
    }

    /// How a handoff for a request the flow has no rule for begins its reason.
    public static let noAutomatedAnswer = "no automated answer"

    /// Fills the slots `intent` carries from the words of the utterance; returns what it filled.
    private mutating func fillSlots(of intent: String?, text: String, extracted: [SlotValue]) -> [String: String] {
        var filled: [String: String] = [:]
        for name in intent.flatMap({ dialog.intentSlots[$0] }) ?? [] {
            guard let definition = dialog.slots[name], let value = definition.value(in: text, extracted: extracted, asked: false) else { continue }
            slots[name] = value.masked
            filled[name] = value.masked
        }
        return filled
    }

    /// The state to be in when the dialog goes to `name`: `ask` states whose slot the call already has are passed
    /// over, so the bot never asks for what it was told.
    private func resolve(_ name: String) -> String {
        var current = name
        var visited: Set<String> = []
        while let state = dialog.states[current], let asked = state.ask, slots[asked] != nil, let next = state.next,
              visited.insert(current).inserted
        {
            current = next
        }
        return current
    }

    /// Goes to `next` (resolved, so `ask` states whose slot is known are passed over) and says `preface`, then its
    /// prompt; stays and repeats the prompt when there is no such state.
    private mutating func moveOn(to next: String?, preface: String = "", intent: String? = nil) -> DialogTurn {
        if let next, dialog.states[next] != nil { state = resolve(next) }
        let target = dialog.states[state]!
        return speak([preface, fill(target.prompt)].filter { !$0.isEmpty }.joined(separator: " "), search: target.search, intent: intent)
    }

    /// Whether the current state deals with `intent`: what it expects or has a rule for, the requests every state
    /// honours, and in an open state (no `expect`, not asking for a slot) any request.
    private func handles(_ intent: String) -> Bool {
        let current = dialog.states[state]!
        if current.expects.isEmpty, current.ask == nil { return true }
        return current.expects.contains(intent) || current.transitions[intent] != nil
            || ["speak_to_agent", "repeat", "goodbye", "complaint"].contains(intent)
    }

    private mutating func understand(_ match: IntentMatch) -> DialogTurn {
        let current = dialog.states[state]!
        var intent = match.intent
        if let returning = returningTopic {
            // The answer to "are you calling about … again?": yes means that topic; anything else is a new request.
            returningTopic = nil
            if intent == "affirm" { intent = returning }
        }
        if let heard = intent, !handles(heard) {
            intent = nil  // heard something this state does not deal with (or not the answer an `ask` state wants)
        }
        guard let intent else {
            noMatches += 1
            if noMatches >= dialog.handoff.maximumNoMatch { return handOff(reason: "repeated no match", queue: nil) }
            let reprompt = current.reprompts.isEmpty ? "Sorry, I didn't get that. \(current.prompt)"
                : current.reprompts[min(noMatches - 1, current.reprompts.count - 1)]
            return speak(fill(reprompt), search: current.search, intent: nil)
        }
        noMatches = 0
        if !DialogSession.answers.contains(intent) {
            if topic == nil { topic = intent }
            request = intent
        }
        if let action = current.transitions[intent] { return perform(action, intent: intent) }
        // Intents every state understands.
        switch intent {
        case "speak_to_agent": return handOff(reason: "caller asked for a person", queue: nil, intent: intent)
        case "complaint": return handOff(reason: "caller frustrated", queue: dialog.handoff.queueByIntent["complaint"], intent: intent)
        case "repeat": return speak(lastPrompt, search: current.search, intent: intent)
        case "goodbye": return speak("Thank you for calling. Goodbye.", search: current.search, end: true, intent: intent)
        default:
            // A request this state has no rule for: whoever handles that topic.
            return handOff(reason: "\(DialogSession.noAutomatedAnswer) for \(intent)", queue: nil, intent: intent)
        }
    }

    private mutating func perform(_ action: DialogAction, intent: String) -> DialogTurn {
        if let webhook = action.webhook {
            pendingAction = (action, intent)
            return DialogTurn(say: "", search: dialog.states[state]!.search, handoff: nil, end: false, intent: intent, webhook: webhook)
        }
        for name in action.forget { slots[name] = nil }
        let text = action.say.map(fill) ?? ""
        if let handoff = action.handoff {
            return handOff(reason: "\(topic ?? intent): the flow hands it to \(handoff)", queue: handoff, intent: intent, preface: text)
        }
        if action.end { return speak(text, search: dialog.states[state]!.search, end: true, intent: intent) }
        if let next = action.goTo, dialog.states[next] != nil { return moveOn(to: next, preface: text, intent: intent) }
        return speak(text, search: dialog.states[state]!.search, intent: intent)
    }

    private mutating func handOff(reason: String, queue: String?, intent: String? = nil, preface: String = "") -> DialogTurn {
        let target = queue ?? (topic.flatMap { dialog.handoff.queueByIntent[$0] }) ?? dialog.handoff.defaultQueue
        // The flow's own words when it has them, else the standard handoff message.
        let text = preface.isEmpty ? dialog.handoff.message.replacingOccurrences(of: "{queue}", with: target) : preface
        transcript.append("bot: \(text)")
        let handoff = Handoff(queue: target, reason: reason, intent: topic, slots: slots, transcript: transcript)
        return DialogTurn(say: text, search: dialog.states[state]!.search, handoff: handoff, end: true, intent: intent, webhook: nil)
    }

    private mutating func speak(_ text: String, search: StateSearch, end: Bool = false, intent: String? = nil) -> DialogTurn {
        if !text.isEmpty {
            lastPrompt = text
            transcript.append("bot: \(text)")
        }
        return DialogTurn(say: text, search: search, handoff: nil, end: end, intent: intent, webhook: nil)
    }

    /// Finishes the turn that asked for a webhook: its fields (or `nil` when it failed) decide what is said. The turn's
    /// `heard` carries only what came of the request (served, asking, or failed with `failure`).
    public mutating func complete(_ call: WebhookCall, with result: [String: String]?, failure: String? = nil) -> DialogTurn {
        guard let (action, intent) = pendingAction else { return speak("", search: dialog.states[state]!.search) }
        pendingAction = nil
        guard let result else {
            var fallback = action
            fallback.webhook = nil
            fallback.say = call.fallback
            var turn = perform(fallback, intent: intent)
            turn.heard = Interpretation(intent: nil, confidence: 1, request: request, progress: .failed,
                                        failure: failure ?? "\(call.url) gave no answer")
            return turn
        }
        fetched.merge(result) { $1 }
        var next = action
        next.webhook = nil
        var turn = perform(next, intent: intent)
        turn.heard = Interpretation(intent: nil, confidence: 1, request: request, progress: progress(after: turn))
        return turn
    }

    /// What a webhook is sent: the slots heard (masked) and the request being dealt with as `intent`.
    public var webhookPayload: [String: String] {
        var payload = slots
        payload["intent"] = request ?? topic ?? ""
        return payload
    }

    /// Fills `{slot}` placeholders with what the caller said and webhooks returned (unknown ones are left as they are).
    private func fill(_ text: String) -> String {
        var result = text
        for (name, value) in slots.merging(fetched, uniquingKeysWith: { $1 }) { result = result.replacingOccurrences(of: "{\(name)}", with: value) }
        return result
    }
}
