import Foundation
public import HotlineCore
public import Logging

// MARK: - What both stores share

/// A store that cannot be opened or used: names the store and what went wrong.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    /// What failed.
    public var message: String

    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// JSON columns (words, slots, scores, errors) are encoded the same way in both stores.
enum StoreCoding {
    static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(value)).flatMap { String(data: $0, encoding: .utf8) } ?? "null"
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String?, default fallback: T) -> T {
        guard let text, let data = text.data(using: .utf8) else { return fallback }
        return (try? JSONDecoder().decode(type, from: data)) ?? fallback
    }

    /// A stored gateway name as the type (an unknown one, from a newer version, reads as a recording).
    static func gateway(_ text: String) -> Gateway { Gateway(rawValue: text) ?? .recording }

    /// A stored status as the type (rows from before outcomes were told apart said `completed` for a bot's call).
    static func status(_ text: String) -> CallStatus { CallStatus(rawValue: text) ?? .completed }

    /// A value a call filter binds.
    enum FilterValue {
        case text(String)
        case number(Double)
        case date(Date)
    }

    /// A query's filters as a `WHERE` clause over `calls c` (empty when nothing filters). `bind` binds a value and
    /// returns its placeholder; `search` gives the condition for one search word (binding it as the store needs).
    static func whereClause(_ query: CallQuery, bind: (FilterValue) -> String, search: (String) -> String) -> String {
        var conditions = query.searchWords.map(search)
        if let from = query.from { conditions.append("c.started_at >= \(bind(.date(from)))") }
        if let to = query.to { conditions.append("c.started_at < \(bind(.date(to)))") }
        if let status = query.status { conditions.append("c.status = \(bind(.text(status.rawValue)))") }
        if let intent = query.intent { conditions.append("c.intent = \(bind(.text(intent)))") }
        if let number = query.callerNumber { conditions.append("c.caller_number = \(bind(.text(number)))") }
        if let agent = query.agent { conditions.append("c.agent = \(bind(.text(agent)))") }
        if let rule = query.rule { conditions.append("EXISTS (SELECT 1 FROM findings f WHERE f.call_id = c.id AND f.rule = \(bind(.text(rule))))") }
        if let severity = query.severity {
            conditions.append("c.worst_severity IN (\(severities(atLeast: severity).map { bind(.text($0)) }.joined(separator: ", ")))")
        }
        if let minimum = query.minimumScore { conditions.append("c.score >= \(bind(.number(minimum)))") }
        if let maximum = query.maximumScore { conditions.append("c.score <= \(bind(.number(maximum)))") }
        return conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
    }

    /// A query's order as an `ORDER BY` clause over `calls c`.
    static func orderClause(_ order: CallOrder) -> String {
        switch order {
        case .newest:
            "ORDER BY c.started_at DESC, c.id"
        case .risk:
            """
            ORDER BY CASE WHEN c.status = 'live' THEN 1 ELSE 0 END, CASE WHEN c.worst_severity = 'critical' THEN 0 ELSE 1 END,
                COALESCE(c.score, 100), c.started_at DESC, c.id
            """
        }
    }

    /// Severities at least as serious as `severity` (for "worst finding ≥" filters).
    static func severities(atLeast severity: Severity) -> [String] {
        Severity.allCases.filter { $0 >= severity }.map(\.rawValue)
    }
}

/// Opens the store a URL names: `sqlite:PATH` (or a plain path ending .sqlite/.db) or `postgres://user:pass@host:port/db`.
public enum TranscriptStores {
    /// Opens and migrates the store, waiting up to `connectTimeout` seconds for it; afterwards connecting is bounded by
    /// `timeout` seconds and a statement by `statementTimeout`.
    public static func open(_ url: String, connectTimeout: Double = 10, timeout: Double = 5, statementTimeout: Double = 30,
                            logger: Logger = Logger(label: "hotline.store")) async throws -> any TranscriptStore {
        let store: any TranscriptStore
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            store = try PostgresTranscriptStore(url: url, connectTimeout: .milliseconds(Int(timeout * 1000)),
                                                statementTimeout: .milliseconds(Int(statementTimeout * 1000)), logger: logger)
        } else {
            let path = url.hasPrefix("sqlite:") ? String(url.dropFirst("sqlite:".count)) : url
            store = try SQLiteTranscriptStore(path: path)
        }
        do {
            // A pool retries connecting for ever; a server that cannot be reached at start-up is an error now.
            try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    try await store.migrate()
                    return true
                }
                group.addTask {
                    try await Task.sleep(for: .seconds(connectTimeout))
                    return false
                }
                let migrated = try await group.next() ?? false
                group.cancelAll()
                if !migrated { throw StoreError("cannot reach the store at \(redacted(url)) within \(Int(connectTimeout)) s") }
            }
        } catch let error as StoreError {
            try? await store.close()
            throw error
        } catch {
            try? await store.close()
            throw StoreError("cannot open the store at \(redacted(url)): \(error)")
        }
        return store
    }

    /// The URL with any password hidden (for logs): `postgres://user:***@host/db`.
    public static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.percentEncodedPassword = "***"
        return components.string ?? url
    }
}
