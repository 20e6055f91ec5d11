import Foundation
import Synchronization
import Testing
@testable import HotlineCore

/// A synthesizer stand-in: a short tone per prompt, after a little silence (which the renderer leaves out).
struct ToneSynthesizer: SpeechSynthesizing {
    var sampleRate: Int { 8_000 }
    func synthesize(_ text: String, voice: VoiceSettings, chunk: @Sendable ([Float]) -> Void) async throws {
        chunk([Float](repeating: 0, count: 800))
        chunk((0..<1_600).map { Float(0.3 * sin(Double($0) * 0.2)) })
    }
}

@Suite struct EndOfTurnTests {
    static let matcher = IntentMatcher(intents: [
        IntentDefinition(name: "check_balance", examples: ["what's my balance", "how much money do i have", "check my balance"]),
        IntentDefinition(name: "lost_card", examples: ["i lost my card", "my card was stolen", "report a lost card"]),
    ])

    @Test func wordsThatCannotEndARequestMeanMoreIsComing() {
        for heard in ["i want to", "i'd like to move some money from", "what is the balance on my", "i need to", "um"] {
            #expect(EndOfTurn.judge(heard, asked: nil, yesNo: false, matcher: Self.matcher) == .unfinished, "\(heard)")
        }
    }

    @Test func aWholeRequestOrAnswerIsComplete() {
        #expect(EndOfTurn.judge("check my balance", asked: nil, yesNo: false, matcher: Self.matcher) == .complete)
        #expect(EndOfTurn.judge("i lost my card please", asked: nil, yesNo: false, matcher: Self.matcher) == .complete)
        #expect(EndOfTurn.judge("yes", asked: nil, yesNo: true, matcher: Self.matcher) == .complete)
        #expect(EndOfTurn.judge("no thanks", asked: nil, yesNo: true, matcher: Self.matcher) == .complete)
        let amount = SlotDefinition(name: "amount", kind: .builtin("money"))
        #expect(EndOfTurn.judge("fifty dollars", asked: amount, yesNo: false, matcher: Self.matcher) == .complete)
        let account = SlotDefinition(name: "account", kind: .choice(["savings": ["saving account"], "checking": []]))
        #expect(EndOfTurn.judge("the savings one", asked: account, yesNo: false, matcher: Self.matcher) == .complete)
        // A number read in groups is unfinished until it is long enough to be one.
        let card = SlotDefinition(name: "card", kind: .builtin("digits"))
        #expect(EndOfTurn.judge("four five three nine", asked: card, yesNo: false, matcher: Self.matcher) == .unfinished)
        #expect(EndOfTurn.judge("four five three nine one two three four", asked: card, yesNo: false, matcher: Self.matcher) == .complete)
    }

    @Test func otherWordsWaitTheUsualTime() {
        #expect(EndOfTurn.judge("", asked: nil, yesNo: false, matcher: Self.matcher) == .unknown)
        #expect(EndOfTurn.judge("the weather today", asked: nil, yesNo: false, matcher: Self.matcher) == .unknown)
        #expect(EndOfTurn.judge("maybe", asked: nil, yesNo: true, matcher: Self.matcher) == .unknown)
        let hangovers = TurnHangovers(complete: 0.2, otherwise: 0.4, unfinished: 1)
        #expect(hangovers.seconds(for: .complete) == 0.2 && hangovers.seconds(for: .unknown) == 0.4 && hangovers.seconds(for: .unfinished) == 1)
    }
}

@Suite struct HoldingPhraseTests {
    /// μ-law audio: silence, a 1.2 s burst the endpointer takes for speech, silence.
    static let audio = CallLedgerSessionTests.frames(speechAt: 0.5, seconds: 1.2, total: 7)

