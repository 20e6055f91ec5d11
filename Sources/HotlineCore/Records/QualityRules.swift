public import Foundation

// MARK: - Rules

/// One quality rule: what it looks for, how serious a hit is.
public struct QualityRule: Sendable, Equatable {
    /// What a rule checks.
    public enum Check: Sendable, Equatable {
        /// Any of the phrases (matched on normalised words) in a line of `speaker` ("caller", "bot" or "agent").
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
        /// `speaker` ("bot", "agent" or "caller") must say one of the phrases within `within` seconds of the call's start,
        /// or of its end (`fromEnd`: a closing). A call `speaker` is not on does not need it.
        case requiredPhrase([String], within: Double, speaker: String = "bot", fromEnd: Bool = false)
        /// The call ended with one of these outcomes.
        case outcome([CallStatus])
        /// A system the bot needed (a webhook) failed and the caller heard the fallback.
        case backendFailure
        /// The caller's request was still open when the call ended without a handoff.
        case unresolvedRequest
        /// The caller asked for something the bot has no automated answer for.
        case unservedRequest
        /// The bot asked the same question `count` times without the caller's request moving on.
        case repeatedQuestion(count: Int)
        /// The caller had to say the same thing `count` times (the same words, or the same request not yet served).
        case callerRepeated(count: Int)
        /// Two speakers talked at once for `seconds` or more over the call (talk-over; on a recorded call, where each
        /// leg is heard on its own).
        case talkOver(seconds: Double)
        /// `speaker` said one of the phrases (account details given) before anyone had said one of `before` (the
        /// caller's identity checked).
        case saidTooSoon([String], speaker: String, before: [String])
        /// When `triggerSpeaker` says one of `trigger` (a frustrated caller, a request for a supervisor), `speaker` must
        /// answer with one of `phrases` (empathy, an escalation offered) within `within` seconds.
        case response(trigger: [String], triggerSpeaker: String, phrases: [String], speaker: String, within: Double)
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

/// Runs the rules over one call as its lines and events arrive. Not thread-safe: one per call. The call ledger feeds it
/// (lines, what the bot made of each caller line, events, silences it measured, the outcome).
public struct QualityChecker: Sendable {
    /// The rules.
    public let rules: QualityRules
    /// The call.
    public let callId: String
    /// Findings so far, in the order they were raised.
    public private(set) var findings: [Finding] = []

    private var noMatchStreak = 0
    private var pendingAgentRequest: (utterance: Int, at: Double)?
    private var handedOff = false
    /// Lines by speaker: their words and when they began.
    private var spoken: [String: [(text: [String], at: Double)]] = [:]
    /// Every line's span, for talk-over.
    private var spans: [(speaker: String, start: Double, end: Double, line: Int)] = []
    private var fired: Set<String> = []
    /// Each rule's phrases: as written (for messages) and as stemmed words (for matching).
    private var phrasesByRule: [String: [(text: String, words: [String])]]
    /// Questions the bot asked since the caller's request last moved on, by their words.
    private var questions: [String: Int] = [:]
    /// The caller asked the bot to repeat itself: the next bot line is not a repeated question.
    private var repeatAsked = false
    private var lastCaller: (words: Set<String>, intent: String?, progress: TurnProgress?)?
    private var similarToLast = false
    private var callerRepeats = 1

    /// Starts checking a call.
    public init(rules: QualityRules, callId: String) {
        self.rules = rules
        self.callId = callId
        var phrases: [String: [(text: String, words: [String])]] = [:]
        for rule in rules.rules {
            switch rule.check {
            case .phrases(let list, _), .requiredPhrase(let list, _, _, _), .ignoredAgentRequest(_, let list):
                phrases[rule.id] = Self.prepared(list)
            case .response(let trigger, _, let list, _, _):
                phrases[rule.id] = Self.prepared(list)
                phrases[rule.id + "#trigger"] = Self.prepared(trigger)
            case .saidTooSoon(let list, _, let before):
                phrases[rule.id] = Self.prepared(list)
                phrases[rule.id + "#before"] = Self.prepared(before)
            default: break
            }
        }
        phrasesByRule = phrases
    }

