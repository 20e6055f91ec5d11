import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HotlineTestSupport

/// `hotline serve` as a process with the bank flow, as an operator runs it: HTTP and AudioSocket on free ports, one admin
/// key, the log in a file.
final class ServeNode: Sendable {
    static let key = "admin-key-0123456789abcdef"

    let process: Process
    let log: String
    let http: Int
    let audioSocket: Int

    init(process: Process, log: String, http: Int, audioSocket: Int) {
        self.process = process
        self.log = log
        self.http = http
        self.audioSocket = audioSocket
    }

    /// Starts node `name` with its files in `directory`; `store` is the YAML of the `store` section; `logLevel` the log's.
    static func start(_ name: String, directory: String, logLevel: String = "notice", store: String) async throws -> ServeNode {
        let models = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Models").standardized.path
        try """
            http: {port: 0}
            audiosocket: {port: 0}
            auth:
              keys: [{name: admin, key: \(key), roles: [admin]}]
            bot: {flow: \(models)/flows/bank.yaml, caller_memory: \(directory)/\(name)-callers.json}
            calls: {recognizers: 1}
            store: \(store)
            qa: {rules: \(models)/qa/rules.yaml}
            log: {level: \(logLevel)}
            """.write(toFile: "\(directory)/\(name).yaml", atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: hotlineExecutable)
        process.arguments = ["serve", "--config", "\(directory)/\(name).yaml", "--ports-file", "\(directory)/\(name).json"]
        let log = "\(directory)/\(name).log"
        FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try process.run()
        for _ in 0..<1200 where process.isRunning {
            if let data = FileManager.default.contents(atPath: "\(directory)/\(name).json"),
               let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
               let http = object["http"] as? Int, let audioSocket = object["audiosocket"] as? Int {
                return ServeNode(process: process, log: log, http: http, audioSocket: audioSocket)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        throw TestFailure(description: "node \(name) did not start: \(output.suffix(2000))")
    }

    func get(_ path: String) async throws -> (status: Int, body: String) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(http)\(path)")!)
        request.setValue("Bearer \(Self.key)", forHTTPHeaderField: "Authorization")
        request.timeoutInterval = 30
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as! HTTPURLResponse).statusCode, String(decoding: data, as: UTF8.self))
    }

    func json(_ path: String) async throws -> [String: Any] {
        let (_, body) = try await get(path)
        return (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]) ?? [:]
    }

    /// Waits until `condition` holds (polling every 100 ms, up to `timeout`); returns how long it took.
    @discardableResult
    func until(_ what: String, timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws -> Duration {
        let started = ContinuousClock.now
        while ContinuousClock.now - started < timeout {
            if try await condition() { return ContinuousClock.now - started }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure(description: "\(what) did not happen within \(timeout)")
    }

    /// SIGTERM, and SIGKILL if it has not stopped after 20 s.
    func stop() async throws {
        kill(process.processIdentifier, SIGTERM)
        for _ in 0..<400 where process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
