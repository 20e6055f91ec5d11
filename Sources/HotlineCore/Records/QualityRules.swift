public import Foundation

// MARK: - Rules

/// One quality rule: what it looks for, how serious a hit is.
public struct QualityRule: Sendable, Equatable {
    /// What a rule checks.
    public enum Check: Sendable, Equatable {
        /// Any of the phrases (matched on normalised words) in a line of `speaker` ("caller" or "bot").
        case phrases([String], speaker: String)
        /// The caller asked for a person (one of the intents, or one of the phrases) and the bot carried on without
        /// handing the call over.
        case ignoredAgentRequest(intents: [String], phrases: [String])
        /// `count` caller utterances in a row that the bot did not understand.
        case repeatedNoMatch(count: Int)
        /// A caller utterance recognised with confidence below `threshold` (only utterances of `minimumWords` or more).
        case lowConfidence(threshold: Double, minimumWords: Int)
        /// A silence of at least `seconds` on the line (no-input, or a gap between lines).
        case deadAir(seconds: Double)
        /// The call lasted longer than `seconds`.
        case handleTime(seconds: Double)
        /// A card or account number was spoken (it is redacted in what is stored).
        case sensitiveData
        /// The bot must say one of the phrases within `within` seconds of the call's start.
        case requiredPhrase([String], within: Double)
    }

    /// The rule's id ("frustration", "disclosure_missing", …).
    public var id: String
    /// What it means, for the reviewer.
    public var description: String
    /// How serious a hit is.
    public var severity: Severity
    /// What it checks.
    public var check: Check

    /// Makes a rule.
    public init(id: String, description: String, severity: Severity, check: Check) {
        self.id = id
        self.description = description
        self.severity = severity
        self.check = check
    }
}

/// The rules a call is checked against, the score deductions and when a finding is an alert.
public struct QualityRules: Sendable, Equatable {
    /// The rules.
    public var rules: [QualityRule]
    /// Points taken from 100 per finding, by severity.
    public var deductions: [Severity: Double]
    /// Findings at least this severe raise a live alert.
    public var alertAt: Severity

    /// Makes a rule set.
    public init(rules: [QualityRule], deductions: [Severity: Double] = [.info: 2, .warning: 10, .critical: 25], alertAt: Severity = .critical) {
        self.rules = rules
        self.deductions = deductions
        self.alertAt = alertAt
    }

    /// A call's QA score from its findings: 100 less the deductions, never below 0.
    public func score(_ findings: [Finding]) -> Double {
        max(0, 100 - findings.reduce(0) { $0 + (deductions[$1.severity] ?? 0) })
    }

    /// Whether a finding raises a live alert.
    public func isAlert(_ finding: Finding) -> Bool { finding.severity >= alertAt }
}

// MARK: - Checking a call as it happens

/// Runs the rules over one call as its lines and events arrive. Not thread-safe: one per call.
public struct QualityChecker: Sendable {
    /// The rules.
    public let rules: QualityRules
    /// The call.
    public let callId: String
    /// Findings so far, in order.
    public private(set) var findings: [Finding] = []

    private var noMatchStreak = 0
    private var pendingAgentRequest: (utterance: Int, at: Double)?
    private var handedOff = false
    private var lastLineEnd: Double?
    private var botLines: [(text: [String], at: Double)] = []
    private var fired: Set<String> = []
    private var phrasesByRule: [String: [[String]]]

    /// Starts checking a call.
    public init(rules: QualityRules, callId: String) {
        self.rules = rules
        self.callId = callId
        var phrases: [String: [[String]]] = [:]
        for rule in rules.rules {
            switch rule.check {
            case .phrases(let list, _), .requiredPhrase(let list, _), .ignoredAgentRequest(_, let list):
                phrases[rule.id] = list.map(TextNormalizer.words)
            default: break
            }
        }
        phrasesByRule = phrases
    }

    /// The call's score so far.
    public var score: Double { rules.score(findings) }

