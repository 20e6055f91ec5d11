public import Foundation

// MARK: - What is kept of every call

/// A call as the transcript store keeps it: who, when, by which gateway, and how it ended.
public struct CallRecord: Sendable, Equatable, Codable {
    /// The call id (AudioSocket UUID, Twilio call SID, …).
    public var id: String
    /// The gateway protocol ("audiosocket", "twilio", …).
    public var gateway: String
    /// The caller's number, when the gateway passed it.
    public var callerNumber: String?
    /// The node (server) that ran the call.
    public var node: String
    /// Wall-clock start.
    public var startedAt: Date
    /// Wall-clock end (`nil` while live).
    public var endedAt: Date?
    /// "live", "completed", "handed-off" or "failed".
    public var status: String
    /// Why the call ended.
    public var endReason: String?
    /// Seconds of call audio.
    public var duration: Double
    /// The caller's main intent (the topic), when one was understood.
    public var intent: String?
    /// The queue the call was handed to.
    public var handoffQueue: String?
    /// Why it was handed off.
    public var handoffReason: String?
    /// The handoff summary (masked transcript lines and slots) as the agent sees it.
    public var handoffSummary: String?
    /// QA score, 0…100 (updated as findings arrive).
    public var score: Double?
    /// The most severe finding so far.
    public var worstSeverity: Severity?
    /// Errors met during the call.
    public var errors: [String]

    /// Makes a record of a call that has just started.
    public init(id: String, gateway: String, callerNumber: String? = nil, node: String = "", startedAt: Date = Date(), endedAt: Date? = nil,
                status: String = "live", endReason: String? = nil, duration: Double = 0, intent: String? = nil, handoffQueue: String? = nil,
                handoffReason: String? = nil, handoffSummary: String? = nil, score: Double? = nil, worstSeverity: Severity? = nil,
                errors: [String] = []) {
        self.id = id
        self.gateway = gateway
        self.callerNumber = callerNumber
        self.node = node
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.status = status
        self.endReason = endReason
        self.duration = duration
        self.intent = intent
        self.handoffQueue = handoffQueue
        self.handoffReason = handoffReason
        self.handoffSummary = handoffSummary
        self.score = score
        self.worstSeverity = worstSeverity
        self.errors = errors
    }

    /// Whether the bot finished the call without a person.
    public var isContained: Bool { status == "completed" }
}

/// One finalised line of a call: what the caller said (recognised) or what the bot said. Text is stored redacted.
public struct UtteranceRecord: Sendable, Equatable, Codable {
    /// The call.
    public var callId: String
    /// Order within the call, from 0 (caller and bot lines share one sequence).
    public var sequence: Int
    /// "caller" or "bot".
    public var speaker: String
    /// What was said, with card and account numbers masked.
    public var text: String
    /// Call time the line starts, seconds.
    public var start: Double
    /// Call time it ends, seconds.
    public var end: Double
    /// Recognition confidence (caller lines).
    public var confidence: Double?
    /// Words with times and confidence (caller lines; masked like the text).
    public var words: [RecognizedWord]
    /// The intent understood from it (caller lines).
    public var intent: String?
    /// Confidence in that intent.
    public var intentConfidence: Double?
    /// Slot values heard in it (masked where sensitive).
    public var slots: [String: String]
    /// The recognition search it was decoded with (caller lines).
    public var search: String?

    /// Makes a line.
    public init(callId: String, sequence: Int, speaker: String, text: String, start: Double, end: Double, confidence: Double? = nil,
                words: [RecognizedWord] = [], intent: String? = nil, intentConfidence: Double? = nil, slots: [String: String] = [:],
                search: String? = nil) {
        self.callId = callId
        self.sequence = sequence
        self.speaker = speaker
        self.text = text
        self.start = start
        self.end = end
        self.confidence = confidence
        self.words = words
        self.intent = intent
        self.intentConfidence = intentConfidence
        self.slots = slots
        self.search = search
    }
}

