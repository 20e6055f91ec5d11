import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HotlineCore
@testable import HotlineServer
import HotlineStore
import HotlineTestSupport
import Logging
import Testing

/// The QA web page in headless Chromium (Debian's chromium and chromium-driver), as a reviewer uses it. Screenshots are
/// kept in `.build/test-artifacts/qa-page/`.
@Suite(.serialized, .enabled(if: Browser.available || ProcessInfo.processInfo.environment["HOTLINE_REQUIRE_BROWSER"] == "1"))
struct QAPageTests {
    static let artifacts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../.build/test-artifacts/qa-page")
        .standardized.path

    @Test func reviewerJourney() async throws {
        try await withScratchStore(.sqlite) { scratch in
            let fixture = try QualityFixture.make(store: try await scratch.open())
            try await TestServer.run(bot: ChattyBot(), quality: fixture.quality) { server in
                let browser = try await Browser.start()
                do {
                    try await journey(server, browser, fixture)
                } catch {
                    try? await browser.screenshot("\(Self.artifacts)/failure.png")
                    await browser.quit()
                    throw error
                }
                await browser.quit()
            }
        }
    }

    func journey(_ server: TestServer, _ browser: Browser, _ fixture: QualityFixture) async throws {
        do {
            let site = "http://127.0.0.1:\(server.http)"
            func shot(_ name: String) async throws { try await browser.screenshot("\(Self.artifacts)/\(name).png") }

            // Not logged in: the page sends the reviewer to the login; a wrong key is refused.
            try await browser.go(site + "/qa")
            try await browser.wait("document.querySelector('#key')")
            #expect(try await browser.url.contains("/qa/login"))
            try await browser.type("not-a-valid-key-at-all", into: "#key")
            try await browser.clickAndLoad("#login")
            try await browser.wait("document.querySelector('.error')")
            try await shot("01-login-refused")
            try await browser.type(Keys.gateway, into: "#key")  // a gateway key is not a QA key
            try await browser.clickAndLoad("#login")
            try await browser.wait("document.querySelector('.error')")
            try await browser.type(Keys.qa, into: "#key")
            try await browser.clickAndLoad("#login")
            try await browser.wait("document.querySelector('#live')")
            try await shot("02-calls-empty")

            // A call comes in: it appears among the live calls without reloading.
            let call = OpenCall(port: server.audioSocket, speakAtOnce: false)
            try await browser.wait("document.getElementById('live-\(call.id)')")
            try await shot("03-live-call")
            try await browser.click("#live-\(call.id)")
            try await browser.wait("document.getElementById('call') && document.getElementById('call').dataset.call === '\(call.id)'")
            #expect(try await browser.run("return document.querySelectorAll('#transcript tr.line.caller').length") as? Int == 0)

            // The caller speaks: the line appears on the open page, with the intent once understood.
            call.speak()
            try await browser.wait("[...document.querySelectorAll('#transcript tr.line.caller .text')].some(e => e.textContent.includes('forward'))")
            try await browser.wait("[...document.querySelectorAll('#transcript tr.line.caller .meta')].some(e => e.textContent.includes('lost_card'))")
            try await browser.wait("document.querySelectorAll('#findings .finding.critical').length > 0")
            try await shot("04-live-call-page")
            let shown = try await browser.run("return document.body.innerText") as? String ?? ""
            #expect(!shown.contains("one one one two two two two"), "the card number is masked on the page")

            // The call ends: the status changes and the recording becomes playable from any line.
            try await call.end()
            try await browser.wait("document.getElementById('call').dataset.status !== 'live'")
            try await browser.wait("document.getElementById('player').readyState >= 1 && document.getElementById('player').duration > 1", timeout: .seconds(30))
            let start = try await browser.run("""
                const row = [...document.querySelectorAll('#transcript tr.line.caller')][0];
                row.querySelector('.play').click(); return parseFloat(row.dataset.start);
                """) as? Double ?? -1
            #expect(start > 0)
            try await browser.wait("Math.abs(document.getElementById('player').currentTime - \(start)) < 0.6")
            try await shot("05-finished-call")
            try await browser.go(site + "/qa/calls/\(call.id)")
            try await browser.wait("document.getElementById('outcome-reason')")
            #expect(try await browser.run("return document.getElementById('status').textContent") as? String == "contained")
            #expect(try await browser.run("return document.getElementById('outcome-reason').textContent") as? String
                    == "served; the caller hung up")

            // The scorecard is saved and kept.
            try await browser.run("""
                const f = document.getElementById('review');
                f.querySelector('[name=greeting]').value = '5'; f.querySelector('[name=resolution]').value = '3';
                f.querySelector('textarea').value = 'Read the card number out loud.';
                """)
            try await browser.click("#save-review")
            try await browser.wait("document.getElementById('review-status').textContent.includes('Saved')")
            let reviews = try #require(try await fixture.quality.store.detail(of: call.id)?.reviews)
            #expect(reviews.map(\.reviewer) == ["qa"])
            #expect(reviews.first?.scores == ["greeting": 5, "resolution": 3])
            #expect(reviews.first?.comment == "Read the card number out loud.")

            // Search finds the finished call; its page shows the saved scores.
            try await browser.go(site + "/qa?q=forward")
            try await browser.wait("document.querySelectorAll('#results tbody tr').length === 1")
            try await shot("06-search")
            try await browser.click("#results tbody a")
            try await browser.wait("document.querySelector('#review [name=greeting]') && document.querySelector('#review [name=greeting]').value === '5'")
            #expect(try await browser.run("return document.querySelector('#player').getAttribute('src')") as? String != nil)

            // The dashboard draws its charts and counts outcomes; a QA login cannot reach admin endpoints.
            try await browser.go(site + "/qa/dashboard")
            try await browser.wait("document.querySelectorAll('svg').length >= 4")
            #expect(try await browser.run("return document.getElementById('total-calls').textContent") as? String == "1")
            #expect(try await browser.run("return document.getElementById('containment').textContent") as? String == "100%",
                    "the bot served the caller's request")
            try await shot("07-dashboard")
            try await browser.run("window.__status = 0; fetch('/metrics').then(r => { window.__status = r.status; });")
            try await browser.wait("window.__status !== 0")
            #expect(try await browser.run("return window.__status") as? Int == 401, "the page's session is no key for the rest of the API")

