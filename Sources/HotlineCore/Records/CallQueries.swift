public import Foundation

// MARK: - Queries

/// How a list of calls is ordered.
public enum CallOrder: String, Sendable, Equatable, CaseIterable, Codable {
    /// Newest first.
    case newest
    /// Review first: finished calls with a critical finding, then by QA score, lowest first (newest first among
    /// equals); live calls last. A reviewer's hour goes to the calls that matter.
    case risk
}

/// Which calls to list.
public struct CallQuery: Sendable, Equatable {
    /// Full-text search over the transcripts (words; all must occur in one call).
    public var text: String?
    /// Calls started at or after.
    public var from: Date?
    /// Calls started before.
    public var to: Date?
    /// Status or outcome.
    public var status: CallStatus?
    /// The call's intent.
    public var intent: String?
    /// Calls with a finding from this rule.
    public var rule: String?
    /// Calls with a finding at least this severe.
    public var severity: Severity?
    /// QA score at least.
    public var minimumScore: Double?
    /// QA score at most.
    public var maximumScore: Double?
    /// The caller's number.
    public var callerNumber: String?
    /// The agent who took the call.
    public var agent: String?
    /// The order of the calls: newest first, or the ones most worth a reviewer's time first.
    public var order: CallOrder
    /// Page size.
    public var limit: Int
    /// Calls to skip (newest first).
    public var offset: Int

    /// Makes a query; everything unset matches all calls.
    public init(text: String? = nil, from: Date? = nil, to: Date? = nil, status: CallStatus? = nil, intent: String? = nil, rule: String? = nil,
                severity: Severity? = nil, minimumScore: Double? = nil, maximumScore: Double? = nil, callerNumber: String? = nil,
                agent: String? = nil, order: CallOrder = .newest, limit: Int = 50, offset: Int = 0) {
        self.text = text
        self.from = from
        self.to = to
        self.status = status
        self.intent = intent
        self.rule = rule
        self.severity = severity
        self.minimumScore = minimumScore
        self.maximumScore = maximumScore
        self.callerNumber = callerNumber
        self.agent = agent
        self.order = order
        self.limit = limit
        self.offset = offset
    }

    /// A date as people type it in filters: `2026-11-25T10:00:00Z` or a day, `2026-11-25` (midnight UTC).
    public static func date(_ text: String) -> Date? {
        (try? Date(text, strategy: .iso8601)) ?? (try? Date(text, strategy: Date.ISO8601FormatStyle().year().month().day()))
    }

    /// The words of `text` a full-text search looks for (letters and digits only, lower-case).
    public var searchWords: [String] {
        guard let text else { return [] }
        return text.lowercased().split { !($0.isLetter || $0.isNumber) }.map(String.init).filter { !$0.isEmpty }
    }
}

/// One page of calls.
public struct CallPage: Sendable, Equatable, Codable {
    /// The calls, newest first.
    public var calls: [CallRecord]
    /// How many calls match in all.
    public var total: Int

    public init(calls: [CallRecord], total: Int) {
        self.calls = calls
        self.total = total
    }
}

/// Totals over a period: what a supervisor reads.
public struct CallReport: Sendable, Equatable, Codable {
    /// Calls started in the period.
    public var calls: Int
    /// Calls the bot finished without a person, having served the caller.
    public var contained: Int
    /// Calls handed to a person.
    public var handedOff: Int
    /// Calls the caller hung up with a request still open.
    public var abandoned: Int
    /// Calls the system failed.
    public var failed: Int
    /// Calls cut off by a node that stopped.
    public var interrupted: Int
    /// Calls without a bot that ended normally (transcription only).
    public var completed: Int
    /// Calls still live.
    public var live: Int
    /// Finished calls by outcome reason ("the caller hung up while the bot waited for an answer", …).
    public var outcomeReasons: [String: Int]
    /// Handoffs by reason.
    public var handoffsByReason: [String: Int]
    /// Handoffs by queue.
    public var handoffsByQueue: [String: Int]
    /// Calls by intent.
    public var intents: [String: Int]
    /// Findings by rule.
    public var findingsByRule: [String: Int]
    /// Mean QA score of the calls that have one.
    public var averageScore: Double?
    /// Mean reviewer score (0…100) of the reviewed calls.
    public var averageReviewScore: Double?
    /// Calls per hour (start of the hour → calls).
    public var callsPerHour: [Date: Int]
    /// Mean QA score per day (start of the day → score).
    public var scoreByDay: [Date: Double]
    /// Findings per day.
    public var findingsByDay: [Date: Int]
    /// The agents' scorecards (calls with an agent: recorded and listen-only calls), best average score first.
    public var agents: [AgentScorecard]

