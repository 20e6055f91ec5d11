import Foundation
public import HotlineCore
import HTTPTypes
import Hummingbird
import NIOCore
public import Logging
import ServiceLifecycle

/// How the server uses its transcript store: time limits, the write queue, and how nodes keep their live lists in step.
public struct StoreLimits: Sendable {
    /// A connection attempt, a write or a probe (so an outage is seen within about this long).
    public var timeout: Duration = .seconds(3)
    /// A QA read (search, report, a call's detail).
    public var readTimeout: Duration = .seconds(15)
    /// Writes held while the store is unavailable.
    public var queue = 100_000
    /// How often a node tells the others its live calls.
    public var syncInterval: Duration = .seconds(5)
    /// How long a node may be silent before its calls leave the other nodes' live lists.
    public var nodeTimeout: Duration = .seconds(30)

    public init() {}
}

/// The transcript store (guarded: time limits, failing fast while it is down), its health, the writer in front of
/// it, the live feed and the observer that fills them: what the QA API and pages read. `nil` on a server run without a
/// store.
public struct QualityServices: Sendable {
    /// The store for reads and everything but the call records: an operation fails at once (503) while it is down.
    public let store: any TranscriptStore
    /// Whether the store answers.
    public let health: StoreHealth
    public let writer: StoreWriter
    public let feed: LiveFeed
    public let recorder: TranscriptRecorder
    public let options: StoreLimits
    /// Sign-ins checked lately (trusted through a store outage).
    public let sessions = SessionCache()
    /// The rules recorded calls pushed to `POST /v1/qa/recordings` are checked against (`nil`: that endpoint is off).
    public var agentRules: QualityRules?
    /// Recordings pushed lately and where they are.
    let imports = RecordingImports()

    /// Puts `store` (opened and migrated) to work for node `node`: health, writer, live feed (relayed between nodes
    /// when the store can relay) and the observer of calls; `encoder` compresses recordings (`nil`: none are kept).
    public init(store: any TranscriptStore, node: String, options: StoreLimits = StoreLimits(), encoder: (any RecordingEncoder)?, logger: Logger) {
        let health = StoreHealth(logger: logger)
        let guarded = GuardedStore(store, health: health, timeout: options.readTimeout, failFast: true)
        let writer = StoreWriter(store: store, health: health, timeout: options.timeout, capacity: options.queue, logger: logger)
        let relay = store is any FeedRelay ? GuardedStore(store, health: health, timeout: options.timeout, failFast: false) : nil
        let feed = LiveFeed(node: node, relay: relay, store: guarded, syncInterval: options.syncInterval, nodeTimeout: options.nodeTimeout, logger: logger)
        health.onChange { [weak feed] status in feed?.storeChanged(status) }
        self.store = guarded
        self.health = health
        self.writer = writer
        self.feed = feed
        self.options = options
        recorder = TranscriptRecorder(writer: writer, feed: feed, encoder: encoder, logger: logger)
    }

    /// The probe that watches the store (a service of the server).
    public var probe: StoreProbe {
        StoreProbe(store: writer.store.base, health: health, writer: writer, timeout: options.timeout)
    }
}

// MARK: - REST API for QA

extension HotlineServer {
    func addQualityRoutes(to api: RouterGroup<HotlineRequestContext>, _ qa: QualityServices) {
        let group = api.group("qa")
        group.get("calls") { request, _ -> JSONBody<CallPage> in
            let identity = try await authorizeQA(request, qa, [.qa])
            var page = try await qa.store.calls(matching: try Self.query(request.uri.queryParameters))
            page.calls = page.calls.map { Self.visible($0, to: identity) }
            return JSONBody(page)
        }
        group.get("calls/:id") { request, context -> JSONBody<CallDetail> in
            let identity = try await authorizeQA(request, qa, [.qa])
            var detail = try await Self.detail(try context.parameters.require("id"), qa)
            detail.call = Self.visible(detail.call, to: identity)
            return JSONBody(detail)
        }
        group.get("calls/:id/recording") { request, context -> Response in
            _ = try await authorizeQA(request, qa, [.qa])
            let id = try context.parameters.require("id")
            guard let recording = try await qa.store.recording(of: id) else { throw HTTPError(.notFound, message: "no recording of call \(id)") }
            return Self.serve(recording, range: request.headers[.range])
        }
        group.get("calls/:id/export") { request, context -> Response in
            _ = try await authorizeQA(request, qa, [.qa])
            let detail = try await Self.detail(try context.parameters.require("id"), qa)
            let format = request.uri.queryParameters.get("format") ?? "json"
            guard let export = CallExport.Format(rawValue: format) else {
                throw HTTPError(.badRequest, message: "format must be one of: \(CallExport.Format.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return Response(status: .ok, headers: [.contentType: export.mediaType,
                                                   .contentDisposition: "attachment; filename=\"\(detail.call.id).\(export.rawValue)\""],
                            body: .init(byteBuffer: ByteBuffer(string: CallExport.render([detail], as: export))))
        }
        group.put("calls/:id/review") { request, context -> JSONBody<Review> in
            let identity = try await authorizeQA(request, qa, [.qa])
            let id = try context.parameters.require("id")
            let body = try await request.decode(as: ReviewRequest.self, context: context)
            let review = try await Self.saveReview(body, callId: id, reviewer: identity.name, qa)
            return JSONBody(review)
        }
        group.get("report") { request, _ -> JSONBody<ReportResponse> in
            _ = try await authorizeQA(request, qa, [.qa])
            let parameters = request.uri.queryParameters
            let report = try await qa.store.report(from: try Self.date(parameters.get("from"), "from"), to: try Self.date(parameters.get("to"), "to"))
            return JSONBody(ReportResponse(report))
        }
        group.get("feed") { request, _ -> Response in
            let identity = try await authorizeQA(request, qa, [.qa])
            return Self.eventStream(qa.feed, role: identity.has(.admin) ? .admin : .qa, lastEventId: request.headers[HTTPField.Name("Last-Event-ID")!])
        }
    }

