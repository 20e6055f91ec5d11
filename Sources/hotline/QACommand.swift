import ArgumentParser
import Foundation
import HotlineCore
import HotlineServer
import HotlineStore
import Logging

// MARK: - hotline qa

struct QACommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qa",
        abstract: "Review stored calls: list and search, show one, export, report totals; import recorded calls.",
        discussion: """
            Reads the transcript store `hotline serve` writes: --store, else HOTLINE_STORE, else the store in --config, \
            else sqlite:.hotline/calls.sqlite.
            """,
        subcommands: [QAList.self, QAShow.self, QAExport.self, QAReport.self, QAAgents.self, QAImport.self]
    )
}

/// Where the store is.
struct StoreOptions: ParsableArguments {
    @Option(help: "The store: sqlite:PATH or postgres://user:password@host:port/database.")
    var store: String?

    @Option(help: "A `hotline serve` configuration file to take the store from.")
    var config: String?

    /// Runs `body` on the open store and closes it.
    func withStore<T>(_ body: (any TranscriptStore) async throws -> T) async throws -> T {
        let store = try await open()
        do {
            let result = try await body(store)
            try? await store.close()
            return result
        } catch {
            try? await store.close()
            throw error
        }
    }

    /// Opens the store; `creating`: an SQLite store that does not exist yet is made (else it is an error: nothing to read).
    func open(creating: Bool = false) async throws -> any TranscriptStore {
        var url = store ?? ProcessInfo.processInfo.environment["HOTLINE_STORE"]
        if url == nil {
            do {
                url = try ServerConfiguration.load(path: config, environment: ProcessInfo.processInfo.environment).store
            } catch {
                throw ValidationError("\(error)")
            }
        }
        guard let url, url != "none" else { throw ValidationError("no transcript store is configured (store: none)") }
        if !url.hasPrefix("postgres") {
            let path = url.hasPrefix("sqlite:") ? String(url.dropFirst(7)) : url
            if creating {
                let directory = (path as NSString).deletingLastPathComponent
                if !directory.isEmpty { try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
            } else if !FileManager.default.fileExists(atPath: path) {
                throw ValidationError("no store at \(url): run `hotline serve` first, or pass --store")
            }
        }
        var logger = Logger(label: "hotline.qa")
        logger.logLevel = .error
        do {
            return try await TranscriptStores.open(url, logger: logger)
        } catch {
            throw ValidationError("\(error)")
        }
    }
}

/// Which calls.
struct CallFilters: ParsableArguments {
    @Option(help: "Calls started on or after this date (2026-11-25 or 2026-11-25T10:00:00Z).")
    var from: String?
    @Option(help: "Calls started before this date.")
    var to: String?
    @Option(help: "Outcome: live, contained, handed-off, abandoned, failed, interrupted or completed (calls without a bot).")
    var status: String?
    @Option(help: "The call's intent.")
    var intent: String?
    @Option(help: "Calls with a finding from this QA rule.")
    var rule: String?
    @Option(help: "QA score at least.")
    var minScore: Double?
    @Option(help: "QA score at most.")
    var maxScore: Double?
    @Option(help: "Calls the agent took (recorded calls).")
    var agent: String?
    @Flag(help: "Review first: calls with a critical finding, then the lowest scores, first (else newest first).")
    var reviewFirst = false

    func query(text: String?, limit: Int, offset: Int) throws -> CallQuery {
        var outcome: CallStatus?
        if let status {
            guard let value = CallStatus(rawValue: status) else {
                throw ValidationError("--status must be one of: \(CallStatus.allCases.map(\.rawValue).joined(separator: ", ")), not '\(status)'")
            }
            outcome = value
        }
        return CallQuery(text: text, from: try Self.date(from, "--from"), to: try Self.date(to, "--to"), status: outcome, intent: intent, rule: rule,
                         minimumScore: minScore, maximumScore: maxScore, agent: agent, order: reviewFirst ? .risk : .newest, limit: limit,
                         offset: offset)
    }

