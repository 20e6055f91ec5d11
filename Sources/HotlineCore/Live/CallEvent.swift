// MARK: - Call events

/// How an utterance's final result is decoded.
public enum UtteranceDecoding: String, Sendable, Equatable, Codable, CaseIterable {
    /// Decoded as the caller speaks (partials, lowest latency); the final comes from the same pass, normalised
    /// with the call's running cepstral mean.
    case live
    /// Decoded whole once the caller stops, normalised over the utterance itself: identical to offline
    /// transcription and the most accurate, at a cost after end of speech proportional to the utterance length
    /// (small with grammars and keyword lists, larger with the general language model).
    case whole
}

/// The final result of one caller utterance.
public struct UtteranceResult: Sendable, Equatable {
    /// The utterance's number within the call, from 0 in the order utterances were opened: what the bot's reading
    /// of it (`understood`) refers to.
    public var id: Int
    /// What was said: words with times from the start of the call.
    public var utterance: Utterance
    /// Other readings, best first.
    public var alternatives: [RecognitionAlternative]
    /// The search it was recognised with.
    public var search: RecognitionSearch
    /// How it was decoded.
    public var decoding: UtteranceDecoding
    /// Call time the endpointer closed the utterance (last speech plus the end hangover), seconds.
    public var endpointedAt: Double
    /// Wall-clock seconds from the endpointer closing the utterance to this result.
    public var latency: Double

    /// Makes a result.
    public init(id: Int = 0, utterance: Utterance, alternatives: [RecognitionAlternative], search: RecognitionSearch, decoding: UtteranceDecoding,
                endpointedAt: Double, latency: Double) {
        self.id = id
        self.utterance = utterance
        self.alternatives = alternatives
        self.search = search
        self.decoding = decoding
        self.endpointedAt = endpointedAt
        self.latency = latency
    }

    /// This utterance heard as the end of `earlier` (the caller paused and went on before the answer to it was heard):
    /// one utterance with both parts' words, this one's number and endpoint. The n-best lists of the parts do not combine.
    public func joined(after earlier: UtteranceResult) -> UtteranceResult {
        var whole = self
        whole.utterance.start = earlier.utterance.start
        whole.utterance.text = [earlier.utterance.text, utterance.text].filter { !$0.isEmpty }.joined(separator: " ")
        whole.utterance.words = earlier.utterance.words + utterance.words
        whole.utterance.confidence = min(earlier.utterance.confidence, utterance.confidence)
        whole.alternatives = []
        return whole
    }
}

/// What the bot understood from an utterance: reported with the reply so the transcript store and QA rules see it.
public struct Interpretation: Sendable, Equatable, Codable {
    /// The intent, or `nil` when nothing fitted (a no-match).
    public var intent: String?
    /// Confidence in the intent (or in the best candidate when none fitted), 0…1.
    public var confidence: Double
    /// Slot values heard in the utterance (masked where sensitive).
    public var slots: [String: String]
    /// The dialog state the caller is in after the turn.
    public var state: String?
    /// The caller's request the turn dealt with (the latest intent that is not a yes, no or repeat).
    public var request: String?
    /// What the bot did about it.
    public var progress: TurnProgress?
    /// What failed, when `progress` is `failed` ("the balance service did not answer: …").
    public var failure: String?

    /// Makes an interpretation.
    public init(intent: String?, confidence: Double, slots: [String: String] = [:], state: String? = nil, request: String? = nil,
                progress: TurnProgress? = nil, failure: String? = nil) {
        self.intent = intent
        self.confidence = confidence
        self.slots = slots
        self.state = state
        self.request = request
        self.progress = progress
        self.failure = failure
    }
}

extension Interpretation {
    /// Intents that answer the bot ("yes", "no", "say that again", "goodbye") rather than state a request.
    public static let answerIntents: Set<String> = ["affirm", "deny", "repeat", "goodbye"]
}

/// What the bot did with a caller's turn: what a call's outcome and findings are judged by.
public enum TurnProgress: String, Sendable, Codable, CaseIterable {
    /// The request was dealt with: answered, done, or declined by the caller when offered.
    case served
    /// The bot asked about the request and waits for the answer (a slot, a confirmation).
    case asking
    /// Nothing the bot could act on was understood (it asked again).
    case notUnderstood = "not-understood"
    /// The request is one the bot cannot serve (no automated answer: handed over or said so).
    case unserved
    /// A system the bot needed failed; the caller heard the fallback.
    case failed
}

/// What the bot should do after an utterance.
public struct Reply: Sendable, Equatable {
    /// Text to speak (empty for none).
    public var text: String
    /// The search for the caller's next utterance (`nil` keeps the current one).
    public var nextSearch: RecognitionSearch?
    /// End the call once the reply has been produced.
    public var hangUp: Bool
    /// Hand the caller to a person: the gateway transfers the call to this queue once the reply has played.
    public var handoff: Handoff?

