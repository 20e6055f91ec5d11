import Foundation
import Synchronization

// MARK: - Dialog on a call

/// Runs a flow's dialog on a call: opens with the flow's prompt, understands each final (with its n-best list),
/// answers, switches the recognition search per state, and hands off or hangs up as the flow says.
public final class DialogResponder: CallResponder, TextResponding {
    private let session: Mutex<DialogSession>
    private let lastIntent = Mutex<String?>(nil)
    private let lastActed = Mutex<[String]>([])
    private let handoffs = Mutex<Handoff?>(nil)
    /// The last utterance heard and the dialog as it was before it: what a continuation of it is heard again from.
    private let lastHeard = Mutex<(id: Int, before: DialogSession)?>(nil)
    /// What this caller called about last time, if they called before.
    private let returningTopic: String?

    private let webhooks: (any WebhookFetching)?

    /// Makes a responder for one call; `returningTopic` is what the caller last called about, if remembered;
    /// `webhooks` fetches data for flow actions that need it (without one, their fallback is said).
    public init(dialog: DialogDefinition, matcher: IntentMatcher, returningTopic: String? = nil, webhooks: (any WebhookFetching)? = nil) {
        session = Mutex(DialogSession(dialog: dialog, matcher: matcher))
        self.returningTopic = returningTopic
        self.webhooks = webhooks
    }

    /// The caller's topic so far (to remember for their next call).
    public var topic: String? { session.withLock { $0.topic } }

    /// The search a state's `StateSearch` means to a recognizer prepared for the flow.
    public static func recognitionSearch(_ search: StateSearch) -> RecognitionSearch {
        search == .general ? .standard : .named(search.searchName)
    }

    /// The handoff, once the dialog has made one.
    public var handoff: Handoff? { handoffs.withLock { $0 } }

    /// The flow's first prompt.
    public func opening() async -> Reply? {
        reply(session.withLock { session in returningTopic.map { session.start(returningAbout: $0) } ?? session.start() })
    }

    /// The dialog's answer to an utterance.
    public func respond(to result: UtteranceResult) async -> Reply? {
        let recognition = Recognition(text: result.utterance.text, words: result.utterance.words, confidence: result.utterance.confidence,
                                      alternatives: result.alternatives)
        return await settle(session.withLock { session in
            lastHeard.withLock { $0 = (result.id, session) }
            return session.hear(result.utterance.text, recognition: recognition)
        })
    }

    /// The caller went on after `earlier`, whose reply was withheld or taken back: the dialog goes back to where it was before
    /// `earlier` and hears both as one turn. (If `earlier` was not the last thing heard, only the new words are heard.)
    public func respond(to result: UtteranceResult, continuing earlier: UtteranceResult) async -> Reply? {
        let restored = session.withLock { session -> Bool in
            guard let last = lastHeard.withLock({ $0 }), last.id == earlier.id else { return false }
            session = last.before
            return true
        }
        return await respond(to: restored ? result.joined(after: earlier) : result)
    }

    /// The dialog's answer to typed text (the chat channel); empty text is a silence.
    public func respond(toText text: String) async -> Reply {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return reply(session.withLock { $0.noInput() }) }
        return await settle(session.withLock { $0.hear(trimmed) })
    }

    /// The end hangover for what has been heard of the caller's turn: the state's hangover for words that complete a
    /// request or answer, leave a phrase unfinished, or neither (before any words: neither).
    public func endHangover(afterHearing partial: String) -> Double? {
        session.withLock { session in
            let hangovers = session.hangovers
            return partial.isEmpty ? hangovers.otherwise : hangovers.seconds(for: session.completeness(of: partial))
        }
    }

    /// The intent of the last turn, if one was understood.
    public var intent: String? { lastIntent.withLock { $0 } }

    /// The dialog state the caller is in.
    public var state: String { session.withLock { $0.state } }

    /// The slots heard so far (masked).
    public var slots: [String: String] { session.withLock { $0.slots } }

    /// Runs a turn's webhooks (a served request can lead straight to the next, which may need one too) and returns the
    /// finished turn's reply.
    private func settle(_ first: DialogTurn) async -> Reply {
        var turn = first
        var acted = first.acted
        let retractable = first.webhook == nil
        for _ in 0..<8 {
            guard let call = turn.webhook else { break }
            let payload = session.withLock { $0.webhookPayload }
            var data: [String: String]?
            var failure: String?
            if let webhooks {
                do {
                    data = try await webhooks.fetch(call, payload: payload)
                } catch {
                    failure = "\(call.url): \(error)"
                }
            } else {
                failure = "\(call.url): no webhook client is configured"
            }
            let said = turn.say
            var completed = session.withLock { $0.complete(call, with: data, failure: failure) }
            let outcome = completed.heard
            completed.heard = turn.heard
            completed.heard?.progress = outcome?.progress
            completed.heard?.failure = outcome?.failure
            completed.heard?.request = outcome?.request ?? turn.heard?.request
            completed.say = [said, completed.say].filter { !$0.isEmpty }.joined(separator: " ")
            acted += completed.acted.filter { !acted.contains($0) }
            turn = completed
        }
        turn.acted = acted
        return reply(turn, retractable: retractable)
    }

    /// The intents acted on in the last turn, in order.
    public var acted: [String] { lastActed.withLock { $0 } }

    /// The dialog's answer to a silence.
    public func noInput(silence: Double) async -> Reply? {
        reply(session.withLock { $0.noInput() })
    }

    private func reply(_ turn: DialogTurn, retractable: Bool = false) -> Reply {
        lastIntent.withLock { $0 = turn.intent }
        lastActed.withLock { $0 = turn.acted }
        if let handoff = turn.handoff { handoffs.withLock { $0 = handoff } }
        return Reply(text: turn.say, nextSearch: DialogResponder.recognitionSearch(turn.search), hangUp: turn.end && turn.handoff == nil,
                     handoff: turn.handoff, interpretation: turn.heard, retractable: retractable)
    }
}

/// A responder that also takes typed text (chat): the same dialog without audio.
public protocol TextResponding: Sendable {
    /// The opening prompt.
    func opening() async -> Reply?
    /// The reply to a typed message (empty: silence).
    func respond(toText text: String) async -> Reply
    /// The intent understood in the last turn.
    var intent: String? { get }
    /// The dialog state.
    var state: String { get }
    /// The handoff, once made.
    var handoff: Handoff? { get }
    /// The intents acted on in the last turn, in order.
    var acted: [String] { get }
    /// The slots heard so far (masked).
    var slots: [String: String] { get }
    /// The caller's first request.
    var topic: String? { get }
}