    /// An empty report.
    public init() {
        calls = 0
        contained = 0
        handedOff = 0
        abandoned = 0
        failed = 0
        interrupted = 0
        completed = 0
        live = 0
        outcomeReasons = [:]
        handoffsByReason = [:]
        handoffsByQueue = [:]
        intents = [:]
        findingsByRule = [:]
        callsPerHour = [:]
        scoreByDay = [:]
        findingsByDay = [:]
        agents = []
    }

    /// Finished calls the bot answered (every outcome but live and the bot-less `completed`).
    public var botCalls: Int { contained + handedOff + abandoned + failed + interrupted }

    /// Share of the bot's finished calls it contained (served, no person, not abandoned or failed), 0…1.
    public var containmentRate: Double { botCalls == 0 ? 0 : Double(contained) / Double(botCalls) }

    /// Builds the report from the calls, their findings and reviews (stores with no aggregate SQL of their own use this).
    public static func build(calls: [CallRecord], findings: [Finding], reviews: [Review], calendar: Calendar = .utc) -> CallReport {
        var report = CallReport()
        var scores: [Double] = []
        var dayScores: [Date: [Double]] = [:]
        let callsById = Dictionary(calls.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        for call in calls {
            report.calls += 1
            switch call.status {
            case .contained: report.contained += 1
            case .handedOff: report.handedOff += 1
            case .abandoned: report.abandoned += 1
            case .failed: report.failed += 1
            case .interrupted: report.interrupted += 1
            case .completed: report.completed += 1
            case .live: report.live += 1
            }
            if call.status.isFinished, let reason = call.outcomeReason { report.outcomeReasons[Self.outcomeCategory(reason), default: 0] += 1 }
            if let reason = call.handoffReason { report.handoffsByReason[Self.reasonCategory(reason), default: 0] += 1 }
            if let queue = call.handoffQueue { report.handoffsByQueue[queue, default: 0] += 1 }
            if let intent = call.intent { report.intents[intent, default: 0] += 1 }
            if let hour = calendar.dateInterval(of: .hour, for: call.startedAt)?.start { report.callsPerHour[hour, default: 0] += 1 }
            if let score = call.score {
                scores.append(score)
                if let day = calendar.dateInterval(of: .day, for: call.startedAt)?.start { dayScores[day, default: []].append(score) }
            }
        }
        for finding in findings {
            report.findingsByRule[finding.rule, default: 0] += 1
            if let call = callsById[finding.callId], let day = calendar.dateInterval(of: .day, for: call.startedAt)?.start {
                report.findingsByDay[day, default: 0] += 1
            }
        }
        report.averageScore = scores.isEmpty ? nil : scores.reduce(0, +) / Double(scores.count)
        report.scoreByDay = dayScores.mapValues { $0.reduce(0, +) / Double($0.count) }
        let reviewScores = reviews.compactMap(\.percentage)
        report.averageReviewScore = reviewScores.isEmpty ? nil : reviewScores.reduce(0, +) / Double(reviewScores.count)
        report.agents = AgentScorecard.build(calls: calls, findings: findings, reviews: reviews, calendar: calendar)
        return report
    }

    /// Groups outcome reasons a manager compares: the words before any detail in parentheses or after a colon.
    public static func outcomeCategory(_ reason: String) -> String {
        let cut = reason.firstIndex { $0 == "(" || $0 == ":" } ?? reason.endIndex
        return reason[..<cut].trimmingCharacters(in: .whitespaces)
    }

    /// Groups handoff reasons a manager compares ("no automated answer for pay_bill" → "no automated answer").
    public static func reasonCategory(_ reason: String) -> String {
        if let colon = reason.firstIndex(of: ":") { return "flow handoff (" + reason[reason.index(after: colon)...].trimmingCharacters(in: .whitespaces) + ")" }
        if reason.hasPrefix("no automated answer") { return "no automated answer" }
        return reason
    }
}

extension Calendar {
    /// The Gregorian calendar in UTC (reports group by UTC hours and days).
    public static var utc: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }
}

