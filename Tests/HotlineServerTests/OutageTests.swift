import Foundation
import HotlineCore
import HotlineServer
import HotlineStore
import HotlineTestSupport
import Testing

/// Two `hotline serve` nodes on one PostgreSQL database, reached through a proxy whose plug is pulled for 10 s while
/// node A has two live calls and a QA viewer watches node B: calls are answered throughout; readiness, metrics and the
/// log show the outage within seconds and its true length after; QA reads answer 503 at once; no line is lost or
/// duplicated; node B does not take node A for dead; the viewer's live list ends right.
@Suite(.serialized) struct OutageTests {
    @Test(.enabled(if: StoreKind.available.contains(.postgres))) func databaseStoppedForTenSeconds() async throws {
        try await withScratchStore(.postgres) { scratch in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hotline-outage-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            var target = try #require(URLComponents(string: scratch.url))
            let proxy = try await TCPProxy.start(to: target.host ?? "127.0.0.1", port: target.port ?? 5432)
            defer { proxy.stop() }
            target.host = "127.0.0.1"
            target.port = proxy.port
            let proxied = try #require(target.string)
            func node(_ name: String) async throws -> ServeNode {
                try await ServeNode.start(name, directory: directory, store: #"""
                    {url: "\#(proxied)", node: \#(name), heartbeat_seconds: 0.5, node_timeout_seconds: 3, timeout_seconds: 1.5, record_calls: false}
                    """#)
            }
            let nodeA = try await node("node-a")
            let nodeB = try await node("node-b")
            defer {
                for node in [nodeA, nodeB] where node.process.isRunning { kill(node.process.processIdentifier, SIGKILL) }
            }
            let store = try await scratch.open()  // the database itself, not through the proxy

            // Two live calls on node A, watched from node B.
            let viewer = LiveFeedClient(port: nodeB.http, key: ServeNode.key)
            try await viewer.wait(for: ": connected")
            let ending = OpenCall(port: nodeA.audioSocket)
            let staying = OpenCall(port: nodeA.audioSocket, speakAtOnce: false)
            try await nodeA.until("both calls on node B's viewer") { viewer.liveCalls == [ending.id, staying.id].sorted() }
            try await nodeA.until("a caller's line stored") {
                try await store.detail(of: ending.id)?.utterances.contains { $0.speaker == "caller" } == true
            }

            // The database goes away.
            proxy.cut()
            let cut = ContinuousClock.now
            let seen = try await nodeA.until("node A's readiness showing the outage", timeout: .seconds(10)) {
                (try await nodeA.json("/ready"))["store"] as? String == "unavailable"
            }
            #expect(seen < .seconds(5), "the outage is seen within 5 s (took \(seen))")
            #expect(try await nodeA.get("/ready").status == 200, "calls are still taken")
            #expect(try await nodeA.get("/ready/qa").status == 503, "QA users are sent elsewhere")
            #expect(try await nodeA.get("/metrics").body.contains("hotline_store_available 0"))
            let asked = ContinuousClock.now
            let search = try await nodeA.get("/v1/qa/calls")
            #expect(search.status == 503)
            #expect(search.body.contains("transcript store is unavailable"), "\(search.body)")
            #expect(ContinuousClock.now - asked < .seconds(1), "a QA read fails at once")

            // The bot answers throughout: the second caller speaks now and is answered.
            staying.speak()
            try await nodeA.until("the bot answering during the outage") {
                let lines = ((try await nodeA.json("/v1/calls/\(staying.id)"))["transcript"] as? [[String: Any]]) ?? []
                guard let caller = lines.firstIndex(where: { $0["speaker"] as? String == "caller" }) else { return false }
                return lines[(caller + 1)...].contains { $0["speaker"] as? String == "bot" }
            }
            try await ending.end()  // ends while node B cannot hear it
            try await Task.sleep(until: cut + .seconds(10))
            #expect((try await nodeA.json("/ready"))["queuedWrites"] as? Int ?? 0 > 0, "the records wait in the queue")

            // It is back.
            proxy.restore()
            let back = try await nodeA.until("node A seeing the store back", timeout: .seconds(15)) {
                (try await nodeA.json("/ready"))["store"] as? String == "available"
            }
            #expect(back < .seconds(5), "recovery is seen within 5 s (took \(back))")
            #expect(try await nodeA.get("/ready/qa").status == 200)
            #expect(try await nodeA.get("/metrics").body.contains("hotline_store_available 1"))
            try await nodeA.until("node B's viewer dropping the call that ended during the outage") { viewer.liveCalls == [staying.id] }
            try await staying.end()
            try await nodeA.until("node B's viewer with no live calls") { viewer.liveCalls.isEmpty }

            // Every line once, in order, as node A heard it; neither call taken for a dead node's.
            for call in [ending, staying] {
                var detail: CallDetail?
                try await nodeA.until("call \(call.id) stored as ended") {
                    detail = try await store.detail(of: call.id)
                    return detail.map { $0.call.status != .live } ?? false
                }
                let stored = try #require(detail)
                #expect(stored.call.status != .interrupted, "\(stored.call.outcomeReason ?? "")")
                let heard = ((try await nodeA.json("/v1/calls/\(call.id)"))["transcript"] as? [[String: Any]]) ?? []
                #expect(stored.utterances.map(\.sequence) == Array(0..<stored.utterances.count), "no line lost or duplicated")
                #expect(stored.utterances.map(\.text) == heard.map { $0["text"] as? String ?? "" })
                #expect(stored.utterances.contains { $0.speaker == "caller" && !$0.words.isEmpty })
            }

            try await nodeA.stop()
            try await nodeB.stop()
            try await store.close()
            let log = try String(contentsOfFile: nodeA.log, encoding: .utf8)
            let down = log.components(separatedBy: "\n").filter { $0.contains("transcript store unavailable") }
            let up = log.components(separatedBy: "\n").filter { $0.contains("transcript store available again") }
            #expect(down.count == 1, "one warning when it goes: \(down)")
            #expect(up.count == 1, "one notice when it is back: \(up)")
            let outage = up.first.flatMap { line in
                line.range(of: #"outage_seconds=[0-9.]+"#, options: .regularExpression).map { Double(line[$0].dropFirst("outage_seconds=".count)) ?? 0 }
            }
            #expect(outage.map { (8.5...13).contains($0) } == true, "the outage's true length is logged: \(up)")
        }
    }
}
