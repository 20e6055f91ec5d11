public import Foundation
public import HotlineCore

/// A call as `GET /v1/calls` and `GET /v1/calls/{id}` show it: what a dialplan reads once the socket closes (status,
/// handoff queue) and what an operator reads while it runs. Made from the call's ledger; it keeps no state of its own.
public struct CallView: Sendable, Equatable, Codable {
    /// One line of the conversation.
    public struct Line: Sendable, Equatable, Codable {
        /// "caller" or "bot".
        public var speaker: String
        /// What was said (masked).
        public var text: String
        /// Call time the line began, seconds.
        public var at: Double
        /// Recognition confidence (caller lines).
        public var confidence: Double?
    }

    public var id: String
    public var gateway: Gateway
    /// `live` while connected; then the outcome: contained, handed-off, abandoned, failed, interrupted (or completed for
    /// a call without a bot).
    public var status: CallStatus
    /// Why the outcome is what it is.
    public var outcomeReason: String?
    public var callerNumber: String?
    public var startedAt: Date
    public var endedAt: Date?
    /// Why the call ended ("caller hung up", "handed to cards", …).
    public var endReason: String?
    /// Seconds of call audio.
    public var duration: Double
    /// The handoff: queue, reason, intent, slots, transcript summary (masked).
    public var handoff: Handoff?
    /// Problems met during the call.
    public var errors: [String]
    /// The conversation so far.
    public var transcript: [Line]

    /// The view of a call's ledger.
    public init(_ ledger: CallLedger) {
        let record = ledger.record
        id = record.id
        gateway = record.gateway
        status = record.status
        outcomeReason = record.outcomeReason
        callerNumber = record.callerNumber
        startedAt = record.startedAt
        endedAt = record.endedAt
        endReason = record.endReason
        duration = record.duration
        handoff = ledger.handoff
        errors = record.errors
        transcript = ledger.lines.map { Line(speaker: $0.speaker, text: $0.text, at: $0.start, confidence: $0.confidence) }
    }

    /// About how much memory the view takes: its strings, and a fixed cost per line and per view.
    public var estimatedBytes: Int {
        var bytes = 512 + id.utf8.count + (outcomeReason?.utf8.count ?? 0) + (callerNumber?.utf8.count ?? 0) + (endReason?.utf8.count ?? 0)
        bytes += errors.reduce(0) { $0 + $1.utf8.count + 32 }
        bytes += transcript.reduce(0) { $0 + $1.speaker.utf8.count + $1.text.utf8.count + 96 }
        if let handoff {
            bytes += 256 + handoff.queue.utf8.count + handoff.reason.utf8.count + handoff.transcript.reduce(0) { $0 + $1.utf8.count + 32 }
            bytes += handoff.slots.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 64 }
        }
        return bytes
    }
}
