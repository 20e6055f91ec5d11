import Foundation
import HotlineCore
import HotlineEngines
import Testing

/// The default rules file (`Models/qa/rules.yaml`) run over crafted calls: each rule fires where it should and a clean
/// call raises nothing.
@Suite("QA rules")
struct QualityRulesTests {
    static let rulesPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Models/qa/rules.yaml").standardized.path

    static func rules() throws -> QualityRules { try QualityRulesLoader.load(path: rulesPath) }

    /// Feeds a call's lines (speaker, text, intent) and events to a checker; returns the rules that fired, in order.
    static func run(_ script: [(String, String, String?)], events: [CallEventRecord] = [], confidence: Double = 0.9,
                    duration: Double = 60, disclosure: Bool = true) throws -> (fired: [String], checker: QualityChecker) {
        var checker = QualityChecker(rules: try rules(), callId: "call")
        var lines = script
        if disclosure { lines.insert(("bot", "Thank you for calling. This call may be recorded for quality. How can I help?", nil), at: 0) }
        var time = 0.0
        for (sequence, (speaker, text, intent)) in lines.enumerated() {
            let line = UtteranceRecord(callId: "call", sequence: sequence, speaker: speaker, text: SlotExtractor().redact(text), start: time,
                                       end: time + 2, confidence: speaker == "caller" ? confidence : nil, intent: intent)
            time += 3
            _ = checker.observe(line, rawText: text)
            if speaker == "caller" { _ = checker.understood(line) }
            for event in events where event.at >= time - 3 && event.at < time { _ = checker.observe(event) }
        }
        _ = checker.finish(duration: duration)
        return (checker.findings.map(\.rule), checker)
    }

    @Test("a clean call raises nothing and scores 100")
    func cleanCall() throws {
        let (fired, checker) = try Self.run([
            ("caller", "i want to check my balance", "check_balance"),
            ("bot", "Your balance is one hundred dollars.", nil),
            ("caller", "thank you goodbye", "goodbye"),
        ])
        #expect(fired == [])
        #expect(checker.score == 100)
    }

    @Test("each rule fires on a call crafted for it", arguments: [
        ("frustration", [("caller", "this is ridiculous i have been waiting for ages", "complaint")]),
        ("profanity", [("caller", "where is my damn card", "lost_card")]),
        ("repeated_no_match", [("caller", "purple elephants", nil), ("bot", "Sorry?", nil), ("caller", "banana telephone", nil)]),
        ("sensitive_data", [("caller", "my card number is four one one one one one one one one one one one one one one one", nil)]),
        ("ignored_agent_request", [("caller", "can i talk to a real person", "speak_to_agent"), ("bot", "I can help with that.", nil),
                                   ("caller", "hello", nil)]),
    ] as [(String, [(String, String, String?)])])
    func ruleFires(rule: String, script: [(String, String, String?)]) throws {
        let (fired, checker) = try Self.run(script)
        #expect(fired.contains(rule), "fired: \(fired)")
        let finding = try #require(checker.findings.first { $0.rule == rule })
        #expect(finding.utterance != nil)
        #expect(checker.score < 100)
    }

    @Test("low confidence, dead air, long handle time and a missing disclosure")
    func callWideRules() throws {
        #expect(try Self.run([("caller", "i lost my card", "lost_card")], confidence: 0.1).fired == ["low_confidence"])
        var checker = QualityChecker(rules: try Self.rules(), callId: "call")
        #expect(checker.silence(25, at: 4, after: 0, prompts: 2).map(\.rule) == ["dead_air"])
        #expect(checker.silence(5, at: 40, after: 1).isEmpty, "thinking time is not dead air")
        #expect(try Self.run([("caller", "hello there", "affirm")], duration: 900).fired == ["long_call"])
        #expect(try Self.run([("bot", "Hello.", nil), ("caller", "hello there", "affirm")], disclosure: false).fired == ["disclosure_missing"])
    }

