import Foundation

// MARK: - Running a dialog

/// Why the caller is handed to a person.
public struct Handoff: Sendable, Equatable, Codable {
    /// The queue.
    public var queue: String
    /// Why: "caller asked for a person", "repeated no match", "no input", "caller frustrated", or the flow's action.
    public var reason: String
    /// The request in hand when the call was handed over (what the person should pick up).
    public var intent: String?
    /// Slots heard (sensitive values masked).
    public var slots: [String: String]
    /// The conversation so far, "caller: …" and "bot: …" lines (sensitive digits masked).
    public var transcript: [String]
    /// Other requests the caller made that the bot had not served yet, in the order it would have taken them.
    public var pending: [String] = []
    /// Requests the bot served before handing over.
    public var served: [String] = []

    /// Makes a handoff.
    public init(queue: String, reason: String, intent: String? = nil, slots: [String: String] = [:], transcript: [String] = [],
                pending: [String] = [], served: [String] = []) {
        self.queue = queue
        self.reason = reason
        self.intent = intent
        self.slots = slots
        self.transcript = transcript
        self.pending = pending
        self.served = served
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
    /// Data to fetch before the bot can answer: call ``DialogSession/complete(_:with:failure:)`` with the result.
    public var webhook: WebhookCall?
    /// What was understood from the caller's words, on turns that answer them.
    public var heard: Interpretation? = nil
    /// The requests the bot acted on in this turn, in order (a turn can serve one and start the next).
    public var acted: [String] = []
}

/// One caller's way through a dialog. Not thread-safe: one per call, driven by its session.
///
/// A flow says once how each intent is served (``IntentService``); the caller may ask for any of them at any moment.
/// A request made while another is in hand (in the middle of a form, at a yes/no question) is served and the bot
/// comes back to the first ("Now, back to your transfer."); several requests in one sentence are queued and served in
/// turn ("You also asked about your balance."); what is still waiting at a handoff goes in its summary.
public struct DialogSession: Sendable {
    /// The dialog.
    public let dialog: DialogDefinition
    private let matcher: IntentMatcher
    private let slotExtractor = SlotExtractor()
    /// The frustration phrases (the flow's and the built-in ones), each with its normalised words between spaces.
    private let cues: [(phrase: String, words: String)]
    /// The current state.
    public private(set) var state: String
    /// Slot values heard so far (masked where sensitive).
    public private(set) var slots: [String: String] = [:]
    /// The caller's main intent (the first request recognised).
    public private(set) var topic: String?
    /// The request being dealt with now: webhooks, forms and handoffs work for it.
    public private(set) var request: String?
    /// Requests served so far, in order.
    public private(set) var served: [String] = []

    /// A request waiting its turn: said with another, or interrupted by one.
    private struct Waiting: Sendable {
        var intent: String
        /// The words it was asked in (its slots come from them).
        var text: String
        /// The state to come back to, for a request that was interrupted.
        var resume: String?
    }

    private var waiting: [Waiting] = []
    /// Whether the current state belongs to the request in hand (a form, a question about it), so that another request
    /// interrupts it rather than replaces it.
    private var inProgress = false
    private var transcript: [String] = []
    /// What a returning caller last called about; a "yes" to the opening question means that again.
    private var returningTopic: String?
    private var noMatches = 0
    private var noInputs = 0
    private var pendingAction: (action: DialogAction, intent: String, preface: String)?
    /// Values fetched by webhooks, for `{placeholders}`.
    private var fetched: [String: String] = [:]
    private var lastPrompt = ""
    /// The intent the bot asked the caller to confirm ("you'd like …, is that right?"), with the words it was heard in.
    private var unconfirmed: (intent: String, text: String)?
    /// A request whose system failed: the bot offered a person and waits for yes or no.
    private var offered: (intent: String, failure: String)?
    /// How often the caller said the bot got them wrong (a "no" to its confirmation or its guess).
    private var misunderstood = 0
    /// Turns in which the caller sounded frustrated, and what they said.
    private var frustration: [String] = []
    /// How often each thing was said, so the bot never says the same question a third time.
    private var said: [String: Int] = [:]
    /// Slots in the order they were last filled (a correction without a marker goes to the latest).
    private var filledOrder: [String] = []
    /// Intents acted on in the current turn.
    private var acted: [String] = []

