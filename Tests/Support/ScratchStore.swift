import Foundation
public import HotlineCore
import HotlineStore
import Logging

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

/// A fresh, empty store of one kind (a new SQLite file, or a new PostgreSQL database), removed afterwards.
public struct ScratchStore: Sendable {
    public let kind: StoreKind
    public let url: String
    private let cleanup: @Sendable () -> Void

    public static func make(_ kind: StoreKind) throws -> ScratchStore {
        switch kind {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hotline-store-\(UUID().uuidString)")
            return ScratchStore(kind: kind, url: "sqlite:" + directory.appendingPathComponent("calls.sqlite").path) {
                try? FileManager.default.removeItem(at: directory)
            }
        case .postgres:
            guard let admin = StoreKind.postgresURL else {
                throw StoreError("HOTLINE_TEST_POSTGRES_URL is not set: run the tests with scripts/test.sh, which starts PostgreSQL")
            }
            let name = "hotline_test_\(UUID().uuidString.prefix(8).lowercased())"
            try psql(admin, "CREATE DATABASE \(name)")
            var components = URLComponents(string: admin)!
            components.path = "/" + name
            return ScratchStore(kind: kind, url: components.string!) { try? psql(admin, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
        }
    }

    /// Opens the store. The connect deadline is generous: under the parallel test suite, tasks wait for the cooperative
    /// pool behind tests that block it with child processes.
    public func open() async throws -> any TranscriptStore { try await TranscriptStores.open(url, connectTimeout: 120, logger: Logger(label: "test")) }

    public func remove() { cleanup() }

    static func psql(_ url: String, _ sql: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        process.arguments = [url, "-v", "ON_ERROR_STOP=1", "-qc", sql]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = String(data: errors.fileHandleForReading.readDataToEndOfFile(), encoding: .utf8) ?? ""
            throw StoreError("psql \(sql): \(message)")
        }
    }
}

/// Runs `body` on a fresh store and closes and removes it afterwards.
public func withStore(_ kind: StoreKind, _ body: (any TranscriptStore) async throws -> Void) async throws {
    let scratch = try ScratchStore.make(kind)
    defer { scratch.remove() }
    let store = try await scratch.open()
    do {
        try await body(store)
        try await store.close()
    } catch {
        try? await store.close()
        throw error
    }
}
