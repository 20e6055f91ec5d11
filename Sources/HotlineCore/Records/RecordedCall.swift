public import Foundation

// MARK: - Recorded calls brought in

/// What is known of a recording besides its audio (from the PBX's or recording system's export, or the command line).
public struct RecordingMetadata: Sendable, Equatable {
    /// The agent who took the call.
    public var agent: String?
    /// The queue the call came through.
    public var queue: String?
    /// The caller's number.
    public var callerNumber: String?
    /// When the call started (default: the file's modification time).
    public var startedAt: Date?

    /// Makes metadata; everything unset is unknown.
    public init(agent: String? = nil, queue: String? = nil, callerNumber: String? = nil, startedAt: Date? = nil) {
        self.agent = agent
        self.queue = queue
        self.callerNumber = callerNumber
        self.startedAt = startedAt
    }

    /// Fills what this leaves unknown from `other`.
    public func filled(from other: RecordingMetadata) -> RecordingMetadata {
        RecordingMetadata(agent: agent ?? other.agent, queue: queue ?? other.queue, callerNumber: callerNumber ?? other.callerNumber,
                          startedAt: startedAt ?? other.startedAt)
    }
}

/// A recorded call made into the record a live call leaves: the call, its lines by speaker, its events and its QA
/// findings and score, through the same ledger and rules as a live call (`gateway: recording`, no bot).
public struct RecordedCall: Sendable {
    /// The call's record (status `completed`, its score from the rules).
    public var record: CallRecord
    /// The lines, in time order, redacted as a live call's are.
    public var lines: [UtteranceRecord]
    /// The events (silences and the like the ledger noted).
    public var events: [CallEventRecord]
    /// The findings, in call-time order.
    public var findings: [Finding]

    /// The speaker of a recording with one channel: both sides mixed, so rules scoped to a speaker do not judge it.
    public static let mixedSpeaker = "mixed"

    /// Builds the call from a recording's transcript. `id` should come from the recording's content, so that bringing in
    /// the same recording again replaces the call rather than adding a second one.
    public init(id: String, transcript: Transcript, metadata: RecordingMetadata, rules: QualityRules, node: String) {
        let startedAt = metadata.startedAt ?? Date()
        var ledger = CallLedger(CallStart(id: id, gateway: .recording, callerNumber: metadata.callerNumber),
                                node: node, startedAt: startedAt, rules: rules, hasBot: false)
        let mono = transcript.speakers.count == 1
        for (index, utterance) in transcript.utterances.enumerated() {
            var spoken = utterance
            if mono { spoken.speaker = Self.mixedSpeaker }
            _ = ledger.apply(.final(UtteranceResult(id: index, utterance: spoken, alternatives: [], search: .standard, decoding: .whole,
                                                    endpointedAt: spoken.end, latency: 0)))
        }
        _ = ledger.close(endedAt: startedAt.addingTimeInterval(transcript.audio.duration))
        var record = ledger.record
        record.duration = max(record.duration, transcript.audio.duration)
        record.agent = metadata.agent
        record.handoffQueue = metadata.queue
        record.endReason = "recording imported"
        self.record = record
        lines = ledger.lines
        events = ledger.events
        findings = ledger.findings
    }

    /// The id of a recorded call from the SHA-256 digest of its file: `rec-` and the first 16 bytes in hex.
    public static func id(sha256 digest: some Sequence<UInt8>) -> String {
        "rec-" + digest.prefix(16).map { String(format: "%02x", $0) }.joined()
    }

    /// Stores the call with its recording. The record goes last, so that a call is found (and an import of the same
    /// recording skipped) only once it is whole; everything before it is idempotent, so an interrupted save is redone.
    public func save(to store: any TranscriptStore, recording: Recording) async throws {
        for line in lines { try await store.append(utterance: line) }
        for event in events { try await store.append(event: event) }
        for finding in findings { try await store.append(finding: finding) }
        try await store.save(recording: recording)
        try await store.save(call: record)
    }
}

extension Recording {
    /// The media type of an audio file by its name's extension (`application/octet-stream` when unknown).
    public static func mediaType(forFileName name: String) -> String {
        switch (name as NSString).pathExtension.lowercased() {
        case "wav", "wave": "audio/wav"
        case "flac": "audio/flac"
        case "ogg", "oga", "opus": "audio/ogg"
        case "mp3": "audio/mpeg"
        case "aif", "aiff", "aifc": "audio/aiff"
        case "au", "snd", "ul", "ulaw", "mulaw": "audio/basic"
        default: "application/octet-stream"
        }
    }
}
