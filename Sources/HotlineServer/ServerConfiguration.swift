import Foundation
import Yams

// MARK: - Configuration

/// Everything `hotline serve` reads from its YAML file and environment. Every field has a default, so no file is
/// needed; `docs/serve.md` documents each one. Unknown keys are errors (a typo must not silently fall back to a default).
public struct ServerConfiguration: Sendable, Equatable {
    /// The HTTP listener: REST API, WebSocket gateways, metrics. Default 127.0.0.1:8080.
    public var httpHost = "127.0.0.1"
    public var httpPort = 8080

    /// The Asterisk AudioSocket TCP listener. Default enabled on 127.0.0.1:9092.
    public var audioSocketEnabled = true
    public var audioSocketHost = "127.0.0.1"
    public var audioSocketPort = 9092
    /// Peers allowed to open AudioSocket connections (the protocol has no credentials): exact addresses or
    /// prefixes ending in "." or ":"; "any" allows every peer. Default loopback only.
    public var audioSocketAllow = ["127.0.0.1", "::1"]
    /// Audio message types beyond 0x10: `standard` (8 kHz only) or `asterisk20` (0x11–0x16 = 12–48 kHz).
    public var audioSocketRates = AudioSocketRates.standard
    /// Largest AudioSocket payload accepted, bytes. Default 4096.
    public var audioSocketMaxPayload = 4_096

    /// API keys and their roles.
    public var keys: [APIKey] = []
    /// Roles granted to requests without credentials (e.g. `[gateway]` on a trusted network). Default none.
    public var anonymousRoles: Set<Role> = []
    /// Whether `/metrics` is open without credentials. Default false (admin role needed).
    public var metricsPublic = false

    /// The dialog flow the bot runs. Default `Models/flows/bank.yaml`.
    public var flow = "Models/flows/bank.yaml"
    /// Caller memory file (calls from the same number are linked). Default `.hotline/callers.json`.
    public var callerMemory = ".hotline/callers.json"
    /// Pooled decoders: a caller speaking holds one for their utterance (live decoding). `nil`: automatic (24 when the
    /// flow's searches are small, ≈ 10 MB each; one per core when a state listens with the general model, ≈ 110 MB each).
    public var recognizers: Int?
    /// Threads that run the decoders (CPU). Default: one per core.
    public var decodingThreads = ProcessInfo.processInfo.activeProcessorCount
    /// New calls are refused (with the gateway's signal: AudioSocket hangup, HTTP 503 on a WebSocket upgrade) while the
    /// decoding threads have been busier than this share of the last few seconds, or recognizer work has waited longer
    /// than ``maximumQueueWait``: past capacity, quality would collapse for every call. 1 never refuses. Default 0.9.
    public var maximumLoad = 0.9
    /// Seconds recognizer work may wait for a thread before new calls are refused. Default 1.
    public var maximumQueueWait = 1.0
    /// Seconds after a caller finishes speaking without the reply starting before the bot says a holding phrase
    /// ("One moment."); 0 never. Default 1.5.
    public var holdingDelay = 1.5
    /// Seconds after the end of a caller's turn within which speaking again, before the bot's reply has finished
    /// playing, goes on with the same turn (the reply is withheld or taken back, unless something outside the call
    /// happened for it, and both parts are understood as one); 0 never. Default 1.
    public var continuationWindow = 1.0
    /// Whether a turn judged complete is decoded and answered while its end hangover runs, the reply said as the
    /// hangover ends (needs the continuation window: a caller who goes on first is heard as one turn). Default true.
    public var answerDuringHangover = true
    /// Where the flow's webhook services are, by name (`bank: https://core.example/api`); a service left out keeps the
    /// flow's own setting (`sample`: the built-in sample bank). Environment: `HOTLINE_SERVICE_<NAME>`.
    public var services: [String: String] = [:]
    /// The bot's espeak-ng voice. Default `en-us`.
    public var voice = "en-us"
    /// Seconds live calls may take to finish after SIGTERM before they are hung up. Default 30.
    public var shutdownGrace = 30.0
    /// Finished calls whose outcome stays queryable by id (in memory). Default 10000.
    public var retainedOutcomes = 10_000
    /// Megabytes the finished calls kept in memory may take at most (the oldest go first). Default 32.
    public var retainedOutcomesMegabytes = 32.0
    /// Seconds of silence before the bot reprompts. Default 8.
    public var noInputTimeout = 8.0

