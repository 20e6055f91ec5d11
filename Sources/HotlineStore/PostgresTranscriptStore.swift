public import Foundation
public import HotlineCore
public import Logging
import NIOSSL
import PostgresNIO

// MARK: - PostgreSQL (several nodes, one store)

/// The shared store: PostgreSQL through PostgresNIO's connection pool. Several Hotline nodes write to one database;
/// migrations take an advisory lock so nodes starting together do not race; full-text search uses a generated
/// `tsvector` column with a GIN index. It also relays live-feed events between nodes with LISTEN/NOTIFY.
public final class PostgresTranscriptStore: TranscriptStore, FeedRelay {
    private let client: PostgresClient
    private let runner: Task<Void, Never>
    private let logger: Logger
    /// The NOTIFY channel live-feed events travel on.
    public static let feedChannel = "hotline_feed"

    /// Connects to `url` (`postgres://user:password@host:port/database[?sslmode=require]`); the pool runs until `close()`.
    /// `connectTimeout` bounds connecting, so an unreachable database is an error within seconds rather than a wait of
    /// a minute; `statementTimeout` bounds every statement on the server (`statement_timeout`; migrations excepted).
    public init(url: String, maximumConnections: Int = 10, connectTimeout: Duration = .seconds(5), statementTimeout: Duration = .seconds(30),
                logger: Logger) throws {
        guard let components = URLComponents(string: url), let host = components.host, let user = components.user else {
            throw StoreError("the PostgreSQL URL \(TranscriptStores.redacted(url)) needs at least a user and a host (postgres://user:password@host:port/database)")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let sslMode = components.queryItems?.first { $0.name == "sslmode" }?.value ?? "disable"
        let tls: PostgresClient.Configuration.TLS
        switch sslMode {
        case "disable": tls = .disable
        case "prefer": tls = .prefer(.makeClientConfiguration())
        case "require": tls = .require(.makeClientConfiguration())
        default: throw StoreError("unknown sslmode '\(sslMode)' in the PostgreSQL URL (expected disable, prefer or require)")
        }
        var configuration = PostgresClient.Configuration(host: host, port: components.port ?? 5432, username: user, password: components.password,
                                                         database: database.isEmpty ? nil : database, tls: tls)
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectTimeout = connectTimeout
        configuration.options.additionalStartupParameters = [("statement_timeout", "\(max(1, Int(statementTimeout.seconds * 1000)))")]
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.logger = logger
        runner = Task { await client.run() }
    }

    public func migrate() async throws {
        try await client.withTransaction(logger: logger) { connection in
            // One node migrates at a time; the others wait, then find nothing to do. A migration may take longer than a
            // statement is otherwise allowed to.
            try await connection.query("SET LOCAL statement_timeout = 0", logger: logger)
            try await connection.query("SELECT pg_advisory_xact_lock(7468656)", logger: logger)
            try await connection.query("CREATE TABLE IF NOT EXISTS hotline_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                                       logger: logger)
            var applied = Set<Int>()
            for try await version in try await connection.query("SELECT version FROM hotline_migrations", logger: logger).decode(Int.self) {
                applied.insert(version)
            }
            for (version, statements) in Self.migrations.enumerated() where !applied.contains(version + 1) {
                for statement in statements { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
                try await connection.query("INSERT INTO hotline_migrations (version) VALUES (\(version + 1))", logger: logger)
            }
        }
    }

    /// Data, constraint, syntax and limit errors reported by the server (SQLSTATE classes 22, 23, 42, 54): the server
    /// answered. Connection errors, time-outs (57014), shutdowns (57P01) and resource errors (53) are outages.
    public func isRejection(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError, let state = error.serverInfo?[.sqlState] else { return false }
        return ["22", "23", "42", "54"].contains(String(state.prefix(2)))
    }

    public func ping() async throws {
        try await client.query("SELECT 1", logger: logger)
    }

    /// Schema versions, in order; each runs once, in a transaction.
    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE calls (
                id TEXT PRIMARY KEY, gateway TEXT NOT NULL, caller_number TEXT, node TEXT NOT NULL DEFAULT '',
                started_at TIMESTAMPTZ NOT NULL, ended_at TIMESTAMPTZ, status TEXT NOT NULL, end_reason TEXT,
                duration DOUBLE PRECISION NOT NULL DEFAULT 0, intent TEXT, handoff_queue TEXT, handoff_reason TEXT, handoff_summary TEXT,
                score DOUBLE PRECISION, worst_severity TEXT, errors JSONB NOT NULL DEFAULT '[]')
            """,
            "CREATE INDEX calls_started ON calls (started_at)",
            """
            CREATE TABLE utterances (
                call_id TEXT NOT NULL, seq INTEGER NOT NULL, speaker TEXT NOT NULL, text TEXT NOT NULL,
                start DOUBLE PRECISION NOT NULL, "end" DOUBLE PRECISION NOT NULL, confidence DOUBLE PRECISION, words JSONB NOT NULL DEFAULT '[]',
                intent TEXT, intent_confidence DOUBLE PRECISION, slots JSONB NOT NULL DEFAULT '{}', search TEXT,
                search_vector TSVECTOR GENERATED ALWAYS AS (to_tsvector('english', text)) STORED,
                PRIMARY KEY (call_id, seq))
            """,
            "CREATE INDEX utterances_search ON utterances USING GIN (search_vector)",
            """
            CREATE TABLE events (call_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
                detail TEXT NOT NULL, PRIMARY KEY (call_id, seq))
            """,
            """
            CREATE TABLE findings (call_id TEXT NOT NULL, seq INTEGER NOT NULL, rule TEXT NOT NULL, severity TEXT NOT NULL, utterance INTEGER,
                at DOUBLE PRECISION NOT NULL, message TEXT NOT NULL, PRIMARY KEY (call_id, seq))
            """,
            "CREATE INDEX findings_rule ON findings (rule)",
            """
            CREATE TABLE reviews (call_id TEXT NOT NULL, reviewer TEXT NOT NULL, scores JSONB NOT NULL, comment TEXT NOT NULL,
                saved_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (call_id, reviewer))
            """,
            "CREATE TABLE recordings (call_id TEXT PRIMARY KEY, media_type TEXT NOT NULL, data BYTEA NOT NULL)",
        ],
        [
            "ALTER TABLE calls ADD COLUMN outcome_reason TEXT",
            "UPDATE calls SET status = 'contained' WHERE status = 'completed' AND gateway <> 'vosk'",
            "CREATE INDEX calls_live ON calls (node) WHERE status = 'live'",
            "CREATE TABLE nodes (name TEXT PRIMARY KEY, seen_at TIMESTAMPTZ NOT NULL)",
            "CREATE TABLE web_sessions (digest TEXT PRIMARY KEY, key_name TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL, expires_at TIMESTAMPTZ NOT NULL)",
        ],
        [
            "ALTER TABLE calls ADD COLUMN agent TEXT",
            "CREATE INDEX calls_agent ON calls (agent) WHERE agent IS NOT NULL",
        ],
    ]

    // MARK: Writes

    /// A finished call is never made live again: a write of its live record that arrives late (retried after an outage
    /// on another connection) cannot undo its end.
    public func save(call: CallRecord) async throws {
        try await client.query("""
            INSERT INTO calls (id, gateway, caller_number, node, started_at, ended_at, status, outcome_reason, end_reason, duration, intent,
                handoff_queue, handoff_reason, handoff_summary, score, worst_severity, errors, agent)
            VALUES (\(call.id), \(call.gateway.rawValue), \(call.callerNumber), \(call.node), \(call.startedAt), \(call.endedAt),
                \(call.status.rawValue), \(call.outcomeReason), \(call.endReason), \(call.duration), \(call.intent), \(call.handoffQueue), \(call.handoffReason), \(call.handoffSummary),
                \(call.score), \(call.worstSeverity?.rawValue), \(StoreCoding.json(call.errors))::jsonb, \(call.agent))
            ON CONFLICT (id) DO UPDATE SET gateway = EXCLUDED.gateway, caller_number = EXCLUDED.caller_number, node = EXCLUDED.node,
                started_at = EXCLUDED.started_at, ended_at = EXCLUDED.ended_at, status = EXCLUDED.status, outcome_reason = EXCLUDED.outcome_reason, end_reason = EXCLUDED.end_reason,
                duration = EXCLUDED.duration, intent = EXCLUDED.intent, handoff_queue = EXCLUDED.handoff_queue,
                handoff_reason = EXCLUDED.handoff_reason, handoff_summary = EXCLUDED.handoff_summary, score = EXCLUDED.score,
                worst_severity = EXCLUDED.worst_severity, errors = EXCLUDED.errors, agent = EXCLUDED.agent
            WHERE calls.status = 'live' OR EXCLUDED.status <> 'live'
            """, logger: logger)
    }

    public func append(utterance line: UtteranceRecord) async throws {
        try await client.query("""
            INSERT INTO utterances (call_id, seq, speaker, text, start, "end", confidence, words, intent, intent_confidence, slots, search)
            VALUES (\(line.callId), \(line.sequence), \(line.speaker), \(line.text), \(line.start), \(line.end), \(line.confidence),
                \(StoreCoding.json(line.words))::jsonb, \(line.intent), \(line.intentConfidence), \(StoreCoding.json(line.slots))::jsonb, \(line.search))
            ON CONFLICT (call_id, seq) DO UPDATE SET speaker = EXCLUDED.speaker, text = EXCLUDED.text, start = EXCLUDED.start,
                "end" = EXCLUDED."end", confidence = EXCLUDED.confidence, words = EXCLUDED.words, intent = EXCLUDED.intent,
                intent_confidence = EXCLUDED.intent_confidence, slots = EXCLUDED.slots, search = EXCLUDED.search
            """, logger: logger)
    }

    public func append(event: CallEventRecord) async throws {
        try await client.query("""
            INSERT INTO events (call_id, seq, kind, at, detail) VALUES (\(event.callId), \(event.sequence), \(event.kind), \(event.at), \(event.detail))
            ON CONFLICT (call_id, seq) DO NOTHING
            """, logger: logger)
    }

    public func append(finding: Finding) async throws {
        try await client.query("""
            INSERT INTO findings (call_id, seq, rule, severity, utterance, at, message)
            VALUES (\(finding.callId), \(finding.sequence), \(finding.rule), \(finding.severity.rawValue), \(finding.utterance), \(finding.at), \(finding.message))
            ON CONFLICT (call_id, seq) DO NOTHING
            """, logger: logger)
    }

    public func save(review: Review) async throws {
        try await client.query("""
            INSERT INTO reviews (call_id, reviewer, scores, comment, saved_at)
            VALUES (\(review.callId), \(review.reviewer), \(StoreCoding.json(review.scores))::jsonb, \(review.comment), \(review.savedAt))
            ON CONFLICT (call_id, reviewer) DO UPDATE SET scores = EXCLUDED.scores, comment = EXCLUDED.comment, saved_at = EXCLUDED.saved_at
            """, logger: logger)
    }

    public func save(recording: Recording) async throws {
        try await client.query("""
            INSERT INTO recordings (call_id, media_type, data) VALUES (\(recording.callId), \(recording.mediaType), \(recording.data))
            ON CONFLICT (call_id) DO UPDATE SET media_type = EXCLUDED.media_type, data = EXCLUDED.data
            """, logger: logger)
    }

    // MARK: Reads

    static let callColumns = """
        id, gateway, caller_number, node, started_at, ended_at, status, end_reason, duration, intent, handoff_queue, handoff_reason,
        handoff_summary, score, worst_severity, errors::text, outcome_reason, agent
        """

    public func call(id: String) async throws -> CallRecord? {
        try await calls(PostgresQuery(unsafeSQL: "SELECT \(Self.callColumns) FROM calls WHERE id = $1", binds: binds(id))).first
    }

    public func detail(of id: String) async throws -> CallDetail? {
        guard let call = try await call(id: id) else { return nil }
        var utterances: [UtteranceRecord] = []
        let lines = try await client.query("""
            SELECT call_id, seq, speaker, text, start, "end", confidence, words::text, intent, intent_confidence, slots::text, search
            FROM utterances WHERE call_id = \(id) ORDER BY seq
            """, logger: logger)
        for try await row in lines {
            let r = row.makeRandomAccess()
            utterances.append(UtteranceRecord(
                callId: try r[0].decode(String.self), sequence: try r[1].decode(Int.self), speaker: try r[2].decode(String.self),
                text: try r[3].decode(String.self), start: try r[4].decode(Double.self), end: try r[5].decode(Double.self),
                confidence: try r[6].decode(Double?.self), words: StoreCoding.decode([RecognizedWord].self, try r[7].decode(String.self), default: []),
                intent: try r[8].decode(String?.self), intentConfidence: try r[9].decode(Double?.self),
                slots: StoreCoding.decode([String: String].self, try r[10].decode(String.self), default: [:]), search: try r[11].decode(String?.self)))
        }
        var events: [CallEventRecord] = []
        for try await (callId, sequence, kind, at, detail) in try await client.query(
            "SELECT call_id, seq, kind, at, detail FROM events WHERE call_id = \(id) ORDER BY seq", logger: logger
        ).decode((String, Int, String, Double, String).self) {
            events.append(CallEventRecord(callId: callId, sequence: sequence, kind: kind, at: at, detail: detail))
        }
        let findings = try await findings(PostgresQuery(unsafeSQL: "SELECT \(Self.findingColumns) FROM findings WHERE call_id = $1 ORDER BY at, seq", binds: binds(id)))
        let reviews = try await reviews(PostgresQuery(unsafeSQL: "SELECT \(Self.reviewColumns) FROM reviews WHERE call_id = $1 ORDER BY saved_at", binds: binds(id)))
        var recorded = false
        for try await exists in try await client.query("SELECT EXISTS (SELECT 1 FROM recordings WHERE call_id = \(id))", logger: logger).decode(Bool.self) {
            recorded = exists
        }
        return CallDetail(call: call, utterances: utterances, events: events, findings: findings, reviews: reviews, hasRecording: recorded)
    }

    public func recording(of id: String) async throws -> Recording? {
        for try await (mediaType, data) in try await client.query(
            "SELECT media_type, data FROM recordings WHERE call_id = \(id)", logger: logger
        ).decode((String, Data).self) {
            return Recording(callId: id, mediaType: mediaType, data: data)
        }
        return nil
    }

    public func calls(matching query: CallQuery) async throws -> CallPage {
        var binds = PostgresBindings()
        func bind(_ value: some PostgresNonThrowingEncodable) -> String {
            binds.append(value)
            return "$\(binds.count)"
        }
        func bindFilter(_ value: StoreCoding.FilterValue) -> String {
            switch value {
            case .text(let text): bind(text)
            case .number(let number): bind(number)
            case .date(let date): bind(date)
            }
        }
        let filter = StoreCoding.whereClause(query, bind: bindFilter) { word in
            "c.id IN (SELECT call_id FROM utterances WHERE search_vector @@ plainto_tsquery('english', \(bind(word))))"
        }
        var total = 0
        for try await count in try await client.query(PostgresQuery(unsafeSQL: "SELECT COUNT(*) FROM calls c \(filter)", binds: binds), logger: logger)
            .decode(Int.self)
        {
            total = count
        }
        let limit = bind(query.limit)
        let offset = bind(query.offset)
        let columns = Self.callColumns.split(separator: ",").map { "c." + $0.trimmingCharacters(in: .whitespacesAndNewlines) }.joined(separator: ", ")
        let calls = try await calls(PostgresQuery(
            unsafeSQL: "SELECT \(columns) FROM calls c \(filter) \(StoreCoding.orderClause(query.order)) LIMIT \(limit) OFFSET \(offset)", binds: binds))
        return CallPage(calls: calls, total: total)
    }

    public func report(from: Date?, to: Date?) async throws -> CallReport {
        let start = from ?? Date(timeIntervalSince1970: 0)
        let end = to ?? Date(timeIntervalSince1970: 32_503_680_000)
        let range = "started_at >= $1 AND started_at < $2"
        var binds = PostgresBindings()
        binds.append(start)
        binds.append(end)
        let calls = try await calls(PostgresQuery(unsafeSQL: "SELECT \(Self.callColumns) FROM calls WHERE \(range)", binds: binds))
        let findings = try await findings(PostgresQuery(
            unsafeSQL: "SELECT \(Self.findingColumns) FROM findings WHERE call_id IN (SELECT id FROM calls WHERE \(range))", binds: binds))
        let reviews = try await reviews(PostgresQuery(
            unsafeSQL: "SELECT \(Self.reviewColumns) FROM reviews WHERE call_id IN (SELECT id FROM calls WHERE \(range))", binds: binds))
        return CallReport.build(calls: calls, findings: findings, reviews: reviews)
    }

    public func deleteCalls(startedBefore date: Date) async throws -> Int {
        try await client.withTransaction(logger: logger) { connection in
            var ids: [String] = []
            for try await id in try await connection.query(
                "DELETE FROM calls WHERE started_at < \(date) AND status <> 'live' RETURNING id", logger: logger
            ).decode(String.self) {
                ids.append(id)
            }
            for table in ["utterances", "events", "findings", "reviews", "recordings"] {
                var binds = PostgresBindings()
                binds.append(ids)
                try await connection.query(PostgresQuery(unsafeSQL: "DELETE FROM \(table) WHERE call_id = ANY($1)", binds: binds), logger: logger)
            }
            return ids.count
        }
    }

    public func close() async throws {
        runner.cancel()
        _ = await runner.value
    }

    // MARK: Nodes and sessions

    public func heartbeat(node: String) async throws {
        try await client.query("""
            INSERT INTO nodes (name, seen_at) VALUES (\(node), now()) ON CONFLICT (name) DO UPDATE SET seen_at = now()
            """, logger: logger)
    }

    public func silentNodes(olderThan seconds: Double, except: String) async throws -> [String] {
        var names: [String] = []
        for try await name in try await client.query("""
            SELECT name FROM nodes WHERE seen_at < now() - make_interval(secs => \(seconds)) AND name <> \(except)
            UNION SELECT DISTINCT node FROM calls WHERE status = 'live' AND node <> \(except) AND node NOT IN (SELECT name FROM nodes)
            ORDER BY 1
            """, logger: logger).decode(String.self) {
            names.append(name)
        }
        return names
    }

    public func forget(node: String) async throws {
        try await client.query("DELETE FROM nodes WHERE name = \(node)", logger: logger)
    }

    public func interruptLiveCalls(ofNode node: String, reason: String) async throws -> [CallRecord] {
        var ids: [String] = []
        // The call ends where its last line ends (what was heard is all that is known of it).
        for try await id in try await client.query("""
            UPDATE calls c SET status = 'interrupted', outcome_reason = \(reason),
                duration = GREATEST(c.duration, COALESCE((SELECT MAX(u."end") FROM utterances u WHERE u.call_id = c.id), 0)),
                ended_at = c.started_at + make_interval(secs => GREATEST(c.duration,
                    COALESCE((SELECT MAX(u."end") FROM utterances u WHERE u.call_id = c.id), 0)))
            WHERE c.node = \(node) AND c.status = 'live' RETURNING c.id
            """, logger: logger).decode(String.self) {
            ids.append(id)
        }
        guard !ids.isEmpty else { return [] }
        var binds = PostgresBindings()
        binds.append(ids)
        return try await calls(PostgresQuery(unsafeSQL: "SELECT \(Self.callColumns) FROM calls WHERE id = ANY($1)", binds: binds))
    }

    public func save(session: WebSession) async throws {
        try await client.query("""
            INSERT INTO web_sessions (digest, key_name, created_at, expires_at)
            VALUES (\(session.digest), \(session.keyName), \(session.createdAt), \(session.expiresAt))
            ON CONFLICT (digest) DO UPDATE SET key_name = EXCLUDED.key_name, expires_at = EXCLUDED.expires_at
            """, logger: logger)
    }

    public func session(digest: String) async throws -> WebSession? {
        for try await (digest, keyName, created, expires) in try await client.query("""
            SELECT digest, key_name, created_at, expires_at FROM web_sessions WHERE digest = \(digest) AND expires_at > now()
            """, logger: logger).decode((String, String, Date, Date).self) {
            return WebSession(digest: digest, keyName: keyName, createdAt: created, expiresAt: expires)
        }
        return nil
    }

    public func deleteSession(digest: String) async throws {
        try await client.query("DELETE FROM web_sessions WHERE digest = \(digest)", logger: logger)
    }

    public func deleteExpiredSessions() async throws -> Int {
        var count = 0
        for try await _ in try await client.query("DELETE FROM web_sessions WHERE expires_at <= now() RETURNING digest", logger: logger)
            .decode(String.self) {
            count += 1
        }
        return count
    }

    // MARK: Live feed across nodes

    public func publish(_ payload: String) async throws {
        try await client.query("SELECT pg_notify(\(Self.feedChannel), \(payload))", logger: logger)
    }

    public func listen(_ receive: @escaping @Sendable (String) async -> Void) async throws {
        try await client.withConnection { connection in
            try await connection.listen(on: Self.feedChannel) { notifications in
                for try await notification in notifications { await receive(notification.payload) }
            }
        }
    }

    // MARK: Rows

    private func binds(_ value: String) -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(value)
        return binds
    }

    private func calls(_ query: PostgresQuery) async throws -> [CallRecord] {
        var result: [CallRecord] = []
        for try await row in try await client.query(query, logger: logger) {
            let r = row.makeRandomAccess()
            result.append(CallRecord(
                id: try r[0].decode(String.self), gateway: StoreCoding.gateway(try r[1].decode(String.self)), callerNumber: try r[2].decode(String?.self),
                node: try r[3].decode(String.self), startedAt: try r[4].decode(Date.self), endedAt: try r[5].decode(Date?.self),
                status: StoreCoding.status(try r[6].decode(String.self)), outcomeReason: try r[16].decode(String?.self),
                endReason: try r[7].decode(String?.self), duration: try r[8].decode(Double.self),
                intent: try r[9].decode(String?.self), handoffQueue: try r[10].decode(String?.self), handoffReason: try r[11].decode(String?.self),
                handoffSummary: try r[12].decode(String?.self), score: try r[13].decode(Double?.self),
                worstSeverity: try r[14].decode(String?.self).flatMap(Severity.init(rawValue:)),
                errors: StoreCoding.decode([String].self, try r[15].decode(String.self), default: []), agent: try r[17].decode(String?.self)))
        }
        return result
    }

    static let findingColumns = "call_id, seq, rule, severity, utterance, at, message"

    private func findings(_ query: PostgresQuery) async throws -> [Finding] {
        var result: [Finding] = []
        for try await (callId, sequence, rule, severity, utterance, at, message) in try await client.query(query, logger: logger)
            .decode((String, Int, String, String, Int?, Double, String).self)
        {
            result.append(Finding(callId: callId, sequence: sequence, rule: rule, severity: Severity(rawValue: severity) ?? .info, utterance: utterance,
                                  at: at, message: message))
        }
        return result
    }

    static let reviewColumns = "call_id, reviewer, scores::text, comment, saved_at"

    private func reviews(_ query: PostgresQuery) async throws -> [Review] {
        var result: [Review] = []
        for try await (callId, reviewer, scores, comment, savedAt) in try await client.query(query, logger: logger)
            .decode((String, String, String, String, Date).self)
        {
            result.append(Review(callId: callId, reviewer: reviewer, scores: StoreCoding.decode([String: Int].self, scores, default: [:]),
                                 comment: comment, savedAt: savedAt))
        }
        return result
    }
}
