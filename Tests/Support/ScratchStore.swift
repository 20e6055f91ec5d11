import Foundation
public import HotlineCore
import HotlineStore
import Logging
import PostgresNIO

/// The stores a test can run on: SQLite always; PostgreSQL when `HOTLINE_TEST_POSTGRES_URL` names a server where the
/// user may create databases (`scripts/test.sh` starts one). With `HOTLINE_REQUIRE_POSTGRES=1` a missing server fails.
public enum StoreKind: String, CaseIterable, Sendable {
    case sqlite
    case postgres

    public static var available: [StoreKind] {
        if postgresURL != nil || ProcessInfo.processInfo.environment["HOTLINE_REQUIRE_POSTGRES"] == "1" { return allCases }
        return [.sqlite]
    }

    public static var postgresURL: String? { ProcessInfo.processInfo.environment["HOTLINE_TEST_POSTGRES_URL"] }
}

/// A fresh, empty store of one kind (a new SQLite file, or a new PostgreSQL database). Use `withScratchStore`, which
/// removes it afterwards.
public struct ScratchStore: Sendable {
    public let kind: StoreKind
    public let url: String

    /// Opens the store. The connect deadline is generous: a busy machine (or `swift test` run in parallel by hand)
    /// can keep a test's tasks waiting for the cooperative pool.
    public func open() async throws -> any TranscriptStore { try await TranscriptStores.open(url, connectTimeout: 120, logger: Logger(label: "test")) }
}

/// Runs `body` with a fresh scratch store of `kind` and removes the store afterwards, whether `body` threw or not.
/// PostgreSQL databases are made and dropped over PostgresNIO on `HOTLINE_TEST_POSTGRES_URL` (no `psql` child process,
/// whose connection defaults depend on the machine).
public func withScratchStore<T>(_ kind: StoreKind, _ body: (ScratchStore) async throws -> T) async throws -> T {
    switch kind {
    case .sqlite:
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hotline-store-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        return try await body(ScratchStore(kind: kind, url: "sqlite:" + directory.appendingPathComponent("calls.sqlite").path))
    case .postgres:
        guard let admin = StoreKind.postgresURL, var components = URLComponents(string: admin), components.scheme?.hasPrefix("postgres") == true,
              let host = components.host, let user = components.user
        else {
            throw StoreError("HOTLINE_TEST_POSTGRES_URL must be one postgres://user:password@host:port/database URL (scripts/test.sh starts a "
                + "server and sets it); it is \(StoreKind.postgresURL.map { $0.debugDescription } ?? "not set")")
        }
        let configuration = PostgresConnection.Configuration(host: host, port: components.port ?? 5432, username: user, password: components.password,
                                                             database: String(components.path.drop { $0 == "/" }), tls: .disable)
        let name = "hotline_test_\(UUID().uuidString.prefix(8).lowercased())"
        try await administer(configuration, "CREATE DATABASE \(name)")
        components.path = "/" + name
        do {
            let result = try await body(ScratchStore(kind: kind, url: components.string!))
            try? await administer(configuration, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            return result
        } catch {
            try? await administer(configuration, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            throw error
        }
    }
}

/// Runs one statement on its own connection (CREATE/DROP DATABASE cannot run in a pooled transaction).
private func administer(_ configuration: PostgresConnection.Configuration, _ statement: String) async throws {
    let logger = Logger(label: "test-postgres")
    let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
    do {
        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
        try await connection.close()
    } catch {
        try? await connection.close()
        throw StoreError("\(statement) on the test server: \(String(reflecting: error))")
    }
}

/// Runs `body` on a fresh store and closes and removes it afterwards.
public func withStore(_ kind: StoreKind, _ body: (any TranscriptStore) async throws -> Void) async throws {
    try await withScratchStore(kind) { scratch in
        let store = try await scratch.open()
        do {
            try await body(store)
            try await store.close()
        } catch {
            try? await store.close()
            throw error
        }
    }
}
