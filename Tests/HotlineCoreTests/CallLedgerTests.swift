import Foundation
import Synchronization
import Testing
@testable import HotlineCore

/// The call ledger: one record per call, folded from its events. Outcomes, findings and the score are judged here, on
/// crafted event sequences, and once end to end from audio frames through a call session with a scripted recognizer.
@Suite("Call ledger")
struct CallLedgerTests {
    static let rules = QualityRules(rules: [
        QualityRule(id: "dead_air", description: "", severity: .warning, check: .deadAir(seconds: 8)),
        QualityRule(id: "frustration", description: "", severity: .warning, check: .phrases(["this is ridiculous"], speaker: "caller")),
        QualityRule(id: "abandoned", description: "", severity: .warning, check: .outcome([.abandoned])),
        QualityRule(id: "call_failed", description: "", severity: .critical, check: .outcome([.failed])),
        QualityRule(id: "backend_failure", description: "", severity: .warning, check: .backendFailure),
        QualityRule(id: "unresolved_request", description: "", severity: .warning, check: .unresolvedRequest),
        QualityRule(id: "unserved_request", description: "", severity: .info, check: .unservedRequest),
        QualityRule(id: "repeated_question", description: "", severity: .warning, check: .repeatedQuestion(count: 2)),
        QualityRule(id: "caller_repeated", description: "", severity: .warning, check: .callerRepeated(count: 2)),
        QualityRule(id: "disclosure_missing", description: "", severity: .warning, check: .requiredPhrase(["may be recorded"], within: 30)),
    ])

    /// Builds a call's events on a timeline.
    struct Script {
        var events: [CallEvent] = []
        var utterances = 0
        var prompts = 0

        mutating func bot(_ text: String, at: Double, seconds: Double = 3) {
            prompts += 1
            events += [.playbackStarted(id: prompts, text: text, at: at, responseLatency: nil), .playbackFinished(id: prompts, duration: seconds)]
        }

        mutating func caller(_ text: String, at: Double, seconds: Double = 1.5, intent: String?, progress: TurnProgress?, request: String? = nil,
                             failure: String? = nil) {
            let words = text.split(separator: " ").enumerated().map { index, word in
                RecognizedWord(word: String(word), start: at + Double(index) * 0.3, end: at + Double(index) * 0.3 + 0.25, confidence: 0.9)
            }
            let utterance = Utterance(channel: 0, speaker: "caller", start: at, end: at + seconds, text: text, confidence: 0.8, words: words)
            events.append(.final(UtteranceResult(id: utterances, utterance: utterance, alternatives: [], search: .named("domain"), decoding: .whole,
                                                 endpointedAt: at + seconds + 0.5, latency: 0.05)))
            events.append(.understood(Interpretation(intent: intent, confidence: 0.9, request: request ?? intent, progress: progress, failure: failure),
                                      utterance: utterances))
            utterances += 1
        }

        mutating func end(at: Double, byBot: Bool) { events.append(.ended(at: at, reason: byBot ? "bot ended the call" : "caller hung up", byBot: byBot)) }

        func run(hasBot: Bool = true, closing: CallLedger.Closing = .normal) -> (ledger: CallLedger, changes: [CallLedger.Change]) {
            var ledger = CallLedger(CallStart(id: "call-1", gateway: .audioSocket), node: "test", rules: CallLedgerTests.rules, hasBot: hasBot)
            var changes = ledger.begin()
            for event in events { changes += ledger.apply(event) }
            changes += ledger.close(closing)
            return (ledger, changes)
        }
    }

    static let greeting = "Thank you for calling. This call may be recorded. How can I help you today?"

    /// The good call: asked, served, goodbye.
    static func goodCall() -> Script {
        var script = Script()
        script.bot(greeting, at: 0, seconds: 5)
        script.caller("what time do you open on saturday", at: 6.5, intent: "opening_hours", progress: .served)
        script.bot("We are open nine to noon on Saturday. Is there anything else I can help you with?", at: 8.8, seconds: 4)
        script.caller("no thanks", at: 14, seconds: 0.8, intent: "deny", progress: .served)
        script.bot("Thank you for calling. Goodbye!", at: 15.5, seconds: 2)
        script.end(at: 15.6, byBot: true)
        return script
    }