    /// Largest uploaded file for `/v1/transcriptions`, bytes. Default 100 MB.
    public var maxUploadBytes = 100 << 20
    /// Uploads of audio up to this many seconds are transcribed in the request; longer ones become a job. Default 60.
    public var synchronousTranscriptionSeconds = 60.0

    /// The transcript store: `sqlite:PATH` (embedded) or `postgres://user:password@host:port/database` (shared by
    /// several nodes). `none` keeps no transcripts (and serves no QA pages). Default `sqlite:.hotline/calls.sqlite`.
    public var store = "sqlite:.hotline/calls.sqlite"
    /// This node's name in the store and the live feed. Default: the host name.
    public var nodeName = ProcessInfo.processInfo.hostName
    /// Seconds between this node's heartbeats in the store. Default 5.
    public var heartbeatInterval = 5.0
    /// Seconds without a heartbeat after which another node closes a node's live calls as interrupted. Default 30.
    public var nodeTimeout = 30.0
    /// Writes held in memory while the store is unavailable, before the oldest are dropped. Default 100000.
    public var storeQueue = 100_000
    /// Seconds a connection attempt, a write or a health probe may take before the store counts as unavailable. With a
    /// probe every second, an outage is seen within about this long. Default 3.
    public var storeTimeout = 3.0
    /// Seconds a QA read (a search, a report, a call's detail) may take before it answers 503; also the database's
    /// `statement_timeout`. Default 15.
    public var storeReadTimeout = 15.0
    /// Whether calls are recorded (both sides, FLAC, in the store). Default true.
    public var recordCalls = true
    /// The longest stretch of a call that is recorded, seconds. Default 3600.
    public var maximumRecordingSeconds = 3_600.0
    /// The QA rules file. Default `Models/qa/rules.yaml`.
    public var qaRules = "Models/qa/rules.yaml"
    /// The rules for agents' calls (recordings pushed to `POST /v1/qa/recordings`). Default
    /// `Models/qa/agent-rules.yaml`; `nil` turns that endpoint off.
    public var agentRules: String? = "Models/qa/agent-rules.yaml"
    /// Hours a QA page sign-in lasts. Default 12 (a shift).
    public var sessionHours = 12.0
    /// Days transcripts and recordings are kept; older calls are deleted by a background task. `nil`: kept for ever.
    /// Default 90.
    public var retentionDays: Double? = 90
    /// How often the retention task runs, seconds. Default 3600.
    public var retentionInterval = 3_600.0

    /// Log level: trace, debug, info, notice, warning, error, critical. Default info.
    public var logLevel = "info"

    /// The defaults.
    public init() {}
}

/// What a credential may do.
public enum Role: String, Sendable, Codable, CaseIterable, Hashable {
    /// IVR gateways: the call endpoints, call outcomes, transcription, synthesis, chat.
    case gateway
    /// QA staff: live calls and transcripts.
    case qa
    /// Everything, including metrics and administration.
    case admin
}

/// One API key from the configuration.
public struct APIKey: Sendable, Equatable {
    /// A name for logs and limits (the key itself is never logged).
    public var name: String
    /// The secret.
    public var secret: String
    /// Its roles.
    public var roles: Set<Role>
    /// Concurrent calls allowed on this key (`nil`: no limit).
    public var maximumCalls: Int?

    /// Makes a key.
    public init(name: String, secret: String, roles: Set<Role>, maximumCalls: Int? = nil) {
        self.name = name
        self.secret = secret
        self.roles = roles
        self.maximumCalls = maximumCalls
    }
}

/// A configuration file problem, naming the file, line and key.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public let description: String
}

