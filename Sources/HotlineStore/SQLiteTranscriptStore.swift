public import Foundation
import GRDB
public import HotlineCore

// MARK: - SQLite (embedded default)

/// The embedded store: one SQLite file through GRDB, in WAL mode (readers never wait for the writer; a committed
/// utterance survives the process being killed), with migrations and FTS5 full-text search over utterances.
public final class SQLiteTranscriptStore: TranscriptStore {
    private let pool: DatabasePool
    /// The database file.
    public let path: String

    /// Opens (creating if needed) the database at `path`. `busyTimeout` is how long a write waits for a lock held
    /// by another connection before failing (the store writer then retries).
    public init(path: String, busyTimeout: Double = 5) throws {
        self.path = path
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        configuration.prepareDatabase { db in
            // WAL + NORMAL: a commit is durable against a process crash or kill -9 (only power loss could drop the last ones).
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw StoreError("cannot open the SQLite store at \(path): \(error)")
        }
    }

    /// Constraint, type, size and SQL errors: the database answered. Busy, locked, I/O, full-disk and open errors are
    /// outages.
    public func isRejection(_ error: any Error) -> Bool {
        guard let error = error as? DatabaseError else { return false }
        return [.SQLITE_CONSTRAINT, .SQLITE_MISMATCH, .SQLITE_TOOBIG, .SQLITE_RANGE, .SQLITE_ERROR].contains(error.resultCode.primaryResultCode)
    }

    public func ping() async throws {
        _ = try await pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }

