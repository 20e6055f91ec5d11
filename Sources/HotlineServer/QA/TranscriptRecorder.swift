public import Foundation
public import HotlineCore
public import Logging
import Metrics
import Synchronization

/// The transcript store's observer of every call: turns call events into stored lines, events and findings as they
/// happen (each utterance is queued for the store the moment it is final, not at hang-up), runs the QA rules on each
/// line, publishes everything to the live feed, and stores the call's recording when it ends. Text is redacted before
/// it is stored or published: the raw card or account number exists only in the recognizer's result in memory.
public final class TranscriptRecorder: CallObserver {
    private struct CallState {
        var record: CallRecord
        var checker: QualityChecker
        var lines: [UtteranceRecord] = []
        var rawCallerText: [Int: String] = [:]
        var botLine: [Int: Int] = [:]  // prompt id → line sequence
        var events = 0
        var transcript: [String] = []
    }

    /// The writer all records go through.
    public let writer: StoreWriter
    /// The live feed.
    public let feed: LiveFeed
    /// The QA rules.
    public let rules: QualityRules
    /// Compresses recordings (`nil`: calls are not recorded).
    public let encoder: (any RecordingEncoder)?
    private let calls = Mutex<[String: CallState]>([:])
    private let redactor = SlotExtractor()
    private let logger: Logger

    /// Makes the observer.
    public init(writer: StoreWriter, feed: LiveFeed, rules: QualityRules, encoder: (any RecordingEncoder)?, logger: Logger) {
        self.writer = writer
        self.feed = feed
        self.rules = rules
        self.encoder = encoder
        self.logger = logger
    }

    public var wantsRecording: Bool { encoder != nil }

    public func callStarted(_ call: CallStart) async {
        let record = CallRecord(id: call.id, gateway: call.gateway.rawValue, callerNumber: call.callerNumber, node: feed.node, startedAt: Date())
        calls.withLock { $0[call.id] = CallState(record: record, checker: QualityChecker(rules: rules, callId: call.id)) }
        writer.enqueue(.call(record))
        feed.publish(FeedEvent(kind: .callStarted, callId: call.id, call: record, node: feed.node))
    }

    public func call(_ call: CallStart, event: CallEvent) async {
        var operations: [StoreOperation] = []
        var published: [FeedEvent] = []
        let node = feed.node
        calls.withLock { calls in
            guard var state = calls[call.id] else { return }
            defer { calls[call.id] = state }
            func add(_ line: UtteranceRecord, raw: String) {
                operations.append(.utterance(line))
                published.append(FeedEvent(kind: .utterance, callId: call.id, utterance: line, node: node))
                record(state.checker.observe(line, rawText: raw), in: &state, &operations, &published)
            }
            func replace(_ line: UtteranceRecord) {
                state.lines[line.sequence] = line
                operations.append(.utterance(line))
                published.append(FeedEvent(kind: .utterance, callId: call.id, utterance: line, node: node))
            }
            func note(_ kind: String, at: Double, _ detail: String = "") {
                let event = CallEventRecord(callId: call.id, sequence: state.events, kind: kind, at: at, detail: detail)
                state.events += 1
                operations.append(.event(event))
                record(state.checker.observe(event), in: &state, &operations, &published)
            }
            switch event {
            case .final(let result):
                let spoken = result.utterance
                let line = UtteranceRecord(
                    callId: call.id, sequence: state.lines.count, speaker: "caller", text: redactor.redact(spoken.text), start: spoken.start,
                    end: spoken.end, confidence: spoken.confidence, words: redactor.redact(words: spoken.words), search: Self.name(result.search))
                state.lines.append(line)
                state.rawCallerText[line.sequence] = spoken.text
                state.transcript.append("caller: \(line.text)")
                add(line, raw: spoken.text)
            case .understood(let reading, let start):
                guard let index = state.lines.lastIndex(where: { $0.speaker == "caller" && $0.start == start }) else { return }
                var line = state.lines[index]
                line.intent = reading.intent
                line.intentConfidence = reading.confidence
                line.slots = reading.slots
                replace(line)
                record(state.checker.understood(line), in: &state, &operations, &published)
                if reading.intent == nil { note("no-match", at: line.end, state.rawCallerText[index].map(redactor.redact) ?? "") }
                if state.record.intent == nil, let intent = reading.intent, !["affirm", "deny", "repeat", "goodbye"].contains(intent) {
                    state.record.intent = intent
                    operations.append(.call(state.record))
                    published.append(FeedEvent(kind: .callUpdated, callId: call.id, call: state.record, node: node))
                }
            case .playbackStarted(let id, let text, let at, _):
                let line = UtteranceRecord(callId: call.id, sequence: state.lines.count, speaker: "bot", text: redactor.redactKeepingForm(text), start: at, end: at)
                state.lines.append(line)
                state.botLine[id] = line.sequence
                state.transcript.append("bot: \(line.text)")
                add(line, raw: text)
            case .playbackFinished(let id, let duration):
                guard let sequence = state.botLine[id] else { return }
                var line = state.lines[sequence]
                line.end = (line.start + duration).rounded(toPlaces: 3)
                replace(line)
            case .bargeIn(let id, let at):
                note("barge-in", at: at, "prompt \(id)")
                if let sequence = state.botLine[id], state.lines[sequence].end > at {
                    var line = state.lines[sequence]
                    line.end = at
                    replace(line)
                }
            case .noInput(let at, let silence):
                note("no-input", at: at, String(format: "%.1f", silence))
            case .dtmf(let digit, let at):
                // Digits keyed in may be a card number: the key is kept, the digit is not.
                note("dtmf", at: at, digit.isNumber ? "digit" : String(digit))
            case .overloaded(let at, let dropped):
                note("overload", at: at, String(format: "%.1f s of audio not accepted", dropped))
            case .handoff(let handoff, let at):
                state.record.handoffQueue = handoff.queue
                state.record.handoffReason = handoff.reason
                state.record.handoffSummary = Self.summary(handoff, redactor: redactor)
                if state.record.intent == nil { state.record.intent = handoff.intent }
                note("handoff", at: at, handoff.queue)
                operations.append(.call(state.record))
                published.append(FeedEvent(kind: .callUpdated, callId: call.id, call: state.record, node: node))
            case .error(let error):
                note("error", at: state.lines.last?.end ?? 0, redactor.redactKeepingForm("\(error)"))
            default:
                break
            }
        }
        operations.forEach(writer.enqueue)
        published.forEach(feed.publish)
    }