extension ServerConfiguration {
    /// Reads a YAML file over the defaults, then the environment over that.
    public static func load(path: String?) throws -> ServerConfiguration {
        try load(path: path, environment: ProcessInfo.processInfo.environment)
    }

    /// Reads a YAML file over the defaults, then the given environment over that.
    public static func load(path: String?, environment: [String: String]) throws -> ServerConfiguration {
        var configuration = ServerConfiguration()
        if let path {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigurationError(description: "\(path): cannot read the configuration file")
            }
            try configuration.apply(yaml: text, file: path, environment: environment)
        }
        try configuration.apply(environment: environment)
        return configuration
    }

    /// Applies a YAML document.
    mutating func apply(yaml: String, file: String, environment: [String: String]) throws {
        let node: Node?
        do { node = try Yams.compose(yaml: yaml) } catch { throw ConfigurationError(description: "\(file): not valid YAML: \(error)") }
        guard let node else { return }
        let reader = NodeReader(file: file)
        let root = try reader.mapping(node, "the document")
        try reader.checkKeys(root, allowed: ["http", "audiosocket", "auth", "bot", "calls", "transcription", "store", "qa", "log"], in: "the document")
        if let http = root["http"] {
            let map = try reader.mapping(http, "http")
            try reader.checkKeys(map, allowed: ["host", "port"], in: "http")
            if let value = map["host"] { httpHost = try reader.string(value, "http.host") }
            if let value = map["port"] { httpPort = try reader.port(value, "http.port") }
        }
        if let section = root["audiosocket"] {
            let map = try reader.mapping(section, "audiosocket")
            try reader.checkKeys(map, allowed: ["enabled", "host", "port", "allow", "rates", "max_payload"], in: "audiosocket")
            if let value = map["enabled"] { audioSocketEnabled = try reader.bool(value, "audiosocket.enabled") }
            if let value = map["host"] { audioSocketHost = try reader.string(value, "audiosocket.host") }
            if let value = map["port"] { audioSocketPort = try reader.port(value, "audiosocket.port") }
            if let value = map["allow"] { audioSocketAllow = try reader.strings(value, "audiosocket.allow") }
            if let value = map["max_payload"] { audioSocketMaxPayload = try reader.int(value, "audiosocket.max_payload", 320...65_535) }
            if let value = map["rates"] {
                switch try reader.string(value, "audiosocket.rates") {
                case "standard": audioSocketRates = .standard
                case "asterisk20": audioSocketRates = .asterisk20
                case let other: throw reader.error(value, "audiosocket.rates must be standard or asterisk20, not '\(other)'")
                }
            }
        }
        if let section = root["auth"] {
            let map = try reader.mapping(section, "auth")
            try reader.checkKeys(map, allowed: ["keys", "anonymous_roles", "metrics_public"], in: "auth")
            if let value = map["metrics_public"] { metricsPublic = try reader.bool(value, "auth.metrics_public") }
            if let value = map["anonymous_roles"] { anonymousRoles = try reader.roles(value, "auth.anonymous_roles") }
            if let value = map["keys"] {
                guard case .sequence(let items) = value else { throw reader.error(value, "auth.keys must be a list") }
                keys = try items.enumerated().map { index, item in
                    let label = "auth.keys[\(index)]"
                    let entry = try reader.mapping(item, label)
                    try reader.checkKeys(entry, allowed: ["name", "key", "key_env", "roles", "max_calls"], in: label)
                    guard let name = entry["name"] else { throw reader.error(item, "\(label) needs a name") }
                    let secret: String
                    if let key = entry["key"] {
                        secret = try reader.string(key, "\(label).key")
                    } else if let variable = entry["key_env"] {
                        let variableName = try reader.string(variable, "\(label).key_env")
                        guard let value = environment[variableName], !value.isEmpty else {
                            throw reader.error(variable, "\(label).key_env: the environment variable \(variableName) is not set")
                        }
                        secret = value
                    } else {
                        throw reader.error(item, "\(label) needs key or key_env")
                    }
                    guard secret.count >= 16 else { throw reader.error(item, "\(label): keys must be at least 16 characters") }
                    guard let roles = entry["roles"] else { throw reader.error(item, "\(label) needs roles") }
                    return APIKey(name: try reader.string(name, "\(label).name"), secret: secret, roles: try reader.roles(roles, "\(label).roles"),
                                  maximumCalls: try entry["max_calls"].map { try reader.int($0, "\(label).max_calls", 1...100_000) })
                }
                let names = keys.map(\.name)
                if let duplicate = names.first(where: { name in names.count { $0 == name } > 1 }) {
                    throw reader.error(value, "auth.keys: the name '\(duplicate)' is used twice")
                }
            }
        }
        if let section = root["bot"] {
            let map = try reader.mapping(section, "bot")
            try reader.checkKeys(map, allowed: ["flow", "caller_memory", "voice", "no_input_timeout", "services"], in: "bot")
            if let value = map["services"] {
                for (name, url) in try reader.mapping(value, "bot.services") {
                    let text = try reader.string(url, "bot.services.\(name)")
                    guard text == "sample" || URL(string: text).map({ ["http", "https"].contains($0.scheme ?? "") }) == true else {
                        throw reader.error(url, "bot.services.\(name) must be an http(s) URL or 'sample', not '\(text)'")
                    }
                    services[name] = text
                }
            }
            if let value = map["flow"] { flow = try reader.string(value, "bot.flow") }
            if let value = map["caller_memory"] { callerMemory = try reader.string(value, "bot.caller_memory") }
            if let value = map["voice"] { voice = try reader.string(value, "bot.voice") }
            if let value = map["no_input_timeout"] { noInputTimeout = try reader.double(value, "bot.no_input_timeout", 1...300) }
        }
        if let section = root["calls"] {
            let map = try reader.mapping(section, "calls")
            try reader.checkKeys(map, allowed: ["recognizers", "decoding_threads", "max_load", "max_queue_wait", "holding_delay", "continuation_window",
                                                "answer_during_hangover", "shutdown_grace", "retained_outcomes", "retained_outcomes_mb"], in: "calls")
            if let value = map["recognizers"] { recognizers = try reader.int(value, "calls.recognizers", 1...256) }
            if let value = map["decoding_threads"] { decodingThreads = try reader.int(value, "calls.decoding_threads", 1...256) }
            if let value = map["max_load"] { maximumLoad = try reader.double(value, "calls.max_load", 0.1...1) }
            if let value = map["max_queue_wait"] { maximumQueueWait = try reader.double(value, "calls.max_queue_wait", 0.1...60) }
            if let value = map["holding_delay"] { holdingDelay = try reader.double(value, "calls.holding_delay", 0...30) }
            if let value = map["continuation_window"] { continuationWindow = try reader.double(value, "calls.continuation_window", 0...10) }
            if let value = map["answer_during_hangover"] { answerDuringHangover = try reader.bool(value, "calls.answer_during_hangover") }
            if let value = map["shutdown_grace"] { shutdownGrace = try reader.double(value, "calls.shutdown_grace", 0...3_600) }
            if let value = map["retained_outcomes"] { retainedOutcomes = try reader.int(value, "calls.retained_outcomes", 1...10_000_000) }
            if let value = map["retained_outcomes_mb"] { retainedOutcomesMegabytes = try reader.double(value, "calls.retained_outcomes_mb", 0.01...100_000) }
        }
        if let section = root["transcription"] {
            let map = try reader.mapping(section, "transcription")
            try reader.checkKeys(map, allowed: ["max_upload_bytes", "synchronous_seconds"], in: "transcription")
            if let value = map["max_upload_bytes"] { maxUploadBytes = try reader.int(value, "transcription.max_upload_bytes", 1_024...(4 << 30)) }
            if let value = map["synchronous_seconds"] { synchronousTranscriptionSeconds = try reader.double(value, "transcription.synchronous_seconds", 0...3_600) }
        }
        if let section = root["store"] {
            let map = try reader.mapping(section, "store")
            try reader.checkKeys(map, allowed: ["url", "url_env", "node", "queue", "record_calls", "max_recording_seconds", "heartbeat_seconds",
                                           "node_timeout_seconds", "timeout_seconds", "read_timeout_seconds"], in: "store")
            if let value = map["url"] { store = try reader.string(value, "store.url") }
            if let variable = map["url_env"] {
                let name = try reader.string(variable, "store.url_env")
                guard let value = environment[name], !value.isEmpty else { throw reader.error(variable, "store.url_env: the environment variable \(name) is not set") }
                store = value
            }
            if let value = map["node"] { nodeName = try reader.string(value, "store.node") }
            if let value = map["heartbeat_seconds"] { heartbeatInterval = try reader.double(value, "store.heartbeat_seconds", 0.1...3_600) }
            if let value = map["node_timeout_seconds"] { nodeTimeout = try reader.double(value, "store.node_timeout_seconds", 1...86_400) }
            if let value = map["queue"] { storeQueue = try reader.int(value, "store.queue", 100...10_000_000) }
            if let value = map["timeout_seconds"] { storeTimeout = try reader.double(value, "store.timeout_seconds", 0.1...600) }
            if let value = map["read_timeout_seconds"] { storeReadTimeout = try reader.double(value, "store.read_timeout_seconds", 0.1...3_600) }
            if let value = map["record_calls"] { recordCalls = try reader.bool(value, "store.record_calls") }
            if let value = map["max_recording_seconds"] { maximumRecordingSeconds = try reader.double(value, "store.max_recording_seconds", 1...86_400) }
        }
        if let section = root["qa"] {
            let map = try reader.mapping(section, "qa")
            try reader.checkKeys(map, allowed: ["rules", "agent_rules", "retention_days", "retention_interval", "session_hours"], in: "qa")
            if let value = map["agent_rules"] {
                let path = try reader.string(value, "qa.agent_rules")
                agentRules = path == "none" ? nil : path
            }
            if let value = map["session_hours"] { sessionHours = try reader.double(value, "qa.session_hours", 0.05...720) }
            if let value = map["rules"] { qaRules = try reader.string(value, "qa.rules") }
            if let value = map["retention_days"] {
                retentionDays = try reader.string(value, "qa.retention_days") == "forever" ? nil : try reader.double(value, "qa.retention_days", 0.001...36_500)
            }
            if let value = map["retention_interval"] { retentionInterval = try reader.double(value, "qa.retention_interval", 1...86_400) }
        }
        if let section = root["log"] {
            let map = try reader.mapping(section, "log")
            try reader.checkKeys(map, allowed: ["level"], in: "log")
            if let value = map["level"] { logLevel = try reader.string(value, "log.level") }
        }
        try validate(file: file)
    }

    /// Environment variables override the file: `HOTLINE_HTTP_HOST`, `HOTLINE_HTTP_PORT`, `HOTLINE_AUDIOSOCKET_HOST`,
    /// `HOTLINE_AUDIOSOCKET_PORT`, `HOTLINE_FLOW`, `HOTLINE_RECOGNIZERS`, `HOTLINE_LOG_LEVEL`, `HOTLINE_STORE`, `HOTLINE_NODE`, and `HOTLINE_API_KEY` (one more
    /// key, named "env", with the admin role).
    mutating func apply(environment: [String: String]) throws {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        func number(_ name: String) throws -> Int? {
            guard let text = value(name) else { return nil }
            guard let number = Int(text) else { throw ConfigurationError(description: "\(name)=\(text) is not a whole number") }
            return number
        }
        if let host = value("HOTLINE_HTTP_HOST") { httpHost = host }
        if let port = try number("HOTLINE_HTTP_PORT") { httpPort = port }
        if let host = value("HOTLINE_AUDIOSOCKET_HOST") { audioSocketHost = host }
        if let port = try number("HOTLINE_AUDIOSOCKET_PORT") { audioSocketPort = port }
        if let flow = value("HOTLINE_FLOW") { self.flow = flow }
        for (key, url) in environment where key.hasPrefix("HOTLINE_SERVICE_") && !url.isEmpty {
            services[String(key.dropFirst("HOTLINE_SERVICE_".count)).lowercased()] = url
        }
        if let count = try number("HOTLINE_RECOGNIZERS") { recognizers = count }
        if let level = value("HOTLINE_LOG_LEVEL") { logLevel = level }
        if let url = value("HOTLINE_STORE") { store = url }
        if let node = value("HOTLINE_NODE") { nodeName = node }
        if let key = value("HOTLINE_API_KEY") {
            guard key.count >= 16 else { throw ConfigurationError(description: "HOTLINE_API_KEY must be at least 16 characters") }
            keys.append(APIKey(name: "env", secret: key, roles: [.admin]))
        }
        try validate(file: "environment")
    }

    func validate(file: String) throws {
        for (name, port) in [("http port", httpPort), ("audiosocket port", audioSocketPort)] where !(0...65_535).contains(port) {
            throw ConfigurationError(description: "\(file): \(name) \(port) is not a TCP port")
        }
        guard (recognizers ?? 1) >= 1 else { throw ConfigurationError(description: "\(file): recognizers must be at least 1") }
        guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(logLevel) else {
            throw ConfigurationError(description: "\(file): log level '\(logLevel)' is not one of trace, debug, info, notice, warning, error, critical")
        }
    }
}