/// Something that happened on a call besides speech: barge-in, no-input, no-match, DTMF, overload, handoff, error.
public struct CallEventRecord: Sendable, Equatable, Codable {
    /// The call.
    public var callId: String
    /// Order within the call's events, from 0.
    public var sequence: Int
    /// "barge-in", "no-input", "no-match", "dtmf", "overload", "handoff", "error".
    public var kind: String
    /// Call time, seconds.
    public var at: Double
    /// Details (the digit, the queue, the error).
    public var detail: String

    /// Makes an event record.
    public init(callId: String, sequence: Int, kind: String, at: Double, detail: String = "") {
        self.callId = callId
        self.sequence = sequence
        self.kind = kind
        self.at = at
        self.detail = detail
    }
}

/// How serious a QA finding is.
public enum Severity: String, Sendable, Codable, CaseIterable, Comparable {
    case info
    case warning
    case critical

    private var rank: Int {
        switch self {
        case .info: 0
        case .warning: 1
        case .critical: 2
        }
    }

    public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
}

/// A quality rule that fired on a call.
public struct Finding: Sendable, Equatable, Codable {
    /// The call.
    public var callId: String
    /// Order within the call's findings, from 0.
    public var sequence: Int
    /// The rule's id (from the rules file).
    public var rule: String
    /// How serious.
    public var severity: Severity
    /// The utterance it points at (its sequence), when it points at one.
    public var utterance: Int?
    /// Call time, seconds.
    public var at: Double
    /// What was seen, for the reviewer.
    public var message: String

    /// Makes a finding.
    public init(callId: String, sequence: Int, rule: String, severity: Severity, utterance: Int?, at: Double, message: String) {
        self.callId = callId
        self.sequence = sequence
        self.rule = rule
        self.severity = severity
        self.utterance = utterance
        self.at = at
        self.message = message
    }
}

/// A reviewer's scorecard for a call.
public struct Review: Sendable, Equatable, Codable {
    /// The call.
    public var callId: String
    /// Who reviewed (the API key's name).
    public var reviewer: String
    /// Scores by criterion, 0…5 (e.g. "greeting": 4).
    public var scores: [String: Int]
    /// Free text.
    public var comment: String
    /// When it was saved.
    public var savedAt: Date

    /// Makes a review.
    public init(callId: String, reviewer: String, scores: [String: Int], comment: String, savedAt: Date = Date()) {
        self.callId = callId
        self.reviewer = reviewer
        self.scores = scores
        self.comment = comment
        self.savedAt = savedAt
    }

    /// The scores' mean on a 0…100 scale, when there are any.
    public var percentage: Double? {
        scores.isEmpty ? nil : Double(scores.values.reduce(0, +)) / Double(scores.count * 5) * 100
    }
}

/// A call's audio: caller on the left channel, bot on the right, compressed.
public struct Recording: Sendable, Equatable {
    /// The call.
    public var callId: String
    /// MIME type ("audio/flac").
    public var mediaType: String
    /// The file's bytes.
    public var data: Data

    /// Makes a recording.
    public init(callId: String, mediaType: String, data: Data) {
        self.callId = callId
        self.mediaType = mediaType
        self.data = data
    }
}

/// Everything stored about one call.
public struct CallDetail: Sendable, Equatable, Codable {
    public var call: CallRecord
    public var utterances: [UtteranceRecord]
    public var events: [CallEventRecord]
    public var findings: [Finding]
    public var reviews: [Review]
    /// Whether a recording is stored.
    public var hasRecording: Bool

    /// Makes a detail.
    public init(call: CallRecord, utterances: [UtteranceRecord], events: [CallEventRecord], findings: [Finding], reviews: [Review],
                hasRecording: Bool) {
        self.call = call
        self.utterances = utterances
        self.events = events
        self.findings = findings
        self.reviews = reviews
        self.hasRecording = hasRecording
    }
}

// MARK: - Queries

/// Which calls to list.
public struct CallQuery: Sendable, Equatable {
    /// Full-text search over the transcripts (words; all must occur in one call).
    public var text: String?
    /// Calls started at or after.
    public var from: Date?
    /// Calls started before.
    public var to: Date?
    /// Status ("live", "completed", "handed-off", "failed").
    public var status: String?
    /// The call's intent.
    public var intent: String?
    /// Calls with a finding from this rule.
    public var rule: String?
    /// Calls with a finding at least this severe.
    public var severity: Severity?
    /// QA score at least.
    public var minimumScore: Double?
    /// QA score at most.
    public var maximumScore: Double?
    /// The caller's number.
    public var callerNumber: String?
    /// Page size.
    public var limit: Int
    /// Calls to skip (newest first).
    public var offset: Int