    /// Feeds the call at real-time pace (20 ms frames) and returns its events.
    static func run(reply delay: Duration, holding: Double?) async throws -> [CallEvent] {
        let pool = try RecognizerPool(size: 1) { ScriptedRecognizer(["what's my balance"]) }
        let responder = ReplyToEachUtterance { _ in
            try? await Task.sleep(for: delay)
            return Reply(text: "Your checking account has one hundred dollars.")
        }
        var configuration = CallConfiguration()
        configuration.decoding = .whole
        configuration.holdingDelay = holding
        let session = try CallSession(id: "hold", format: .muLaw8k, configuration: configuration, pool: pool,
                                      renderer: PromptRenderer(synthesizer: ToneSynthesizer()), responder: responder)
        return try await realTime(session, audio: audio)
    }

    /// Feeds a call its audio at real-time pace (20 ms frames), lets the last turn settle, hangs up; the call's events.
    static func realTime(_ session: CallSession, audio: [UInt8]) async throws -> [CallEvent] {
        async let running: Void = session.run()
        let clock = ContinuousClock()
        let start = clock.now
        for (index, offset) in stride(from: 0, to: audio.count, by: 160).enumerated() {
            try await clock.sleep(until: start + .milliseconds(20 * index))
            session.receive(frame: Array(audio[offset..<min(offset + 160, audio.count)]))
        }
        // A loaded machine may have fed the audio faster than the reply came: let the turn settle before hanging up.
        let deadline = clock.now + .seconds(10)
        while !session.isSettled && clock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        session.hangUp()
        var events: [CallEvent] = []
        for await event in session.events { events.append(event) }
        await running
        return events
    }

    static func prompts(_ events: [CallEvent]) -> [String] {
        events.compactMap { if case .playbackStarted(_, let text, _, _) = $0 { text } else { nil } }
    }

    @Test func aLateReplyIsPrecededByAHoldingPhrase() async throws {
        let events = try await Self.run(reply: .seconds(2.5), holding: 1)
        #expect(Self.prompts(events) == ["One moment.", "Your checking account has one hundred dollars."])
    }

    @Test func aPromptReplyHasNoHoldingPhrase() async throws {
        let events = try await Self.run(reply: .zero, holding: 1)
        #expect(Self.prompts(events) == ["Your checking account has one hundred dollars."])
    }
}

@Suite struct ContinuationTests {
    /// μ-law audio: a burst from 0.5 to 1.3 s, a pause, a second burst of `second` seconds, silence to 6 s.
    static func audio(pause: Double, second: Double) -> [UInt8] {
        let first = CallLedgerSessionTests.frames(speechAt: 0.5, seconds: 0.8, total: 1.3 + pause)
        let rest = CallLedgerSessionTests.frames(speechAt: 0, seconds: second, total: 6 - 1.3 - pause)
        return first + rest
    }

    /// Answers each utterance after `delay`, retractably or not, and notes what it was asked.
    final class SlowResponder: CallResponder {
        let delay: Duration
        let retractable: Bool
        /// Words heard are judged a complete turn (a 0.45 s hangover; nothing heard yet: the configured one).
        let complete: Bool
        let asked = Mutex<[String]>([])
        init(delay: Duration, retractable: Bool, complete: Bool = false) {
            self.delay = delay
            self.retractable = retractable
            self.complete = complete
        }
        func endHangover(afterHearing partial: String) -> Double? { complete && !partial.isEmpty ? 0.45 : nil }
        func respond(to result: UtteranceResult) async -> Reply? {
            asked.withLock { $0.append(result.utterance.text) }
            try? await Task.sleep(for: delay)
            return Reply(text: "You said \(result.utterance.text).", retractable: retractable)
        }
        func respond(to result: UtteranceResult, continuing earlier: UtteranceResult) async -> Reply? {
            asked.withLock { $0.append("(going on from \(earlier.id)) " + result.utterance.text) }
            return Reply(text: "You said \(result.joined(after: earlier).utterance.text).", retractable: retractable)
        }
    }