    /// Phrases as written (for messages) and as stemmed words (for matching).
    private static func prepared(_ list: [String]) -> [(text: String, words: [String])] {
        list.map { phrase in
            let words = TextNormalizer.words(phrase)
            return (words.joined(separator: " "), words.map(TextNormalizer.stem))
        }
    }

    /// Rules whose `before` phrases have been said (what they guard may be said now).
    private var cleared: Set<String> = []

    /// Responses awaited, by rule: the line that called for one, when, and what it said.
    private var awaited: [String: (utterance: Int, at: Double, said: String)] = [:]

    /// Responses whose time ran out by `time`: findings, and no longer awaited.
    private mutating func overdue(by time: Double) -> [Finding] {
        var new: [Finding] = []
        for rule in rules.rules {
            guard case .response(_, let triggerSpeaker, _, let speaker, let within) = rule.check, let waiting = awaited[rule.id],
                  time > waiting.at + within else { continue }
            new.append(make(rule, utterance: waiting.utterance, at: waiting.at,
                            "the \(triggerSpeaker) said \"\(waiting.said)\" and the \(speaker) did not answer it within \(Int(within)) s"))
            awaited[rule.id] = nil
        }
        return new
    }

    /// The call's score so far.
    public var score: Double { rules.score(findings) }

    /// Checks a finalised line. `rawText` is what was said before redaction (never stored; sensitive data is
    /// detected in it). Returns the new findings.
    public mutating func observe(_ line: UtteranceRecord, rawText: String) -> [Finding] {
        let words = TextNormalizer.words(rawText)
        spoken[line.speaker, default: []].append((words, line.start))
        spans.append((line.speaker, line.start, line.end, line.sequence))
        if line.speaker == "caller" {
            let set = Set(words)
            similarToLast = lastCaller.map { Self.similar($0.words, set) } ?? false
            lastCaller = (set, nil, nil)
        }
        var new = overdue(by: line.start)
        for rule in rules.rules {
            switch rule.check {
            case .response(_, let triggerSpeaker, _, let speaker, _):
                if line.speaker == speaker, awaited[rule.id] != nil, firstPhrase(of: rule, in: words) != nil {
                    awaited[rule.id] = nil
                } else if line.speaker == triggerSpeaker, awaited[rule.id] == nil, let said = firstPhrase(of: rule, in: words, key: rule.id + "#trigger") {
                    awaited[rule.id] = (line.sequence, line.start, said)
                }
            case .saidTooSoon(_, let speaker, _):
                if line.speaker == speaker, !cleared.contains(rule.id), let phrase = firstPhrase(of: rule, in: words) {
                    new.append(make(rule, utterance: line.sequence, at: line.start, "\(speaker) said \"\(phrase)\" before what must come first"))
                }
                if firstPhrase(of: rule, in: words, key: rule.id + "#before") != nil { cleared.insert(rule.id) }
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
            case .repeatedQuestion(let count) where line.speaker == "bot":
                guard !repeatAsked, rawText.trimmingCharacters(in: .whitespaces).hasSuffix("?"), !words.isEmpty else { continue }
                let key = words.joined(separator: " ")
                questions[key, default: 0] += 1
                if questions[key] == count {
                    new.append(make(rule, utterance: line.sequence, at: line.start, "the bot asked the same question \(count) times"))
                }
            default:
                break
            }
        }
        if line.speaker == "bot" { repeatAsked = false }
        return record(new)
    }