/// One agent's calls in a period, as a QA lead compares agents: how many, how they scored, what went wrong most, and
/// the trend.
public struct AgentScorecard: Sendable, Equatable, Codable {
    /// The agent.
    public var agent: String
    /// Calls they took.
    public var calls: Int
    /// Mean QA score of those that have one.
    public var averageScore: Double?
    /// The lowest QA score.
    public var lowestScore: Double?
    /// Calls with a critical finding.
    public var criticalCalls: Int
    /// Findings by rule.
    public var findingsByRule: [String: Int]
    /// Mean QA score per day (UTC day `2026-11-30` → score).
    public var scoreByDay: [String: Double]
    /// Mean reviewer score (0…100) of their reviewed calls.
    public var averageReviewScore: Double?

    /// The rules found most often, most first (ties by name), at most `count`.
    public func worstRules(_ count: Int = 3) -> [(rule: String, findings: Int)] {
        findingsByRule.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.prefix(count).map { ($0.key, $0.value) }
    }

    /// Scorecards of the agents of `calls`, best average score first (an agent with no score last; ties by name).
    public static func build(calls: [CallRecord], findings: [Finding], reviews: [Review], calendar: Calendar = .utc) -> [AgentScorecard] {
        let agentCalls = calls.filter { $0.agent != nil }
        guard !agentCalls.isEmpty else { return [] }
        let agentOf = Dictionary(agentCalls.map { ($0.id, $0.agent!) }, uniquingKeysWith: { first, _ in first })
        var findingsByAgent: [String: [Finding]] = [:]
        for finding in findings { if let agent = agentOf[finding.callId] { findingsByAgent[agent, default: []].append(finding) } }
        var reviewsByAgent: [String: [Double]] = [:]
        for review in reviews { if let agent = agentOf[review.callId], let score = review.percentage { reviewsByAgent[agent, default: []].append(score) } }
        var dayFormat = Date.ISO8601FormatStyle().year().month().day()
        dayFormat.timeZone = calendar.timeZone
        func mean(_ values: [Double]) -> Double? { values.isEmpty ? nil : values.reduce(0, +) / Double(values.count) }
        let cards = Dictionary(grouping: agentCalls, by: { $0.agent! }).map { agent, calls -> AgentScorecard in
            let scores = calls.compactMap(\.score)
            let found = findingsByAgent[agent] ?? []
            let critical = Set(found.filter { $0.severity == .critical }.map(\.callId))
            var byDay: [String: [Double]] = [:]
            for call in calls { if let score = call.score { byDay[call.startedAt.formatted(dayFormat), default: []].append(score) } }
            return AgentScorecard(agent: agent, calls: calls.count, averageScore: mean(scores), lowestScore: scores.min(), criticalCalls: critical.count,
                                  findingsByRule: Dictionary(grouping: found, by: \.rule).mapValues(\.count),
                                  scoreByDay: byDay.compactMapValues(mean), averageReviewScore: mean(reviewsByAgent[agent] ?? []))
        }
        return cards.sorted { a, b in
            switch (a.averageScore, b.averageScore) {
            case let (x?, y?) where x != y: x > y
            case (_?, nil): true
            case (nil, _?): false
            default: a.agent < b.agent
            }
        }
    }
}
