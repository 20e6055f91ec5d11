import Foundation
public import HotlineCore
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
public import Logging
import Metrics
import NIOCore
public import Prometheus
public import ServiceLifecycle
import Synchronization

// MARK: - Request context

/// Hummingbird request context for every route (HTTP and WebSocket upgrades).
struct HotlineRequestContext: RequestContext, WebSocketRequestContext {
    var coreContext: CoreRequestContextStorage
    let webSocket: WebSocketHandlerReference<Self>

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
    }

    var responseEncoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}

// MARK: - Speech services for the REST API

/// Offline transcription and synthesis for the REST API; the CLI provides the real engines.
public protocol SpeechServices: Sendable {
    /// The duration of an audio file in seconds (throws a clear error for unreadable audio).
    func duration(ofFile path: String) throws -> Double
    /// Transcribes an audio file.
    func transcribe(file path: String, name: String) async throws -> Transcript
    /// Synthesizes text as a WAV file at `sampleRate` (8000, 16000 or 22050).
    func synthesize(_ text: String, voice: String?, sampleRate: Int) async throws -> [UInt8]
    /// The names a voice may be given by (empty: not known, nothing is checked).
    func voices() async -> [String]
}

extension SpeechServices {
    /// Voices are not checked by default.
    public func voices() async -> [String] { [] }
}

// MARK: - Server

/// `hotline serve`: the HTTP listener (REST API, WebSocket gateways, metrics) and the AudioSocket listener, run as
/// services that shut down gracefully (stop taking calls, let live calls finish up to the grace period).
public struct HotlineServer: Sendable {
    /// The configuration.
    public let configuration: ServerConfiguration
    /// Calls.
    public let host: CallHost
    /// Transcription and synthesis for the API.
    public let speech: (any SpeechServices)?
    /// Metrics registry for `/metrics` (the CLI bootstraps swift-metrics with it).
    public let metrics: PrometheusCollectorRegistry
    /// The root logger.
    public let logger: Logger
    /// The transcript store, live feed and QA (`nil` without a store).
    public let quality: QualityServices?

    let access: AccessControl
    let jobs = TranscriptionJobs()
    let chats = ChatSessions()
    let started = Date()

    /// Makes a server.
    public init(configuration: ServerConfiguration, host: CallHost, speech: (any SpeechServices)?, metrics: PrometheusCollectorRegistry, logger: Logger,
                quality: QualityServices? = nil) {
        self.configuration = configuration
        self.quality = quality
        self.host = host
        self.speech = speech
        self.metrics = metrics
        self.logger = logger
        access = AccessControl(keys: configuration.keys, anonymousRoles: configuration.anonymousRoles)
    }