    /// Updates a caller line with what the bot made of it (after `observe`): the intent on the line, and what the turn
    /// did about the caller's request. Returns the new findings.
    public mutating func understood(_ line: UtteranceRecord, progress: TurnProgress? = nil, failure: String? = nil) -> [Finding] {
        var new: [Finding] = []
        let previous = lastCaller
        let sameRequestAgain = line.intent != nil && line.intent == previous?.intent && previous?.progress != .served
            && !Interpretation.answerIntents.contains(line.intent ?? "")
        let repeated = similarToLast || sameRequestAgain
        similarToLast = false
        callerRepeats = repeated ? callerRepeats + 1 : 1
        lastCaller = (previous?.words ?? [], line.intent, progress)
        if line.intent == "repeat" { repeatAsked = true }
        if progress == .served { questions = [:] }
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
            case .backendFailure where progress == .failed:
                new.append(make(rule, utterance: line.sequence, at: line.end, "a system the bot needed failed (\(failure ?? "no answer")); the caller heard the fallback"))
            case .unservedRequest where progress == .unserved:
                new.append(make(rule, utterance: line.sequence, at: line.start, "the bot has no automated answer for \(line.intent ?? "this request")"))
            case .callerRepeated(let count) where repeated && callerRepeats == count:
                new.append(make(rule, utterance: line.sequence, at: line.start, "the caller had to say the same thing \(count) times"))
            default:
                break
            }
        }
        return record(new)
    }

    /// Checks an event (handoff, …). Returns the new findings.
    public mutating func observe(_ event: CallEventRecord) -> [Finding] {
        if event.kind == "handoff" {
            handedOff = true
            pendingAgentRequest = nil
        }
        return []
    }

    /// A silence on the line has ended: `seconds` without speech from either side (the bot's prompts after no-input
    /// not counted as speech but not as silence either), from `at`, after line `utterance`. Returns the new findings.
    public mutating func silence(_ seconds: Double, at: Double, after utterance: Int?, prompts: Int = 0) -> [Finding] {
        let new = rules.rules.compactMap { rule -> Finding? in
            guard case .deadAir(let limit) = rule.check, seconds >= limit else { return nil }
            let prompted = prompts == 0 ? "" : prompts == 1 ? " (the bot prompted once)" : " (the bot prompted \(prompts) times)"
            return make(rule, utterance: utterance, at: at, String(format: "%.1f s of silence", seconds) + prompted)
        }
        return record(new)
    }

    /// Checks what can only be judged once the call is over: its length, required phrases, a request for a person never
    /// met, a request left open, and the outcome. Returns the new findings.
    public mutating func finish(duration: Double, status: CallStatus = .contained, reason: String? = nil,
                                openRequest: (intent: String, utterance: Int?, at: Double)? = nil) -> [Finding] {
        var new = overdue(by: duration)
        for rule in rules.rules {
            switch rule.check {
            case .handleTime(let seconds) where duration > seconds:
                new.append(make(rule, utterance: nil, at: seconds, String(format: "call lasted %.0f s (limit %.0f s)", duration, seconds)))
            case .requiredPhrase(_, let within, let speaker, let fromEnd):
                let lines = spoken[speaker] ?? []
                let inTime = { (at: Double) in fromEnd ? at >= duration - within : at <= within }
                let said = lines.contains { line in inTime(line.at) && firstPhrase(of: rule, in: line.text) != nil }
                if !said, duration >= min(within, 1), !lines.isEmpty {
                    let when = fromEnd ? "in the last \(Int(within)) s" : "within \(Int(within)) s"
                    new.append(make(rule, utterance: nil, at: fromEnd ? max(0, duration - within) : 0,
                                    "the \(speaker) did not say the required phrase \(when)"))
                }
            case .ignoredAgentRequest:
                if let request = pendingAgentRequest, !handedOff {
                    new.append(make(rule, utterance: request.utterance, at: request.at, "the caller asked for a person and was not handed over"))
                    pendingAgentRequest = nil
                }
            case .unresolvedRequest:
                if let request = openRequest, !handedOff {
                    new.append(make(rule, utterance: request.utterance, at: request.at,
                                    "the caller's request (\(request.intent)) was still open when the call ended"))
                }
            case .response(_, let triggerSpeaker, _, let speaker, let within):
                // The call ended before the answer: not answered, unless the time to answer had not run out.
                if let waiting = awaited[rule.id], duration >= waiting.at + min(within, 5) {
                    new.append(make(rule, utterance: waiting.utterance, at: waiting.at,
                                    "the \(triggerSpeaker) said \"\(waiting.said)\" and the \(speaker) did not answer it before the call ended"))
                    awaited[rule.id] = nil
                }
            case .talkOver(let limit):
                let (seconds, first) = talkOver()
                if seconds >= limit, let first {
                    new.append(make(rule, utterance: first.utterance, at: first.at,
                                    String(format: "two speakers talked at once for %.1f s over the call", seconds)))
                }
            case .outcome(let outcomes) where outcomes.contains(status):
                new.append(make(rule, utterance: nil, at: duration, "the call was \(status.rawValue)" + (reason.map { ": \($0)" } ?? "")))
            default:
                break
            }
        }
        return record(new)
    }

