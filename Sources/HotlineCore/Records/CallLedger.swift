public import Foundation

// MARK: - One call, one record

/// The one record of a call: folds the call's events, in order, into its redacted, sequenced lines (with words,
/// intents and slots), events, QA findings and a truthful outcome. The registry, the live feed, the transcript store,
/// the REST API and `hotline qa` read what it produces; nothing else keeps a transcript. A live call, an imported
/// recording and a chat conversation all feed one the same way: with ``CallEvent``s. Not thread-safe: one per call.
///
/// Text is redacted here, once: raw card or account numbers are used only to detect them and never leave the ledger.
public struct CallLedger: Sendable {
    /// What changed in the record, in order: what a store writes and a live feed publishes.
    public enum Change: Sendable, Equatable {
        /// The call began (its first record).
        case started(CallRecord)
        /// The call's record changed: intent, handoff, score.
        case updated(CallRecord)
        /// A line was added, or updated (its end, its intent).
        case line(UtteranceRecord)
        /// Something happened besides speech.
        case event(CallEventRecord)
        /// A QA rule fired; `alert` when it is severe enough to raise a live alert.
        case finding(Finding, alert: Bool)
        /// The call is over; its record is final.
        case ended(CallRecord)
    }

    /// How the call was closed, besides its events.
    public enum Closing: Sendable, Equatable {
        /// The call ended as its events say.
        case normal
        /// The connection or the gateway broke the call off with this error.
        case failed(String)
        /// The node stopped taking calls and hung this one up (shutdown).
        case interrupted(String)
    }

    /// The call's record (status, outcome, intent, handoff, score).
    public private(set) var record: CallRecord
    /// The lines, caller and bot, in the order they began.
    public private(set) var lines: [UtteranceRecord] = []
    /// Events besides speech, in order.
    public private(set) var events: [CallEventRecord] = []
    /// The handoff, once the bot made one (its summary and slots masked).
    public private(set) var handoff: Handoff?
    /// Whether a bot answers the call (a call without one has no bot outcome: it is `completed`).
    public let hasBot: Bool
    /// The rules the call is checked against.
    public var rules: QualityRules { checker.rules }

    private var checker: QualityChecker
    private var lineByUtterance: [Int: Int] = [:]
    private var rawCallerText: [Int: String] = [:]
    private var botLineByPrompt: [Int: Int] = [:]
    private var endedByBot = false
    // What came of the caller's requests.
    private var openRequest: (intent: String, line: Int?, at: Double)?
    private var served = 0
    private var lastFailure: String?
    private var systemErrors = 0
    // Silences: the end of the last speech, prompts whose length is not known yet, the silence in progress.
    private var speechUntil = 0.0
    private var promptsPlaying: Set<Int> = []
    private var bargedIn: Set<Int> = []
    private var silence: (start: Double, seconds: Double, prompts: Int, after: Int?)?
    private var repromptDue = false

    static let redactor = SlotExtractor()

    /// How the reason of a call the connection or gateway broke off begins.
    public static let brokeOff = "the call broke off"

    /// Text with card and account numbers masked, keeping its form (for logs and errors).
    public static func redact(_ text: String) -> String { redactor.redactKeepingForm(text) }

    /// Starts the record of a call.
    public init(_ call: CallStart, node: String, startedAt: Date = Date(), rules: QualityRules, hasBot: Bool) {
        record = CallRecord(id: call.id, gateway: call.gateway, callerNumber: call.callerNumber, node: node, startedAt: startedAt)
        checker = QualityChecker(rules: rules, callId: call.id)
        self.hasBot = hasBot
    }

    /// The findings so far, in call-time order.
    public var findings: [Finding] { checker.findings.sorted { ($0.at, $0.sequence) < ($1.at, $1.sequence) } }

    /// The first change: the call's record as it starts.
    public func begin() -> [Change] { [.started(record)] }

    // MARK: Folding events

