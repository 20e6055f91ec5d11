import Foundation
import HotlineCore
import HTTPTypes
import Hummingbird
import NIOCore

// MARK: - The QA web page (server-rendered HTML, a little JavaScript, nothing loaded from elsewhere)

extension HotlineServer {
    func addQualityPages(to router: Router<HotlineRequestContext>, _ qa: QualityServices) {
        router.get("qa/login") { request, _ in
            Self.html(QAPage.login(next: request.uri.queryParameters.get("next") ?? "/qa", error: nil))
        }
        router.post("qa/login") { request, context -> Response in
            let form = try await Self.form(request, context)
            let next = Self.safeRedirect(form["next"])
            let key = form["key"] ?? ""
            guard let identity = access.identify(secret: key), identity.authenticated, identity.has(.qa) else {
                Self.authFailures.increment()
                logger.warning("QA login refused", metadata: ["path": "/qa/login"])
                return Self.html(QAPage.login(next: next, error: "That key is not valid for QA."), status: .unauthorized)
            }
            let secure = request.headers[HTTPField.Name("X-Forwarded-Proto")!] == "https"
            let cookie = try await startSession(for: identity, qa, secure: secure)
            logger.info("QA login", metadata: ["key": "\(identity.name)"])
            return Response(status: .seeOther, headers: [.location: next, .setCookie: cookie])
        }
        router.get("qa/logout") { request, _ in
            Response(status: .seeOther, headers: [.location: "/qa/login", .setCookie: await endSession(request, qa)])
        }
        router.get("qa") { request, _ -> Response in
            try await storePage(request, qa) { identity in
                let query: CallQuery
                do {
                    query = try Self.query(request.uri.queryParameters)
                } catch let error as HTTPError {
                    return Self.html(QAPage.layout(title: "Calls", identity: identity, body: "<p class=error>\(QAPage.escape(error.body ?? "bad search"))</p>"),
                                     status: .badRequest)
                }
                let page = try await qa.store.calls(matching: query)
                let calls = page.calls.map { Self.visible($0, to: identity) }
                let live = qa.feed.liveCalls.map { Self.visible($0, to: identity) }
                return Self.html(QAPage.calls(identity: identity, live: live, page: CallPage(calls: calls, total: page.total), query: query,
                                              parameters: request.uri.queryParameters))
            }
        }
        router.get("qa/calls/:id") { request, context -> Response in
            try await storePage(request, qa) { identity in
                let id = try context.parameters.require("id")
                guard var detail = try await qa.store.detail(of: id) else {
                    return Self.html(QAPage.layout(title: "Not found", identity: identity, body: "<p>No call with id \(QAPage.escape(id)).</p>"), status: .notFound)
                }
                detail.call = Self.visible(detail.call, to: identity)
                return Self.html(QAPage.call(identity: identity, detail: detail, rules: host.rules))
            }
        }
        router.get("qa/dashboard") { request, _ -> Response in
            try await storePage(request, qa) { identity in
                let days = min(max(Int(request.uri.queryParameters.get("days") ?? "7") ?? 7, 1), 365)
                let now = Date()
                let report = try await qa.store.report(from: now.addingTimeInterval(-Double(days) * 86_400), to: nil)
                return Self.html(QAPage.dashboard(identity: identity, report: report, days: days, now: now))
            }
        }
        router.get("qa/agents") { request, _ -> Response in
            try await storePage(request, qa) { identity in
                let days = min(max(Int(request.uri.queryParameters.get("days") ?? "30") ?? 30, 1), 365)
                let now = Date()
                let report = try await qa.store.report(from: now.addingTimeInterval(-Double(days) * 86_400), to: nil)
                return Self.html(QAPage.agents(identity: identity, report: report, days: days, now: now))
            }
        }
        router.get("qa/static/qa.js") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/javascript; charset=utf-8", .cacheControl: "max-age=300"],
                     body: .init(byteBuffer: ByteBuffer(string: QAPage.script)))
        }
    }

    /// The QA identity behind a page request (its session, or a key in its headers), or `nil` (the page redirects to the
    /// login). Throws ``StoreUnavailable`` when a session cannot be checked.
    func pageIdentity(_ request: Request, _ qa: QualityServices) async throws -> Identity? {
        let identity: Identity?
        if let secret = presentedSecret(request) {
            identity = access.identify(secret: secret)
        } else {
            // A session, or no credentials at all where anonymous users have the qa role (a closed network).
            identity = try await sessionIdentity(request, qa) ?? access.identify(secret: nil)
        }
        guard let identity, identity.has(.qa) else { return nil }
        return identity
    }

    /// A page that reads the store: while the store is unavailable it answers 503 with a page that says so, still shows
    /// the live calls (they do not need the store), and reloads itself when the store is back.
    func storePage(_ request: Request, _ qa: QualityServices, _ render: (Identity) async throws -> Response) async throws -> Response {
        var identity: Identity?
        do {
            identity = try await pageIdentity(request, qa)
            guard let identity else { return Self.toLogin(request) }
            return try await render(identity)
        } catch let error as StoreUnavailable {
            let live = identity.map { identity in qa.feed.liveCalls.map { Self.visible($0, to: identity) } } ?? []
            var response = Self.html(QAPage.outage(identity: identity, error: error, live: live), status: .serviceUnavailable)
            response.headers[.retryAfter] = "5"
            return response
        }
    }

    static func toLogin(_ request: Request) -> Response {
        let next = request.uri.path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "/qa"
        return Response(status: .seeOther, headers: [.location: "/qa/login?next=\(next)"])
    }

    /// Only paths on this server: a login must not redirect elsewhere.
    static func safeRedirect(_ next: String?) -> String {
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.contains("\\") else { return "/qa" }
        return next
    }

    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                                           HTTPField.Name("Content-Security-Policy")!: "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; media-src 'self'",
                                           HTTPField.Name("X-Frame-Options")!: "DENY"],
                 body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func form(_ request: Request, _ context: HotlineRequestContext) async throws -> [String: String] {
        let buffer = try await request.body.collect(upTo: 64 * 1024)
        let text = String(buffer: buffer).replacingOccurrences(of: "+", with: " ")
        return Dictionary(URLComponents(string: "?" + text)?.queryItems?.map { ($0.name, $0.value ?? "") } ?? [], uniquingKeysWith: { $1 })
    }
}