    @Test("a request served and a goodbye from the bot is contained, with no findings and a score of 100")
    func contained() {
        let (ledger, changes) = Self.goodCall().run()
        #expect(ledger.record.status == .contained)
        #expect(ledger.findings.map(\.rule) == [])
        #expect(ledger.record.score == 100)
        #expect(ledger.record.outcomeReason?.contains("served") == true)
        guard case .started(let first) = changes.first, case .ended(let last) = changes.last else {
            Issue.record("the changes begin with the start and end with the end: \(changes)")
            return
        }
        #expect(first.status == .live)
        #expect(last == ledger.record)
        #expect(ledger.lines.map(\.sequence) == Array(0..<5), "caller and bot lines share one sequence")
        #expect(ledger.lines[1].intent == "opening_hours", "the reading joins its line by utterance id")
    }

    @Test("a caller who hangs up at the bot's question is abandoned, raises findings and is not contained")
    func hangUpAtQuestion() {
        var script = Script()
        script.bot(Self.greeting, at: 0, seconds: 5)
        script.caller("i want to move some money", at: 6, intent: "transfer_money", progress: .asking)
        script.bot("How much would you like to transfer?", at: 8.2, seconds: 2)
        script.end(at: 12, byBot: false)
        let (ledger, _) = script.run()
        #expect(ledger.record.status == .abandoned)
        #expect(ledger.record.outcomeReason == "hung up while the bot waited for an answer (transfer_money)")
        #expect(Set(ledger.findings.map(\.rule)) == ["abandoned", "unresolved_request"])
        #expect(ledger.record.score! < 100)
        let report = CallReport.build(calls: [ledger.record, Self.goodCall().run().ledger.record], findings: [], reviews: [])
        #expect(report.contained == 1)
        #expect(report.abandoned == 1)
        #expect(report.containmentRate == 0.5)
    }

    @Test("a caller who hangs up during the greeting, before asking anything, is abandoned")
    func hangUpDuringGreeting() {
        var script = Script()
        script.events.append(.playbackStarted(id: 1, text: Self.greeting, at: 0, responseLatency: nil))
        script.end(at: 2, byBot: false)
        let (ledger, _) = script.run()
        #expect(ledger.record.status == .abandoned)
        #expect(ledger.record.outcomeReason?.contains("during a prompt") == true)
    }

    @Test("a failed webhook is a finding; hanging up after it is abandoned, the bot ending the call on it is failed")
    func webhookFailure() {
        for byBot in [false, true] {
            var script = Script()
            script.bot(Self.greeting, at: 0, seconds: 5)
            script.caller("what is my balance", at: 6, intent: "check_balance", progress: .failed,
                          failure: "http://127.0.0.1:8089/v1/balance: timed out after 3 s")
            script.bot("I'm sorry, I can't reach your account details right now.", at: 11, seconds: 3)
            script.end(at: 14.5, byBot: byBot)
            let (ledger, _) = script.run()
            #expect(ledger.record.status == (byBot ? .failed : .abandoned))
            #expect(ledger.record.outcomeReason?.contains("timed out after 3 s") == true)
            #expect(ledger.findings.map(\.rule).contains("backend_failure"))
            #expect(ledger.events.contains { $0.kind == "backend-failure" })
            #expect(ledger.record.score! <= 70)
        }
    }

    @Test("a 25 s silence is one dead-air finding, whatever the no-input prompts in it; the bot's prompts and thinking time are not")
    func deadAir() {
        var script = Script()
        script.bot(Self.greeting, at: 0, seconds: 6)  // a long greeting is not silence
        script.caller("i lost my card", at: 10, intent: "lost_card", progress: .asking)  // 4 s to think after it
        script.bot("Shall I block it now?", at: 12, seconds: 2)
        script.events.append(.noInput(at: 22, silence: 8))
        script.bot("Are you still there?", at: 22, seconds: 2)
        script.events.append(.noInput(at: 32, silence: 8))
        script.bot("Are you still there?", at: 32, seconds: 2)
        script.caller("yes please", at: 43, seconds: 1, intent: "affirm", progress: .served)
        script.bot("Done. Your card is blocked. Goodbye!", at: 45, seconds: 3)
        script.end(at: 48, byBot: true)
        let (ledger, _) = script.run()
        let silences = ledger.findings.filter { $0.rule == "dead_air" }
        #expect(silences.count == 1, "\(ledger.findings)")
        #expect(silences.first?.at == 14)
        #expect(silences.first?.message.hasPrefix("25.0 s of silence") == true, "\(silences)")
        #expect(ledger.findings.map(\.at) == ledger.findings.map(\.at).sorted(), "findings in time order")
        #expect(ledger.record.status == .contained)
    }