    static func detail(_ id: String, _ qa: QualityServices) async throws -> CallDetail {
        guard let detail = try await qa.store.detail(of: id) else { throw HTTPError(.notFound, message: "no call with id \(id)") }
        return detail
    }

    static func saveReview(_ body: ReviewRequest, callId: String, reviewer: String, _ qa: QualityServices) async throws -> Review {
        guard try await qa.store.call(id: callId) != nil else { throw HTTPError(.notFound, message: "no call with id \(callId)") }
        for (name, score) in body.scores {
            guard (0...5).contains(score) else { throw HTTPError(.badRequest, message: "score '\(name)' must be 0 to 5") }
            guard ReviewRequest.criteria.contains(name) else {
                throw HTTPError(.badRequest, message: "unknown criterion '\(name)' (expected: \(ReviewRequest.criteria.joined(separator: ", ")))")
            }
        }
        guard body.comment.count <= 10_000 else { throw HTTPError(.badRequest, message: "the comment is limited to 10000 characters") }
        let review = Review(callId: callId, reviewer: reviewer, scores: body.scores, comment: body.comment)
        try await qa.store.save(review: review)
        return review
    }

    /// Callers' full numbers are for admins; QA staff see enough to tell calls apart.
    static func visible(_ call: CallRecord, to identity: Identity) -> CallRecord {
        guard !identity.has(.admin) else { return call }
        var copy = call
        copy.callerNumber = call.callerNumber.map(CallHost.maskNumber)
        return copy
    }