    static func date(_ text: String?, _ name: String) throws -> Date? {
        guard let text else { return nil }
        if let date = CallQuery.date(text) { return date }
        throw ValidationError("\(name) must be a date such as 2026-11-25 or 2026-11-25T10:00:00Z, not '\(text)'")
    }
}

struct QAList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list",
                                                    abstract: "List calls, newest first (or --review-first); --search looks for words said.")

    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var filters: CallFilters
    @Option(help: "Words said in the call (all of them, anywhere in the call).")
    var search: String?
    @Option(help: "Calls per page.")
    var limit = 50
    @Option(help: "Calls to skip.")
    var offset = 0
    @Flag(help: "JSON output.")
    var json = false

    func run() async throws {
        try await storeOptions.withStore { store in try await run(on: store) }
    }

    func run(on store: any TranscriptStore) async throws {
        let page = try await store.calls(matching: try filters.query(text: search, limit: limit, offset: offset))
        if json {
            print(QAOutput.json(page))
            return
        }
        print("\(page.total) call(s)" + (page.total > page.calls.count ? ", showing \(offset + 1)–\(offset + page.calls.count)" : ""))
        for call in page.calls {
            let score = call.score.map { String(format: "%3.0f", $0) } ?? "  –"
            print("\(call.id)  \(QAOutput.date(call.startedAt))  \(call.status.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0))  "
                  + "score \(score)  \(String(format: "%5.1f s", call.duration))  \(call.intent ?? "–")" + (call.handoffQueue.map { " → \($0)" } ?? "")
                  + (call.agent.map { "  agent \($0)" } ?? ""))
        }
    }
}

struct QAShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one call: transcript with times, findings, reviews.")

    @OptionGroup var storeOptions: StoreOptions
    @Argument(help: "The call id.")
    var id: String
    @Flag(help: "JSON output.")
    var json = false

    func run() async throws {
        try await storeOptions.withStore { store in try await run(on: store) }
    }

    func run(on store: any TranscriptStore) async throws {
        guard let detail = try await store.detail(of: id) else { throw ValidationError("no call with id \(id)") }
        if json {
            print(CallExport.render([detail], as: .json))
            return
        }
        let call = detail.call
        print("call \(call.id) (\(call.gateway.rawValue), node \(call.node)) — \(call.status.rawValue), \(String(format: "%.1f", call.duration)) s, started \(QAOutput.date(call.startedAt))")
        if let reason = call.outcomeReason { print("outcome: \(reason)") }
        if let caller = call.callerNumber { print("caller: \(caller)") }
        if let agent = call.agent { print("agent: \(agent)") }
        if let intent = call.intent { print("intent: \(intent)") }
        if let queue = call.handoffQueue {
            print(call.gateway == .recording ? "queue: \(queue)" : "handed to \(queue): \(call.handoffReason ?? "")")
        }
        print("QA score: \(call.score.map { String(format: "%.0f", $0) } ?? "–")")
        let findings = Dictionary(grouping: detail.findings.filter { $0.utterance != nil }, by: { $0.utterance! })
        print("")
        for line in detail.utterances {
            var text = "[\(QAOutput.clock(line.start))] \(line.speaker.padding(toLength: 6, withPad: " ", startingAt: 0)) \(line.text)"
            if let intent = line.intent { text += "  (\(intent))" }
            print(text)
            for finding in findings[line.sequence] ?? [] { print("           ⚑ \(finding.severity.rawValue) \(finding.rule): \(finding.message)") }
        }
        let general = detail.findings.filter { $0.utterance == nil }
        if !general.isEmpty {
            print("")
            for finding in general { print("⚑ \(finding.severity.rawValue) \(finding.rule): \(finding.message)") }
        }
        for review in detail.reviews {
            print("\nreview by \(review.reviewer): " + review.scores.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)/5" }.joined(separator: ", ")
                  + (review.comment.isEmpty ? "" : " — \(review.comment)"))
        }
    }
}