    @Test("a crafted bad call scores below a crafted good call, and below 100")
    func badCallScoresLower() {
        var script = Script()
        script.bot("Hello. How can I help you today?", at: 0, seconds: 3)  // no disclosure
        script.caller("i need to sort out a payment", at: 4, intent: nil, progress: .notUnderstood)
        script.bot("Sorry, how can I help you today?", at: 6, seconds: 2)
        script.caller("i need to sort out a payment please", at: 9, intent: nil, progress: .notUnderstood)
        script.bot("Sorry, how can I help you today?", at: 11, seconds: 2)
        script.caller("this is ridiculous", at: 14, intent: nil, progress: .notUnderstood)
        script.end(at: 16, byBot: false)
        let bad = script.run().ledger
        let good = Self.goodCall().run().ledger
        #expect(Set(bad.findings.map(\.rule)).isSuperset(of: ["abandoned", "repeated_question", "caller_repeated", "frustration", "disclosure_missing"]),
                "\(bad.findings.map(\.rule))")
        #expect(bad.record.score! < good.record.score!)
        #expect(bad.record.score! < 100)
        #expect(bad.record.worstSeverity == .warning)
    }

    @Test("handed off, a request without an automated answer, a call without a bot, a broken connection and a shutdown")
    func otherOutcomes() {
        var script = Script()
        script.bot(Self.greeting, at: 0, seconds: 5)
        script.caller("i want to apply for a mortgage", at: 6, intent: "loan_inquiry", progress: .unserved)
        script.events.append(.handoff(Handoff(queue: "lending", reason: "no automated answer for loan_inquiry", intent: "loan_inquiry",
                                              transcript: ["caller: my card is 4111 1111 1111 1111"]), at: 9))
        script.end(at: 10, byBot: true)
        let handedOff = script.run().ledger
        #expect(handedOff.record.status == .handedOff)
        #expect(handedOff.record.handoffQueue == "lending")
        #expect(handedOff.findings.map(\.rule) == ["unserved_request"])
        #expect(handedOff.record.handoffSummary?.contains("4111") == false, "the handoff summary is masked")

        var listening = Script()
        listening.caller("hello i'd like to check my order", at: 1, intent: nil, progress: nil)
        listening.end(at: 5, byBot: false)
        let transcription = listening.run(hasBot: false).ledger
        #expect(transcription.record.status == .completed)
        #expect(transcription.findings.isEmpty, "no bot: no disclosure or outcome findings")

        let broken = Self.goodCall().run(closing: .failed("AudioSocket: a second UUID message in the call")).ledger
        #expect(broken.record.status == .failed)
        #expect(broken.findings.map(\.rule) == ["call_failed"])
        let interrupted = Self.goodCall().run(closing: .interrupted("the node shut down")).ledger
        #expect(interrupted.record.status == .interrupted)
    }

    @Test("prompts produced side by side keep their own lengths; a barge-in ends a prompt where the caller began")
    func promptsAndBargeIn() {
        var script = Script()
        script.events += [
            .playbackStarted(id: 1, text: "Your card is blocked.", at: 0, responseLatency: nil),
            .playbackStarted(id: 2, text: "Is there anything else I can help you with?", at: 2, responseLatency: nil),
            .playbackFinished(id: 1, duration: 2),
            .playbackFinished(id: 2, duration: 3),
            .bargeIn(id: 2, at: 3.2),
        ]
        script.caller("no that's all", at: 3.2, intent: "deny", progress: .served)
        script.end(at: 5, byBot: false)
        let ledger = script.run().ledger
        #expect(ledger.lines.map(\.end) == [2, 3.2, 4.7])
        #expect(ledger.events.map(\.kind) == ["barge-in"])
    }

    @Test("card numbers are masked once, in lines, words, events and errors")
    func redaction() {
        var script = Script()
        script.caller("my card number is 4111 1111 1111 1234", at: 1, intent: nil, progress: .notUnderstood)
        script.events.append(.error(.recognition("decoder failed on 4111111111111234")))
        let ledger = script.run().ledger
        #expect(ledger.lines[0].text.contains("4111") == false)
        #expect(ledger.lines[0].text.hasSuffix("1234"))
        #expect(ledger.lines[0].words.allSatisfy { !$0.word.contains("4111") })
        #expect(ledger.events.allSatisfy { !$0.detail.contains("4111") }, "\(ledger.events)")
        #expect(ledger.record.errors.allSatisfy { !$0.contains("4111") })
    }
}

