import Foundation
import HotlineCore
import HotlineEngines
import HotlineStore
import HotlineTestSupport
@testable import HotlineServer
import NIOCore
import NIOPosix
import Testing

/// Credentials and requests as a proxy, a browser and a misconfigured gateway send them, over real sockets.
@Suite("Access")
struct AccessTests {
    /// Sends `request` as it is on a fresh connection and returns the response head and body as text, or what arrived
    /// before `timeout` (an unanswered request returns "").
    static func exchange(_ port: Int, _ request: String, timeout: Duration = .seconds(5)) async throws -> String {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
        }
        return try await withThrowingTaskGroup(of: String?.self) { group in
            group.addTask {
                var response = ByteBuffer()
                try await channel.executeThenClose { inbound, outbound in
                    try await outbound.write(ByteBuffer(string: request))
                    for try await var chunk in inbound {
                        response.writeBuffer(&chunk)
                        let text = String(buffer: response)
                        guard let split = text.range(of: "\r\n\r\n") else { continue }
                        let length = text[..<split.lowerBound].lowercased().split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                            .flatMap { Int($0.dropFirst(15).trimmingCharacters(in: .whitespaces)) } ?? 0  // none: a 101 or an empty answer
                        if text.utf8.count - text[..<split.upperBound].utf8.count >= length { break }
                    }
                }
                return String(buffer: response)
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first ?? ""
        }
    }

    static func status(_ response: String) -> Int { Int(response.split(separator: " ").dropFirst().first ?? "") ?? 0 }

    static func upgrade(_ path: String, headers: [String] = []) -> String {
        (["GET \(path) HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="] + headers).joined(separator: "\r\n") + "\r\n\r\n"
    }

    @Test("query-string keys only on WebSocket upgrades; WebSocket refusals are 401/403 before the upgrade")
    func tokensAndUpgrades() async throws {
        try await TestServer.run { server in
            let port = server.http
            // A key in the URL of a REST call is not a credential (it would sit in every proxy's log).
            #expect(try await server.get("/v1/calls?token=\(Keys.qa)").0 == 401)
            #expect(try await server.get("/v1/calls", key: Keys.qa).0 == 200)
            // WebSocket upgrades: wrong key 401, a key without the role 403, none 401 (Twilio may send it later).
            let wrong = try await Self.exchange(port, Self.upgrade("/v1/gateways/vosk?token=wrong-key-0123456789"))
            #expect(Self.status(wrong) == 401, "\(wrong)")
            #expect(wrong.lowercased().contains("www-authenticate: bearer"))
            let role = try await Self.exchange(port, Self.upgrade("/v1/gateways/audio-fork", headers: ["Authorization: Bearer \(Keys.qa)"]))
            #expect(Self.status(role) == 403, "\(role)")
            #expect(role.contains("lacks the gateway role"))
            #expect(Self.status(try await Self.exchange(port, Self.upgrade("/v1/gateways/jambonz"))) == 401)
            #expect(Self.status(try await Self.exchange(port, Self.upgrade("/v1/gateways/twilio?token=nope-0123456789abcdef"))) == 401)
            // The right key still upgrades, in the URL too.
            let good = try await Self.exchange(port, Self.upgrade("/v1/gateways/vosk?token=\(Keys.gateway)"), timeout: .seconds(2))
            #expect(Self.status(good) == 101, "\(good)")
            let twilio = try await Self.exchange(port, Self.upgrade("/v1/gateways/twilio"), timeout: .seconds(2))
            #expect(Self.status(twilio) == 101, "Twilio sends its key in its start message: \(twilio)")
        }
    }

