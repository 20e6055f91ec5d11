public import HotlineCore
import Foundation
import Yams

// MARK: - QA rules files

/// Reads the QA rules file (YAML), reporting problems by file, line and column.
public enum QualityRulesLoader {
    /// Loads a rules file.
    public static func load(path: String) throws(FlowError) -> QualityRules {
        try parse(Reader.text(of: path), source: path)
    }

    /// Parses rules YAML.
    public static func parse(_ text: String, source: String) throws(FlowError) -> QualityRules {
        try Reader(source: source).rules(Reader.root(of: text, source: source))
    }

    /// The keys that say what a rule checks; each rule has exactly one.
    static let checks = ["phrases", "agent_request", "no_match_streak", "confidence_below", "silence_seconds", "handle_time_seconds",
                         "sensitive_data", "required_phrases", "outcome", "backend_failure", "unresolved_request", "unserved_request",
                         "repeated_question", "caller_repeated", "talk_over_seconds"]

    /// Who a rule may be about.
    static let speakers = ["caller", "bot", "agent"]

    private struct Reader: ModelFileReader {
        let source: String

        func rules(_ root: Node) throws(FlowError) -> QualityRules {
            let top = try mapping(root, "the rules file")
            try check(top, allowed: ["score", "rules"], in: "the rules file")
            var result = QualityRules(rules: [])
            if let score = top.first(where: { $0.key == "score" }) {
                let fields = try mapping(score.value, "score")
                try check(fields, allowed: ["deductions", "alert_at"], in: "score")
                for field in fields {
                    switch field.key {
                    case "deductions":
                        for entry in try mapping(field.value, "deductions") {
                            let level = try severity(entry.keyNode)
                            guard let points = entry.value.float, points >= 0, points <= 100 else {
                                throw fail(entry.value, "a deduction must be 0 to 100 points")
                            }
                            result.deductions[level] = points
                        }
                    default:
                        result.alertAt = try severity(field.value)
                    }
                }
            }
            guard let rules = top.first(where: { $0.key == "rules" }) else { throw fail(root, "the rules file needs 'rules'") }
            for entry in try mapping(rules.value, "rules") { result.rules.append(try rule(entry.key, entry.keyNode, entry.value)) }
            return result
        }

        func severity(_ node: Node) throws(FlowError) -> Severity {
            let text = try string(node, "severity")
            guard let level = Severity(rawValue: text) else {
                throw fail(node, "unknown severity '\(text)' (expected one of: info, warning, critical)")
            }
            return level
        }