    public func callEnded(_ call: CallStart, outcome: CallOutcome) async {
        var operations: [StoreOperation] = []
        var published: [FeedEvent] = []
        calls.withLock { calls in
            guard var state = calls.removeValue(forKey: call.id) else { return }
            record(state.checker.finish(duration: outcome.duration), in: &state, &operations, &published)
            state.record.status = outcome.status.rawValue
            state.record.endedAt = outcome.endedAt ?? Date()
            state.record.endReason = outcome.endReason.map(redactor.redactKeepingForm)
            state.record.duration = outcome.duration
            state.record.errors = outcome.errors.map(redactor.redactKeepingForm)
            state.record.score = state.checker.score
            operations.append(.call(state.record))
            published.append(FeedEvent(kind: .callEnded, callId: call.id, call: state.record, node: feed.node))
        }
        operations.forEach(writer.enqueue)
        published.forEach(feed.publish)
    }

    public func callRecorded(_ call: CallStart, recorder: CallRecorder) async {
        guard let encoder else { return }
        do {
            let data = try encoder.encode(stereo: recorder.stereo(), sampleRate: recorder.sampleRate)
            writer.enqueue(.recording(Recording(callId: call.id, mediaType: encoder.mediaType, data: data)))
        } catch {
            logger.error("could not encode the call's recording", metadata: ["call": "\(call.id)", "error": "\(error)"])
        }
    }

    /// Keeps new findings: stored, published (alerts too), counted, and the call's score updated.
    private func record(_ findings: [Finding], in state: inout CallState, _ operations: inout [StoreOperation], _ published: inout [FeedEvent]) {
        guard !findings.isEmpty else { return }
        for finding in findings {
            operations.append(.finding(finding))
            Counter(label: "hotline_qa_findings_total", dimensions: [("rule", finding.rule)]).increment()
            published.append(FeedEvent(kind: .finding, callId: finding.callId, finding: finding, node: feed.node))
            if rules.isAlert(finding) {
                Counter(label: "hotline_qa_alerts_total", dimensions: [("rule", finding.rule)]).increment()
                published.append(FeedEvent(kind: .alert, callId: finding.callId, finding: finding, node: feed.node))
                logger.warning("QA alert", metadata: ["call": "\(finding.callId)", "rule": "\(finding.rule)", "message": "\(finding.message)"])
            }
            state.record.worstSeverity = max(state.record.worstSeverity ?? finding.severity, finding.severity)
        }
        state.record.score = state.checker.score
        operations.append(.call(state.record))
        published.append(FeedEvent(kind: .callUpdated, callId: state.record.id, call: state.record, node: feed.node))
    }

    /// What the agent who takes the call reads: why, the intent, what was heard (masked).
    static func summary(_ handoff: Handoff, redactor: SlotExtractor) -> String {
        var lines = ["reason: \(handoff.reason)"]
        if let intent = handoff.intent { lines.append("intent: \(intent)") }
        if !handoff.slots.isEmpty { lines.append("slots: " + handoff.slots.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ", ")) }
        lines += handoff.transcript.map(redactor.redactKeepingForm)
        return lines.joined(separator: "\n")
    }

    static func name(_ search: RecognitionSearch) -> String {
        switch search {
        case .standard: "general"
        case .named(let name): name
        }
    }
}

extension Double {
    func rounded(toPlaces places: Int) -> Double {
        let scale = pow(10, Double(places))
        return (self * scale).rounded() / scale
    }
}