    /// Makes a query; everything unset matches all calls.
    public init(text: String? = nil, from: Date? = nil, to: Date? = nil, status: String? = nil, intent: String? = nil, rule: String? = nil,
                severity: Severity? = nil, minimumScore: Double? = nil, maximumScore: Double? = nil, callerNumber: String? = nil,
                limit: Int = 50, offset: Int = 0) {
        self.text = text
        self.from = from
        self.to = to
        self.status = status
        self.intent = intent
        self.rule = rule
        self.severity = severity
        self.minimumScore = minimumScore
        self.maximumScore = maximumScore
        self.callerNumber = callerNumber
        self.limit = limit
        self.offset = offset
    }

    /// A date as people type it in filters: `2026-11-25T10:00:00Z` or a day, `2026-11-25` (midnight UTC).
    public static func date(_ text: String) -> Date? {
        (try? Date(text, strategy: .iso8601)) ?? (try? Date(text, strategy: Date.ISO8601FormatStyle().year().month().day()))
    }

    /// The words of `text` a full-text search looks for (letters and digits only, lower-case).
    public var searchWords: [String] {
        guard let text else { return [] }
        return text.lowercased().split { !($0.isLetter || $0.isNumber) }.map(String.init).filter { !$0.isEmpty }
    }
}

/// One page of calls.
public struct CallPage: Sendable, Equatable, Codable {
    /// The calls, newest first.
    public var calls: [CallRecord]
    /// How many calls match in all.
    public var total: Int

    public init(calls: [CallRecord], total: Int) {
        self.calls = calls
        self.total = total
    }
}

/// Totals over a period: what a supervisor reads.
public struct CallReport: Sendable, Equatable, Codable {
    /// Calls started in the period.
    public var calls: Int
    /// Calls the bot finished without a person.
    public var contained: Int
    /// Calls handed to a person.
    public var handedOff: Int
    /// Calls that failed.
    public var failed: Int
    /// Calls still live.
    public var live: Int
    /// Handoffs by reason.
    public var handoffsByReason: [String: Int]
    /// Handoffs by queue.
    public var handoffsByQueue: [String: Int]
    /// Calls by intent.
    public var intents: [String: Int]
    /// Findings by rule.
    public var findingsByRule: [String: Int]
    /// Mean QA score of the calls that have one.
    public var averageScore: Double?
    /// Mean reviewer score (0…100) of the reviewed calls.
    public var averageReviewScore: Double?
    /// Calls per hour (start of the hour → calls).
    public var callsPerHour: [Date: Int]
    /// Mean QA score per day (start of the day → score).
    public var scoreByDay: [Date: Double]
    /// Findings per day.
    public var findingsByDay: [Date: Int]

    /// An empty report.
    public init() {
        calls = 0
        contained = 0
        handedOff = 0
        failed = 0
        live = 0
        handoffsByReason = [:]
        handoffsByQueue = [:]
        intents = [:]
        findingsByRule = [:]
        callsPerHour = [:]
        scoreByDay = [:]
        findingsByDay = [:]
    }

    /// Share of finished calls the bot contained, 0…1.
    public var containmentRate: Double {
        let finished = contained + handedOff + failed
        return finished == 0 ? 0 : Double(contained) / Double(finished)
    }

