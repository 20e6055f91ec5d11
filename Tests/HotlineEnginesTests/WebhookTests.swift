import Foundation
import HotlineCore
import HotlineEngines
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A one-connection HTTP server on loopback: answers with `body`, or never answers when `body` is nil.
final class LoopbackServer: @unchecked Sendable {
    let port: UInt16
    private let socket: Int32
    private let body: String?
    private let received = NSLock()
    private var request = ""

    init(body: String?) throws {
        self.body = body
        let listener = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } }
        listen(listener, 4)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        socket = listener
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    private func serve() {
        let client = accept(socket, nil, nil)
        guard client >= 0 else { return }
        // Read the head, then as much body as Content-Length says (they may come in separate reads).
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(client, &buffer, buffer.count)
            if count <= 0 { break }
            bytes += buffer.prefix(count)
            let text = String(decoding: bytes, as: UTF8.self)
            guard let headEnd = text.range(of: "\r\n\r\n") else { continue }
            let length = text.components(separatedBy: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
            if text[headEnd.upperBound...].utf8.count >= length { break }
        }
        received.withLock { request = String(decoding: bytes, as: UTF8.self) }
        guard let body else {
            sleep(10)  // a server that never answers
            close(client)
            return
        }
        let response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        _ = response.withCString { write(client, $0, strlen($0)) }
        close(client)
    }

    var lastRequest: String { received.withLock { request } }

    deinit { close(socket) }
}

@Suite(.serialized) struct WebhookTests {
    static func flow(port: UInt16, timeout: Double = 1) throws -> FlowDefinition {
        try FlowLoader.parse("""
            name: t
            start: main
            intents:
              check_balance:
                examples: [what's my balance, how much money do i have]
            states:
              main:
                prompt: Hello.
                on:
                  check_balance:
                    webhook: {url: "http://127.0.0.1:\(port)/balance", timeout: \(timeout), fallback: "I can't reach your account right now."}
                    say: Your balance is {balance} dollars.
            """, source: "/tmp/t.yaml")
    }

    static func ask(_ flow: FlowDefinition) async throws -> Reply? {
        let responder = DialogResponder(dialog: try #require(flow.dialog), matcher: flow.makeMatcher(), webhooks: HTTPWebhooks())
        _ = await responder.opening()
        let utterance = Utterance(channel: 0, speaker: "caller", start: 0, end: 1, text: "what's my balance", confidence: 0.9, words: [])
        return await responder.respond(to: UtteranceResult(utterance: utterance, alternatives: [], search: .standard, decoding: .whole, endpointedAt: 1, latency: 0))
    }

    @Test func aWebhookAnswerFillsThePrompt() async throws {
        let server = try LoopbackServer(body: #"{"balance": 1234.5, "currency": "USD"}"#)
        let reply = try await Self.ask(try Self.flow(port: server.port))
        #expect(reply?.text == "Your balance is 1234.5 dollars.")
        #expect(server.lastRequest.hasPrefix("POST /balance"))
        #expect(server.lastRequest.contains(#""intent":"check_balance""#))
    }

    @Test func aSilentServerTimesOutToTheFallback() async throws {
        let server = try LoopbackServer(body: nil)
        let clock = ContinuousClock()
        let start = clock.now
        let reply = try await Self.ask(try Self.flow(port: server.port, timeout: 1))
        #expect(reply?.text == "I can't reach your account right now.")
        // The flow's 1 s timeout, not the HTTP client's own (a minute): a generous bound, as the suite runs in parallel.
        #expect((clock.now - start) < .seconds(20))
    }

    @Test func aRefusedConnectionOrBadAnswerGivesTheFallback() async throws {
        let closed = try LoopbackServer(body: "not json")
        #expect(try await Self.ask(try Self.flow(port: closed.port))?.text == "I can't reach your account right now.")
    }

    @Test func webhookMistakesAreNamedInTheFlow() {
        #expect {
            _ = try FlowLoader.parse("""
                name: t
                start: main
                intents:
                  a: {examples: [hi]}
                states:
                  main:
                    prompt: Hello.
                    on:
                      a: {webhook: {url: "ftp://x/y", fallback: "no"}}
                """, source: "t.yaml")
        } throws: { error in
            (error as? FlowError)?.problem == "webhook url must be http or https, not 'ftp://x/y'"
        }
    }
}
