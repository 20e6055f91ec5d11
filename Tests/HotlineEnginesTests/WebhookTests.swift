import Foundation
import HotlineCore
import HotlineEngines
import HotlineTestSupport
import Testing

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
        #expect(reply?.text == "I can't reach your account right now. Would you like me to connect you with someone who can help?")
        #expect(reply?.interpretation?.progress == .failed)
        // The flow's 1 s timeout, not the HTTP client's own (a minute): a generous bound for a busy machine.
        #expect((clock.now - start) < .seconds(20))
    }

    @Test func aRefusedConnectionOrBadAnswerGivesTheFallback() async throws {
        let closed = try LoopbackServer(body: "not json")
        #expect(try await Self.ask(try Self.flow(port: closed.port))?.text.hasPrefix("I can't reach your account right now. Would you like") == true)
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