    /// What the bot understood from the utterance it answers, when it interprets utterances.
    public var interpretation: Interpretation?
    /// Nothing outside the call has happened for this reply (no webhook, no handoff, no hang-up), so it may be withheld,
    /// or stopped and taken back, when the caller goes on with their turn, and the turn heard again with what they add.
    public var retractable: Bool

    /// Makes a reply.
    public init(text: String, nextSearch: RecognitionSearch? = nil, hangUp: Bool = false, handoff: Handoff? = nil,
                interpretation: Interpretation? = nil, retractable: Bool = false) {
        self.text = text
        self.nextSearch = nextSearch
        self.hangUp = hangUp
        self.handoff = handoff
        self.interpretation = interpretation
        self.retractable = retractable && !hangUp && handoff == nil
    }
}

/// Decides what the bot says: when the call opens, after each final result, after a silence.
/// The dialog engine is one; a fixed rule serves tests and simulations.
public protocol CallResponder: Sendable {
    /// The opening prompt (`nil`: the bot waits for the caller).
    func opening() async -> Reply?
    /// The reply to an utterance.
    func respond(to result: UtteranceResult) async -> Reply?
    /// The reply to an utterance that goes on from `earlier`, whose retractable reply was withheld or taken back because
    /// the caller went on with their turn ("I need to send some funds … to my daughter"): the turn is heard again as
    /// one. A responder that forwards to another forwards this too.
    func respond(to result: UtteranceResult, continuing earlier: UtteranceResult) async -> Reply?
    /// The reply to a silence (`noInput`).
    func noInput(silence: Double) async -> Reply?
    /// The silence that ends the caller's turn in progress, given what has been heard of it so far: short once it
    /// already makes a complete request or answer, long while it is unfinished ("I want to…"); `nil` keeps the call's
    /// configured end hangover. Called from the call's session loop as the caller pauses: it must be quick.
    func endHangover(afterHearing partial: String) -> Double?
}

extension CallResponder {
    /// Both parts heard as one utterance.
    public func respond(to result: UtteranceResult, continuing earlier: UtteranceResult) async -> Reply? {
        await respond(to: result.joined(after: earlier))
    }
    /// The call's configured end hangover, whatever was heard.
    public func endHangover(afterHearing partial: String) -> Double? { nil }
    /// No opening prompt.
    public func opening() async -> Reply? { nil }
    /// Silence gets no reply.
    public func noInput(silence: Double) async -> Reply? { nil }
}

/// A responder from a closure that answers each utterance.
public struct ReplyToEachUtterance: CallResponder {
    private let reply: @Sendable (UtteranceResult) async -> Reply?
    private let greeting: Reply?

    /// Answers each final with `reply`; opens with `greeting`.
    public init(greeting: Reply? = nil, _ reply: @escaping @Sendable (UtteranceResult) async -> Reply?) {
        self.reply = reply
        self.greeting = greeting
    }

    /// The greeting.
    public func opening() async -> Reply? { greeting }
    /// The closure's reply.
    public func respond(to result: UtteranceResult) async -> Reply? { await reply(result) }
}

/// Everything a call session reports, in order. Times (`at`) are seconds of call audio from the start of the call.
public enum CallEvent: Sendable, Equatable {
    /// The caller started speaking (first speech frame).
    case speechStarted(at: Double)
    /// The best hypothesis so far while the caller talks (at most every `partialInterval`).
    case partial(text: String, at: Double)
    /// An utterance is recognised.
    case final(UtteranceResult)
    /// The bot's reading of utterance `utterance` (its ``UtteranceResult/id``), reported before its reply plays.
    case understood(Interpretation, utterance: Int)
    /// The caller said nothing for `silence` seconds after the bot finished or the caller last spoke.
    case noInput(at: Double, silence: Double)
    /// A DTMF digit from the gateway.
    case dtmf(digit: Character, at: Double)
    /// The bot begins a prompt; `responseLatency` is the wall time from the endpoint of the utterance that
    /// prompted it to its first audio, when it answers one.
    case playbackStarted(id: Int, text: String, at: Double, responseLatency: Double?)
    /// Prompt audio in the call's format, to send to the caller in order (the gateway paces it).
    case playbackAudio(id: Int, bytes: [UInt8])
    /// All of the prompt's audio has been produced; it lasts `duration` seconds.
    case playbackFinished(id: Int, duration: Double)
    /// The caller spoke over the prompt: stop playing it now (clear the gateway's buffer).
    case bargeIn(id: Int, at: Double)
    /// No recognizer was free and the call's backlog reached its bound: audio from `at` on, `droppedSeconds`
    /// of it, was not accepted. What was accepted before is still decoded.
    case overloaded(at: Double, droppedSeconds: Double)
    /// Something was wrong with input or processing; the call continues.
    case error(CallError)
    /// The bot hands the caller to a person: transfer the call to the queue once the prompt has played.
    case handoff(Handoff, at: Double)
    /// A marker asked for with ``CallSession/mark(_:)``, reported after everything the session had reported by then.
    case marker(String)
    /// The call is over; nothing follows. `byBot`: the bot ended it (goodbye or handoff), not the other side.
    case ended(at: Double, reason: String, byBot: Bool)
}
