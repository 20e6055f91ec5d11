public import Foundation
public import HotlineCore
public import Logging
import Metrics
import Synchronization

/// One message of the live QA feed.
public struct FeedEvent: Sendable, Codable, Equatable {
    /// What happened.
    public enum Kind: String, Sendable, Codable {
        /// A call began (`call`).
        case callStarted = "call-started"
        /// A line was finalised or updated with its intent (`utterance`).
        case utterance
        /// A QA rule fired (`finding`).
        case finding
        /// A finding severe enough to raise a live alert (`finding`).
        case alert
        /// The call's record changed: intent, score, handoff (`call`).
        case callUpdated = "call-updated"
        /// The call is over (`call`).
        case callEnded = "call-ended"
    }

    public var kind: Kind
    /// The call's id.
    public var callId: String
    public var call: CallRecord?
    public var utterance: UtteranceRecord?
    public var finding: Finding?
    /// The node the call runs on.
    public var node: String
    /// Wall-clock time the event was published (seconds since 1970), to measure feed latency.
    public var sentAt: Double

    public init(kind: Kind, callId: String, call: CallRecord? = nil, utterance: UtteranceRecord? = nil, finding: Finding? = nil, node: String,
                sentAt: Double = Date().timeIntervalSince1970) {
        self.kind = kind
        self.callId = callId
        self.call = call
        self.utterance = utterance
        self.finding = finding
        self.node = node
        self.sentAt = sentAt
    }

    /// The event as a viewer with `role` may see it: only admins see callers' full numbers.
    func visible(to role: Role) -> FeedEvent {
        guard role != .admin, var call else { return self }
        call.callerNumber = call.callerNumber.map(CallHost.maskNumber)
        var copy = self
        copy.call = call
        return copy
    }

    /// JSON for the wire.
    public var json: String {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(self)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
    }

    static func decode(_ json: String) -> FeedEvent? {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return json.data(using: .utf8).flatMap { try? decoder.decode(FeedEvent.self, from: $0) }
    }
}

/// Fans live QA events out to every connected viewer. With a relay (PostgreSQL LISTEN/NOTIFY), events from every node
/// reach the viewers of every node. A slow viewer loses its oldest events rather than slowing the calls.
public final class LiveFeed: Sendable {
    private struct State {
        var subscribers: [UUID: (role: Role, sink: AsyncStream<FeedEvent>.Continuation)] = [:]
        var live: [String: CallRecord] = [:]
    }

    /// This node's name (events from other nodes carry theirs).
    public let node: String
    private let state = Mutex(State())
    private let relay: (any FeedRelay)?
    private let outgoing: AsyncStream<FeedEvent>.Continuation?
    private let tasks: Mutex<[Task<Void, Never>]>
    private let logger: Logger

    /// Makes a feed for `node`; `relay` carries events between nodes.
    public init(node: String, relay: (any FeedRelay)? = nil, logger: Logger) {
        self.node = node
        self.relay = relay
        self.logger = logger
        tasks = Mutex([])
        guard let relay else {
            outgoing = nil
            return
        }
        let (events, outgoing) = AsyncStream.makeStream(of: FeedEvent.self, bufferingPolicy: .bufferingNewest(10_000))
        self.outgoing = outgoing
        startRelay(relay, events: events)
    }

    private func startRelay(_ relay: any FeedRelay, events: AsyncStream<FeedEvent>) {
        let logger = logger
        let publisher = Task {
            for await event in events {
                do {
                    try await relay.publish(Self.compact(event).json)
                } catch {
                    logger.warning("live feed: could not relay an event to other nodes", metadata: ["error": "\(error)"])
                }
            }
        }
        let listener = Task { [weak self] in
            while !Task.isCancelled {
                do {
                    try await relay.listen { [weak self] payload in
                        guard let self, let event = FeedEvent.decode(payload), event.node != self.node else { return }
                        self.deliver(event)
                    }
                } catch {
                    if Task.isCancelled { return }
                    logger.warning("live feed: listening to other nodes failed; retrying", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
        tasks.withLock { $0 = [publisher, listener] }
    }

    /// Stops relaying.
    public func shutdown() {
        outgoing?.finish()
        tasks.withLock { $0.forEach { $0.cancel() } }
        // Finishing a stream runs its termination handler, which takes the lock: finish outside it.
        let sinks = state.withLock { state in
            defer { state.subscribers = [:] }
            return state.subscribers.values.map(\.sink)
        }
        sinks.forEach { $0.finish() }
    }

    /// Publishes an event of this node: to local viewers now, to other nodes through the relay.
    public func publish(_ event: FeedEvent) {
        deliver(event)
        outgoing?.yield(event)
    }

    private func deliver(_ event: FeedEvent) {
        let subscribers = state.withLock { state in
            switch event.kind {
            case .callStarted, .callUpdated: if let call = event.call { state.live[event.callId] = call }
            case .callEnded: state.live[event.callId] = nil
            default: break
            }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.sink.yield(event.visible(to: subscriber.role)) }
    }

    /// Live calls this node knows of (its own and, with a relay, other nodes'), oldest first.
    public var liveCalls: [CallRecord] { state.withLock { Array($0.live.values) }.sorted { $0.startedAt < $1.startedAt } }

    /// A viewer's stream: every event from now on, as `role` may see it. Ends when the viewer stops iterating.
    public func subscribe(role: Role) -> AsyncStream<FeedEvent> {
        let id = UUID()
        let (stream, continuation) = AsyncStream.makeStream(of: FeedEvent.self, bufferingPolicy: .bufferingNewest(1_000))
        continuation.onTermination = { [weak self] _ in self?.unsubscribe(id) }
        state.withLock { $0.subscribers[id] = (role, continuation) }
        Self.viewers.record(viewerCount)
        return stream
    }

    private func unsubscribe(_ id: UUID) {
        state.withLock { $0.subscribers[id] = nil }
        Self.viewers.record(viewerCount)
    }

    /// Viewers connected to this node.
    public var viewerCount: Int { state.withLock { $0.subscribers.count } }

    /// NOTIFY payloads are limited to 8000 bytes: words and summaries stay in the store.
    static func compact(_ event: FeedEvent) -> FeedEvent {
        var copy = event
        copy.utterance?.words = []
        copy.call?.handoffSummary = nil
        if let text = copy.utterance?.text, text.utf8.count > 4000 { copy.utterance?.text = String(text.prefix(1000)) + "…" }
        return copy
    }

    static let viewers = Gauge(label: "hotline_qa_feed_viewers")
}
