public import Foundation
public import HotlineCore
public import Logging

/// The transcript store's and the live feed's observer of every call: each change of a call's ledger is queued for the
/// store the moment it happens (a line the moment it is final, not at hang-up) and published to the live feed; the
/// call's recording is stored when it ends. It keeps no call state: the ledger is the call's one record, already
/// redacted.
public final class TranscriptRecorder: CallObserver {
    /// The writer all records go through.
    public let writer: StoreWriter
    /// The live feed.
    public let feed: LiveFeed
    /// Compresses recordings (`nil`: calls are not recorded).
    public let encoder: (any RecordingEncoder)?
    private let logger: Logger

    /// Makes the observer.
    public init(writer: StoreWriter, feed: LiveFeed, encoder: (any RecordingEncoder)?, logger: Logger) {
        self.writer = writer
        self.feed = feed
        self.encoder = encoder
        self.logger = logger
    }

    public var wantsRecording: Bool { encoder != nil }

    public func call(_ call: CallStart, changed changes: [CallLedger.Change]) async {
        let node = feed.node
        for change in changes {
            switch change {
            case .started(let record):
                writer.enqueue(.call(record))
                feed.publish(FeedEvent(kind: .callStarted, callId: record.id, call: record, node: node))
            case .updated(let record):
                writer.enqueue(.call(record))
                feed.publish(FeedEvent(kind: .callUpdated, callId: record.id, call: record, node: node))
            case .line(let line):
                writer.enqueue(.utterance(line))
                feed.publish(FeedEvent(kind: .utterance, callId: line.callId, utterance: line, node: node))
            case .event(let event):
                writer.enqueue(.event(event))
            case .finding(let finding, let alert):
                writer.enqueue(.finding(finding))
                feed.publish(FeedEvent(kind: .finding, callId: finding.callId, finding: finding, node: node))
                if alert { feed.publish(FeedEvent(kind: .alert, callId: finding.callId, finding: finding, node: node)) }
            case .ended(let record):
                writer.enqueue(.call(record))
                feed.publish(FeedEvent(kind: .callEnded, callId: record.id, call: record, node: node))
            }
        }
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
}
