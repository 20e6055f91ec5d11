import Foundation
public import HotlineCore
public import Logging
import Metrics
public import ServiceLifecycle

// MARK: - Crash recovery: heartbeats and closing a silent node's calls

/// Keeps this node's heartbeat in the store and closes the live calls of nodes that stopped heartbeating (killed,
/// crashed, cut off), as *interrupted* at the end of their last line, so that no call stays "live" for ever, the QA
/// lists and retention see them finished, and every node's live feed drops them. With one node on SQLite the same
/// check finds nothing to do; a node that restarts closes its own leftovers first (``recoverOwnCalls(_:node:logger:)``).
public struct NodeWatch: Service, CustomStringConvertible {
    public var description: String { "NodeWatch(node: \(node))" }

    let quality: QualityServices
    let node: String
    let interval: Duration
    let timeout: Double
    let logger: Logger

    /// Makes the watch: a heartbeat every `interval`; a node silent for `timeout` seconds is taken for dead.
    public init(quality: QualityServices, node: String, interval: Duration, timeout: Double, logger: Logger) {
        self.quality = quality
        self.node = node
        self.interval = interval
        self.timeout = timeout
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var failing = false
            while !Task.isCancelled {
                do {
                    try await quality.store.heartbeat(node: node)
                    // After an outage every node's heartbeat is old: another node is judged only once this one has
                    // reached the store for a whole timeout, long enough for the living to have written theirs.
                    let judging = (quality.health.availableFor ?? .zero) >= .milliseconds(Int(timeout * 1000))
                    for silent in judging ? try await quality.store.silentNodes(olderThan: timeout, except: node) : [] {
                        let closed = try await Self.interrupt(quality, node: silent,
                                                              reason: "node \(silent) stopped (no heartbeat for \(Int(timeout)) s) while the call was live")
                        try await quality.store.forget(node: silent)
                        logger.warning("closed the live calls of a node that stopped heartbeating", metadata: ["node": "\(silent)", "calls": "\(closed)"])
                    }
                    if failing { logger.notice("node heartbeat written again") }
                    failing = false
                } catch {
                    if !failing { logger.warning("node heartbeat: the store did not answer; retrying", metadata: ["error": "\(error)"]) }
                    failing = true
                }
                try? await Task.sleep(for: interval)
            }
        }
        // A node that stops cleanly has no live calls left: it is not waited for as a silent one.
        try? await quality.store.forget(node: node)
    }

    /// Closes the calls this node left live when it last stopped (a crash or kill -9): run before it takes calls.
    /// Returns how many were closed.
    @discardableResult
    public static func recoverOwnCalls(_ quality: QualityServices, node: String, logger: Logger) async throws -> Int {
        try await quality.store.heartbeat(node: node)
        let closed = try await interrupt(quality, node: node, reason: "node \(node) stopped while the call was live (closed when it restarted)")
        if closed > 0 { logger.warning("closed calls left live when this node last stopped", metadata: ["node": "\(node)", "calls": "\(closed)"]) }
        return closed
    }

    /// Closes a node's live calls and tells every viewer they ended.
    static func interrupt(_ quality: QualityServices, node: String, reason: String) async throws -> Int {
        let closed = try await quality.store.interruptLiveCalls(ofNode: node, reason: reason)
        for record in closed {
            Counter(label: "hotline_calls_total", dimensions: [("gateway", record.gateway.rawValue), ("outcome", record.status.rawValue)]).increment()
            quality.feed.publish(FeedEvent(kind: .callEnded, callId: record.id, call: record, node: record.node))
        }
        return closed.count
    }
}