struct QAExport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Export calls: json or csv (all calls in one file), srt or vtt (one subtitle file per call).")

    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var filters: CallFilters
    @Option(help: "json, csv, srt or vtt.")
    var format = "json"
    @Option(help: "Output: a file for json/csv (default standard output), a folder for srt/vtt (default the current one).")
    var output: String?

    func run() async throws {
        guard let exportFormat = CallExport.Format(rawValue: format) else {
            throw ValidationError("--format must be one of: \(CallExport.Format.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        try await storeOptions.withStore { store in try await export(from: store, as: exportFormat) }
    }

    func export(from store: any TranscriptStore, as exportFormat: CallExport.Format) async throws {
        var details: [CallDetail] = []
        var offset = 0
        while true {
            let page = try await store.calls(matching: try filters.query(text: nil, limit: 500, offset: offset))
            for call in page.calls { if let detail = try await store.detail(of: call.id) { details.append(detail) } }
            offset += page.calls.count
            if page.calls.isEmpty || offset >= page.total { break }
        }
        details.sort { $0.call.startedAt < $1.call.startedAt }
        switch exportFormat {
        case .json, .csv:
            let text = CallExport.render(details, as: exportFormat)
            if let output {
                try text.write(toFile: output, atomically: true, encoding: .utf8)
                printError("exported \(details.count) call(s) to \(output)")
            } else {
                print(text, terminator: "")
            }
        case .srt, .vtt:
            let folder = output ?? "."
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for detail in details {
                try CallExport.render([detail], as: exportFormat).write(toFile: "\(folder)/\(detail.call.id).\(exportFormat.rawValue)", atomically: true,
                                                                        encoding: .utf8)
            }
            printError("exported \(details.count) call(s) as .\(exportFormat.rawValue) files to \(folder)")
        }
    }
}

/// The period a report covers, the store it reads, and its output.
struct ReportPeriod: ParsableArguments {
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "From this date (2026-11-25 or 2026-11-25T10:00:00Z).")
    var from: String?
    @Option(help: "Before this date.")
    var to: String?
    @Flag(help: "JSON output.")
    var json = false

    func report() async throws -> CallReport {
        let (start, end) = (try CallFilters.date(from, "--from"), try CallFilters.date(to, "--to"))
        return try await storeOptions.withStore { store in try await store.report(from: start, to: end) }
    }
}

struct QAReport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Totals: calls, containment rate, handoffs by reason, top intents, findings by rule, average scores.")

    @OptionGroup var period: ReportPeriod

    func run() async throws {
        let report = try await period.report()
        if period.json {
            print(QAOutput.json(report))
            return
        }
        print("calls: \(report.calls) (contained by the bot \(report.contained), handed off \(report.handedOff), abandoned \(report.abandoned), "
              + "failed \(report.failed), interrupted \(report.interrupted), without a bot \(report.completed), live \(report.live))")
        print(String(format: "containment rate: %.1f%%", report.containmentRate * 100))
        print("average QA score: \(report.averageScore.map { String(format: "%.1f", $0) } ?? "–")")
        print("average reviewer score: \(report.averageReviewScore.map { String(format: "%.1f", $0) } ?? "–")")
        for (title, counts) in [("outcomes by reason", report.outcomeReasons), ("handoffs by reason", report.handoffsByReason), ("handoffs by queue", report.handoffsByQueue),
                                ("top intents", report.intents), ("findings by rule", report.findingsByRule)] {
            print("\(title):" + (counts.isEmpty ? " none" : ""))
            for (name, count) in counts.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }) {
                print("  \(String(count).padding(toLength: 6, withPad: " ", startingAt: 0)) \(name)")
            }
        }
    }
}

struct QAAgents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agents",
        abstract: "Agents' scorecards: calls, average and lowest QA score, calls with a critical finding, the rules found most; best first.")

    @OptionGroup var period: ReportPeriod

    func run() async throws {
        let agents = try await period.report().agents
        if period.json {
            print(QAOutput.json(agents))
            return
        }
        guard !agents.isEmpty else {
            print("no agents' calls" + (period.from == nil && period.to == nil ? "" : " in this period"))
            return
        }
        let width = max(5, agents.map(\.agent.count).max() ?? 0)
        print("agent".padding(toLength: width, withPad: " ", startingAt: 0) + "  calls  average  lowest  critical  found most")
        for card in agents {
            func score(_ value: Double?) -> String { value.map { String(format: "%.0f", $0) } ?? "–" }
            let worst = card.worstRules().map { "\($0.rule) ×\($0.findings)" }.joined(separator: ", ")
            print(card.agent.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + String(format: "%5d", card.calls)
                  + "  " + score(card.averageScore).leftPadded(7) + "  " + score(card.lowestScore).leftPadded(6) + "  " + String(format: "%8d", card.criticalCalls)
                  + "  " + (worst.isEmpty ? "none" : worst))
        }
    }
}

extension String {
    /// The string right-aligned in `width` characters.
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}

enum QAOutput {
    static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    static func date(_ date: Date) -> String { date.formatted(Date.ISO8601FormatStyle().year().month().day().time(includingFractionalSeconds: false)) }

    static func clock(_ seconds: Double) -> String { String(format: "%02d:%05.2f", Int(seconds) / 60, seconds.truncatingRemainder(dividingBy: 60)) }
}