    /// Seconds during which lines of two speakers overlap (each moment counted once), and where the first overlap began
    /// (the later line of the pair).
    private func talkOver() -> (seconds: Double, first: (utterance: Int, at: Double)?) {
        let (merged, first) = Self.overlaps(spans)
        return (merged.reduce(0) { $0 + $1.end - $1.start }, first)
    }

    /// The moments when lines of two speakers overlap, merged and in order, and the first overlap's later line and start.
    public static func overlaps(_ lines: [(speaker: String, start: Double, end: Double, line: Int)])
        -> (spans: [(start: Double, end: Double)], first: (utterance: Int, at: Double)?) {
        var overlaps: [(start: Double, end: Double, line: Int)] = []
        for (i, a) in lines.enumerated() {
            for b in lines[(i + 1)...] where b.speaker != a.speaker {
                let start = max(a.start, b.start), end = min(a.end, b.end)
                if end > start { overlaps.append((start, end, a.start >= b.start ? a.line : b.line)) }
            }
        }
        overlaps.sort { $0.start < $1.start }
        var merged: [(start: Double, end: Double)] = []
        for span in overlaps {
            if let last = merged.last, span.start <= last.end { merged[merged.count - 1].end = max(last.end, span.end) } else { merged.append((span.start, span.end)) }
        }
        return (merged, overlaps.first.map { ($0.line, $0.start) })
    }

    /// Two caller lines say the same thing: most of their words shared (lines of two words or more).
    static func similar(_ a: Set<String>, _ b: Set<String>) -> Bool {
        guard a.count >= 2, b.count >= 2 else { return false }
        return Double(a.intersection(b).count) / Double(a.union(b).count) >= 0.6
    }

    /// Words a phrase of three words or more may have slipped in between its own ("thank you *very much* for calling",
    /// "this call *may be* recorded", or a recognizer's stray word), as people vary a set phrase.
    static let phraseSlack = 2

    /// The first of a rule's phrases said in `words`: its words in order, stemmed ("recorded for training" meets "we
    /// record for training"), with up to ``phraseSlack`` other words among them when it has three or more.
    private func firstPhrase(of rule: QualityRule, in words: [String], key: String? = nil) -> String? {
        guard let phrases = phrasesByRule[key ?? rule.id] else { return nil }
        let stems = words.map(TextNormalizer.stem)
        for phrase in phrases where !phrase.words.isEmpty && stems.count >= phrase.words.count {
            let slack = phrase.words.count >= 3 ? Self.phraseSlack : 0
            for start in stems.indices where stems[start] == phrase.words[0] {
                var matched = 1, skipped = 0, index = start + 1
                while matched < phrase.words.count, index < stems.count, skipped <= slack {
                    if stems[index] == phrase.words[matched] { matched += 1 } else { skipped += 1 }
                    index += 1
                }
                if matched == phrase.words.count && skipped <= slack { return phrase.text }
            }
        }
        return nil
    }

    private func make(_ rule: QualityRule, utterance: Int?, at: Double, _ message: String) -> Finding {
        Finding(callId: callId, sequence: 0, rule: rule.id, severity: rule.severity, utterance: utterance, at: at, message: message)
    }

    /// Numbers new findings in order and keeps them; a rule fires at most once per line (or per moment, without one).
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