/// The pages' HTML.
enum QAPage {
    static func escape(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.append(character)
            }
        }
        return result
    }

    static func clock(_ seconds: Double) -> String { String(format: "%d:%02d", Int(seconds) / 60, Int(seconds) % 60) }

    static let dateFormat: Date.FormatStyle = Date.FormatStyle(date: .abbreviated, time: .shortened).locale(Locale(identifier: "en_GB"))

    static func layout(title: String, identity: Identity?, body: String) -> String {
        let navigation = identity.map { identity in
            """
            <nav><a href="/qa">Calls</a><a href="/qa?order=risk">Review first</a><a href="/qa/agents">Agents</a><a href="/qa/dashboard">Dashboard</a>
            <span class=who>\(escape(identity.name))</span><a href="/qa/logout">Log out</a></nav>
            """
        } ?? ""
        return """
            <!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content="width=device-width, initial-scale=1">
            <title>\(escape(title)) · Hotline QA</title><style>\(style)</style></head>
            <body><header><a class=brand href="/qa">Hotline <b>QA</b></a>\(navigation)</header>
            <div id=store-status class=banner role=status hidden></div><main>\(body)</main>
            <div id=alerts aria-live=assertive></div><script src="/qa/static/qa.js"></script></body></html>
            """
    }

    static func login(next: String, error: String?) -> String {
        layout(title: "Log in", identity: nil, body: """
            <section class="card login"><h1>Log in</h1><p>Use the API key your administrator gave you (QA role).</p>
            \(error.map { "<p class=error role=alert>\(escape($0))</p>" } ?? "")
            <form method=post action="/qa/login"><input type=hidden name=next value="\(escape(next))">
            <label>API key <input id=key name=key type=password autocomplete=current-password required autofocus></label>
            <button id=login type=submit>Log in</button></form></section>
            """)
    }

    static func badge(_ status: CallStatus) -> String { "<span class=\"badge \(status.rawValue)\">\(status.rawValue)</span>" }

    static func score(_ value: Double?) -> String {
        guard let value else { return "<span class=muted>–</span>" }
        let level = value >= 90 ? "good" : value >= 70 ? "fair" : "poor"
        return "<span class=\"score \(level)\">\(Int(value.rounded()))</span>"
    }

    static func calls(identity: Identity, live: [CallRecord], page: CallPage, query: CallQuery, parameters: Parameters) -> String {
        func value(_ name: String) -> String { escape(parameters.get(name) ?? "") }
        func option(_ name: String, _ options: [String], _ selected: String?) -> String {
            "<select name=\(name)><option value=\"\">any</option>" + options.map {
                "<option\($0 == selected ? " selected" : "")>\(escape($0))</option>"
            }.joined() + "</select>"
        }
        let liveCards = live.map(liveCard).joined()
        let review = query.order == .risk
        let rows = page.calls.map { call in
            """
            <tr><td><a href="/qa/calls/\(escape(call.id))">\(escape(call.startedAt.formatted(dateFormat)))</a></td><td>\(badge(call.status))</td>
            <td>\(escape(call.intent ?? "–"))</td><td>\(escape(call.handoffQueue ?? "–"))</td><td>\(escape(call.agent ?? "–"))</td><td>\(clock(call.duration))</td>
            <td>\(score(call.score))</td><td class=mono>\(escape(call.callerNumber ?? "–"))</td><td class=mono>\(escape(String(call.id.prefix(13))))</td></tr>
            """
        }.joined()
        let first = page.total == 0 ? 0 : query.offset + 1
        let last = query.offset + page.calls.count
        var pager = ""
        if query.offset > 0 { pager += "<a class=button href=\"\(pageLink(parameters, offset: max(0, query.offset - query.limit)))\">← Newer</a>" }
        if last < page.total { pager += "<a class=button href=\"\(pageLink(parameters, offset: last))\">Older →</a>" }
        return layout(title: "Calls", identity: identity, body: """
            <section><h1>Live calls <span id=live-count class=count>\(live.count)</span></h1>
            <div id=live class=live data-feed="/v1/qa/feed">\(liveCards.isEmpty ? "<p class=\"muted empty\">No calls right now.</p>" : liveCards)</div></section>
            <section><h1>\(review ? "Calls to review first" : "Search calls")</h1>
            <form class=filters method=get action="/qa">
            <label class=wide>Words said <input name=q value="\(value("q"))" placeholder="e.g. lost card"></label>
            <label>From <input type=date name=from value="\(value("from"))"></label><label>To <input type=date name=to value="\(value("to"))"></label>
            <label>Outcome \(option("status", CallStatus.allCases.map(\.rawValue), query.status?.rawValue))</label>
            <label>Intent <input name=intent value="\(value("intent"))" placeholder="any"></label>
            <label>Finding <input name=rule value="\(value("rule"))" placeholder="any rule"></label>
            <label>Score ≥ <input type=number name=min_score min=0 max=100 value="\(value("min_score"))"></label>
            <label>Score ≤ <input type=number name=max_score min=0 max=100 value="\(value("max_score"))"></label>
            <label>Agent <input name=agent value="\(value("agent"))" placeholder="any"></label>
            <label>Order <select name=order><option value=newest>newest first</option><option value=risk\(review ? " selected" : "")>review first</option></select></label>
            <button type=submit>Search</button></form>
            <p class=muted>\(page.total == 0 ? "No calls match." : "Calls \(first)–\(last) of \(page.total), \(review ? "review first: critical findings, then the lowest scores" : "newest first").")</p>
            <table id=results><thead><tr><th>Started</th><th>Outcome</th><th>Intent</th><th>Queue</th><th>Agent</th><th>Length</th><th>QA score</th><th>Caller</th><th>Call id</th></tr></thead>
            <tbody>\(rows)</tbody></table><div class=pager>\(pager)</div></section>
            """)
    }

    static func pageLink(_ parameters: Parameters, offset: Int) -> String {
        var items = parameters.filter { $0.key != "offset" }.map { URLQueryItem(name: String($0.key), value: String($0.value)) }
        items.append(URLQueryItem(name: "offset", value: String(offset)))
        var components = URLComponents()
        components.queryItems = items
        return escape("/qa" + (components.string ?? ""))
    }

    /// The page shown while the store is unavailable: what is wrong, what still works, and the live calls (for a
    /// signed-in viewer).
    static func outage(identity: Identity?, error: StoreUnavailable, live: [CallRecord]) -> String {
        let cards = live.map(liveCard).joined()
        let liveSection = identity == nil ? "" : """
            <section><h1>Live calls <span id=live-count class=count>\(live.count)</span></h1>
            <div id=live class=live data-feed="/v1/qa/feed">\(cards.isEmpty ? "<p class=\"muted empty\">No calls right now.</p>" : cards)</div></section>
            """
        return layout(title: "Store unavailable", identity: identity, body: """
            <section id=outage class="card outage" role=alert data-outage=store><h1>The transcript store is unavailable</h1>
            <p>Call history, search, the dashboard and reviews need it; this page reloads by itself when it is back.
            Live calls are still answered, and their transcripts are kept and written when it returns.</p>
            <p class=muted>\(escape(error.description))</p></section>
            \(liveSection)
            """)
    }

    static func liveCard(_ call: CallRecord) -> String {
        """
        <a class="live-call" id="live-\(escape(call.id))" href="/qa/calls/\(escape(call.id))"><b>\(escape(call.intent ?? "listening…"))</b>
        <span class=muted>\(call.gateway.rawValue) · \(escape(call.callerNumber ?? "unknown caller")) · since \(escape(call.startedAt.formatted(date: .omitted, time: .shortened)))</span>
        <span class=last></span>\(score(call.score))</a>
        """
    }

    static func call(identity: Identity, detail: CallDetail, rules: QualityRules) -> String {
        let call = detail.call
        let findingsByLine = Dictionary(grouping: detail.findings.filter { $0.utterance != nil }, by: { $0.utterance! })
        let descriptions = Dictionary(rules.rules.map { ($0.id, $0.description) }, uniquingKeysWith: { first, _ in first })
        let lines = detail.utterances.map { line in transcriptRow(line, findings: findingsByLine[line.sequence] ?? []) }.joined()
        let findings = detail.findings.map { finding in
            """
            <li class="finding \(finding.severity.rawValue)" data-utterance="\(finding.utterance.map(String.init) ?? "")"><b>\(escape(finding.rule))</b>
            \(escape(finding.message)) <span class=muted>at \(clock(finding.at)) · \(escape(descriptions[finding.rule] ?? ""))</span></li>
            """
        }.joined()
        let mine = detail.reviews.first { $0.reviewer == identity.name }
        let criteria = ReviewRequest.criteria.map { name in
            let current = mine?.scores[name]
            let options = (0...5).map { "<option value=\($0)\($0 == current ? " selected" : "")>\($0)</option>" }.joined()
            return "<label>\(escape(name.capitalized)) <select name=\"\(name)\"><option value=\"\">–</option>\(options)</select></label>"
        }.joined()
        let others = detail.reviews.map { review in
            let scores = review.scores.sorted { $0.key < $1.key }.map { "\(escape($0.key)) \($0.value)" }.joined(separator: ", ")
            return "<li><b>\(escape(review.reviewer))</b>: \(scores)\(review.comment.isEmpty ? "" : " — “\(escape(review.comment))”")</li>"
        }.joined()
        let recording = detail.hasRecording
            ? "<audio id=player controls preload=metadata src=\"/v1/qa/calls/\(escape(call.id))/recording\"></audio>"
            : "<audio id=player controls preload=none data-src=\"/v1/qa/calls/\(escape(call.id))/recording\"></audio><p id=no-recording class=muted>\(call.status == .live ? "The recording is available when the call ends." : "No recording was kept for this call.")</p>"
        var handoff = call.handoffQueue.map { queue in
            call.gateway == .recording ? "<dt>Queue</dt><dd>\(escape(queue))</dd>"
                : "<dt>Handed to</dt><dd>\(escape(queue)) <span class=muted>(\(escape(call.handoffReason ?? "")))</span></dd>"
        } ?? ""
        if let agent = call.agent { handoff += "<dt>Agent</dt><dd id=agent>\(escape(agent))</dd>" }
        return layout(title: "Call \(call.id)", identity: identity, body: """
            <section class=call id=call data-call="\(escape(call.id))" data-status="\(call.status.rawValue)">
            <h1>Call <span class=mono>\(escape(call.id))</span> <span id=status>\(badge(call.status))</span> <span id=score>\(score(call.score))</span></h1>
            <dl class=facts><dt>Started</dt><dd>\(escape(call.startedAt.formatted(dateFormat)))</dd><dt>Caller</dt><dd class=mono>\(escape(call.callerNumber ?? "unknown"))</dd>
            <dt>Gateway</dt><dd>\(call.gateway.rawValue) · node \(escape(call.node))</dd><dt>Length</dt><dd id=length>\(clock(call.duration))</dd>
            <dt>Intent</dt><dd id=intent>\(escape(call.intent ?? "–"))</dd>\(handoff)
            <dt>Outcome</dt><dd id=outcome-reason>\(escape(call.outcomeReason ?? (call.status == .live ? "live" : "–")))</dd></dl>
            <div class=player>\(recording)</div>
            \(call.status == .live ? "" : Chart.lanes(detail.utterances, duration: call.duration))</section>
            <div class=columns><section class=transcript><h2>Transcript</h2>
            <table id=transcript><tbody>\(lines)</tbody></table></section>
            <aside><section><h2>Findings</h2><ul id=findings class=findings>\(findings.isEmpty ? "<li class=\"muted none\">None.</li>" : findings)</ul></section>
            <section><h2>Scorecard</h2><form id=review class=review data-call="\(escape(call.id))">\(criteria)
            <label class=wide>Comment <textarea name=comment rows=3>\(escape(mine?.comment ?? ""))</textarea></label>
            <button id=save-review type=submit>Save scores</button> <span id=review-status role=status></span></form>
            <ul id=reviews class=reviews>\(others)</ul></section></aside></div>
            """)
    }

    static func transcriptRow(_ line: UtteranceRecord, findings: [Finding]) -> String {
        let flagged = findings.isEmpty ? "" : " flagged \(findings.map(\.severity).max()!.rawValue)"
        let notes = findings.map { "<span class=note>\(escape($0.rule)): \(escape($0.message))</span>" }.joined()
        let detail = line.speaker == "caller"
            ? [line.intent.map { "intent \(escape($0))" } ?? (line.intentConfidence == nil ? nil : "not understood"),
               line.confidence.map { String(format: "confidence %.2f", $0) }].compactMap { $0 }.joined(separator: " · ")
            : ""
        return """
            <tr class="line \(escape(line.speaker))\(flagged)" id="line-\(line.sequence)" data-start="\(line.start)"><td><button class=play data-start="\(line.start)" title="Play from here">▶ \(clock(line.start))</button></td>
            <td class=speaker>\(escape(line.speaker))</td><td class=text>\(escape(line.text))<span class=meta>\(detail)</span>\(notes)</td></tr>
            """
    }

    // MARK: Dashboard

    static func dashboard(identity: Identity, report: CallReport, days: Int, now: Date) -> String {
        let calendar = Calendar.utc
        let hours = days <= 2 ? 24 * days : 0
        var perHour = ""
        if hours > 0 {
            let start = calendar.dateInterval(of: .hour, for: now)!.start.addingTimeInterval(-Double(hours - 1) * 3600)
            let bars = (0..<hours).map { index -> (String, Double) in
                let hour = start.addingTimeInterval(Double(index) * 3600)
                return (hour.formatted(utc(Date.FormatStyle().hour(.twoDigits(amPM: .omitted)))), Double(report.callsPerHour[hour] ?? 0))
            }
            perHour = Chart.columns(bars, title: "Calls per hour (UTC)")
        } else {
            let start = calendar.dateInterval(of: .day, for: now)!.start.addingTimeInterval(-Double(days - 1) * 86_400)
            let bars = (0..<days).map { index -> (String, Double) in
                let day = start.addingTimeInterval(Double(index) * 86_400)
                let count = report.callsPerHour.filter { calendar.isDate($0.key, inSameDayAs: day) }.values.reduce(0, +)
                return (day.formatted(utc(Date.FormatStyle().day().month(.abbreviated))), Double(count))
            }
            perHour = Chart.columns(bars, title: "Calls per day (UTC)")
        }
        let scoreDays = report.scoreByDay.sorted { $0.key < $1.key }.map { ($0.key.formatted(utc(Date.FormatStyle().day().month(.abbreviated))), $0.value) }
        let containment = Int((report.containmentRate * 100).rounded())
        let periods = [1, 7, 30, 90].map { "<a class=\"button\(days == $0 ? " current" : "")\" href=\"/qa/dashboard?days=\($0)\">\($0 == 1 ? "24 hours" : "\($0) days")</a>" }.joined()
        return layout(title: "Dashboard", identity: identity, body: """
            <section><h1>Supervisor dashboard</h1><div class=periods>\(periods)</div>
            <div class=tiles>
            <div class=tile><span class=big id=total-calls>\(report.calls)</span>calls</div>
            <div class=tile><span class=big id=containment>\(containment)%</span>contained by the bot\(Chart.meter(report.containmentRate))</div>
            <div class=tile><span class=big id=handed-off>\(report.handedOff)</span>handed to a person</div>
            <div class=tile><span class=big id=abandoned>\(report.abandoned)</span>abandoned by the caller</div>
            <div class=tile><span class=big id=failed>\(report.failed + report.interrupted)</span>failed or interrupted</div>
            <div class=tile><span class=big>\(report.averageScore.map { String(Int($0.rounded())) } ?? "–")</span>average QA score</div>
            <div class=tile><span class=big>\(report.averageReviewScore.map { String(Int($0.rounded())) } ?? "–")</span>average reviewer score</div>
            </div></section>
            <div class=charts>
            <section class=chart>\(perHour)</section>
            <section class=chart>\(Chart.bars(report.outcomeReasons, title: "Outcomes by reason"))</section>
            <section class=chart>\(Chart.bars(report.handoffsByReason, title: "Handoffs by reason"))</section>
            <section class=chart>\(Chart.bars(report.handoffsByQueue, title: "Handoffs by queue"))</section>
            <section class=chart>\(Chart.bars(report.intents, title: "Top intents", limit: 10))</section>
            <section class=chart>\(Chart.bars(report.findingsByRule, title: "QA findings by rule"))</section>
            <section class=chart>\(Chart.line(scoreDays, title: "Average QA score by day", maximum: 100))</section>
            </div>
            """)
    }

    /// The agents' scorecards over the last `days`: calls, scores, calls with a critical finding, the rules found most,
    /// and the trend; best average first, so the agent who most needs coaching is last. Each links to their calls,
    /// review first.
    static func agents(identity: Identity, report: CallReport, days: Int, now: Date) -> String {
        let periods = [7, 30, 90].map { "<a class=\"button\(days == $0 ? " current" : "")\" href=\"/qa/agents?days=\($0)\">\($0) days</a>" }.joined()
        let rows = report.agents.map { card in
            let link = "/qa?agent=\(card.agent.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")&order=risk"
            let worst = card.worstRules().map { "\(escape($0.rule)) <span class=muted>×\($0.findings)</span>" }.joined(separator: ", ")
            let trend = card.scoreByDay.sorted { $0.key < $1.key }.map { (String($0.key.suffix(5)), $0.value) }
            return """
                <tr class=agent data-agent="\(escape(card.agent))"><td><a href="\(escape(link))">\(escape(card.agent))</a></td><td>\(card.calls)</td>
                <td>\(score(card.averageScore))</td><td>\(score(card.lowestScore))</td><td>\(card.criticalCalls)</td>
                <td>\(worst.isEmpty ? "<span class=muted>none</span>" : worst)</td>
                <td>\(card.averageReviewScore.map { String(Int($0.rounded())) } ?? "<span class=muted>–</span>")</td>
                <td class=trend>\(trend.isEmpty ? "<span class=muted>–</span>" : Chart.sparkline(trend, maximum: 100))</td></tr>
                """
        }.joined()
        return layout(title: "Agents", identity: identity, body: """
            <section><h1>Agents</h1><div class=periods>\(periods)</div>
            <p class=muted>Calls people took (recorded calls brought in with <code>hotline qa import</code>), scored by the agent
            rules, best average first. An agent's name opens their calls, the ones to review first at the top.</p>
            \(report.agents.isEmpty ? "<p class=\"muted empty\">No agents' calls in this period.</p>" : """
            <table id=agents><thead><tr><th>Agent</th><th>Calls</th><th>Average score</th><th>Lowest</th><th>Calls with a critical finding</th>
            <th>Found most</th><th>Reviewer score</th><th>Score by day</th></tr></thead><tbody>\(rows)</tbody></table>
            """)</section>
            """)
    }

    static func utc(_ style: Date.FormatStyle) -> Date.FormatStyle {
        var copy = style
        copy.timeZone = TimeZone(identifier: "UTC")!
        return copy
    }

    static let style = """
        :root{--ink:#1d2433;--muted:#667085;--line:#e4e7ec;--bg:#f6f7f9;--accent:#2b59c3;--good:#12805c;--fair:#b76e00;--poor:#c4320a}
        *{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--ink);background:var(--bg)}
        header{display:flex;align-items:center;gap:24px;padding:12px 24px;background:#fff;border-bottom:1px solid var(--line)}
        .brand{font-size:18px;color:var(--ink);text-decoration:none}.brand b{color:var(--accent)}
        nav{display:flex;gap:18px;align-items:center;flex:1}nav a{color:var(--ink);text-decoration:none}nav a:hover{color:var(--accent)}.who{margin-left:auto;color:var(--muted)}
        main{max-width:1200px;margin:0 auto;padding:20px 24px}h1{font-size:20px;margin:8px 0 14px}h2{font-size:16px;margin:0 0 10px}
        section{margin-bottom:24px}.card,.chart,aside section,.transcript{background:#fff;border:1px solid var(--line);border-radius:10px;padding:16px}
        .login{max-width:420px;margin:60px auto}label{display:flex;flex-direction:column;font-size:13px;color:var(--muted);gap:4px}
        input,select,textarea{font:inherit;padding:7px 9px;border:1px solid var(--line);border-radius:6px;color:var(--ink);background:#fff}
        button,.button{font:inherit;padding:7px 14px;border-radius:6px;border:1px solid var(--accent);background:var(--accent);color:#fff;cursor:pointer;text-decoration:none;display:inline-block}
        .button{background:#fff;color:var(--accent)}.button.current{background:var(--accent);color:#fff}
        .login form{display:flex;flex-direction:column;gap:14px}.live.stale{opacity:.55}.banner{background:#fef3f2;border-bottom:1px solid var(--poor);padding:8px 24px;color:var(--poor)}.outage{border-left:4px solid var(--poor)}.error{color:var(--poor)}.muted{color:var(--muted)}.mono{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:13px}
        .filters{display:grid;grid-template-columns:repeat(4,1fr);gap:10px;align-items:end;background:#fff;border:1px solid var(--line);border-radius:10px;padding:14px}
        .filters .wide{grid-column:span 2}table{width:100%;border-collapse:collapse;background:#fff}th,td{text-align:left;padding:8px 10px;border-bottom:1px solid var(--line);vertical-align:top}
        th{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}#results{border:1px solid var(--line);border-radius:10px;overflow:hidden}
        .pager{display:flex;gap:10px;margin-top:10px}.badge{font-size:12px;padding:2px 8px;border-radius:99px;background:#eef2ff;color:var(--accent)}
        .badge.contained,.badge.completed{background:#e7f6ef;color:var(--good)}.badge.handed-off{background:#fff4e5;color:var(--fair)}.badge.failed,.badge.abandoned,.badge.interrupted{background:#fdecea;color:var(--poor)}.badge.live{background:#fdecea;color:#d92d20}
        .score{font-weight:600}.score.good{color:var(--good)}.score.fair{color:var(--fair)}.score.poor{color:var(--poor)}
        .count{font-size:13px;background:#d92d20;color:#fff;border-radius:99px;padding:1px 9px;vertical-align:middle}
        .live{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:12px}.live-call{display:flex;flex-direction:column;gap:4px;background:#fff;border:1px solid var(--line);border-left:4px solid #d92d20;border-radius:10px;padding:12px;color:var(--ink);text-decoration:none}
        .live-call .last{font-style:italic;color:var(--ink)}.facts{display:grid;grid-template-columns:max-content 1fr max-content 1fr;gap:4px 16px;background:#fff;border:1px solid var(--line);border-radius:10px;padding:14px}
        dt{color:var(--muted)}dd{margin:0}.player{margin-top:12px}audio{width:100%}.columns{display:grid;grid-template-columns:2fr 1fr;gap:20px}
        .line td{border-bottom:1px solid var(--line)}.line.bot .text{color:#344054}.line.caller .speaker{color:var(--accent);font-weight:600}.speaker{width:60px;font-size:13px}
        .play{background:#fff;color:var(--accent);border:1px solid var(--line);padding:2px 8px;font-size:12px;white-space:nowrap}.line.playing{background:#eef2ff}
        .meta{display:block;font-size:12px;color:var(--muted)}.note{display:block;font-size:12px;color:var(--poor)}.line.flagged{background:#fffaeb}.line.flagged.critical{background:#fef3f2}
        .findings{list-style:none;padding:0;margin:0}.finding{padding:8px;border-left:4px solid var(--fair);margin-bottom:8px;background:#fffaeb;border-radius:4px}.finding.critical{border-color:var(--poor);background:#fef3f2}.finding.info{border-color:var(--muted);background:#f2f4f7}
        .review{display:grid;grid-template-columns:1fr 1fr;gap:8px}.review .wide{grid-column:span 2}.reviews{padding-left:18px}
        .tiles{display:grid;grid-template-columns:repeat(5,1fr);gap:12px}.tile{background:#fff;border:1px solid var(--line);border-radius:10px;padding:14px;color:var(--muted)}.big{display:block;font-size:30px;font-weight:700;color:var(--ink)}
        .charts{display:grid;grid-template-columns:1fr 1fr;gap:16px}.chart svg{width:100%;height:auto}.periods{display:flex;gap:8px;margin-bottom:14px}
        #alerts{position:fixed;right:16px;top:64px;display:flex;flex-direction:column;gap:8px}.alert{background:#c4320a;color:#fff;padding:10px 14px;border-radius:8px;max-width:360px;box-shadow:0 4px 14px rgba(0,0,0,.2)}.alert a{color:#fff}.alert .dismiss{margin-left:10px;padding:0 6px;background:transparent;border:1px solid #fff;color:#fff;border-radius:4px}
        @media(max-width:800px){.columns,.charts{grid-template-columns:1fr}.filters{grid-template-columns:1fr 1fr}.tiles{grid-template-columns:1fr 1fr}}
        """
}