    /// Feeds the call at real-time pace with a 0.2 s end hangover and returns the prompts said, what the responder was
    /// asked, and the call times the prompts started.
    static func run(pause: Double, second: Double = 0.6, retractable: Bool = true, window: Double? = 1, delay: Duration = .milliseconds(600))
        async throws -> ([String], [String], [Double]) {
        let pool = try RecognizerPool(size: 1) { ScriptedRecognizer(["i need to send some funds", "to my daughter"]) }
        var configuration = Self.configuration(.whole, hangover: 0.2)
        configuration.continuationWindow = window
        return try await Self.call(Self.audio(pause: pause, second: second), configuration: configuration, pool: pool,
                                   responder: SlowResponder(delay: delay, retractable: retractable))
    }

    /// Live or whole decoding with an end hangover; no holding phrase, no no-input prompt.
    static func configuration(_ decoding: UtteranceDecoding, hangover: Double) -> CallConfiguration {
        var configuration = CallConfiguration()
        configuration.decoding = decoding
        configuration.holdingDelay = nil
        configuration.noInputTimeout = nil
        configuration.voiceActivity.endDuration = hangover
        return configuration
    }

    /// Runs a call at real-time pace: the prompts said, what the responder was asked, and the call times the prompts started.
    static func call(_ audio: [UInt8], configuration: CallConfiguration, pool: RecognizerPool, responder: SlowResponder)
        async throws -> ([String], [String], [Double]) {
        let session = try CallSession(id: "going-on", format: .muLaw8k, configuration: configuration, pool: pool,
                                      renderer: PromptRenderer(synthesizer: ToneSynthesizer()), responder: responder)
        let events = try await HoldingPhraseTests.realTime(session, audio: audio)
        let starts = events.compactMap { if case .playbackStarted(_, _, let at, _) = $0 { at } else { nil } }
        return (HoldingPhraseTests.prompts(events), responder.asked.withLock { $0 }, starts)
    }

    @Test func aCallerWhoGoesOnBeforeTheReplyIsHeardAsOneTurn() async throws {
        let (prompts, asked, _) = try await Self.run(pause: 0.35)
        #expect(prompts == ["You said i need to send some funds to my daughter."], "the first reply is withheld, not said over the caller")
        #expect(asked == ["i need to send some funds", "(going on from 0) to my daughter"])
    }

    @Test func aReplyJustStartedIsTakenBackWhenTheCallerGoesOn() async throws {
        // The reply starts as the turn ends (1.5 s) and is still playing when the caller goes on (1.6 s).
        let (prompts, asked, _) = try await Self.run(pause: 0.3, delay: .zero)
        #expect(prompts == ["You said i need to send some funds.", "You said i need to send some funds to my daughter."])
        #expect(asked == ["i need to send some funds", "(going on from 0) to my daughter"])
    }

    @Test func aReplyHeardToTheEndIsAnsweredNotTakenBack() async throws {
        // The reply (0.2 s) has finished when the caller speaks 0.7 s after their last word: they are answering it.
        let (prompts, asked, _) = try await Self.run(pause: 0.7, delay: .zero)
        #expect(prompts == ["You said i need to send some funds.", "You said to my daughter."])
        #expect(asked == ["i need to send some funds", "to my daughter"])
    }

    @Test func aReplyThatActedIsSaidWhateverFollows() async throws {
        let (prompts, _, starts) = try await Self.run(pause: 0.35, retractable: false)
        #expect(prompts == ["You said i need to send some funds.", "You said to my daughter."])
        // It came while the caller was speaking again (1.65–2.25 s): it waits for them to stop instead of talking over them.
        #expect(starts.first.map { $0 >= 2.25 } == true, "\(starts)")
    }

    @Test func withoutAContinuationWindowEachUtteranceIsATurn() async throws {
        let (prompts, asked, _) = try await Self.run(pause: 0.35, window: nil)
        #expect(prompts == ["You said i need to send some funds.", "You said to my daughter."])
        #expect(asked == ["i need to send some funds", "to my daughter"])
    }