            // Logging out ends the session.
            try await browser.go(site + "/qa/logout")
            try await browser.go(site + "/qa")
            try await browser.wait("document.querySelector('#key')")
        }
    }

    /// Agents' recorded calls in the store: the agents page ranks the agent who most needs coaching last, their name
    /// opens their calls review first, and the review-first list puts the critical and lowest-scored calls on top.
    @Test func agentsPageAndReviewFirst() async throws {
        try await withScratchStore(.sqlite) { scratch in
            let store = try await scratch.open()
            let now = Date()
            // (id, agent, score, critical finding?, rule, hours ago)
            let seeded: [(String, String, Double, Bool, String?, Double)] = [
                ("rec-a1", "Sarah", 100, false, nil, 30), ("rec-a2", "Sarah", 98, false, "agent_closing", 2),
                ("rec-b1", "Mike", 90, false, "agent_closing", 28), ("rec-b2", "Mike", 80, false, "agent_greeting", 3),
                ("rec-c1", "Rob", 60, true, "recording_notice", 26), ("rec-c2", "Rob", 38, true, "agent_rude", 1),
            ]
            for (id, agent, score, critical, rule, hoursAgo) in seeded {
                let start = now.addingTimeInterval(-hoursAgo * 3600)
                try await store.append(utterance: UtteranceRecord(callId: id, sequence: 0, speaker: "agent", text: "thank you for calling", start: 0.5, end: 2))
                try await store.append(utterance: UtteranceRecord(callId: id, sequence: 1, speaker: "caller", text: "i lost my card", start: 1.5, end: 4))
                try await store.append(utterance: UtteranceRecord(callId: id, sequence: 2, speaker: "agent", text: "anything else", start: 50, end: 52))
                if let rule {
                    try await store.append(finding: Finding(callId: id, sequence: 0, rule: rule, severity: critical ? .critical : .info, utterance: nil,
                                                            at: 0, message: "seeded"))
                }
                try await store.save(call: CallRecord(id: id, gateway: .recording, node: "import", startedAt: start, endedAt: start.addingTimeInterval(60),
                                                      status: .completed, duration: 60, handoffQueue: "cards", score: score,
                                                      worstSeverity: rule == nil ? nil : critical ? .critical : .info, agent: agent))
            }
            let fixture = try QualityFixture.make(store: store)
            try await TestServer.run(bot: ChattyBot(), quality: fixture.quality) { server in
                let browser = try await Browser.start()
                do {
                    let site = "http://127.0.0.1:\(server.http)"
                    func shot(_ name: String) async throws { try await browser.screenshot("\(Self.artifacts)/\(name).png") }
                    try await browser.go(site + "/qa/agents")
                    try await browser.wait("document.querySelector('#key')")
                    try await browser.type(Keys.qa, into: "#key")
                    try await browser.clickAndLoad("#login")
                    try await browser.wait("document.querySelectorAll('#agents tr.agent').length === 3")
                    let order = try await browser.run("return [...document.querySelectorAll('#agents tr.agent')].map(r => r.dataset.agent).join(',')") as? String
                    #expect(order == "Sarah,Mike,Rob", "best first, the worst agent last")
                    let rob = try await browser.run("return document.querySelector('#agents tr.agent[data-agent=Rob]').innerText") as? String ?? ""
                    #expect(rob.contains("49") && rob.contains("38") && rob.contains("agent_rude"), "average, lowest and the rules found: \(rob)")
                    #expect(try await browser.run("return document.querySelectorAll('#agents svg.spark').length") as? Int == 3, "a trend per agent")
                    try await shot("10-agents")

                    // An agent's calls, review first.
                    try await browser.clickAndLoad("#agents tr.agent[data-agent=Rob] a")
                    try await browser.wait("document.querySelectorAll('#results tbody tr').length === 2")
                    let robCalls = try await browser.run("return [...document.querySelectorAll('#results tbody tr')].map(r => r.lastElementChild.textContent).join(',')") as? String
                    #expect(robCalls == "rec-c2,rec-c1", "the lowest score first")

                    // The review-first list over everyone: critical findings first, then the lowest scores.
                    try await browser.go(site + "/qa?order=risk")
                    try await browser.wait("document.querySelectorAll('#results tbody tr').length === 6")
                    let ranked = try await browser.run("return [...document.querySelectorAll('#results tbody tr')].map(r => r.lastElementChild.textContent).join(',')") as? String
                    #expect(ranked == "rec-c2,rec-c1,rec-b2,rec-b1,rec-a2,rec-a1", "\(ranked ?? "")")
                    #expect(try await browser.run("return document.body.innerText.includes('Calls to review first')") as? Bool == true)
                    try await shot("11-review-first")

                    // The call page shows both speakers' lines, and the two lanes on one timeline: the half second they
                    // spoke at once, and the long silence before the agent's last line.
                    try await browser.go(site + "/qa/calls/rec-c2")
                    try await browser.wait("document.querySelectorAll('#transcript tr.line.agent').length === 2 && document.querySelectorAll('#transcript tr.line.caller').length === 1")
                    #expect(try await browser.run("return document.getElementById('agent').textContent") as? String == "Rob")
                    let lanes = try await browser.run("return [...document.querySelectorAll('#lanes .lane')].map(l => l.dataset.speaker + ':' + l.querySelectorAll('.seg').length).join(',')") as? String
                    #expect(lanes == "caller:1,agent:2", "\(lanes ?? "")")
                    #expect(try await browser.run("return document.querySelectorAll('#lanes .overlap').length") as? Int == 1)
                    #expect(try await browser.run("return document.querySelectorAll('#lanes .silence').length") as? Int == 2, "before the last line, and after it to the end")
                    let summary = try await browser.run("return document.getElementById('lanes-summary').textContent") as? String ?? ""
                    #expect(summary.contains("overlap 0.5 s") && summary.contains("longest silence 46.0 s"), "\(summary)")
                    try await shot("12-agent-call")
                } catch {
                    try? await browser.screenshot("\(Self.artifacts)/failure-agents.png")
                    await browser.quit()
                    throw error
                }
                await browser.quit()
            }
        }
    }

    /// The database goes away while a supervisor watches the calls page (PostgreSQL through a proxy whose plug is
    /// pulled): the page says so at once, still shows the live call, a reload gets the outage page (503) with the live
    /// call instead of a spinner, and the page comes back by itself when the database does.
    @Test(.enabled(if: StoreKind.available.contains(.postgres))) func storeOutageOnThePage() async throws {
        try await withScratchStore(.postgres) { scratch in
            var target = try #require(URLComponents(string: scratch.url))
            let proxy = try await TCPProxy.start(to: target.host ?? "127.0.0.1", port: target.port ?? 5432)
            defer { proxy.stop() }
            target.host = "127.0.0.1"
            target.port = proxy.port
            var logger = Logger(label: "test-outage")
            logger.logLevel = .critical
            let store = try await TranscriptStores.open(try #require(target.string), timeout: 1, statementTimeout: 5, logger: logger)
            var limits = StoreLimits()
            limits.timeout = .seconds(1)
            limits.readTimeout = .seconds(2)
            let quality = QualityServices(store: store, node: "page-node", options: limits, encoder: nil, logger: logger)
            try await TestServer.run(bot: ChattyBot(), quality: quality) { server in
                let browser = try await Browser.start()
                do {
                    let site = "http://127.0.0.1:\(server.http)"
                    func shot(_ name: String) async throws { try await browser.screenshot("\(Self.artifacts)/\(name).png") }
                    try await browser.go(site + "/qa/login")
                    try await browser.type(Keys.qa, into: "#key")
                    try await browser.clickAndLoad("#login")
                    try await browser.wait("document.querySelector('#results')")
                    let call = OpenCall(port: server.audioSocket, speakAtOnce: false)
                    try await browser.wait("document.getElementById('live-\(call.id)')")

                    proxy.cut()
                    try await browser.wait("!document.getElementById('store-status').hidden", timeout: .seconds(10))
                    #expect((try await browser.run("return document.getElementById('store-status').textContent") as? String ?? "")
                        .contains("transcript store is unavailable"))
                    try await shot("10-store-down-banner")
                    try await browser.go(site + "/qa")
                    try await browser.wait("document.getElementById('outage')", timeout: .seconds(10))
                    #expect(try await browser.run("return document.getElementById('live-\(call.id)') !== null") as? Bool == true,
                            "the live call is still shown")
                    try await shot("11-store-down-page")

                    proxy.restore()
                    try await browser.wait("document.querySelector('#results') && !document.getElementById('outage')", timeout: .seconds(20))
                    #expect(try await browser.run("return document.getElementById('live-\(call.id)') !== null") as? Bool == true)
                    try await shot("12-store-back")
                    try await call.end()
                } catch {
                    try? await browser.screenshot("\(Self.artifacts)/outage-failure.png")
                    await browser.quit()
                    throw error
                }
                await browser.quit()
            }
        }
    }
}