    /// Checks a finalised line. `rawText` is what was said before redaction (never stored; sensitive data is
    /// detected in it). Returns the new findings.
    public mutating func observe(_ line: UtteranceRecord, rawText: String) -> [Finding] {
        var new: [Finding] = []
        let words = TextNormalizer.words(rawText)
        if let last = lastLineEnd { new += deadAir(gap: line.start - last, at: last, utterance: line.sequence) }
        lastLineEnd = max(lastLineEnd ?? 0, line.end)
        if line.speaker == "bot" { botLines.append((words, line.start)) }
        for rule in rules.rules {
            switch rule.check {
            case .phrases(_, let speaker) where speaker == line.speaker:
                if let phrase = firstPhrase(of: rule, in: words) {
                    new.append(make(rule, utterance: line.sequence, at: line.start, "\(line.speaker) said \"\(phrase)\""))
                }
            case .ignoredAgentRequest(let intents, _) where line.speaker == "caller":
                // A request still pending when the caller speaks again was ignored.
                if let request = pendingAgentRequest, !handedOff {
                    new.append(make(rule, utterance: request.utterance, at: request.at, "the caller asked for a person and the bot carried on"))
                    pendingAgentRequest = nil
                }
                if line.intent.map(intents.contains) == true || firstPhrase(of: rule, in: words) != nil {
                    pendingAgentRequest = (line.sequence, line.start)
                }
            case .lowConfidence(let threshold, let minimumWords) where line.speaker == "caller":
                if let confidence = line.confidence, confidence < threshold, words.count >= minimumWords {
                    new.append(make(rule, utterance: line.sequence, at: line.start, String(format: "recognised with confidence %.2f", confidence)))
                }
            case .sensitiveData:
                if SlotExtractor().containsSensitiveNumber(rawText) {
                    new.append(make(rule, utterance: line.sequence, at: line.start, "a card or account number was spoken (redacted)"))
                }
            default:
                break
            }
        }
        return record(new)
    }

    /// Updates a caller line with what the bot understood from it (after `observe`). Returns the new findings.
    public mutating func understood(_ line: UtteranceRecord) -> [Finding] {
        var new: [Finding] = []
        for rule in rules.rules {
            switch rule.check {
            case .repeatedNoMatch(let count):
                if line.intent == nil {
                    noMatchStreak += 1
                    if noMatchStreak == count {
                        new.append(make(rule, utterance: line.sequence, at: line.start, "\(count) utterances in a row not understood"))
                    }
                } else {
                    noMatchStreak = 0
                }
            case .ignoredAgentRequest(let intents, _):
                if let intent = line.intent, intents.contains(intent), pendingAgentRequest == nil, !handedOff {
                    pendingAgentRequest = (line.sequence, line.start)
                }
            default:
                break
            }
        }
        return record(new)
    }

    /// Checks an event (no-input, handoff, …). Returns the new findings.
    public mutating func observe(_ event: CallEventRecord) -> [Finding] {
        var new: [Finding] = []
        switch event.kind {
        case "handoff":
            handedOff = true
            pendingAgentRequest = nil
        case "no-input":
            let silence = Double(event.detail) ?? 0
            new += deadAir(gap: silence, at: max(0, event.at - silence), utterance: nil)
        default:
            break
        }
        return record(new)
    }

    /// Checks what can only be judged once the call is over (or `at` seconds into it). Returns the new findings.
    public mutating func finish(duration: Double) -> [Finding] {
        var new: [Finding] = []
        for rule in rules.rules {
            switch rule.check {
            case .handleTime(let seconds) where duration > seconds:
                new.append(make(rule, utterance: nil, at: seconds, String(format: "call lasted %.0f s (limit %.0f s)", duration, seconds)))
            case .requiredPhrase(_, let within):
                let said = botLines.contains { line in line.at <= within && firstPhrase(of: rule, in: line.text) != nil }
                if !said, duration >= min(within, 1) {
                    new.append(make(rule, utterance: nil, at: 0, "the bot did not say the required phrase within \(Int(within)) s"))
                }
            case .ignoredAgentRequest:
                if let request = pendingAgentRequest, !handedOff {
                    new.append(make(rule, utterance: request.utterance, at: request.at, "the caller asked for a person and was not handed over"))
                    pendingAgentRequest = nil
                }
            default:
                break
            }
        }
        return record(new)
    }

    private mutating func deadAir(gap: Double, at: Double, utterance: Int?) -> [Finding] {
        rules.rules.compactMap { rule in
            guard case .deadAir(let seconds) = rule.check, gap >= seconds else { return nil }
            return make(rule, utterance: utterance, at: at, String(format: "%.1f s of silence", gap))
        }
    }

    private func firstPhrase(of rule: QualityRule, in words: [String]) -> String? {
        guard let phrases = phrasesByRule[rule.id] else { return nil }
        for phrase in phrases where !phrase.isEmpty && words.count >= phrase.count {
            for start in 0...(words.count - phrase.count) where Array(words[start..<start + phrase.count]) == phrase {
                return phrase.joined(separator: " ")
            }
        }
        return nil
    }

    private func make(_ rule: QualityRule, utterance: Int?, at: Double, _ message: String) -> Finding {
        Finding(callId: callId, sequence: 0, rule: rule.id, severity: rule.severity, utterance: utterance, at: at, message: message)
    }

    /// Numbers new findings in order and keeps them. Once-per-call rules (handle time, required phrase) fire once.
    private mutating func record(_ new: [Finding]) -> [Finding] {
        var kept: [Finding] = []
        for var finding in new {
            let key = "\(finding.rule)#\(finding.utterance.map(String.init) ?? String(format: "%.1f", finding.at))"
            guard fired.insert(key).inserted else { continue }
            finding.sequence = findings.count
            findings.append(finding)
            kept.append(finding)
        }
        return kept
    }
}