    @Test func aBlipAfterTheTurnDoesNotSwallowTheReply() async throws {
        // 80 ms: long enough to open an utterance, too short to be kept as speech.
        let (prompts, asked, _) = try await Self.run(pause: 0.35, second: 0.08)
        #expect(prompts == ["You said i need to send some funds."])
        #expect(asked == ["i need to send some funds"])
    }

    @Test func speakingAgainAfterTheWindowIsANewTurn() async throws {
        let (prompts, _, _) = try await Self.run(pause: 0.35, window: 0.05)
        #expect(prompts == ["You said i need to send some funds.", "You said to my daughter."])
    }
}

/// A turn judged finished is decoded and answered while its end hangover runs (live decoding).
@Suite struct AnswerDuringHangoverTests {
    /// Feeds the call (live decoding, a 0.5 s end hangover; the words heard judged complete, with a 0.45 s one, unless
    /// `complete` is false) at real-time pace; the prompts said, what the responder was asked, and the call times the
    /// prompts started.
    static func run(pause: Double, second: Double, early: Bool, retractable: Bool = true, complete: Bool = true, delay: Duration)
        async throws -> ([String], [String], [Double]) {
        let pool = try RecognizerPool(size: 1) { ScriptedRecognizer(["i need to send some funds", "to my daughter"], partial: "some words") }
        var configuration = ContinuationTests.configuration(.live, hangover: 0.5)
        configuration.answerDuringHangover = early
        let audio = second > 0 ? ContinuationTests.audio(pause: pause, second: second) : CallLedgerSessionTests.frames(speechAt: 0.5, seconds: 0.8, total: 6)
        return try await ContinuationTests.call(audio, configuration: configuration, pool: pool,
                                                responder: ContinuationTests.SlowResponder(delay: delay, retractable: retractable, complete: complete))
    }

    @Test func theReplyIsReadyWhenTheHangoverEnds() async throws {
        // Speech ends at 1.3 s, so the turn ends at 1.75 s; the dialog takes 0.3 s.
        let (prompts, _, starts) = try await Self.run(pause: 0, second: 0, early: true, delay: .milliseconds(300))
        #expect(prompts == ["You said i need to send some funds."])
        #expect(starts.first.map { $0 >= 1.7 && $0 < 1.95 } == true, "made during the hangover, said as it ends: \(starts)")
        let (_, _, after) = try await Self.run(pause: 0, second: 0, early: false, delay: .milliseconds(300))
        #expect(after.first.map { $0 >= 2.0 } == true, "made after the hangover: \(after)")
        // Words not judged complete wait for the hangover (0.5 s), and are answered after it.
        let (_, _, unjudged) = try await Self.run(pause: 0, second: 0, early: true, complete: false, delay: .milliseconds(300))
        #expect(unjudged.first.map { $0 >= 2.05 } == true, "\(unjudged)")
    }

    @Test func aCallerWhoGoesOnWithinTheHangoverIsHeardAsOneTurn() async throws {
        // A 0.3 s pause: the first part was closed early and answered, but the caller goes on before the hangover ends.
        let (prompts, asked, starts) = try await Self.run(pause: 0.3, second: 0.6, early: true, delay: .zero)
        #expect(prompts == ["You said i need to send some funds to my daughter."], "the held reply is taken back")
        #expect(asked == ["i need to send some funds", "(going on from 0) to my daughter"])
        #expect(starts.first.map { $0 >= 2.2 } == true, "said after the caller stopped: \(starts)")
    }

    @Test func aReplyThatActedWaitsForTheCallerToStop() async throws {
        let (prompts, asked, starts) = try await Self.run(pause: 0.3, second: 0.6, early: true, retractable: false, delay: .zero)
        // Both said, in order: as one prompt when the second reply was also held, else one after the other.
        #expect(prompts.joined(separator: " ") == "You said i need to send some funds. You said to my daughter.", "\(prompts)")
        #expect(asked == ["i need to send some funds", "to my daughter"])
        // The second part ends at 2.2 s: the first reply is not said over it.
        #expect(starts.first.map { $0 >= 2.2 } == true, "\(starts)")
    }
}
