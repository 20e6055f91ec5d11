public import Foundation

// MARK: - The store

/// Where calls, their utterances, events, findings, reviews and recordings are kept. SQLite embedded by default;
/// PostgreSQL when several nodes share one store. Every write is idempotent (keyed by call id and sequence), so a
/// writer may retry after an outage without duplicating anything.
public protocol TranscriptStore: NodeCoordinating {
    /// Creates or upgrades the schema.
    func migrate() async throws
    /// Asks the store for the simplest answer (`SELECT 1`): throws when it cannot be reached.
    func ping() async throws
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
    /// Whether `error` is the store refusing one operation (bad data, a constraint) while answering normally, as
    /// opposed to the store being unreachable or failing: a refused write is not retried for ever.
    func isRejection(_ error: any Error) -> Bool
}

extension TranscriptStore {
    /// Without knowledge of the store, every error counts as the store failing.
    public func isRejection(_ error: any Error) -> Bool { false }
}

/// Carries live-feed events between nodes that share a store (PostgreSQL LISTEN/NOTIFY).
public protocol FeedRelay: Sendable {
    /// Sends an event (JSON, at most a few kilobytes) to every node listening, this one included.
    func publish(_ payload: String) async throws
    /// Receives every node's events until cancelled or the connection fails (then it throws).
    func listen(_ receive: @escaping @Sendable (String) async -> Void) async throws
}

/// A signed-in web session (the QA page's login): the cookie holds a random id; the store keeps only its digest, the
/// API key's name it stands for, and when it expires. Kept in the store, so every node that shares it accepts it.
public struct WebSession: Sendable, Equatable, Codable {
    /// The digest of the session id (the id itself is only in the browser's cookie).
    public var digest: String
    /// The name of the API key that signed in.
    public var keyName: String
    /// When it was made.
    public var createdAt: Date
    /// When it stops being accepted.
    public var expiresAt: Date

    /// Makes a session record.
    public init(digest: String, keyName: String, createdAt: Date = Date(), expiresAt: Date) {
        self.digest = digest
        self.keyName = keyName
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// What several nodes sharing one store need of it: heartbeats, closing a silent node's live calls, sign-in sessions.
public protocol NodeCoordinating: Sendable {
    /// Records that `node` is alive now (by the store's clock).
    func heartbeat(node: String) async throws
    /// Nodes other than `except` whose last heartbeat is older than `seconds` (by the store's clock).
    func silentNodes(olderThan seconds: Double, except: String) async throws -> [String]
    /// Forgets a node's heartbeat (its calls were closed).
    func forget(node: String) async throws
    /// Closes the calls `node` left live as interrupted, ended at the end of their last line, with `reason`; returns
    /// their final records.
    func interruptLiveCalls(ofNode node: String, reason: String) async throws -> [CallRecord]

    /// Saves a sign-in session.
    func save(session: WebSession) async throws
    /// A session by its digest, if it exists and has not expired.
    func session(digest: String) async throws -> WebSession?
    /// Ends a session (logout).
    func deleteSession(digest: String) async throws
    /// Deletes expired sessions; returns how many.
    func deleteExpiredSessions() async throws -> Int
}
