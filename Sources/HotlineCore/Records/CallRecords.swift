public import Foundation

// MARK: - What is kept of every call

/// How a call reached Hotline.
public enum Gateway: String, Sendable, Codable, CaseIterable {
    /// Asterisk AudioSocket.
    case audioSocket = "audiosocket"
    /// Twilio Media Streams.
    case twilio
    /// FreeSWITCH mod_audio_fork.
    case audioFork = "audio-fork"
    /// jambonz `listen`.
    case jambonz
    /// A vosk-server client (transcription only).
    case vosk
    /// Typed conversation over `/v1/chat`.
    case chat
    /// A recorded call brought in from a file.
    case recording
}

/// How a call began: who, from where, with what parameters.
public struct CallStart: Sendable, Equatable {
    /// The call's id (AudioSocket UUID, Twilio call SID, or one made up by the server).
    public var id: String
    /// The gateway protocol.
    public var gateway: Gateway
    /// The caller's number, when the gateway passes it (caller memory uses it).
    public var callerNumber: String?
    /// The caller's language, when the gateway passes it.
    public var language: String?
    /// Other parameters from the gateway (Twilio custom parameters, fork metadata).
    public var parameters: [String: String]
    /// The name of the API key the gateway used (never the key).
    public var keyName: String?

    /// Makes a call start.
    public init(id: String, gateway: Gateway, callerNumber: String? = nil, language: String? = nil, parameters: [String: String] = [:],
                keyName: String? = nil) {
        self.id = id
        self.gateway = gateway
        self.callerNumber = callerNumber
        self.language = language
        self.parameters = parameters
        self.keyName = keyName
    }
}

/// Where a call is, and once it is over, how it ended for the caller. Defined for supervisors in `docs/qa.md`.
public enum CallStatus: String, Sendable, Codable, CaseIterable {
    /// Still connected.
    case live
    /// The bot served the caller's request and the call ended normally: counted as contained.
    case contained
    /// The bot handed the caller to a person (queue and reason in the record).
    case handedOff = "handed-off"
    /// The caller hung up with a request still open: while the bot waited for an answer, during a prompt, before
    /// saying what they wanted, or after a failure they heard.
    case abandoned
    /// The system failed the caller: the connection or the bot broke off the call on an error.
    case failed
    /// The node running the call stopped (crash, kill, lost heartbeat): closed at its last line by recovery.
    case interrupted
    /// A call without a bot (transcription only, listen-only) that ended normally: no bot outcome applies.
    case completed

    /// Whether the call is over.
    public var isFinished: Bool { self != .live }
}

/// A call as the transcript store keeps it: who, when, by which gateway, and how it ended.
public struct CallRecord: Sendable, Equatable, Codable {
    /// The call id (AudioSocket UUID, Twilio call SID, …).
    public var id: String
    /// The gateway protocol.
    public var gateway: Gateway
    /// The caller's number, when the gateway passed it.
    public var callerNumber: String?
    /// The node (server) that ran the call.
    public var node: String
    /// Wall-clock start.
    public var startedAt: Date
    /// Wall-clock end (`nil` while live).
    public var endedAt: Date?
    /// Where the call is, or its outcome.
    public var status: CallStatus
    /// Why the outcome is what it is ("the caller hung up while the bot waited for an answer about transfer_money").
    public var outcomeReason: String?
    /// Why the call ended (as the gateway or the bot said it).
    public var endReason: String?
    /// Seconds of call audio.
    public var duration: Double
    /// The caller's main intent (the topic), when one was understood.
    public var intent: String?
    /// The queue the call was handed to (for a recorded call, the queue it came through).
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
    /// The agent who took the call (a recorded or listen-only call of a person), when known.
    public var agent: String?

    /// Makes a record of a call that has just started.
    public init(id: String, gateway: Gateway, callerNumber: String? = nil, node: String = "", startedAt: Date = Date(), endedAt: Date? = nil,
                status: CallStatus = .live, outcomeReason: String? = nil, endReason: String? = nil, duration: Double = 0, intent: String? = nil,
                handoffQueue: String? = nil, handoffReason: String? = nil, handoffSummary: String? = nil, score: Double? = nil,
                worstSeverity: Severity? = nil, errors: [String] = [], agent: String? = nil) {
        self.id = id
        self.gateway = gateway
        self.callerNumber = callerNumber
        self.node = node
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.status = status
        self.outcomeReason = outcomeReason
        self.endReason = endReason
        self.duration = duration
        self.intent = intent
        self.handoffQueue = handoffQueue
        self.handoffReason = handoffReason
        self.handoffSummary = handoffSummary
        self.score = score
        self.worstSeverity = worstSeverity
        self.errors = errors
        self.agent = agent
    }

    /// Whether the bot finished the call without a person, having served the caller.
    public var isContained: Bool { status == .contained }
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