    public func migrate() async throws {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: calls, utterances, events, findings, reviews, recordings") { db in
            try db.execute(sql: """
                CREATE TABLE calls (
                    id TEXT PRIMARY KEY, gateway TEXT NOT NULL, caller_number TEXT, node TEXT NOT NULL DEFAULT '',
                    started_at REAL NOT NULL, ended_at REAL, status TEXT NOT NULL, end_reason TEXT, duration REAL NOT NULL DEFAULT 0,
                    intent TEXT, handoff_queue TEXT, handoff_reason TEXT, handoff_summary TEXT, score REAL, worst_severity TEXT,
                    errors TEXT NOT NULL DEFAULT '[]');
                CREATE INDEX calls_started ON calls(started_at);
                CREATE TABLE utterances (
                    call_id TEXT NOT NULL, seq INTEGER NOT NULL, speaker TEXT NOT NULL, text TEXT NOT NULL,
                    start REAL NOT NULL, "end" REAL NOT NULL, confidence REAL, words TEXT NOT NULL DEFAULT '[]', intent TEXT,
                    intent_confidence REAL, slots TEXT NOT NULL DEFAULT '{}', search TEXT, PRIMARY KEY (call_id, seq));
                CREATE VIRTUAL TABLE utterance_search USING fts5(text, call_id UNINDEXED, seq UNINDEXED, tokenize = 'porter unicode61');
                CREATE TABLE events (
                    call_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, at REAL NOT NULL, detail TEXT NOT NULL,
                    PRIMARY KEY (call_id, seq));
                CREATE TABLE findings (
                    call_id TEXT NOT NULL, seq INTEGER NOT NULL, rule TEXT NOT NULL, severity TEXT NOT NULL, utterance INTEGER,
                    at REAL NOT NULL, message TEXT NOT NULL, PRIMARY KEY (call_id, seq));
                CREATE INDEX findings_rule ON findings(rule);
                CREATE TABLE reviews (
                    call_id TEXT NOT NULL, reviewer TEXT NOT NULL, scores TEXT NOT NULL, comment TEXT NOT NULL, saved_at REAL NOT NULL,
                    PRIMARY KEY (call_id, reviewer));
                CREATE TABLE recordings (call_id TEXT PRIMARY KEY, media_type TEXT NOT NULL, data BLOB NOT NULL);
                """)
        }
        migrator.registerMigration("v2: outcomes, node heartbeats, web sessions") { db in
            try db.execute(sql: """
                ALTER TABLE calls ADD COLUMN outcome_reason TEXT;
                UPDATE calls SET status = 'contained' WHERE status = 'completed' AND gateway <> 'vosk';
                CREATE INDEX calls_live ON calls(node) WHERE status = 'live';
                CREATE TABLE nodes (name TEXT PRIMARY KEY, seen_at REAL NOT NULL);
                CREATE TABLE web_sessions (digest TEXT PRIMARY KEY, key_name TEXT NOT NULL, created_at REAL NOT NULL, expires_at REAL NOT NULL);
                """)
        }
        migrator.registerMigration("v3: agents") { db in
            try db.execute(sql: "ALTER TABLE calls ADD COLUMN agent TEXT; CREATE INDEX calls_agent ON calls(agent) WHERE agent IS NOT NULL;")
        }
        try migrator.migrate(pool)
    }

    // MARK: Writes

    public func save(call: CallRecord) async throws {
        try await pool.write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO calls (id, gateway, caller_number, node, started_at, ended_at, status, outcome_reason, end_reason, duration,
                    intent, handoff_queue, handoff_reason, handoff_summary, score, worst_severity, errors, agent)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [call.id, call.gateway.rawValue, call.callerNumber, call.node, call.startedAt.timeIntervalSince1970,
                                 call.endedAt?.timeIntervalSince1970, call.status.rawValue, call.outcomeReason, call.endReason, call.duration, call.intent, call.handoffQueue,
                                 call.handoffReason, call.handoffSummary, call.score, call.worstSeverity?.rawValue, StoreCoding.json(call.errors), call.agent])
        }
    }

    public func append(utterance line: UtteranceRecord) async throws {
        try await pool.write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO utterances (call_id, seq, speaker, text, start, "end", confidence, words, intent, intent_confidence, slots, search)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [line.callId, line.sequence, line.speaker, line.text, line.start, line.end, line.confidence,
                                 StoreCoding.json(line.words), line.intent, line.intentConfidence, StoreCoding.json(line.slots), line.search])
            try db.execute(sql: "DELETE FROM utterance_search WHERE call_id = ? AND seq = ?", arguments: [line.callId, line.sequence])
            try db.execute(sql: "INSERT INTO utterance_search (text, call_id, seq) VALUES (?, ?, ?)", arguments: [line.text, line.callId, line.sequence])
        }
    }

    public func append(event: CallEventRecord) async throws {
        try await pool.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO events (call_id, seq, kind, at, detail) VALUES (?, ?, ?, ?, ?)",
                           arguments: [event.callId, event.sequence, event.kind, event.at, event.detail])
        }
    }

    public func append(finding: Finding) async throws {
        try await pool.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO findings (call_id, seq, rule, severity, utterance, at, message) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           arguments: [finding.callId, finding.sequence, finding.rule, finding.severity.rawValue, finding.utterance, finding.at,
                                       finding.message])
        }
    }

    public func save(review: Review) async throws {
        try await pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO reviews (call_id, reviewer, scores, comment, saved_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [review.callId, review.reviewer, StoreCoding.json(review.scores), review.comment,
                                       review.savedAt.timeIntervalSince1970])
        }
    }

    public func save(recording: Recording) async throws {
        try await pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO recordings (call_id, media_type, data) VALUES (?, ?, ?)",
                           arguments: [recording.callId, recording.mediaType, recording.data])
        }
    }

    // MARK: Reads

    public func call(id: String) async throws -> CallRecord? {
        try await pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM calls WHERE id = ?", arguments: [id]).map(Self.call) }
    }

    public func detail(of id: String) async throws -> CallDetail? {
        try await pool.read { db in
            guard let call = try Row.fetchOne(db, sql: "SELECT * FROM calls WHERE id = ?", arguments: [id]).map(Self.call) else { return nil }
            let utterances = try Row.fetchAll(db, sql: "SELECT * FROM utterances WHERE call_id = ? ORDER BY seq", arguments: [id]).map(Self.utterance)
            let events = try Row.fetchAll(db, sql: "SELECT * FROM events WHERE call_id = ? ORDER BY seq", arguments: [id]).map {
                CallEventRecord(callId: $0["call_id"], sequence: $0["seq"], kind: $0["kind"], at: $0["at"], detail: $0["detail"])
            }
            let findings = try Row.fetchAll(db, sql: "SELECT * FROM findings WHERE call_id = ? ORDER BY at, seq", arguments: [id]).map(Self.finding)
            let reviews = try Row.fetchAll(db, sql: "SELECT * FROM reviews WHERE call_id = ? ORDER BY saved_at", arguments: [id]).map(Self.review)
            let recorded = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM recordings WHERE call_id = ?)", arguments: [id]) ?? false
            return CallDetail(call: call, utterances: utterances, events: events, findings: findings, reviews: reviews, hasRecording: recorded)
        }
    }

    public func recording(of id: String) async throws -> Recording? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM recordings WHERE call_id = ?", arguments: [id]).map {
                Recording(callId: $0["call_id"], mediaType: $0["media_type"], data: $0["data"])
            }
        }
    }

    public func calls(matching query: CallQuery) async throws -> CallPage {
        var arguments: [(any DatabaseValueConvertible)?] = []
        func bind(_ value: StoreCoding.FilterValue) -> String {
            switch value {
            case .text(let text): arguments.append(text)
            case .number(let number): arguments.append(number)
            case .date(let date): arguments.append(date.timeIntervalSince1970)
            }
            return "?"
        }
        // FTS5 takes the word as a quoted string, so it is matched as a word and never as query syntax.
        let filter = StoreCoding.whereClause(query, bind: bind) { word in
            "c.id IN (SELECT call_id FROM utterance_search WHERE utterance_search MATCH \(bind(.text("\"\(word)\""))))"
        }
        let countArguments = StatementArguments(arguments)
        let pageArguments = StatementArguments(arguments + [query.limit, query.offset])
        return try await pool.read { db in
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM calls c \(filter)", arguments: countArguments) ?? 0
            let calls = try Row.fetchAll(db, sql: "SELECT c.* FROM calls c \(filter) \(StoreCoding.orderClause(query.order)) LIMIT ? OFFSET ?",
                                         arguments: pageArguments).map(Self.call)
            return CallPage(calls: calls, total: total)
        }
    }

    public func report(from: Date?, to: Date?) async throws -> CallReport {
        let range = "started_at >= ? AND started_at < ?"
        let arguments: StatementArguments = [from?.timeIntervalSince1970 ?? -Double.greatestFiniteMagnitude,
                                             to?.timeIntervalSince1970 ?? Double.greatestFiniteMagnitude]
        return try await pool.read { db in
            let calls = try Row.fetchAll(db, sql: "SELECT * FROM calls WHERE \(range)", arguments: arguments).map(Self.call)
            let findings = try Row.fetchAll(db, sql: "SELECT f.* FROM findings f JOIN calls c ON c.id = f.call_id WHERE c.\(range)",
                                            arguments: arguments).map(Self.finding)
            let reviews = try Row.fetchAll(db, sql: "SELECT r.* FROM reviews r JOIN calls c ON c.id = r.call_id WHERE c.\(range)",
                                           arguments: arguments).map(Self.review)
            return CallReport.build(calls: calls, findings: findings, reviews: reviews)
        }
    }

    public func deleteCalls(startedBefore date: Date) async throws -> Int {
        try await pool.write { db in
            let expired = "FROM calls WHERE started_at < ? AND status != 'live'"
            let cutoff: StatementArguments = [date.timeIntervalSince1970]
            for table in ["utterances", "utterance_search", "events", "findings", "reviews", "recordings"] {
                try db.execute(sql: "DELETE FROM \(table) WHERE call_id IN (SELECT id \(expired))", arguments: cutoff)
            }
            try db.execute(sql: "DELETE \(expired)", arguments: cutoff)
            return db.changesCount
        }
    }

    public func close() async throws {
        try pool.close()
    }

    // MARK: Nodes and sessions

    public func heartbeat(node: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO nodes (name, seen_at) VALUES (?, ?)", arguments: [node, Date().timeIntervalSince1970])
        }
    }

    public func silentNodes(olderThan seconds: Double, except: String) async throws -> [String] {
        try await pool.read { db in
            // Nodes that stopped heartbeating, and nodes with live calls that never heartbeat (a version without heartbeats).
            try String.fetchAll(db, sql: """
                SELECT name FROM nodes WHERE seen_at < ? AND name <> ?
                UNION SELECT DISTINCT node FROM calls WHERE status = 'live' AND node <> ? AND node NOT IN (SELECT name FROM nodes)
                ORDER BY 1
                """, arguments: [Date().timeIntervalSince1970 - seconds, except, except])
        }
    }

    public func forget(node: String) async throws {
        try await pool.write { db in try db.execute(sql: "DELETE FROM nodes WHERE name = ?", arguments: [node]) }
    }

    public func interruptLiveCalls(ofNode node: String, reason: String) async throws -> [CallRecord] {
        try await pool.write { db in
            let ids = try String.fetchAll(db, sql: "SELECT id FROM calls WHERE node = ? AND status = 'live'", arguments: [node])
            for id in ids {
                // The call ends where its last line ends (what was heard is all that is known of it).
                try db.execute(sql: """
                    UPDATE calls SET status = 'interrupted', outcome_reason = ?,
                        duration = MAX(duration, COALESCE((SELECT MAX("end") FROM utterances WHERE call_id = ?), 0)),
                        ended_at = started_at + MAX(duration, COALESCE((SELECT MAX("end") FROM utterances WHERE call_id = ?), 0))
                    WHERE id = ?
                    """, arguments: [reason, id, id, id])
            }
            guard !ids.isEmpty else { return [] }
            return try Row.fetchAll(db, sql: "SELECT * FROM calls WHERE id IN (\(ids.map { _ in "?" }.joined(separator: ",")))",
                                    arguments: StatementArguments(ids)).map(Self.call)
        }
    }

    public func save(session: WebSession) async throws {
        try await pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO web_sessions (digest, key_name, created_at, expires_at) VALUES (?, ?, ?, ?)",
                           arguments: [session.digest, session.keyName, session.createdAt.timeIntervalSince1970, session.expiresAt.timeIntervalSince1970])
        }
    }

    public func session(digest: String) async throws -> WebSession? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM web_sessions WHERE digest = ? AND expires_at > ?", arguments: [digest, Date().timeIntervalSince1970]).map {
                WebSession(digest: $0["digest"], keyName: $0["key_name"], createdAt: Date(timeIntervalSince1970: $0["created_at"]),
                           expiresAt: Date(timeIntervalSince1970: $0["expires_at"]))
            }
        }
    }

    public func deleteSession(digest: String) async throws {
        try await pool.write { db in try db.execute(sql: "DELETE FROM web_sessions WHERE digest = ?", arguments: [digest]) }
    }

    public func deleteExpiredSessions() async throws -> Int {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM web_sessions WHERE expires_at <= ?", arguments: [Date().timeIntervalSince1970])
            return db.changesCount
        }
    }

    /// Runs `body` while holding the database's write lock from another connection (tests: a database that is
    /// briefly unavailable to the server's writes).
    public func withWriteLockHeld(for seconds: Double) async throws {
        // Wait for the lock like any writer (the server may be writing at that moment), then keep it.
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        try await queue.write { db in
            try db.execute(sql: "INSERT INTO calls (id, gateway, started_at, status) VALUES ('lock-holder', 'test', 0, 'completed')")
            Thread.sleep(forTimeInterval: seconds)
            try db.execute(sql: "DELETE FROM calls WHERE id = 'lock-holder'")
        }
        try queue.close()
    }

    // MARK: Rows

    static func call(_ row: Row) -> CallRecord {
        CallRecord(
            id: row["id"], gateway: StoreCoding.gateway(row["gateway"]), callerNumber: row["caller_number"], node: row["node"],
            startedAt: Date(timeIntervalSince1970: row["started_at"]), endedAt: (row["ended_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
            status: StoreCoding.status(row["status"]), outcomeReason: row["outcome_reason"], endReason: row["end_reason"], duration: row["duration"], intent: row["intent"], handoffQueue: row["handoff_queue"],
            handoffReason: row["handoff_reason"], handoffSummary: row["handoff_summary"], score: row["score"],
            worstSeverity: (row["worst_severity"] as String?).flatMap(Severity.init(rawValue:)),
            errors: StoreCoding.decode([String].self, row["errors"], default: []), agent: row["agent"])
    }

    static func utterance(_ row: Row) -> UtteranceRecord {
        UtteranceRecord(
            callId: row["call_id"], sequence: row["seq"], speaker: row["speaker"], text: row["text"], start: row["start"], end: row["end"],
            confidence: row["confidence"], words: StoreCoding.decode([RecognizedWord].self, row["words"], default: []), intent: row["intent"],
            intentConfidence: row["intent_confidence"], slots: StoreCoding.decode([String: String].self, row["slots"], default: [:]),
            search: row["search"])
    }

    static func finding(_ row: Row) -> Finding {
        Finding(callId: row["call_id"], sequence: row["seq"], rule: row["rule"], severity: Severity(rawValue: row["severity"]) ?? .info,
                utterance: row["utterance"], at: row["at"], message: row["message"])
    }

    static func review(_ row: Row) -> Review {
        Review(callId: row["call_id"], reviewer: row["reviewer"], scores: StoreCoding.decode([String: Int].self, row["scores"], default: [:]),
               comment: row["comment"], savedAt: Date(timeIntervalSince1970: row["saved_at"]))
    }
}