    /// Folds one event of the call into the record; returns what changed.
    public mutating func apply(_ event: CallEvent) -> [Change] {
        var changes: [Change] = []
        switch event {
        case .final(let result):
            let spoken = result.utterance
            changes += speechBegins(at: spoken.start, reprompt: false)
            let line = UtteranceRecord(
                callId: record.id, sequence: lines.count, speaker: spoken.speaker.isEmpty ? "caller" : spoken.speaker,
                text: Self.redactor.redact(spoken.text), start: spoken.start, end: spoken.end, confidence: spoken.confidence,
                words: Self.redactor.redact(words: spoken.words), search: Self.name(result.search))
            record.duration = max(record.duration, result.endpointedAt)
            speechUntil = max(speechUntil, spoken.end)
            lineByUtterance[result.id] = line.sequence
            rawCallerText[line.sequence] = spoken.text
            changes += add(line, raw: spoken.text)
        case .understood(let reading, let utterance):
            guard let sequence = lineByUtterance[utterance] else { break }
            changes += understood(reading, line: sequence)
        case .playbackStarted(let id, let text, let at, _):
            changes += speechBegins(at: at, reprompt: repromptDue)
            repromptDue = false
            let line = UtteranceRecord(callId: record.id, sequence: lines.count, speaker: "bot", text: Self.redactor.redactKeepingForm(text),
                                       start: at, end: at)
            botLineByPrompt[id] = line.sequence
            promptsPlaying.insert(id)
            changes += add(line, raw: text)
        case .playbackFinished(let id, let duration):
            promptsPlaying.remove(id)
            // A prompt the caller talked over ended where they began (the barge-in set it).
            guard let sequence = botLineByPrompt[id], !bargedIn.contains(id) else { break }
            var line = lines[sequence]
            line.end = rounded(line.start + duration)
            speechUntil = max(speechUntil, line.end)
            changes += replace(line)
        case .bargeIn(let id, let at):
            changes += note("barge-in", at: at, "prompt \(id)")
            bargedIn.insert(id)
            promptsPlaying.remove(id)
            if let sequence = botLineByPrompt[id] {
                var line = lines[sequence]
                line.end = at
                changes += replace(line)
            }
            speechUntil = max(speechUntil, at)
        case .noInput(let at, let silence):
            changes += note("no-input", at: at, String(format: "%.1f", silence))
            repromptDue = true
        case .dtmf(let digit, let at):
            changes += speechBegins(at: at, reprompt: false)
            speechUntil = max(speechUntil, at)
            // Digits keyed in may be a card number: the key is kept, the digit is not.
            changes += note("dtmf", at: at, digit.isNumber ? "digit" : String(digit))
        case .overloaded(let at, let dropped):
            changes += note("overload", at: at, String(format: "%.1f s of audio not accepted", dropped))
            record.errors.append(String(format: "overloaded at %.1f s: %.1f s of audio not accepted", at, dropped))
        case .handoff(let handoff, let at):
            var masked = handoff
            masked.transcript = handoff.transcript.map(Self.redactor.redactKeepingForm)
            self.handoff = masked
            record.handoffQueue = handoff.queue
            record.handoffReason = handoff.reason
            record.handoffSummary = Self.summary(masked)
            if record.intent == nil { record.intent = handoff.intent }
            changes += note("handoff", at: at, handoff.queue)
            changes.append(.updated(record))
        case .error(let error):
            changes += noteError(Self.redactor.redactKeepingForm("\(error)"), at: lines.last?.end ?? 0)
            if case .recognition = error { systemErrors += 1 }
            if case .synthesis = error { systemErrors += 1 }
        case .ended(let at, let reason, let byBot):
            record.duration = at
            record.endReason = Self.redactor.redactKeepingForm(reason)
            endedByBot = byBot
            if promptsPlaying.isEmpty { changes += speechBegins(at: at, reprompt: false) }
        case .speechStarted, .partial, .playbackAudio, .marker:
            break
        }
        return changes
    }

    /// A problem with the call's input or processing, reported by the gateway or the host (logged in the record).
    public mutating func noteError(_ message: String, at: Double? = nil) -> [Change] {
        let text = Self.redactor.redactKeepingForm(message)
        record.errors.append(text)
        return note("error", at: at ?? lines.last?.end ?? 0, text)
    }

    /// Closes the call: decides its outcome, runs the end-of-call rules, and returns the final changes.
    public mutating func close(endedAt: Date = Date(), _ closing: Closing = .normal) -> [Change] {
        (record.status, record.outcomeReason) = outcome(closing)
        record.endedAt = endedAt
        var changes: [Change] = []
        let open = openRequest.map { (intent: $0.intent, utterance: $0.line, at: $0.at) }
        changes += found(checker.finish(duration: record.duration, status: record.status, reason: record.outcomeReason, openRequest: open))
        record.score = checker.score
        changes.append(.ended(record))
        return changes
    }

    /// The outcome and its reason, from how the call went.
    private func outcome(_ closing: Closing) -> (CallStatus, String) {
        if case .interrupted(let why) = closing { return (.interrupted, why) }
        if case .failed(let error) = closing, handoff == nil { return (.failed, "\(Self.brokeOff): \(Self.redactor.redactKeepingForm(error))") }
        guard hasBot else { return (.completed, "the call ended") }
        if let handoff { return (.handedOff, handoff.reason) }
        let request = openRequest?.intent
        if endedByBot {
            if let failure = lastFailure, request != nil || served == 0 { return (.failed, "bot ended the call after a failure: \(failure)") }
            if let request { return (.abandoned, "caller left before being served (\(request))") }
            if served > 0 { return (.contained, "served; the bot ended the call") }
            if systemErrors > 0 { return (.failed, "bot ended the call after system errors (\(systemErrors))") }
            return (.abandoned, "caller left before being served")
        }
        if let failure = lastFailure, request != nil || served == 0 { return (.abandoned, "hung up after a failure: \(failure)") }
        if let request { return (.abandoned, "hung up while the bot waited for an answer (\(request))") }
        if served == 0 {
            if !promptsPlaying.isEmpty || (lines.last.map { $0.speaker == "bot" && $0.end > record.duration + 0.05 } ?? false) {
                return (.abandoned, "hung up during a prompt, before being served")
            }
            if systemErrors > 0 { return (.failed, "hung up after system errors (\(systemErrors))") }
            return (.abandoned, "hung up before being served")
        }
        return (.contained, "served; the caller hung up")
    }

