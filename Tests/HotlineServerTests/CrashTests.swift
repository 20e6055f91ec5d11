import Foundation
import HotlineCore
import HotlineStore
import HotlineTestSupport
import NIOCore
import Testing

/// `hotline serve` as a process, killed with SIGKILL in the middle of a call: every line finalised before the kill is
/// in the store. Then `hotline qa` reads that store as a reviewer would.
@Suite(.serialized) struct CrashTests {
    static var executable: String { hotlineExecutable }

    static func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let result = try await runHotline(arguments)
        return (result.status, result.output)
    }

    @Test func killedMidCallKeepsFinalisedLines() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hotline-crash-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = directory + "/calls.sqlite"
        let models = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Models").standardized.path
        try """
            http: {port: 0}
            audiosocket: {port: 0}
            auth:
              keys: [{name: qa, key: qa-key-0123456789abcdef, roles: [qa]}]
            bot: {flow: \(models)/flows/bank.yaml, caller_memory: \(directory)/callers.json}
            calls: {recognizers: 1}
            store: {url: "sqlite:\(database)", node: crash-test}
            qa: {rules: \(models)/qa/rules.yaml}
            log: {level: warning}
            """.write(toFile: directory + "/hotline.yaml", atomically: true, encoding: .utf8)
        func serve() throws -> Process {
            let server = Process()
            server.executableURL = URL(fileURLWithPath: Self.executable)
            server.arguments = ["serve", "--config", directory + "/hotline.yaml", "--ports-file", directory + "/ports.json"]
            server.standardError = FileHandle.nullDevice
            try server.run()
            return server
        }
        let server = try serve()
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }
        var port: Int?
        for _ in 0..<1200 where port == nil && server.isRunning {
            if let data = FileManager.default.contents(atPath: directory + "/ports.json"),
               let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] { port = object["audiosocket"] as? Int }
            try await Task.sleep(for: .milliseconds(100))
        }
        let audioSocket = try #require(port, "hotline serve did not start")

        let call = OpenCall(port: audioSocket)
        let store = try SQLiteTranscriptStore(path: database)
        var stored: CallDetail?
        for _ in 0..<600 {
            stored = try await store.detail(of: call.id)
            if stored?.utterances.contains(where: { $0.speaker == "caller" }) == true { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let before = try #require(stored, "the call never reached the store")
        let callerLines = before.utterances.filter { $0.speaker == "caller" }
        #expect(!callerLines.isEmpty)
        kill(server.processIdentifier, SIGKILL)
        for _ in 0..<100 where server.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        #expect(!server.isRunning)
        try? await call.end()
        try await store.close()

        let reopened = try SQLiteTranscriptStore(path: database)
        try await reopened.migrate()
        let after = try #require(try await reopened.detail(of: call.id))
        #expect(after.call.status == .live, "the call never ended: it is kept as it was")
        #expect(after.utterances.filter { $0.speaker == "caller" }.map(\.text) == callerLines.map(\.text), "every finalised line survived kill -9")
        #expect(after.utterances.contains { $0.speaker == "bot" && $0.text.hasPrefix("Thank you for calling First Community Bank") })
        try await reopened.close()

        // hotline qa on the same store.
        let list = try await Self.run(["qa", "list", "--store", "sqlite:" + database, "--search", "forward"])
        #expect(list.status == 0, "\(list.output)")
        #expect(list.output.contains(call.id))
        let show = try await Self.run(["qa", "show", call.id, "--store", "sqlite:" + database])
        #expect(show.output.contains("bot    Thank you for calling First Community Bank"), "\(show.output)")
        #expect(show.output.contains("caller "))
        let export = try await Self.run(["qa", "export", "--store", "sqlite:" + database, "--format", "vtt", "--output", directory + "/subtitles"])
        #expect(export.status == 0, "\(export.output)")
        let vtt = try String(contentsOfFile: directory + "/subtitles/\(call.id).vtt", encoding: .utf8)
        #expect(vtt.hasPrefix("WEBVTT\n\n00:00:0"), "\(vtt.prefix(100))")
        #expect(vtt.contains("bot: Thank you for calling"))
        let csv = try await Self.run(["qa", "export", "--store", "sqlite:" + database, "--format", "csv"])
        #expect(csv.output.hasPrefix("call_id,started_at,status,intent,score,sequence,speaker,start,end,confidence,line_intent,text\r\n"))
        let report = try await Self.run(["qa", "report", "--store", "sqlite:" + database])
        #expect(report.output.contains("calls: 1 (contained by the bot 0, handed off 0, abandoned 0, failed 0, interrupted 0, without a bot 0, live 1)"),
                "\(report.output)")
        let missing = try await Self.run(["qa", "show", "no-such-call", "--store", "sqlite:" + database])
        #expect(missing.status != 0)
        #expect(missing.output.contains("no call with id no-such-call"))
        let nowhere = try await Self.run(["qa", "list", "--store", "sqlite:" + directory + "/absent.sqlite"])
        #expect(nowhere.status != 0)
        #expect(nowhere.output.contains("no store at"))

        // The node starts again: the call it was running when killed is closed as interrupted at its last line.
        try? FileManager.default.removeItem(atPath: directory + "/ports.json")
        let restarted = try serve()
        defer { if restarted.isRunning { kill(restarted.processIdentifier, SIGKILL) } }
        for _ in 0..<1200 where !FileManager.default.fileExists(atPath: directory + "/ports.json") && restarted.isRunning {
            try await Task.sleep(for: .milliseconds(100))
        }
        let recovered = try SQLiteTranscriptStore(path: database)
        let closed = try #require(try await recovered.call(id: call.id))
        #expect(closed.status == .interrupted, "closed when the node restarted")
        #expect(closed.outcomeReason?.contains("crash-test") == true, "\(closed.outcomeReason ?? "")")
        let lastLine = after.utterances.map(\.end).max() ?? 0
        #expect(closed.duration >= lastLine && closed.duration < lastLine + 60, "ended at its last line: \(closed.duration) vs \(lastLine)")
        #expect(closed.endedAt.map { abs($0.timeIntervalSince(closed.startedAt) - closed.duration) < 0.01 } == true)
        try await recovered.close()
        kill(restarted.processIdentifier, SIGTERM)
        for _ in 0..<200 where restarted.isRunning { try await Task.sleep(for: .milliseconds(50)) }
    }

    /// Two `hotline serve` nodes on one PostgreSQL database; one is killed with SIGKILL in the middle of a call. The
    /// other stops hearing its heartbeat and closes that call as interrupted at its last line.
    @Test(.enabled(if: StoreKind.available.contains(.postgres))) func killedNodeCallsClosedByTheOther() async throws {
        try await withScratchStore(.postgres) { scratch in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hotline-nodes-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            func node(_ name: String) async throws -> ServeNode {
                try await ServeNode.start(name, directory: directory, logLevel: "warning", store: #"""
                    {url: "\#(scratch.url)", node: \#(name), heartbeat_seconds: 0.5, node_timeout_seconds: 3, record_calls: false}
                    """#)
            }
            let serveA = try await node("node-a")
            let nodeA = serveA.process
            defer { if nodeA.isRunning { kill(nodeA.processIdentifier, SIGKILL) } }
            let serveB = try await node("node-b")
            let nodeB = serveB.process
            defer { if nodeB.isRunning { kill(nodeB.processIdentifier, SIGKILL) } }
            let audioSocket = serveA.audioSocket

            let call = OpenCall(port: audioSocket)
            let store = try await scratch.open()
            var stored: CallDetail?
            for _ in 0..<600 {
                stored = try await store.detail(of: call.id)
                if stored?.utterances.contains(where: { $0.speaker == "caller" }) == true { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            let lastLine = try #require(stored, "the call never reached the store").utterances.map(\.end).max() ?? 0
            kill(nodeA.processIdentifier, SIGKILL)
            try? await call.end()
            let killed = ContinuousClock.now
            var closed: CallRecord?
            for _ in 0..<300 {
                closed = try await store.call(id: call.id)
                if closed?.status != .live { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            let record = try #require(closed)
            #expect(record.status == .interrupted, "node B closed node A's call")
            #expect(ContinuousClock.now - killed < .seconds(20))
            #expect(record.outcomeReason?.contains("node-a stopped") == true, "\(record.outcomeReason ?? "")")
            #expect(record.duration >= lastLine && record.duration < lastLine + 30)
            #expect(nodeB.isRunning)
            try await store.close()
            kill(nodeB.processIdentifier, SIGTERM)
            for _ in 0..<200 where nodeB.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        }
    }
}