// MARK: - YAML node reading with positions

private struct NodeReader {
    let file: String

    func error(_ node: Node, _ message: String) -> ConfigurationError {
        ConfigurationError(description: "\(file):\(node.mark.map { "\($0.line):\($0.column)" } ?? "?"): \(message)")
    }

    func mapping(_ node: Node, _ what: String) throws -> [String: Node] {
        guard case .mapping(let mapping) = node else { throw error(node, "\(what) must be a mapping of keys to values") }
        var result: [String: Node] = [:]
        for (key, value) in mapping {
            guard let name = key.string else { throw error(key, "keys in \(what) must be text") }
            result[name] = value
        }
        return result
    }

    func checkKeys(_ map: [String: Node], allowed: Set<String>, in what: String) throws {
        for (key, value) in map where !allowed.contains(key) {
            throw error(value, "unknown key '\(key)' in \(what) (known: \(allowed.sorted().joined(separator: ", ")))")
        }
    }

    func string(_ node: Node, _ what: String) throws -> String {
        guard case .scalar(let scalar) = node else { throw error(node, "\(what) must be a single value") }
        return scalar.string
    }

    func strings(_ node: Node, _ what: String) throws -> [String] {
        if case .scalar = node { return [try string(node, what)] }
        guard case .sequence(let items) = node else { throw error(node, "\(what) must be a list") }
        return try items.map { try string($0, what) }
    }