    /// Intents that answer a question rather than state a request.
    static let answers = Interpretation.answerIntents

    /// Words and phrases that show a caller losing patience.
    public static let frustrationPhrases = [
        "ridiculous", "useless", "stupid", "pathetic", "waste of time", "i already told you", "i already said", "i just told you",
        "i just said", "are you deaf", "you are not listening", "you're not listening", "not listening", "for god's sake", "for crying out loud",
        "what the hell", "damn", "fed up", "sick of this", "sick and tired", "so annoying", "i'm annoyed", "i am annoyed", "angry", "furious",
        "frustrated", "frustrating", "this is not working", "this isn't working", "stupid machine", "stupid robot", "terrible", "awful",
    ]

    /// Starts at the dialog's first state.
    public init(dialog: DialogDefinition, matcher: IntentMatcher) {
        self.dialog = dialog
        self.matcher = matcher
        state = dialog.start
        cues = (dialog.frustration + DialogSession.frustrationPhrases).compactMap { phrase in
            let words = TextNormalizer.words(phrase)
            return words.isEmpty ? nil : (phrase, " " + words.joined(separator: " ") + " ")
        }
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
        let current = dialog.states[state]!
        return speak("Welcome back. Are you calling about \(subject(topic)) again? If not, just tell me how I can help.", search: current.search)
    }

    /// How the bot names a request: the flow's `topic` ("your transfer"), else its name in words.
    func subject(_ intent: String) -> String { dialog.topics[intent] ?? intent.replacingOccurrences(of: "_", with: " ") }

    /// "It sounds like you'd like to check your balance. Is that right?"
    func confirmation(of intent: String) -> String {
        let guess = dialog.confirmations[intent] ?? "get help with " + intent.replacingOccurrences(of: "_", with: " ")
        return "It sounds like you'd like to \(guess). Is that right?"
    }

    /// How complete `heard` (what the recognizer has heard of the caller's turn so far) is as an answer to the
    /// state the dialog is in now: a whole request, a yes or no to a question, the slot asked for.
    public func completeness(of heard: String) -> TurnCompleteness {
        let current = dialog.states[state]
        let yesNo = unconfirmed != nil || offered != nil || pendingAction != nil || current?.isCheck == true
            || current?.expects.contains(where: Self.answers.contains) == true
            || current?.transitions.keys.contains(where: Self.answers.contains) == true
        return EndOfTurn.judge(heard, asked: current?.ask.flatMap { dialog.slots[$0] }, yesNo: yesNo, matcher: matcher)
    }

    /// The silences that end the caller's turn in the state the dialog is in now.
    public var hangovers: TurnHangovers { dialog.states[state]?.hangovers ?? dialog.hangovers }

    /// The caller said nothing.
    public mutating func noInput() -> DialogTurn {
        noInputs += 1
        acted = []
        let current = dialog.states[state]!
        if noInputs >= dialog.handoff.maximumNoInput { return handOff(reason: "no input", queue: nil) }
        return speak(fill(current.noInput ?? lastPrompt), search: current.search, again: true)
    }

    // MARK: - A caller turn