// MARK: - From an audio frame to a finding

/// A recognizer that hears whatever it is told, in order.
final class ScriptedRecognizer: StreamingSpeechRecognizing, @unchecked Sendable {
    private let texts: Mutex<[String]>
    /// What a live decoder reports having heard so far.
    private let partial: String
    init(_ texts: [String], partial: String = "") {
        self.texts = Mutex(texts)
        self.partial = partial
    }
    var sampleRate: Int { 16_000 }
    private func next() -> Recognition {
        let text = texts.withLock { $0.isEmpty ? "" : $0.removeFirst() }
        let words = text.split(separator: " ").enumerated().map { RecognizedWord(word: String($1), start: Double($0) * 0.2, end: Double($0) * 0.2 + 0.2,
                                                                                 confidence: 0.9) }
        return Recognition(text: text, words: words, confidence: 0.9)
    }
    func recognize(_ samples: [Float], search: RecognitionSearch, alternatives: Int) throws -> Recognition { next() }
    func initialAdaptation(narrowband: Bool) -> ChannelAdaptation { ChannelAdaptation(cepstralMean: []) }
    func beginUtterance(search: RecognitionSearch, adaptation: ChannelAdaptation?) throws {}
    func feed(_ samples: [Float]) throws {}
    func partialText() -> String { partial }
    func endUtterance(alternatives: Int) throws -> (Recognition, ChannelAdaptation) { (next(), ChannelAdaptation(cepstralMean: [])) }
}

@Suite("Call ledger end to end")
struct CallLedgerSessionTests {
    /// μ-law audio: silence, a burst the endpointer takes for speech, silence.
    static func frames(speechAt: Double, seconds: Double, total: Double) -> [UInt8] {
        let rate = 8_000
        let samples = (0..<Int(total * Double(rate))).map { index -> Float in
            let time = Double(index) / Double(rate)
            guard time >= speechAt, time < speechAt + seconds else { return 0 }
            return Float(0.3 * sin(2 * Double.pi * 220 * time) + 0.1 * sin(2 * Double.pi * 1_330 * time))
        }
        return CallAudioFormat.muLaw8k.encode(samples)
    }

    @Test("audio frames → endpointed utterance → recognised line → the bot's reading → a finding and the outcome")
    func framesToFinding() async throws {
        let pool = try RecognizerPool(size: 1) { ScriptedRecognizer(["this is ridiculous i lost my card"]) }
        let responder = ReplyToEachUtterance { result in
            Reply(text: "", interpretation: Interpretation(intent: "lost_card", confidence: 0.9, request: "lost_card", progress: .asking))
        }
        var configuration = CallConfiguration()
        configuration.decoding = .whole
        let session = try CallSession(id: "frames", format: .muLaw8k, configuration: configuration, pool: pool, responder: responder)
        var ledger = CallLedger(CallStart(id: "frames", gateway: .audioSocket), node: "test", rules: CallLedgerTests.rules, hasBot: true)
        let audio = Self.frames(speechAt: 0.5, seconds: 1.2, total: 3.5)
        async let running: Void = session.run()
        for start in stride(from: 0, to: audio.count, by: 160) {
            session.receive(frame: Array(audio[start..<min(start + 160, audio.count)]))
            while !session.isSettled { await Task.yield() }
        }
        session.hangUp(reason: "caller hung up")
        var changes: [CallLedger.Change] = ledger.begin()
        for await event in session.events { changes += ledger.apply(event) }
        await running
        changes += ledger.close()
        let lines = changes.compactMap { if case .line(let line) = $0 { line } else { nil } }
        #expect(lines.last?.text == "this is ridiculous i lost my card")
        #expect(lines.last?.intent == "lost_card")
        let findings = changes.compactMap { if case .finding(let finding, _) = $0 { finding.rule } else { nil } }
        #expect(findings.contains("frustration"))
        #expect(ledger.record.status == .abandoned, "the bot was asking about the lost card when the caller hung up")
        #expect(findings.contains("abandoned"))
        #expect(ledger.record.duration >= 3.4)
    }
}
