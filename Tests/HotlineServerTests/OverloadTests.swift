import Dispatch
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HotlineCore
import HotlineEngines
import HotlineServer
import NIOCore
import Testing

@Suite(.serialized) struct OverloadTests {
    /// Past capacity (recognizer work waiting longer than the limit for a thread), a new call is refused before it
    /// starts, with each gateway's own signal: AudioSocket hangs up at once, a WebSocket upgrade gets 503 with
    /// Retry-After; /metrics says so. Once the work drains, calls are taken again.
    @Test func pastCapacityNewCallsAreRefusedWithTheGatewaysSignal() async throws {
        let pool = try RecognizerPool(size: 2, workers: 1) { try PocketSphinxRecognizer() }
        try await TestServer.run(pool: pool, admission: CallHost.Admission(maximumLoad: 0.9, maximumQueueWait: 0.2)) { server in
            #expect(server.server.host.overload == nil)
            // The only decoding thread is held; work queued behind it waits.
            let gate = DispatchSemaphore(value: 0)
            let holder = try await pool.borrow(), waiter = try await pool.borrow()
            let held = Task { try await holder.run { _ in gate.wait() } }
            try await Task.sleep(for: .milliseconds(50))
            let queued = Task { try await waiter.run { _ in } }
            try await Task.sleep(for: .milliseconds(400))
            let overload = server.server.host.overload
            #expect(overload?.contains("waited") == true, "\(overload ?? "no overload")")

            let (_, metrics) = try await server.get("/metrics", key: Keys.admin)
            let text = String(decoding: metrics, as: UTF8.self)
            #expect(text.contains("hotline_overloaded 1"))
            #expect(text.contains("hotline_recognizer_queue_wait_seconds") && text.contains("hotline_recognizer_busy_fraction"))

            // AudioSocket: a hangup straight after the UUID, nothing said.
            let client = try await AudioSocketClient.connect(port: server.audioSocket)
            let messages = try await client.channel.executeThenClose { inbound, outbound in
                try await outbound.write(.uuid(UUID()))
                var kinds: [String] = []
                for try await message in inbound {
                    switch message {
                    case .hangup: kinds.append("hangup")
                    case .audio: kinds.append("audio")
                    default: kinds.append("other")
                    }
                }
                return kinds
            }
            #expect(messages == ["hangup"])

            // Twilio (a WebSocket gateway): the upgrade is refused with 503 and Retry-After.
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(server.http)/v1/gateways/twilio")!)
            for (name, value) in [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13"),
                                  ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Authorization", "Bearer \(Keys.gateway)")] {
                request.setValue(value, forHTTPHeaderField: name)
            }
            let (body, response) = try await URLSession.shared.data(for: request)
            let http = try #require(response as? HTTPURLResponse)
            #expect(http.statusCode == 503)
            #expect(http.value(forHTTPHeaderField: "Retry-After") == "5")
            #expect(String(decoding: body, as: UTF8.self).contains("overloaded"))

            gate.signal()
            _ = try await (held.value, queued.value)
            holder.release()
            waiter.release()
            #expect(server.server.host.overload == nil, "the work drained")
        }
    }
}