    /// Builds the report from the calls, their findings and reviews (stores with no aggregate SQL of their own use this).
    public static func build(calls: [CallRecord], findings: [Finding], reviews: [Review], calendar: Calendar = .utc) -> CallReport {
        var report = CallReport()
        var scores: [Double] = []
        var dayScores: [Date: [Double]] = [:]
        let callsById = Dictionary(calls.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        for call in calls {
            report.calls += 1
            switch call.status {
            case "completed": report.contained += 1
            case "handed-off": report.handedOff += 1
            case "failed": report.failed += 1
            default: report.live += 1
            }
            if let reason = call.handoffReason { report.handoffsByReason[Self.reasonCategory(reason), default: 0] += 1 }
            if let queue = call.handoffQueue { report.handoffsByQueue[queue, default: 0] += 1 }
            if let intent = call.intent { report.intents[intent, default: 0] += 1 }
            if let hour = calendar.dateInterval(of: .hour, for: call.startedAt)?.start { report.callsPerHour[hour, default: 0] += 1 }
            if let score = call.score {
                scores.append(score)
                if let day = calendar.dateInterval(of: .day, for: call.startedAt)?.start { dayScores[day, default: []].append(score) }
            }
        }
        for finding in findings {
            report.findingsByRule[finding.rule, default: 0] += 1
            if let call = callsById[finding.callId], let day = calendar.dateInterval(of: .day, for: call.startedAt)?.start {
                report.findingsByDay[day, default: 0] += 1
            }
        }
        report.averageScore = scores.isEmpty ? nil : scores.reduce(0, +) / Double(scores.count)
        report.scoreByDay = dayScores.mapValues { $0.reduce(0, +) / Double($0.count) }
        let reviewScores = reviews.compactMap(\.percentage)
        report.averageReviewScore = reviewScores.isEmpty ? nil : reviewScores.reduce(0, +) / Double(reviewScores.count)
        return report
    }

    /// Groups handoff reasons a manager compares ("no automated answer for pay_bill" → "no automated answer").
    public static func reasonCategory(_ reason: String) -> String {
        if let colon = reason.firstIndex(of: ":") { return "flow handoff (" + reason[reason.index(after: colon)...].trimmingCharacters(in: .whitespaces) + ")" }
        if reason.hasPrefix("no automated answer") { return "no automated answer" }
        return reason
    }
}

extension Calendar {
    /// The Gregorian calendar in UTC (reports group by UTC hours and days).
    public static var utc: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }
}

// MARK: - The store

/// Where calls, their utterances, events, findings, reviews and recordings are kept. SQLite embedded by default;
/// PostgreSQL when several nodes share one store. Every write is idempotent (keyed by call id and sequence), so a
/// writer may retry after an outage without duplicating anything.
public protocol TranscriptStore: Sendable {
    /// Creates or upgrades the schema.
    func migrate() async throws
    /// Inserts or replaces a call's record.
    func save(call: CallRecord) async throws
    /// Adds an utterance, or replaces the call's utterance with the same sequence (a retry, or the intent arriving
    /// after the words).
    func append(utterance: UtteranceRecord) async throws
    /// Adds an event (idempotent like utterances).
    func append(event: CallEventRecord) async throws
    /// Adds a finding (idempotent like utterances).
    func append(finding: Finding) async throws
    /// Saves a reviewer's scorecard (one per reviewer per call; saving again replaces it).
    func save(review: Review) async throws
    /// Stores a call's recording (replacing any earlier one).
    func save(recording: Recording) async throws

    /// A call's record.
    func call(id: String) async throws -> CallRecord?
    /// Everything stored about a call.
    func detail(of id: String) async throws -> CallDetail?
    /// A call's recording.
    func recording(of id: String) async throws -> Recording?
    /// Calls matching a query, newest first.
    func calls(matching query: CallQuery) async throws -> CallPage
    /// Totals over calls started in `from..<to` (either end open).
    func report(from: Date?, to: Date?) async throws -> CallReport
    /// Deletes calls (and everything of theirs) that started before `date`; returns how many.
    func deleteCalls(startedBefore date: Date) async throws -> Int
    /// Closes connections.
    func close() async throws
}

/// Carries live-feed events between nodes that share a store (PostgreSQL LISTEN/NOTIFY).
public protocol FeedRelay: Sendable {
    /// Sends an event (JSON, at most a few kilobytes) to every node listening, this one included.
    func publish(_ payload: String) async throws
    /// Receives every node's events until cancelled or the connection fails (then it throws).
    func listen(_ receive: @escaping @Sendable (String) async -> Void) async throws
}