    @Test("agent rules: greeting, recording notice and closing said by the agent in time; rude words; nothing for a call without an agent")
    func agentRules() throws {
        let rules = try QualityRulesLoader.load(path: Self.rulesPath.replacingOccurrences(of: "rules.yaml", with: "agent-rules.yaml"))
        /// Lines as (speaker, text, start); the call lasts until the last line's end.
        func fired(_ lines: [(String, String, Double)]) -> [String] {
            var checker = QualityChecker(rules: rules, callId: "call")
            for (sequence, (speaker, text, start)) in lines.enumerated() {
                _ = checker.observe(UtteranceRecord(callId: "call", sequence: sequence, speaker: speaker, text: text, start: start, end: start + 2),
                                    rawText: text)
            }
            _ = checker.finish(duration: (lines.map(\.2).max() ?? 0) + 2, status: .completed)
            return checker.findings.map(\.rule).sorted()
        }
        let greeting = ("agent", "thank you for calling first bank my name is sarah this call may be recorded", 1.0)
        let closing = ("agent", "is there anything else i can help you with", 100.0)
        #expect(fired([greeting, ("caller", "i lost my card", 10), closing]) == [])
        // Said by the caller, or too late, a phrase does not count for the agent.
        #expect(fired([("caller", "thank you for calling my name is sam this call may be recorded", 1), ("agent", "okay", 5), closing])
            == ["agent_greeting", "recording_notice"])
        #expect(fired([("agent", "hello", 1), ("caller", "hi", 3), ("agent", "thank you for calling this call may be recorded", 70), closing])
            == ["agent_greeting", "recording_notice"])
        // A closing early in a long call is not a closing.
        #expect(fired([greeting, ("agent", "anything else", 5), ("caller", "well", 100)]) == ["agent_closing"])
        #expect(fired([greeting, ("agent", "calm down that is not my problem", 20), closing]) == ["agent_rude"])
        // Set phrases as people vary them: stemmed, and up to two words slipped into a phrase of three or more.
        #expect(fired([("agent", "thanks so much for calling first bank", 1), ("agent", "we record calls for training", 5), ("caller", "hi", 8), closing]) == [])
        #expect(fired([greeting, ("agent", "it is not really my own problem", 20), closing]) == ["agent_rude"])
        #expect(fired([greeting, ("agent", "it is not at all like my problem", 20), closing]) == [], "three words slipped in are too many")
        #expect(fired([greeting, ("agent", "calm it all down", 20), closing]) == [], "a two-word phrase is said as written")
        // Account details only once the caller's identity is checked.
        #expect(fired([greeting, ("agent", "your balance is fifty dollars", 10), closing]) == ["details_before_verification"])
        #expect(fired([greeting, ("agent", "can you confirm your date of birth", 5), ("caller", "the third of may", 8),
                       ("agent", "your balance is fifty dollars", 10), closing]) == [])
        // An answer owed: empathy after the caller is upset, an escalation offered when they ask for a supervisor.
        #expect(fired([greeting, ("caller", "this is ridiculous", 10), ("agent", "calm down", 15), ("agent", "okay then", 45), closing])
            == ["agent_rude", "caller_frustration", "empathy_missing"])
        #expect(fired([greeting, ("caller", "this is ridiculous", 10), ("agent", "i am so sorry about that", 15), closing]) == ["caller_frustration"])
        #expect(fired([greeting, ("caller", "i want to speak to a supervisor", 10), ("agent", "no", 12), ("agent", "anything else", 20)])
            == ["caller_frustration", "escalation_missing"], "the call ended without the answer")
        #expect(fired([greeting, ("caller", "i want to speak to a supervisor", 10), ("agent", "let me transfer you to my supervisor", 14), closing])
            == ["caller_frustration"])
        // Talk-over: both legs at once, each moment counted once, 3 s in all; the finding points where it began.
        func talkOver(_ spans: [(String, Double, Double)]) -> Finding? {
            var checker = QualityChecker(rules: rules, callId: "call")
            for (sequence, (speaker, start, end)) in spans.enumerated() {
                _ = checker.observe(UtteranceRecord(callId: "call", sequence: sequence, speaker: speaker, text: "hello there", start: start, end: end),
                                    rawText: "hello there")
            }
            _ = checker.finish(duration: 7, status: .completed)
            return checker.findings.first { $0.rule == "talk_over" }
        }
        let over = talkOver([("agent", 0, 4), ("caller", 2, 6), ("agent", 5, 7)])
        #expect(over?.utterance == 1 && over?.at == 2 && over?.message.contains("3.0 s") == true, "\(String(describing: over))")
        #expect(talkOver([("agent", 0, 4), ("caller", 2, 6), ("agent", 5.1, 7)]) == nil, "2.9 s")
        #expect(talkOver([("agent", 0, 4), ("agent", 2, 6), ("caller", 6, 7)]) == nil, "one speaker's own lines do not talk over each other")
        // A mono recording: one "mixed" speaker, which no rule scoped to a speaker judges.
        #expect(fired([("mixed", "what do you want calm down", 1), ("mixed", "whatever", 50)]) == [])
    }

    @Test("a request for a person that is handed over is not a finding")
    func agentRequestHonoured() throws {
        let handoff = CallEventRecord(callId: "call", sequence: 0, kind: "handoff", at: 4, detail: "general")
        let (fired, _) = try Self.run([("caller", "let me speak to an agent", "speak_to_agent"), ("bot", "Let me connect you.", nil)],
                                      events: [handoff])
        #expect(fired == [])
    }

    @Test("severity, alerts and the score follow the file")
    func scoring() throws {
        let rules = try Self.rules()
        #expect(rules.rules.count == 16)
        #expect(rules.rules.contains { $0.check == .outcome([.abandoned]) })
        #expect(rules.rules.contains { $0.check == .repeatedQuestion(count: 2) })
        let (_, checker) = try Self.run([("caller", "my account number is one two three four five six seven eight nine", nil)])
        let finding = try #require(checker.findings.first)
        #expect(finding.rule == "sensitive_data")
        #expect(finding.severity == .critical)
        #expect(rules.isAlert(finding))
        #expect(checker.score == 75)
    }

    @Test("malformed rules files name the line and the problem", arguments: [
        ("rules:\n  x:\n    severity: huge\n    sensitive_data: true\n", "3:15", "unknown severity 'huge'"),
        ("rules:\n  x:\n    severity: info\n", "2:3", "needs exactly one of"),
        ("rules:\n  x:\n    severity: info\n    phrases: [a]\n    silence_seconds: 3\n", "2:3", "needs exactly one of"),
        ("rules:\n  x:\n    severity: info\n    confidence_below: 3\n", "4:23", "at most 1"),
        ("rulez: {}\n", "1:1", "unknown key 'rulez'"),
        ("rules:\n  x:\n    severity: info\n    speaker: boss\n    phrases: [a]\n", "4:14", "speaker must be caller, bot or agent"),
        ("rules:\n  x:\n    severity: info\n    required_phrases: [a]\n", "2:3", "needs one of 'within_seconds'"),
        ("rules:\n  x:\n    severity: info\n    within_seconds: 5\n    within_last_seconds: 5\n    required_phrases: [a]\n", "2:3", "needs one of"),
        ("rules:\n  x:\n    severity: info\n    after: {speaker: caller}\n    within_seconds: 5\n    required_phrases: [a]\n", "4:12", "'after' needs 'phrases'"),
    ])
    func malformed(text: String, position: String, problem: String) {
        #expect {
            _ = try QualityRulesLoader.parse(text, source: "rules.yaml")
        } throws: { error in
            "\(error)".contains("rules.yaml:\(position)") && "\(error)".contains(problem)
        }
    }

    @Test("recognised words are redacted like the text: only the last four digits stay")
    func redactWords() {
        let spoken = "my card is four one one one two two two two three three three three one two three four thanks"
        let words = spoken.split(separator: " ").enumerated().map { RecognizedWord(word: String($1), start: Double($0), end: Double($0) + 0.5, confidence: 0.9) }
        let redacted = SlotExtractor().redact(words: words)
        #expect(redacted.map(\.word).joined(separator: " ") == "my card is * * * * * * * * * * * * one two three four thanks")
        #expect(redacted.map(\.start) == words.map(\.start))
        #expect(SlotExtractor().redact(spoken) == "my card is ************1234 thanks")
        #expect(SlotExtractor().containsSensitiveNumber(spoken))
        #expect(!SlotExtractor().containsSensitiveNumber("i want to pay one hundred and twenty dollars on the fifth"))
        #expect(SlotExtractor().redact(words: words.prefix(6).map { $0 }) == Array(words.prefix(6)))
    }
}
