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
        /// Every live call there is, as this node knows them (`calls`): first on every (re)connection, and whenever
        /// the list was corrected (another node's calls checked after an outage). A viewer replaces its list with it.
        case snapshot
        /// This node's transcript store went down or came back (`store`): history and search wait for it; live calls
        /// are still answered and shown.
        case store
        /// Between nodes only: the ids of the sending node's live calls (`ids`), every few seconds, so that every
        /// node's list converges to the truth after a relay outage.
        case liveCalls = "live-calls"
    }

    public var kind: Kind
    /// The call's id.
    public var callId: String
    public var call: CallRecord?
    public var utterance: UtteranceRecord?
    public var finding: Finding?
    /// Every live call (`snapshot`).
    public var calls: [CallRecord]?
    /// The store's state (`store`).
    public var store: StoreHealth.Status?
    /// Live call ids of the sending node (`live-calls`).
    public var ids: [String]?
    /// Whether words or the handoff summary were left out to fit the relay (the receiver reads them from the store).
    public var partial: Bool?
    /// The node the call runs on.
    public var node: String
    /// Wall-clock time the event was published (seconds since 1970), to measure feed latency.
    public var sentAt: Double

    public init(kind: Kind, callId: String, call: CallRecord? = nil, utterance: UtteranceRecord? = nil, finding: Finding? = nil,
                calls: [CallRecord]? = nil, store: StoreHealth.Status? = nil, ids: [String]? = nil, node: String,
                sentAt: Double = Date().timeIntervalSince1970) {
        self.kind = kind
        self.callId = callId
        self.call = call
        self.utterance = utterance
        self.finding = finding
        self.calls = calls
        self.store = store
        self.ids = ids
        self.node = node
        self.sentAt = sentAt
    }

    /// The event as a viewer with `role` may see it: only admins see callers' full numbers.
    func visible(to role: Role) -> FeedEvent {
        guard role != .admin, call != nil || calls != nil else { return self }
        func masked(_ call: CallRecord) -> CallRecord {
            var call = call
            call.callerNumber = call.callerNumber.map(CallHost.maskNumber)
            return call
        }
        var copy = self
        copy.call = call.map(masked)
        copy.calls = calls?.map(masked)
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

/// One event as a viewer receives it, with its id on this node's stream (`id:` in Server-Sent Events).
public struct FeedMessage: Sendable {
    /// `<stream>-<sequence>`: a viewer that reconnects with it as `Last-Event-ID` gets what it missed, if this node
    /// still holds it.
    public var id: String
    public var event: FeedEvent
}

/// Fans live QA events out to every connected viewer. With a relay (PostgreSQL LISTEN/NOTIFY), events from every node
/// reach the viewers of every node, whole (words and times included; an event too big for the relay is completed from
/// the store). A slow viewer loses its oldest events rather than slowing the calls.
///
/// Viewers and nodes converge to the truth after any outage: every event has an id, and a viewer that reconnects with
/// `Last-Event-ID` gets the events it missed (the last 2 000 are kept) or else a snapshot of the live calls; every
/// node sends the ids of its live calls to the others every few seconds, and a node that sees its list was wrong (a
/// `call-ended` lost in a relay outage, a call started during one) corrects it and sends its viewers a snapshot.
public final class LiveFeed: Sendable {
    private struct Subscriber {
        var role: Role
        var sink: AsyncStream<FeedMessage>.Continuation
    }

    private struct State {
        var subscribers: [UUID: Subscriber] = [:]
        var live: [String: CallRecord] = [:]
        /// When each other node last sent its live calls.
        var heard: [String: ContinuousClock.Instant] = [:]
        var history: [(sequence: Int, event: FeedEvent, bytes: Int)] = []
        var historyBytes = 0
        var sequence = 0
        var relayFailing = 0
    }

    /// This node's name (events from other nodes carry theirs).
    public let node: String
    /// Events kept for viewers that reconnect, at most, and their bytes at most.
    public static let historyLimit = 2_000
    public static let historyByteLimit = 4 << 20
    /// The largest payload sent whole through the relay (NOTIFY takes at most 8000 bytes).
    static let relayLimit = 7_900
    private let stream = String(UInt32.random(in: 0...UInt32.max), radix: 36)
    private let state = Mutex(State())
    private let relay: (any FeedRelay)?
    private let store: (any TranscriptStore)?
    private let syncInterval: Duration
    private let nodeTimeout: Duration
    private let outgoing: AsyncStream<FeedEvent>.Continuation?
    private let tasks: Mutex<[Task<Void, Never>]>
    private let logger: Logger

    /// Makes a feed for `node`; `relay` carries events between nodes; `store` completes events that were too big for
    /// the relay and the calls another node says are live that this one missed. Every `syncInterval` this node sends
    /// the others its live calls; a node not heard from for `nodeTimeout` has its calls dropped from the list.
    public init(node: String, relay: (any FeedRelay)? = nil, store: (any TranscriptStore)? = nil, syncInterval: Duration = .seconds(5),
                nodeTimeout: Duration = .seconds(30), logger: Logger) {
        self.node = node
        self.relay = relay
        self.store = store
        self.syncInterval = syncInterval
        self.nodeTimeout = nodeTimeout
        self.logger = logger
        tasks = Mutex([])
        Self.historyEvents.record(0)
        Self.historyBytesGauge.record(0)
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
        let publisher = Task { [weak self] in
            for await event in events {
                do {
                    try await relay.publish(Self.relayed(event))
                    self?.relayWorked()
                } catch {
                    self?.relayFailed(error)
                }
            }
        }
        let listener = Task { [weak self] in
            while !Task.isCancelled {
                do {
                    try await relay.listen { [weak self] payload in
                        guard let self, let event = FeedEvent.decode(payload), event.node != self.node else { return }
                        await self.receive(event)
                    }
                } catch {
                    if Task.isCancelled { return }
                    logger.debug("live feed: listening to other nodes failed; retrying", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
        let sync = Task { [weak self, syncInterval] in
            while !Task.isCancelled {
                self?.sendLiveCalls()
                self?.dropSilentNodes()
                try? await Task.sleep(for: syncInterval)
            }
        }
        tasks.withLock { $0 = [publisher, listener, sync] }
    }

    private func relayWorked() {
        let missed = state.withLock { state in
            defer { state.relayFailing = 0 }
            return state.relayFailing
        }
        if missed > 0 { logger.notice("live feed: relaying to other nodes works again", metadata: ["events_not_relayed": "\(missed)"]) }
    }

    private func relayFailed(_ error: any Error) {
        let first = state.withLock { state in
            state.relayFailing += 1
            return state.relayFailing == 1
        }
        if first {
            logger.warning("live feed: cannot relay events to other nodes; their lists are corrected when it works again",
                           metadata: ["error": "\(error)"])
        }
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
        if event.kind != .store && event.kind != .snapshot { outgoing?.yield(event) }
    }

    private func deliver(_ event: FeedEvent) {
        let (subscribers, sequence) = state.withLock { state in
            switch event.kind {
            case .callStarted, .callUpdated: if let call = event.call { state.live[event.callId] = call }
            case .callEnded: state.live[event.callId] = nil
            default: break
            }
            state.sequence += 1
            let bytes = event.estimatedBytes
            state.history.append((state.sequence, event, bytes))
            state.historyBytes += bytes
            // Trimmed in batches (a quarter of the limit at a time), oldest first.
            if state.history.count > Self.historyLimit + Self.historyLimit / 4 || state.historyBytes > Self.historyByteLimit + Self.historyByteLimit / 4 {
                var drop = max(0, state.history.count - Self.historyLimit)
                var bytes = state.historyBytes - state.history.prefix(drop).reduce(0) { $0 + $1.bytes }
                while bytes > Self.historyByteLimit, drop < state.history.count - 1 {
                    bytes -= state.history[drop].bytes
                    drop += 1
                }
                state.history.removeFirst(drop)
                state.historyBytes = bytes
                Self.historyEvents.record(state.history.count)
                Self.historyBytesGauge.record(state.historyBytes)
            }
            return (Array(state.subscribers.values), state.sequence)
        }
        for subscriber in subscribers {
            subscriber.sink.yield(FeedMessage(id: "\(stream)-\(sequence)", event: event.visible(to: subscriber.role)))
        }
    }

    /// An event from another node.
    private func receive(_ event: FeedEvent) async {
        switch event.kind {
        case .liveCalls:
            await reconcile(node: event.node, ids: event.ids ?? [])
        case .snapshot, .store:
            return
        default:
            deliver(event.partial == true ? await completed(event) : event)
        }
    }

    /// An event that was sent without its words or summary, completed from the store (as it was, if the store does
    /// not have it yet).
    private func completed(_ event: FeedEvent) async -> FeedEvent {
        guard let store else { return event }
        var event = event
        event.partial = nil
        for attempt in 0..<3 {
            if attempt > 0 { try? await Task.sleep(for: .milliseconds(300)) }
            if let line = event.utterance {
                if let stored = try? await store.detail(of: line.callId)?.utterances.first(where: { $0.sequence == line.sequence }) {
                    event.utterance = stored
                    return event
                }
            } else if let call = event.call {
                if let stored = try? await store.call(id: call.id), stored.handoffSummary != nil {
                    event.call?.handoffSummary = stored.handoffSummary
                    return event
                }
            } else {
                return event
            }
        }
        return event
    }

    /// Another node's live calls are `ids`: drops the calls it no longer has, adds (from the store) the ones this node
    /// missed, and sends viewers a snapshot if anything changed.
    private func reconcile(node other: String, ids: [String]) async {
        let wanted = Set(ids)
        let (dropped, missing) = state.withLock { state in
            state.heard[other] = .now
            let known = state.live.filter { $0.value.node == other }
            let dropped = known.keys.filter { !wanted.contains($0) }
            for id in dropped { state.live[id] = nil }
            return (dropped, wanted.subtracting(known.keys))
        }
        var added = 0
        if let store {
            for id in missing.sorted() {
                guard let call = try? await store.call(id: id), call.status == .live else { continue }
                let fresh = state.withLock { state -> Bool in
                    guard state.live[id] == nil else { return false }
                    state.live[id] = call
                    return true
                }
                if fresh { added += 1 }
            }
        }
        if !dropped.isEmpty || added > 0 {
            logger.info("live feed: corrected the live calls of another node", metadata: [
                "node": "\(other)", "dropped": "\(dropped.count)", "added": "\(added)",
            ])
            sendSnapshot()
        }
    }

    /// Sends this node's live call ids to the other nodes.
    private func sendLiveCalls() {
        let ids = state.withLock { $0.live.values.filter { $0.node == node }.map(\.id) }.sorted()
        outgoing?.yield(FeedEvent(kind: .liveCalls, callId: "", ids: ids, node: node))
    }

    /// Drops the calls of nodes not heard from for `nodeTimeout` (stopped, or cut off from the relay).
    private func dropSilentNodes() {
        let now = ContinuousClock.now
        let dropped = state.withLock { state -> Int in
            // A node whose calls came before its first list of them counts from when they came.
            for name in Set(state.live.values.map(\.node)) where name != node && state.heard[name] == nil { state.heard[name] = now }
            let silent = Set(state.heard.filter { now - $0.value > nodeTimeout }.keys)
            guard !silent.isEmpty else { return 0 }
            for name in silent { state.heard[name] = nil }
            let before = state.live.count
            state.live = state.live.filter { !silent.contains($0.value.node) }
            return before - state.live.count
        }
        if dropped > 0 { sendSnapshot() }
    }

    /// Tells every viewer the whole live list.
    private func sendSnapshot() {
        deliver(FeedEvent(kind: .snapshot, callId: "", calls: liveCalls, node: node))
    }

    /// Tells this node's viewers the store's state.
    public func storeChanged(_ status: StoreHealth.Status) {
        publish(FeedEvent(kind: .store, callId: "", store: status, node: node))
    }

    /// Live calls this node knows of (its own and, with a relay, other nodes'), oldest first.
    public var liveCalls: [CallRecord] { state.withLock { Array($0.live.values) }.sorted { $0.startedAt < $1.startedAt } }

    /// A viewer's stream: every event from now on, as `role` may see it. Ends when the viewer stops iterating.
    public func subscribe(role: Role) -> AsyncMapSequence<AsyncStream<FeedMessage>, FeedEvent> {
        subscribe(role: role, lastEventId: nil).stream.map(\.event)
    }

    /// A viewer's stream, from where it left off: the events after `lastEventId` if this node still holds them (`resumed`
    /// is true), else a snapshot of the live calls first; then every event as it happens.
    public func subscribe(role: Role, lastEventId: String?) -> (stream: AsyncStream<FeedMessage>, resumed: Bool) {
        let id = UUID()
        let (messages, continuation) = AsyncStream.makeStream(of: FeedMessage.self, bufferingPolicy: .bufferingNewest(1_000))
        continuation.onTermination = { [weak self] _ in self?.unsubscribe(id) }
        let prefix = "\(stream)-"
        let resumed = state.withLock { state -> Bool in
            state.subscribers[id] = Subscriber(role: role, sink: continuation)
            var missed: [(sequence: Int, event: FeedEvent, bytes: Int)]?
            if let lastEventId, lastEventId.hasPrefix(prefix), let last = Int(lastEventId.dropFirst(prefix.count)), last <= state.sequence,
               let first = state.history.first?.sequence, last >= first - 1 {
                missed = state.history.filter { $0.sequence > last }
            }
            // Yielded under the lock, so that no event can come between the viewer's past and its present.
            if let missed {
                for (sequence, event, _) in missed { continuation.yield(FeedMessage(id: "\(stream)-\(sequence)", event: event.visible(to: role))) }
            } else {
                let calls = Array(state.live.values).sorted { $0.startedAt < $1.startedAt }
                let snapshot = FeedEvent(kind: .snapshot, callId: "", calls: calls, node: node)
                continuation.yield(FeedMessage(id: "\(stream)-\(state.sequence)", event: snapshot.visible(to: role)))
            }
            return missed != nil
        }
        Self.viewers.record(viewerCount)
        return (messages, resumed)
    }

    private func unsubscribe(_ id: UUID) {
        state.withLock { $0.subscribers[id] = nil }
        Self.viewers.record(viewerCount)
    }

    /// Viewers connected to this node.
    public var viewerCount: Int { state.withLock { $0.subscribers.count } }

    /// The event as the relay carries it: whole when it fits in a NOTIFY payload; otherwise without the line's words
    /// and the call's handoff summary (`partial`: the receiving node reads them from the store), and with an
    /// overlong text cut.
    static func relayed(_ event: FeedEvent) -> String {
        let whole = event.json
        guard whole.utf8.count > relayLimit else { return whole }
        var copy = event
        copy.partial = true
        copy.utterance?.words = []
        copy.call?.handoffSummary = nil
        if let text = copy.utterance?.text, text.utf8.count > 4000 { copy.utterance?.text = String(text.prefix(1000)) + "…" }
        return copy.json
    }

    static let viewers = Gauge(label: "hotline_qa_feed_viewers")
    static let historyEvents = Gauge(label: "hotline_qa_feed_history_events")
    static let historyBytesGauge = Gauge(label: "hotline_qa_feed_history_bytes")
}

extension FeedEvent {
    /// About how much memory the event takes: its strings, words and records, and a fixed cost.
    var estimatedBytes: Int {
        func record(_ call: CallRecord) -> Int {
            512 + call.id.utf8.count + (call.handoffSummary?.utf8.count ?? 0) + (call.outcomeReason?.utf8.count ?? 0)
                + call.errors.reduce(0) { $0 + $1.utf8.count + 32 }
        }
        var bytes = 256 + callId.utf8.count
        if let call { bytes += record(call) }
        if let utterance { bytes += 256 + utterance.text.utf8.count * 2 + utterance.words.count * 64 + utterance.slots.count * 64 }
        if let finding { bytes += 256 + finding.message.utf8.count }
        if let calls { bytes += calls.reduce(0) { $0 + record($1) } }
        if let ids { bytes += ids.reduce(0) { $0 + $1.utf8.count + 16 } }
        return bytes
    }
}