    /// The caller said something (text, or a recognition with its n-best list).
    public mutating func hear(_ text: String, recognition: Recognition? = nil) -> DialogTurn {
        noInputs = 0
        acted = []
        transcript.append("caller: \(slotExtractor.redact(text))")
        let extracted = slotExtractor.extract(from: text)
        // Numbers heard anywhere are kept by kind (masked), so a handoff shows what the caller read out.
        var heardSlots = Dictionary(extracted.map { ($0.name, $0.masked) }, uniquingKeysWith: { $1 })
        slots.merge(heardSlots) { $1 }
        let heardIn = state
        let guess = unconfirmed  // a question about a guess is answered now or not at all
        unconfirmed = nil
        let offer = offered
        offered = nil
        let patience = frustration.count
        var turn = respond(text, recognition: recognition, extracted: extracted, guess: guess, offer: offer, heardSlots: &heardSlots)
        if frustration.count > patience, turn.handoff == nil, !turn.say.isEmpty { turn.say = "I'm sorry for the trouble. " + turn.say }
        let own = turn.heard?.slots ?? [:]
        turn.heard?.slots = heardSlots.merging(own) { $1 }
        turn.heard?.state = heardIn
        turn.acted = acted
        return turn
    }

    private mutating func respond(_ text: String, recognition: Recognition?, extracted: [SlotValue], guess: (intent: String, text: String)?,
                                  offer: (intent: String, failure: String)?, heardSlots: inout [String: String]) -> DialogTurn {
        let confidence = recognition?.confidence ?? 1
        let current = dialog.states[state]!
        // Losing patience: the second sign, or one after the bot already failed them, goes to a person.
        if let cue = frustrationCue(in: text) {
            frustration.append(cue)
            if frustration.count >= 2 || noMatches > 0 || misunderstood > 0 || said.values.contains(where: { $0 >= 2 }) {
                var turn = handOff(reason: "caller frustrated (\"\(frustration.joined(separator: "\", \""))\")", queue: nil)
                turn.heard = Interpretation(intent: nil, confidence: confidence, request: request)
                return turn
            }
        }
        var (match, also) = matchRequests(text, recognition: recognition)
        // Another request, clearly made, is not an answer even when it names a value ("what's in my savings account").
        let otherRequest = match.intent.map { !match.needsConfirmation && !DialogSession.answers.contains($0) && $0 != request && $0 != DialogDefinition.outOfScope } ?? false
        // An answer to the question the state asks: its slot (and any others of the request said with it).
        if let asked = current.ask, !otherRequest {
            let filled = fillSlots(for: request, text: text, extracted: extracted, asked: asked)
            if filled[asked] != nil {
                heardSlots.merge(filled.mapValues(\.masked)) { $1 }
                noMatches = 0
                var turn = current.form.map { continueForm($0) } ?? moveOn(to: current.next)
                turn.heard = Interpretation(intent: nil, confidence: confidence, slots: heardSlots, request: request,
                                            progress: progress(after: turn))
                return turn
            }
        }
        // While the bot asks about the request, words it does not know are a poor answer, not a request of their own.
        // So is a faint likeness to another request ("um, let me think" is not a lost card): the question is asked again.
        if inProgress, asksAboutRequest(state), let candidate = match.intent, candidate != request, !DialogSession.answers.contains(candidate) {
            if candidate == DialogDefinition.outOfScope ? match.declined
                : match.needsConfirmation && (match.alternatives.first?.score ?? 0) < matcher.configuration.minimumScore
            {
                match.intent = nil
                match.needsConfirmation = false
            }
        }
        // At a form's check, a correction ("no, make that savings") changes the slot and checks again.
        if current.isCheck, let form = current.form, !otherRequest {
            let before = slots
            let filled = fillSlots(for: form, text: text, extracted: extracted, asked: nil)
            let changed = filled.filter { before[$0.key] != $0.value.masked }
            if !changed.isEmpty {
                heardSlots.merge(filled.mapValues(\.masked)) { $1 }
                var turn = continueForm(form, preface: "Okay.")
                turn.heard = Interpretation(intent: nil, confidence: confidence, slots: heardSlots, request: request, progress: .asking)
                return turn
            }
        }
        if match.needsConfirmation, let candidate = match.intent, DialogSession.answers.contains(candidate) {
            // A doubtful "yes", "no", "repeat" or "goodbye" cannot be confirmed by asking. A yes or no counts where it
            // answers the question just asked; anything else doubtful is "none of these" (the bot must not hang up on
            // noise that sounded like "goodbye").
            let answersQuestion = ["affirm", "deny"].contains(candidate)
                && (guess != nil || offer != nil || current.expects.contains(candidate) || current.transitions[candidate] != nil || current.isCheck)
            if !answersQuestion { match.intent = nil }
        }
        if let offer {
            // "Shall I connect you with someone?" after a system failed.
            if match.intent == "affirm" {
                var turn = handOff(reason: "\(offer.intent) failed: \(offer.failure)", queue: nil)
                turn.heard = Interpretation(intent: "affirm", confidence: match.confidence, request: request)
                return turn
            }
            if match.intent == "deny" {
                var turn = finishRequest(preface: "Okay.", served: false)
                turn.heard = Interpretation(intent: "deny", confidence: match.confidence, request: request, progress: nil)
                return turn
            }
        }
        if let guess {
            // The answer to "you'd like …, is that right?": yes acts on the guess, no asks again, anything else is
            // a new request.
            if match.intent == "affirm" {
                heardSlots.merge(fillSlots(for: guess.intent, text: guess.text, extracted: slotExtractor.extract(from: guess.text), asked: nil)
                    .mapValues(\.masked)) { $1 }
                match.intent = guess.intent
                match.needsConfirmation = false
                also = []
            } else if match.intent == "deny" {
                misunderstood += 1
                var turn = speak("Okay, my mistake. Please tell me again, in a few words, what you'd like to do.", search: current.search)
                turn.heard = Interpretation(intent: "deny", confidence: match.confidence, request: request, progress: .notUnderstood)
                return turn
            }
        }
        if match.intent == DialogDefinition.outOfScope {
            var turn = outOfScope(text)
            turn.heard = Interpretation(intent: DialogDefinition.outOfScope, confidence: match.confidence, request: request, progress: .unserved)
            return turn
        }
        if match.needsConfirmation, let candidate = match.intent, !DialogSession.answers.contains(candidate) {
            unconfirmed = (candidate, text)
            var turn = speak(confirmation(of: candidate), search: current.search)
            turn.heard = Interpretation(intent: candidate, confidence: match.confidence, request: candidate, progress: .asking)
            return turn
        }
        if let intent = match.intent, !DialogSession.answers.contains(intent) {
            heardSlots.merge(fillSlots(for: intent, text: also.isEmpty ? text : also[0].text, extracted: extracted, asked: nil).mapValues(\.masked)) { $1 }
        }
        var turn = understand(match.intent, also: Array(also.dropFirst()))
        turn.heard = Interpretation(intent: turn.intent ?? (match.intent == "affirm" || match.intent == "deny" ? match.intent : nil),
                                    confidence: match.confidence, slots: heardSlots, request: request, progress: progress(after: turn))
        return turn
    }

    /// The phrase in `text` that shows frustration, if any.
    private func frustrationCue(in text: String) -> String? {
        let words = " " + TextNormalizer.words(text).joined(separator: " ") + " "
        return cues.first { words.contains($0.words) }?.phrase
    }

    /// The intent of the utterance, and when it carries several requests ("I lost my card and I also need my
    /// balance"), each of them with its own words, in the order said.
    private func matchRequests(_ text: String, recognition: Recognition?) -> (IntentMatch, [(intent: String, text: String)]) {
        let whole = recognition.map(matcher.match) ?? matcher.match(text)
        let words = TextNormalizer.words(recognition?.text ?? text)
        let joints: Set<String> = ["and", "also", "plus", "then", "too"]
        var segments: [[String]] = [[]]
        for word in words {
            if joints.contains(word) {
                if !segments[segments.count - 1].isEmpty { segments.append([]) }
            } else {
                segments[segments.count - 1].append(word)
            }
        }
        guard segments.count > 1 else { return (whole, []) }
        var found: [(intent: String, text: String)] = []
        for segment in segments where segment.count >= 2 {
            let part = segment.joined(separator: " ")
            let match = matcher.match(part)
            guard let intent = match.intent, !match.needsConfirmation, !DialogSession.answers.contains(intent), intent != DialogDefinition.outOfScope
            else { continue }
            if let index = found.firstIndex(where: { $0.intent == intent }) {
                found[index].text += " " + part
            } else {
                found.append((intent, part))
            }
        }
        guard found.count > 1 else { return (whole, []) }
        var first = whole
        first.intent = found[0].intent
        first.needsConfirmation = false
        return (first, found)
    }

    /// Whether a state asks about the request in hand: a slot, or a yes/no question.
    private func asksAboutRequest(_ name: String) -> Bool {
        guard let state = dialog.states[name] else { return false }
        return state.ask != nil || state.isCheck || (!state.expects.isEmpty && Set(state.expects).isSubset(of: ["affirm", "deny"]))
    }

    /// What a turn did about the caller's request (`nil`: nothing new, e.g. a "repeat", a goodbye, a handoff other than
    /// for want of an automated answer, or a webhook still to run).
    private func progress(after turn: DialogTurn) -> TurnProgress? {
        if let handoff = turn.handoff { return handoff.reason.hasPrefix(DialogSession.noAutomatedAnswer) ? .unserved : nil }
        if turn.webhook != nil { return nil }
        if unconfirmed != nil || offered != nil { return .asking }
        if turn.intent == nil && acted.isEmpty && !asksAboutRequest(state) { return .notUnderstood }
        if turn.intent == "repeat" || turn.intent == "goodbye" { return nil }
        return inProgress && asksAboutRequest(state) ? .asking : .served
    }

    /// How a handoff for a request the flow has no rule for begins its reason.
    public static let noAutomatedAnswer = "no automated answer"

    /// Fills the slots `intent` carries (and `asked`) from the words of the utterance; returns what it filled.
    private mutating func fillSlots(for intent: String?, text: String, extracted: [SlotValue], asked: String?) -> [String: SlotValue] {
        var names = intent.flatMap { dialog.intentSlots[$0] } ?? []
        if let asked, !names.contains(asked) { names.append(asked) }
        let definitions = names.compactMap { dialog.slots[$0] }
        let form = intent.flatMap { dialog.serving[$0]?.form.map(\.slot) } ?? []
        let preference = filledOrder.reversed().filter(names.contains) + form + names
        let filled = SlotFilling.fill(definitions, in: text, extracted: extracted, asked: asked, preference: preference, current: slots)
        for (name, value) in filled {
            slots[name] = value.masked
            filledOrder.removeAll { $0 == name }
            filledOrder.append(name)
            // Two slots over the same choices (from and to) never hold the same value: the older one gives way.
            guard let kind = dialog.slots[name]?.kind, case .choice = kind else { continue }
            for other in names where other != name && filled[other] == nil && dialog.slots[other]?.kind == kind && slots[other] == value.masked {
                slots[other] = nil
            }
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
        if target.form != nil, let form = target.form { return continueForm(form, preface: preface) }
        return speak(join(preface, fill(target.prompt)), search: target.search, intent: intent)
    }

    /// The next step of `intent`'s form: the first slot still missing, then the check, then the action.
    private mutating func continueForm(_ intent: String, preface: String = "") -> DialogTurn {
        guard let service = dialog.serving[intent] else { return finishRequest(preface: preface) }
        request = intent
        if let field = service.form.first(where: { slots[$0.slot] == nil }) {
            inProgress = true
            state = IntentService.stateName(intent: intent, part: field.slot)
            return speak(join(preface, fill(field.prompt)), search: field.search, intent: nil)
        }
        if let check = service.check {
            inProgress = true
            state = IntentService.stateName(intent: intent, part: "check")
            return speak(join(preface, fill(check)), search: dialog.states[state]!.search, intent: nil)
        }
        return perform(service.action, intent: intent, preface: preface)
    }

    private func join(_ parts: String...) -> String { parts.filter { !$0.isEmpty }.joined(separator: " ") }

    /// Acts on the intent heard; the request's slots were already taken from the caller's words.
    private mutating func understand(_ heard: String?, also: [(intent: String, text: String)]) -> DialogTurn {
        let current = dialog.states[state]!
        var intent = heard
        if let returning = returningTopic {
            // The answer to "are you calling about … again?": yes means that topic; anything else is a new request.
            returningTopic = nil
            if intent == "affirm" { intent = returning }
        }
        if let answer = intent, DialogSession.answers.contains(answer), answer != "repeat", answer != "goodbye", current.transitions[answer] == nil,
           !current.isCheck
        {
            intent = nil  // a yes or no that answers no question here
        }
        guard let intent else { return noMatch() }
        noMatches = 0
        // Requests said together wait their turn after this one.
        waiting.insert(contentsOf: also.map { Waiting(intent: $0.intent, text: $0.text) }, at: 0)
        if let action = current.transitions[intent] {
            if !DialogSession.answers.contains(intent) { begin(intent) }
            return perform(action, intent: intent)
        }
        if current.isCheck, let form = current.form {
            if intent == "affirm", let service = dialog.serving[form] { return perform(service.action, intent: form) }
            if intent == "deny" {
                misunderstood += 1
                for field in dialog.serving[form]?.form ?? [] { slots[field.slot] = nil }
                return continueForm(form, preface: "No problem, let's fix that.")
            }
        }
        if ["speak_to_agent", "complaint"].contains(intent) { setAside(for: intent, after: also.count) }  // unserved: in the handoff summary
        switch intent {
        case "speak_to_agent": return handOff(reason: "caller asked for a person", queue: nil, intent: intent)
        case "complaint":
            begin(intent)
            return handOff(reason: "caller frustrated", queue: dialog.handoff.queueByIntent["complaint"], intent: intent)
        case "repeat": return speak(lastPrompt, search: current.search, intent: intent, again: true)
        case "goodbye" where dialog.serving["goodbye"] == nil:
            return speak("Thank you for calling. Goodbye.", search: current.search, end: true, intent: intent)
        default: break
        }
        // Another request while one is in hand: serve it, then come back ("Now, back to your transfer.").
        setAside(for: intent, after: also.count)
        return serve(intent, text: nil)
    }

    /// Puts the request in hand, if another one (`intent`) takes its place, among the waiting ones to resume here,
    /// after the `count` requests said with `intent`.
    private mutating func setAside(for intent: String, after count: Int) {
        guard inProgress, let request, request != intent else { return }
        waiting.insert(Waiting(intent: request, text: "", resume: state), at: count)
    }

    /// Makes `intent` the request in hand.
    private mutating func begin(_ intent: String) {
        acted.append(intent)
        guard !DialogSession.answers.contains(intent) else { return }  // "goodbye" served by the flow is not a request
        if topic == nil { topic = intent }
        if request != intent { said = [:] }
        request = intent
    }

    /// Serves a request the way the flow defines it, wherever the caller is. `text` is the words it was asked in, for
    /// a request taken from the waiting ones (`nil`: its slots were filled when it was heard).
    private mutating func serve(_ intent: String, text: String?, preface: String = "") -> DialogTurn {
        begin(intent)
        inProgress = false
        if let text { _ = fillSlots(for: intent, text: text, extracted: slotExtractor.extract(from: text), asked: nil) }
        guard let service = dialog.serving[intent] else {
            // A request the flow has no answer for: whoever handles that topic.
            return handOff(reason: "\(DialogSession.noAutomatedAnswer) for \(intent)", queue: nil, intent: intent, preface: preface)
        }
        var turn = !service.form.isEmpty || service.check != nil ? continueForm(intent, preface: preface) : perform(service.action, intent: intent, preface: preface)
        turn.intent = turn.intent ?? intent
        return turn
    }

    /// "I can't help with that here": the flow's answer (or its handoff), then back to where the caller was.
    private mutating func outOfScope(_ text: String) -> DialogTurn {
        noMatches = 0
        let current = dialog.states[state]!
        guard let service = dialog.serving[DialogDefinition.outOfScope] else { return noMatch() }
        if let queue = service.action.handoff {
            return handOff(reason: "out of scope: \(slotExtractor.redact(text))", queue: queue, preface: service.action.say.map(fill) ?? "")
        }
        let answer = service.action.say.map(fill) ?? "I'm sorry, I can't help with that here."
        if inProgress, let request { return moveOn(to: state, preface: join(answer, "Now, back to \(subject(request)).")) }
        // Then what the bot can do next: the `after` question ("Is there anything else?"), or the state's own.
        if let after = dialog.after { return moveOn(to: after, preface: answer) }
        return speak(join(answer, fill(current.prompt)), search: current.search)
    }

    private mutating func noMatch() -> DialogTurn {
        let current = dialog.states[state]!
        noMatches += 1
        if noMatches >= dialog.handoff.maximumNoMatch { return handOff(reason: "repeated no match", queue: nil) }
        let field = current.form.flatMap { form in dialog.serving[form]?.form.first { $0.slot == current.ask } }
        let reprompts = field?.reprompts ?? current.reprompts
        let prompt = field?.prompt ?? current.prompt
        let reprompt = reprompts.isEmpty ? "Sorry, I didn't get that. \(prompt)" : reprompts[min(noMatches - 1, reprompts.count - 1)]
        return speak(fill(reprompt), search: current.search, intent: nil)
    }

    private mutating func perform(_ action: DialogAction, intent: String, preface: String = "") -> DialogTurn {
        if let webhook = action.webhook {
            pendingAction = (action, intent, preface)
            return DialogTurn(say: "", search: dialog.states[state]!.search, handoff: nil, end: false, intent: intent, webhook: webhook)
        }
        for name in action.forget { slots[name] = nil }
        let text = join(preface, action.say.map(fill) ?? "")
        if let handoff = action.handoff {
            return handOff(reason: "\(request ?? intent): the flow hands it to \(handoff)", queue: handoff, intent: intent, preface: text)
        }
        if action.end {
            if !DialogSession.answers.contains(intent) { served.append(intent) }
            return speak(text, search: dialog.states[state]!.search, end: true, intent: intent)
        }
        if let next = action.goTo, let target = dialog.states[next] {
            // Going back to an open question ("Is there anything else?") ends the request; any other state is part of it.
            if next == dialog.after || next == dialog.start || target.isOpen { return finishRequest(preface: text, to: next) }
            if !DialogSession.answers.contains(intent) { inProgress = true }
            return moveOn(to: next, preface: text, intent: intent)
        }
        var turn = finishRequest(preface: text)
        turn.intent = turn.intent ?? intent
        return turn
    }

    /// The request in hand is done (served, or given up by the caller): the next waiting one, else `to` (the flow's
    /// `after` state by default; without one, the caller stays where they are).
    private mutating func finishRequest(preface: String, served wasServed: Bool = true, to destination: String? = nil) -> DialogTurn {
        if wasServed, let request, served.last != request || inProgress { served.append(request) }
        inProgress = false
        said = [:]
        if !waiting.isEmpty {
            let next = waiting.removeFirst()
            if let resume = next.resume {
                request = next.intent
                inProgress = true
                return moveOn(to: resume, preface: join(preface, "Now, back to \(subject(next.intent))."))
            }
            return serve(next.intent, text: next.text, preface: join(preface, "You also asked about \(subject(next.intent))."))
        }
        if let target = destination ?? dialog.after { return moveOn(to: target, preface: preface) }
        let current = dialog.states[state]!
        return speak(preface.isEmpty ? fill(current.prompt) : preface, search: current.search)
    }

    private mutating func handOff(reason: String, queue: String?, intent: String? = nil, preface: String = "") -> DialogTurn {
        let subject = request ?? topic
        let target = queue ?? (subject.flatMap { dialog.handoff.queueByIntent[$0] }) ?? dialog.handoff.defaultQueue
        // The flow's own words when it has them, else the standard handoff message.
        let text = preface.isEmpty ? dialog.handoff.message.replacingOccurrences(of: "{queue}", with: target) : preface
        transcript.append("bot: \(text)")
        var pending: [String] = []
        for item in waiting where item.intent != subject && !pending.contains(item.intent) { pending.append(item.intent) }
        let handoff = Handoff(queue: target, reason: reason, intent: subject, slots: slots, transcript: transcript, pending: pending, served: served)
        return DialogTurn(say: text, search: dialog.states[state]!.search, handoff: handoff, end: true, intent: intent, webhook: nil)
    }

    private mutating func speak(_ text: String, search: StateSearch, end: Bool = false, intent: String? = nil, again: Bool = false) -> DialogTurn {
        if !text.isEmpty, !end, !again {
            // The same words a third time would be a loop: a person takes over instead.
            said[text, default: 0] += 1
            if said[text]! > 2 { return handOff(reason: "the bot would have asked the same question a third time", queue: nil, intent: intent) }
        }
        if !text.isEmpty {
            lastPrompt = text
            transcript.append("bot: \(text)")
        }
        return DialogTurn(say: text, search: search, handoff: nil, end: end, intent: intent, webhook: nil)
    }

    /// Finishes the turn that asked for a webhook: its fields (or `nil` when it failed) decide what is said. The turn's
    /// `heard` carries only what came of the request (served, asking, or failed with `failure`).
    public mutating func complete(_ call: WebhookCall, with result: [String: String]?, failure: String? = nil) -> DialogTurn {
        acted = []
        guard let (action, intent, preface) = pendingAction else { return speak("", search: dialog.states[state]!.search) }
        pendingAction = nil
        guard let result else {
            // The system is not there: say so and offer a person rather than "try again later".
            let reason = failure ?? "\(call.url) gave no answer"
            offered = (intent, reason)
            inProgress = false  // asking something else instead drops it: the system is down, it is not resumed
            var turn = speak(join(preface, fill(call.fallback), "Would you like me to connect you with someone who can help?"),
                             search: dialog.states[state]!.search, intent: intent)
            turn.heard = Interpretation(intent: nil, confidence: 1, request: request, progress: .failed, failure: reason)
            return turn
        }
        fetched.merge(result) { $1 }
        var next = action
        next.webhook = nil
        var turn = perform(next, intent: intent, preface: preface)
        turn.heard = Interpretation(intent: nil, confidence: 1, request: request, progress: progress(after: turn))
        turn.acted = acted
        return turn
    }

    /// What a webhook is sent: the slots heard (masked) and the request being dealt with as `intent`.
    public var webhookPayload: [String: String] {
        var payload = slots
        payload["intent"] = request ?? topic ?? ""
        return payload
    }

    /// Fills `{slot}` placeholders with what the caller said and webhooks returned (unknown ones are left as they are).
    /// A part in `[brackets]` is said only when every placeholder in it is known ("move {amount} dollars[ from your
    /// {from_account} account] to …").
    private func fill(_ text: String) -> String {
        let values = slots.merging(fetched, uniquingKeysWith: { $1 })
        var result = ""
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "["), let close = rest[open...].firstIndex(of: "]") {
            result += rest[..<open]
            let part = String(rest[rest.index(after: open)..<close])
            let filled = substitute(part, values)
            if !filled.contains("{") { result += filled }
            rest = rest[rest.index(after: close)...]
        }
        return substitute(result + rest, values)
    }

    private func substitute(_ text: String, _ values: [String: String]) -> String {
        var result = text
        for (name, value) in values { result = result.replacingOccurrences(of: "{\(name)}", with: value) }
        return result
    }
}