    /// The services to run: HTTP, AudioSocket (when enabled) and the call drainer (shut down first on SIGTERM).
    /// `onHTTPBound` and `onAudioSocketBound` receive the bound ports (useful with port 0).
    public func services(onHTTPBound: @escaping @Sendable (Int) -> Void = { _ in }, onAudioSocketBound: @escaping @Sendable (Int) -> Void = { _ in })
        -> [any Service]
    {
        let app = Application(
            router: makeRouter(),
            server: httpServer(),
            configuration: .init(address: .hostname(configuration.httpHost, port: configuration.httpPort), serverName: "hotline"),
            onServerRunning: { channel in onHTTPBound(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        var services: [any Service] = [app]
        if configuration.audioSocketEnabled {
            services.append(AudioSocketServer(configuration: configuration, host: host, logger: logger, onBound: onAudioSocketBound))
        }
        if let quality {
            // Started before the drainer so it stops after it: the last calls' lines are written before the store closes.
            services.insert(QualityStoreService(quality: quality, retentionDays: configuration.retentionDays,
                                                interval: .milliseconds(Int(configuration.retentionInterval * 1000)), logger: logger), at: 0)
            services.append(quality.probe)
            services.append(NodeWatch(quality: quality, node: quality.feed.node, interval: .milliseconds(Int(configuration.heartbeatInterval * 1000)),
                                      timeout: configuration.nodeTimeout, logger: logger))
        }
        services.append(CallDrainer(registry: host.registry, grace: .milliseconds(Int(configuration.shutdownGrace * 1000)), logger: logger))
        return services
    }

    /// Runs until SIGTERM or SIGINT, then shuts down gracefully.
    public func run() async throws {
        var settings = ServiceGroupConfiguration(services: services(), gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        settings.maximumGracefulShutdownDuration = .seconds(configuration.shutdownGrace + 10)
        let group = ServiceGroup(configuration: settings)
        try await group.run()
    }

    // MARK: - Authorisation

    /// The identity behind a request, or an error: 401 without valid credentials, 403 without the role.
    func authorize(_ request: Request, _ roles: Set<Role>) throws -> Identity {
        guard let identity = access.identify(secret: presentedSecret(request)) else {
            Self.authFailures.increment()
            logger.warning("refused: wrong credentials", metadata: ["path": "\(request.uri.path)"])
            throw HTTPError(.unauthorized, headers: [.wwwAuthenticate: "Bearer realm=\"hotline\""], message: "the credentials are not valid")
        }
        guard roles.contains(where: identity.has) else {
            if !identity.authenticated {
                Self.authFailures.increment()
                throw HTTPError(.unauthorized, headers: [.wwwAuthenticate: "Bearer realm=\"hotline\""], message: "credentials are required")
            }
            logger.warning("refused: missing role", metadata: ["path": "\(request.uri.path)", "key": "\(identity.name)"])
            throw HTTPError(.forbidden, message: "key '\(identity.name)' lacks the role for this endpoint (needs \(roles.map(\.rawValue).sorted().joined(separator: " or ")))")
        }
        return identity
    }

    /// The credential a request carries in its headers, if any. A `token` query parameter counts only on WebSocket
    /// upgrades (`allowQuery`), for gateways that cannot set headers: elsewhere it would end up in proxies' logs.
    func presentedSecret(_ request: Request, allowQuery: Bool = false) -> String? {
        AccessControl.secret(authorization: request.headers[.authorization], apiKeyHeader: request.headers[Self.apiKeyField],
                             query: allowQuery ? request.uri.query : nil)
    }

    static let apiKeyField = HTTPField.Name("X-API-Key")!
    static let authFailures = Metrics.Counter(label: "hotline_auth_failures_total")

}

// MARK: - API types

struct HealthResponse: ResponseCodable {
    var status: String
}

struct CallList: ResponseCodable {
    var calls: [CallView]
}

/// Any `Encodable` as a JSON response body (the value itself at the top level).
struct JSONBody<Value: Encodable & Sendable>: ResponseEncodable {
    let value: Value

    init(_ value: Value) { self.value = value }

    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}

struct SynthesisRequest: Decodable {
    var text: String
    var voice: String?
    var sampleRate: Int?

    enum CodingKeys: String, CodingKey {
        case text, voice, sampleRate = "sample_rate"
    }
}

struct ChatRequest: Decodable {
    /// Omitted to start a new session.
    var session: String?
    var text: String?
    var caller: String?
}

struct ChatResponse: ResponseCodable {
    var session: String
    var reply: String
    var intent: String?
    var state: String
    var ended: Bool
    var handoff: Handoff?
}

/// An asynchronous transcription.
struct TranscriptionJob: ResponseCodable, Sendable {
    enum Status: String, Codable, Sendable { case queued, running, done, failed }
    var id: String
    var name: String
    var duration: Double
    var status: Status
    var transcript: Transcript?
    var error: String?
}

/// Transcription jobs, in memory (kept for a day after they finish).
final class TranscriptionJobs: Sendable {
    private let jobs = Mutex<[String: (job: TranscriptionJob, created: Date)]>([:])

    func create(name: String, duration: Double) -> TranscriptionJob {
        let job = TranscriptionJob(id: UUID().uuidString.lowercased(), name: name, duration: duration, status: .queued)
        jobs.withLock { jobs in
            let cutoff = Date().addingTimeInterval(-86_400)
            jobs = jobs.filter { $0.value.created > cutoff }
            jobs[job.id] = (job, Date())
        }
        return job
    }

    func update(_ id: String, _ change: (inout TranscriptionJob) -> Void) {
        jobs.withLock { jobs in
            if var entry = jobs[id] {
                change(&entry.job)
                jobs[id] = entry
            }
        }
    }

    subscript(id: String) -> TranscriptionJob? { jobs.withLock { $0[id]?.job } }
}

/// Chat sessions by id; idle ones expire after 30 minutes.
final class ChatSessions: Sendable {
    private let sessions = Mutex<[String: (responder: any TextResponding, used: Date)]>([:])

    func add(_ id: String, _ responder: any TextResponding) {
        sessions.withLock { sessions in
            let cutoff = Date().addingTimeInterval(-1_800)
            sessions = sessions.filter { $0.value.used > cutoff }
            sessions[id] = (responder, Date())
        }
    }

    subscript(id: String) -> (any TextResponding)? {
        sessions.withLock { sessions in
            guard let entry = sessions[id], entry.used > Date().addingTimeInterval(-1_800) else { return nil }
            sessions[id] = (entry.responder, Date())
            return entry.responder
        }
    }

    func remove(_ id: String) { _ = sessions.withLock { $0.removeValue(forKey: id) } }
}

// MARK: - Services

/// Shut down first on SIGTERM: stops new calls and lets live ones finish up to the grace period.
struct CallDrainer: Service, CustomStringConvertible {
    var description: String { "CallDrainer" }

    let registry: CallRegistry
    let grace: Duration
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        await registry.drain(grace: grace, logger: logger)
        logger.notice("shutting down: no live calls")
    }
}

/// Answers a request whose `Content-Length` is not a number (400) or more than the route takes (413) at once, from its
/// head, instead of waiting for a body that will never be read. Uploads may be `uploadLimit` bytes; everything else
/// (JSON, forms) 1 MB.
struct BodyLimit<Context: RequestContext>: RouterMiddleware {
    let uploadLimit: Int
    static var ordinaryLimit: Int { 1 << 20 }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let header = request.headers[.contentLength] {
            guard let length = Int(header.trimmingCharacters(in: .whitespaces)), length >= 0 else {
                throw HTTPError(.badRequest, headers: [.connection: "close"], message: "Content-Length '\(header.prefix(40))' is not a number of bytes")
            }
            let uploads = request.uri.path.hasPrefix("/v1/transcriptions") || request.uri.path.hasPrefix("/v1/qa/recordings")
            let limit = uploads ? uploadLimit : Self.ordinaryLimit
            guard length <= limit else {
                throw HTTPError(.contentTooLarge, headers: [.connection: "close"], message: "the body is \(length) bytes; this endpoint takes at most \(limit)")
            }
        }
        return try await next(request, context)
    }
}

/// Logs each HTTP request (method, path, status, time) without credentials or query strings.
struct RequestLogger<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            logger.debug("request", metadata: ["method": "\(request.method)", "path": "\(request.uri.path)", "status": "\(response.status.code)",
                                               "ms": "\(Int((ContinuousClock.now - start).seconds * 1000))"])
            return response
        } catch let error as HTTPError {
            logger.info("request refused", metadata: ["method": "\(request.method)", "path": "\(request.uri.path)", "status": "\(error.status.code)",
                                                      "error": "\(error.body ?? "")"])
            throw error
        }
    }
}