        func rule(_ id: String, _ keyNode: Node, _ node: Node) throws(FlowError) -> QualityRule {
            let fields = try mapping(node, "rule '\(id)'")
            try check(fields, allowed: ["description", "severity", "speaker", "minimum_words", "within_seconds", "within_last_seconds", "after", "unless_said_before"] + QualityRulesLoader.checks,
                      in: "rule '\(id)'")
            func field(_ key: String) -> Node? { fields.first { $0.key == key }?.value }
            let found = fields.filter { QualityRulesLoader.checks.contains($0.key) }
            guard found.count == 1, let what = found.first else {
                throw fail(keyNode, "rule '\(id)' needs exactly one of: \(QualityRulesLoader.checks.joined(separator: ", "))")
            }
            guard let severityNode = field("severity") else { throw fail(keyNode, "rule '\(id)' needs a 'severity'") }
            let description = try field("description").map { node throws(FlowError) in try string(node, "description") } ?? id
            let test: QualityRule.Check
            switch what.key {
            case "phrases":
                let who = try speaker(field("speaker"), default: "caller")
                if let before = field("unless_said_before") {
                    test = .saidTooSoon(try strings(what.value, "phrases"), speaker: who, before: try strings(before, "unless_said_before"))
                } else {
                    test = .phrases(try strings(what.value, "phrases"), speaker: who)
                }
            case "agent_request":
                let parts = try mapping(what.value, "agent_request")
                try check(parts, allowed: ["intents", "phrases"], in: "agent_request")
                let intents = try parts.first { $0.key == "intents" }.map { entry throws(FlowError) in try strings(entry.value, "intents") } ?? []
                let phrases = try parts.first { $0.key == "phrases" }.map { entry throws(FlowError) in try strings(entry.value, "phrases") } ?? []
                test = .ignoredAgentRequest(intents: intents, phrases: phrases)
            case "no_match_streak":
                test = .repeatedNoMatch(count: try number(what.value, "no_match_streak"))
            case "confidence_below":
                guard let threshold = what.value.float, threshold > 0, threshold <= 1 else { throw fail(what.value, "confidence_below must be above 0 and at most 1") }
                let words = try field("minimum_words").map { node throws(FlowError) in try number(node, "minimum_words") } ?? 1
                test = .lowConfidence(threshold: threshold, minimumWords: words)
            case "silence_seconds":
                test = .deadAir(seconds: try seconds(what.value, "silence_seconds"))
            case "talk_over_seconds":
                test = .talkOver(seconds: try seconds(what.value, "talk_over_seconds"))
            case "handle_time_seconds":
                test = .handleTime(seconds: try seconds(what.value, "handle_time_seconds"))
            case "sensitive_data", "backend_failure", "unresolved_request", "unserved_request":
                guard what.value.bool == true else { throw fail(what.value, "\(what.key) must be true") }
                test = what.key == "sensitive_data" ? .sensitiveData : what.key == "backend_failure" ? .backendFailure
                    : what.key == "unresolved_request" ? .unresolvedRequest : .unservedRequest
            case "outcome":
                var outcomes: [CallStatus] = []
                for name in try strings(what.value, "outcome") {
                    guard let status = CallStatus(rawValue: name), status.isFinished else {
                        throw fail(what.value, "unknown outcome '\(name)' (expected: \(CallStatus.allCases.filter(\.isFinished).map(\.rawValue).joined(separator: ", ")))")
                    }
                    outcomes.append(status)
                }
                test = .outcome(outcomes)
            case "repeated_question", "caller_repeated":
                let count = try number(what.value, what.key)
                guard count >= 2 else { throw fail(what.value, "\(what.key) must be 2 or more") }
                test = what.key == "repeated_question" ? .repeatedQuestion(count: count) : .callerRepeated(count: count)
            default:
                if let after = field("after") {
                    // An answer owed: `after: {speaker, phrases}`, then `speaker` says one of required_phrases in time.
                    let parts = try mapping(after, "after")
                    try check(parts, allowed: ["speaker", "phrases"], in: "after")
                    guard let trigger = parts.first(where: { $0.key == "phrases" }) else { throw fail(after, "'after' needs 'phrases'") }
                    guard let within = field("within_seconds") else { throw fail(keyNode, "rule '\(id)' needs 'within_seconds' with 'after'") }
                    test = .response(trigger: try strings(trigger.value, "phrases"),
                                     triggerSpeaker: try speaker(parts.first { $0.key == "speaker" }?.value, default: "caller"),
                                     phrases: try strings(what.value, "required_phrases"), speaker: try speaker(field("speaker"), default: "agent"),
                                     within: try seconds(within, "within_seconds"))
                    break
                }
                let start = field("within_seconds"), end = field("within_last_seconds")
                guard (start == nil) != (end == nil), let within = start ?? end else {
                    throw fail(keyNode, "rule '\(id)' needs one of 'within_seconds' (from the start) or 'within_last_seconds' (before the end) with 'required_phrases'")
                }
                test = .requiredPhrase(try strings(what.value, "required_phrases"), within: try seconds(within, start == nil ? "within_last_seconds" : "within_seconds"),
                                       speaker: try speaker(field("speaker"), default: "bot"), fromEnd: end != nil)
            }
            return QualityRule(id: id, description: description, severity: try severity(severityNode), check: test)
        }

        /// A rule's `speaker`: the caller, the bot, or the agent (a person's leg of a recorded or listen-only call).
        func speaker(_ node: Node?, default fallback: String) throws(FlowError) -> String {
            guard let node else { return fallback }
            let speaker = try string(node, "speaker")
            guard QualityRulesLoader.speakers.contains(speaker) else { throw fail(node, "speaker must be caller, bot or agent, not '\(speaker)'") }
            return speaker
        }
    }
}