    /// A call query from URL parameters (`q`, `from`, `to`, `status`, `intent`, `rule`, `severity`, `min_score`,
    /// `max_score`, `agent`, `order` (`newest` or `risk`), `limit`, `offset`); a bad value is a 400 naming the parameter.
    static func query(_ parameters: Parameters) throws -> CallQuery {
        func text(_ name: String) -> String? { parameters.get(name).flatMap { $0.isEmpty ? nil : $0 } }
        func number(_ name: String) throws -> Double? {
            guard let value = text(name) else { return nil }
            guard let number = Double(value) else { throw HTTPError(.badRequest, message: "\(name) must be a number") }
            return number
        }
        var query = CallQuery(text: text("q"), from: try date(text("from"), "from"), to: try date(text("to"), "to"), status: nil,
                              intent: text("intent"), rule: text("rule"), minimumScore: try number("min_score"), maximumScore: try number("max_score"),
                              agent: text("agent"))
        if let order = text("order") {
            guard let value = CallOrder(rawValue: order) else {
                throw HTTPError(.badRequest, message: "order must be one of: \(CallOrder.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            query.order = value
        }
        if let severity = text("severity") {
            guard let level = Severity(rawValue: severity) else { throw HTTPError(.badRequest, message: "severity must be info, warning or critical") }
            query.severity = level
        }
        if let status = text("status") {
            guard let value = CallStatus(rawValue: status) else {
                throw HTTPError(.badRequest, message: "status must be one of: \(CallStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            query.status = value
        }
        query.limit = Int(try number("limit") ?? 50)
        query.offset = Int(try number("offset") ?? 0)
        guard (1...500).contains(query.limit), query.offset >= 0 else { throw HTTPError(.badRequest, message: "limit must be 1 to 500 and offset 0 or more") }
        return query
    }

    /// `2026-11-25`, `2026-11-25T10:00:00Z` or seconds since 1970.
    static func date(_ text: String?, _ name: String) throws -> Date? {
        guard let text, !text.isEmpty else { return nil }
        if let seconds = Double(text) { return Date(timeIntervalSince1970: seconds) }
        if let date = CallQuery.date(text) { return date }
        throw HTTPError(.badRequest, message: "\(name) must be a date (2026-11-25 or 2026-11-25T10:00:00Z)")
    }

    /// A recording, whole or the byte range asked for (browsers seek in audio with range requests).
    static func serve(_ recording: Recording, range: String?) -> Response {
        let total = recording.data.count
        var headers: HTTPFields = [.contentType: recording.mediaType, .acceptRanges: "bytes", .cacheControl: "private, max-age=3600"]
        if let range, range.hasPrefix("bytes="), let spec = range.dropFirst(6).split(separator: ",").first {
            let bounds = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
            var start = bounds.first ?? nil
            var end = bounds.count > 1 ? bounds[1] : nil
            if start == nil, let suffix = end { start = max(0, total - suffix); end = total - 1 }
            if let first = start, first < total {
                let last = min(end ?? total - 1, total - 1)
                if last >= first {
                    headers[.contentRange] = "bytes \(first)-\(last)/\(total)"
                    return Response(status: .partialContent, headers: headers,
                                    body: .init(byteBuffer: ByteBuffer(bytes: recording.data[first...last])))
                }
            }
            headers[.contentRange] = "bytes */\(total)"
            return Response(status: .rangeNotSatisfiable, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: recording.data)))
    }

    /// Server-Sent Events: the events a reconnecting viewer missed (`Last-Event-ID`) or else a snapshot of the live
    /// calls, then every event as it happens, each with its id; a comment every 15 s keeps proxies from closing an idle
    /// stream, and `retry` asks browsers to reconnect within 2 s.
    static func eventStream(_ feed: LiveFeed, role: Role, lastEventId: String?) -> Response {
        let (events, _) = feed.subscribe(role: role, lastEventId: lastEventId)
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: "retry: 2000\n: connected\n\n"))
            // The stream never ends by itself: it ends when the viewer leaves or the server shuts down.
            let (ticks, tick) = AsyncStream.makeStream(of: String.self)
            try await withGracefulShutdownHandler {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        while !Task.isCancelled {
                            try await Task.sleep(for: .seconds(15))
                            tick.yield(": keep-alive\n\n")
                        }
                    }
                    group.addTask {
                        for await message in events { tick.yield(sse(message.event, id: message.id)) }
                        tick.finish()
                    }
                    for await text in ticks { try await writer.write(ByteBuffer(string: text)) }
                    group.cancelAll()
                }
            } onGracefulShutdown: {
                tick.finish()
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no"],
                        body: body)
    }

    static func sse(_ event: FeedEvent, id: String) -> String { "id: \(id)\nevent: \(event.kind.rawValue)\ndata: \(event.json)\n\n" }
}

/// A reviewer's scorecard as posted.
struct ReviewRequest: Decodable {
    var scores: [String: Int]
    var comment: String

    /// What a reviewer scores, 0 to 5 each.
    static let criteria = ["greeting", "understanding", "resolution", "handoff", "compliance"]
}

/// The report with dates as ISO text keys (JSON objects need string keys).
struct ReportResponse: Encodable, Sendable {
    var calls, contained, handedOff, abandoned, failed, interrupted, completed, live: Int
    var containmentRate: Double
    var outcomeReasons, handoffsByReason, handoffsByQueue, intents, findingsByRule: [String: Int]
    var averageScore, averageReviewScore: Double?
    var callsPerHour: [String: Int]
    var scoreByDay: [String: Double]
    var findingsByDay: [String: Int]
    var agents: [AgentScorecard]

    init(_ report: CallReport) {
        let format = Date.ISO8601FormatStyle()
        calls = report.calls
        contained = report.contained
        handedOff = report.handedOff
        abandoned = report.abandoned
        failed = report.failed
        interrupted = report.interrupted
        completed = report.completed
        live = report.live
        containmentRate = report.containmentRate
        outcomeReasons = report.outcomeReasons
        handoffsByReason = report.handoffsByReason
        handoffsByQueue = report.handoffsByQueue
        intents = report.intents
        findingsByRule = report.findingsByRule
        averageScore = report.averageScore
        averageReviewScore = report.averageReviewScore
        func keyedByText<Value>(_ byDate: [Date: Value]) -> [String: Value] {
            Dictionary(uniqueKeysWithValues: byDate.map { (format.format($0.key), $0.value) })
        }
        callsPerHour = keyedByText(report.callsPerHour)
        scoreByDay = keyedByText(report.scoreByDay)
        findingsByDay = keyedByText(report.findingsByDay)
        agents = report.agents
    }
}

/// A request that needed the store while it is unavailable: 503, `Retry-After: 5`, and the message (what failed, for
/// how long, and that calls go on) in the usual error body.
struct StoreOutageResponder<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as StoreUnavailable {
            throw HTTPError(.serviceUnavailable, headers: [.retryAfter: "5"], message: error.description)
        }
    }
}