    @Test("a bad or too large Content-Length is answered at once; an unknown voice is a 400 naming the voices")
    func requestLimits() async throws {
        try await TestServer.run(speech: FakeSpeech()) { server in
            let port = server.http
            let clock = ContinuousClock()
            let started = clock.now
            let invalid = try await Self.exchange(port, "POST /v1/chat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Keys.gateway)\r\n"
                                                  + "Content-Type: application/json\r\nContent-Length: 12abc\r\n\r\n{}")
            #expect([400].contains(Self.status(invalid)), "\(invalid)")
            let large = try await Self.exchange(port, "POST /v1/chat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Keys.gateway)\r\n"
                                                + "Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n{\"text\":")
            #expect(Self.status(large) == 413, "\(large)")
            #expect(large.contains("at most"))
            let upload = try await Self.exchange(port, "POST /v1/transcriptions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Keys.gateway)\r\n"
                                                 + "Content-Length: 9000000000\r\n\r\nRIFF")
            #expect(Self.status(upload) == 413, "\(upload)")
            #expect(clock.now - started < .seconds(3), "answered from the head, not after waiting for the body")

            let body = #"{"text": "Hello there.", "voice": "klingon-imperial"}"#
            let voice = try await Self.exchange(port, "POST /v1/synthesize HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Keys.gateway)\r\n"
                                                + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            #expect(Self.status(voice) == 400, "\(voice)")
            #expect(voice.contains("unknown voice 'klingon-imperial'") && voice.contains("en-us"), "\(voice)")
            let ok = #"{"text": "Hello there.", "voice": "en-us+f3"}"#
            let spoken = try await Self.exchange(port, "POST /v1/synthesize HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Keys.gateway)\r\n"
                                                 + "Content-Type: application/json\r\nContent-Length: \(ok.utf8.count)\r\n\r\n\(ok)")
            #expect(Self.status(spoken) == 200, "\(spoken.prefix(200))")
        }
    }

    @Test("the QA login makes a server-side session: the cookie holds no key, logout ends it, another node accepts it",
          arguments: StoreKind.available)
    func sessions(kind: StoreKind) async throws {
        try await withScratchStore(kind) { scratch in
            let nodeA = try QualityFixture.make(store: try await scratch.open(), node: "node-a")
            let nodeB = try QualityFixture.make(store: try await scratch.open(), node: "node-b")
            try await TestServer.run(quality: nodeA.quality) { serverA in
                try await TestServer.run(quality: nodeB.quality) { serverB in
                    let form = "key=\(Keys.qa)&next=%2Fqa"
                    let login = try await Self.exchange(serverA.http, "POST /qa/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                                                        + "Content-Length: \(form.utf8.count)\r\n\r\n\(form)")
                    #expect(Self.status(login) == 303, "\(login)")
                    let cookieLine = try #require(login.split(separator: "\r\n").first { $0.lowercased().hasPrefix("set-cookie:") })
                    #expect(!cookieLine.contains(Keys.qa), "the cookie never holds the key")
                    #expect(cookieLine.contains("HttpOnly") && cookieLine.contains("SameSite=Strict"))
                    let cookie = String(cookieLine.dropFirst("set-cookie:".count).split(separator: ";")[0]).trimmingCharacters(in: .whitespaces)

                    func get(_ port: Int, _ path: String) async throws -> Int {
                        Self.status(try await Self.exchange(port, "GET \(path) HTTP/1.1\r\nHost: x\r\nCookie: \(cookie)\r\n\r\n"))
                    }
                    #expect(try await get(serverA.http, "/qa") == 200)
                    #expect(try await get(serverB.http, "/qa") == 200, "the session is in the shared store")
                    #expect(try await get(serverA.http, "/v1/qa/calls") == 200, "the page's own API calls")
                    #expect(try await get(serverA.http, "/v1/calls") == 401, "not a key for the rest of the API")
                    #expect(try await get(serverA.http, "/metrics") == 401)
                    let raw = Self.status(try await Self.exchange(serverA.http, "GET /qa HTTP/1.1\r\nHost: x\r\nCookie: hotline_session=\(Keys.qa)\r\n\r\n"))
                    #expect(raw == 303, "a key in the cookie is not a session")

                    let logout = try await Self.exchange(serverB.http, "GET /qa/logout HTTP/1.1\r\nHost: x\r\nCookie: \(cookie)\r\n\r\n")
                    #expect(logout.contains("Max-Age=0"))
                    #expect(try await get(serverA.http, "/qa") == 303, "logout on one node ends the session on every node")
                    #expect(try await get(serverA.http, "/v1/qa/calls") == 401)
                }
            }
        }
    }
}

/// Synthesis stand-in for request checks: knows espeak-ng's usual voice names, makes a tiny WAV.
struct FakeSpeech: SpeechServices {
    func duration(ofFile path: String) throws -> Double { 1 }
    func transcribe(file path: String, name: String) async throws -> Transcript {
        Transcript(source: name, audio: AudioSummary(duration: 0, sampleRate: 16_000, channels: 1, format: "wav"), speakers: [], utterances: [], decodeTime: 0)
    }
    func synthesize(_ text: String, voice: String?, sampleRate: Int) async throws -> [UInt8] { Array("RIFF0000WAVE".utf8) }
    func voices() async -> [String] { ["en-us", "en-gb", "gmw/en-US", "English_(America)"] }
}
