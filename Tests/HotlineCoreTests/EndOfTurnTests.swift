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