    func int(_ node: Node, _ what: String, _ range: ClosedRange<Int>) throws -> Int {
        guard let value = Int(try string(node, what)), range.contains(value) else {
            throw error(node, "\(what) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    func port(_ node: Node, _ what: String) throws -> Int { try int(node, what, 0...65_535) }

    func double(_ node: Node, _ what: String, _ range: ClosedRange<Double>) throws -> Double {
        guard let value = Double(try string(node, what)), range.contains(value) else {
            throw error(node, "\(what) must be a number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    func bool(_ node: Node, _ what: String) throws -> Bool {
        switch try string(node, what).lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error(node, "\(what) must be true or false")
        }
    }

    func roles(_ node: Node, _ what: String) throws -> Set<Role> {
        Set(try strings(node, what).map { name in
            guard let role = Role(rawValue: name) else {
                throw error(node, "\(what): unknown role '\(name)' (roles: gateway, qa, admin)")
            }
            return role
        })
    }
}

// Logs may print a configuration or a key (ServiceLifecycle prints its services at debug): never their secrets.
extension APIKey: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String { "APIKey(name: \(name), roles: \(roles.map(\.rawValue).sorted()))" }
    public var debugDescription: String { description }
}

extension ServerConfiguration: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String {
        "ServerConfiguration(http: \(httpHost):\(httpPort), audiosocket: \(audioSocketEnabled ? "\(audioSocketHost):\(audioSocketPort)" : "off"), node: \(nodeName))"
    }
    public var debugDescription: String { description }
}