    // MARK: Pieces

    private mutating func understood(_ reading: Interpretation, line sequence: Int) -> [Change] {
        var changes: [Change] = []
        var line = lines[sequence]
        line.intent = reading.intent
        line.intentConfidence = reading.confidence
        line.slots = reading.slots
        changes += replace(line)
        switch reading.progress {
        case .asking?:
            if let request = reading.request ?? reading.intent, !Interpretation.answerIntents.contains(request) {
                if openRequest?.intent != request { openRequest = (request, sequence, line.start) }
            }
        case .served?:
            served += 1
            openRequest = nil
            lastFailure = nil
        case .failed?:
            let failure = Self.redactor.redactKeepingForm(reading.failure ?? "a system the bot needed failed")
            lastFailure = failure
            if let request = reading.request ?? reading.intent { openRequest = (request, sequence, line.start) }
            changes += note("backend-failure", at: line.end, failure)
        case .unserved?:
            openRequest = nil
        case .notUnderstood?, nil:
            break
        }
        changes += found(checker.understood(line, progress: reading.progress, failure: reading.failure.map(Self.redactor.redactKeepingForm)))
        if reading.intent == nil { changes += note("no-match", at: line.end, rawCallerText[sequence].map(Self.redactor.redact) ?? "") }
        rawCallerText[sequence] = nil
        if record.intent == nil, let intent = reading.intent, !Interpretation.answerIntents.contains(intent) {
            record.intent = intent
            changes.append(.updated(record))
        }
        return changes
    }

    /// Someone starts speaking (or keys a digit) at `at`: a silence before it ends, unless it is the bot's prompt after
    /// a no-input, which belongs to the silence it answers.
    private mutating func speechBegins(at: Double, reprompt: Bool) -> [Change] {
        if !promptsPlaying.isEmpty { return [] }  // a prompt whose length is not known yet is still playing
        let gap = max(0, at - speechUntil)
        var current = silence ?? (start: speechUntil, seconds: 0, prompts: 0, after: lines.last?.sequence)
        current.seconds += gap
        if reprompt {
            current.prompts += 1
            silence = current
            return []
        }
        silence = nil
        return found(checker.silence(current.seconds, at: current.start, after: current.after, prompts: current.prompts))
    }

    private mutating func add(_ line: UtteranceRecord, raw: String) -> [Change] {
        lines.append(line)
        return [.line(line)] + found(checker.observe(line, rawText: raw))
    }

    private mutating func replace(_ line: UtteranceRecord) -> [Change] {
        lines[line.sequence] = line
        return [.line(line)]
    }

    private mutating func note(_ kind: String, at: Double, _ detail: String = "") -> [Change] {
        let event = CallEventRecord(callId: record.id, sequence: events.count, kind: kind, at: at, detail: detail)
        events.append(event)
        return [.event(event)] + found(checker.observe(event))
    }

    /// New findings, with the record's score and worst severity brought up to date.
    private mutating func found(_ findings: [Finding]) -> [Change] {
        guard !findings.isEmpty else { return [] }
        var changes: [Change] = findings.map { .finding($0, alert: rules.isAlert($0)) }
        for finding in findings { record.worstSeverity = max(record.worstSeverity ?? finding.severity, finding.severity) }
        record.score = checker.score
        changes.append(.updated(record))
        return changes
    }

    /// What the agent who takes the call reads: why, the intent, what was heard (masked).
    public static func summary(_ handoff: Handoff) -> String {
        var lines = ["reason: \(handoff.reason)"]
        if let intent = handoff.intent { lines.append("intent: \(intent)") }
        if !handoff.pending.isEmpty { lines.append("also asked, not served: " + handoff.pending.joined(separator: ", ")) }
        if !handoff.served.isEmpty { lines.append("served by the bot: " + handoff.served.joined(separator: ", ")) }
        if !handoff.slots.isEmpty { lines.append("slots: " + handoff.slots.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ", ")) }
        lines += handoff.transcript.map(redactor.redactKeepingForm)
        return lines.joined(separator: "\n")
    }

    /// The name a recognition search is stored under.
    public static func name(_ search: RecognitionSearch) -> String {
        switch search {
        case .standard: "general"
        case .named(let name): name
        }
    }
}
