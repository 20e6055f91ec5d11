import Crypto
import Foundation
import HotlineCore
import HTTPTypes
import Hummingbird
import Synchronization

// MARK: - Recorded calls pushed by a PBX

/// Where a recording pushed to `POST /v1/qa/recordings` is: being transcribed, stored as a call, or failed.
struct RecordingImport: ResponseCodable, Sendable {
    enum Status: String, Codable, Sendable { case running, done, failed }
    /// The call it is (or will be) stored as: `rec-` and its content's digest.
    var callId: String
    var name: String
    var status: Status
    /// The recording was stored before (the same content): nothing was done again.
    var already: Bool = false
    var agent: String?
    var score: Int?
    /// The rules that found something, in call-time order.
    var findings: [String] = []
    var error: String?
}

/// Recordings being imported and imported lately, in memory (kept for a day; the calls themselves are in the store).
final class RecordingImports: Sendable {
    private let imports = Mutex<[String: (entry: RecordingImport, updated: Date)]>([:])

    func set(_ entry: RecordingImport) {
        imports.withLock { imports in
            let cutoff = Date().addingTimeInterval(-86_400)
            imports = imports.filter { $0.value.updated > cutoff }
            imports[entry.callId] = (entry, Date())
        }
    }

    subscript(id: String) -> RecordingImport? { imports.withLock { $0[id]?.entry } }
}

extension HotlineServer {
    /// `POST /v1/qa/recordings` (role gateway or admin): a PBX pushes a call's recording when it ends, with what it
    /// knows as query parameters (`name`, `agent`, `queue`, `caller`, `started_at`). The recording is transcribed per
    /// channel (left caller, right agent), checked by the agent rules and stored as a call. A short one is answered when
    /// stored (201); a long one (over `transcription.synchronous_seconds`) is accepted (202) and followed at
    /// `GET /v1/qa/recordings/{call id}`. The same recording pushed again is found by its content (200, `already`).
    func addRecordingRoutes(to api: RouterGroup<HotlineRequestContext>, _ qa: QualityServices) {
        api.post("qa/recordings") { request, context -> Response in
            _ = try authorize(request, [.gateway])
            return try await importRecording(request, context: context, qa)
        }
        api.get("qa/recordings/:id") { request, context -> RecordingImport in
            _ = try authorize(request, [.gateway, .qa])
            let id = try context.parameters.require("id")
            if let entry = qa.imports[id] { return entry }
            // Imported before this node's memory (or by another node): the stored call says how it went.
            guard let detail = try await qa.store.detail(of: id), detail.call.gateway == .recording else {
                throw HTTPError(.notFound, message: "no recording import \(id)")
            }
            return RecordingImport(callId: id, name: "", status: .done, already: true, agent: detail.call.agent,
                                   score: detail.call.score.map { Int($0.rounded()) }, findings: detail.findings.map(\.rule))
        }
    }

    func importRecording(_ request: Request, context: HotlineRequestContext, _ qa: QualityServices) async throws -> Response {
        guard let speech else { throw HTTPError(.serviceUnavailable, message: "transcription is not available") }
        guard let rules = qa.agentRules else { throw HTTPError(.serviceUnavailable, message: "no agent rules are loaded (qa.agent_rules)") }
        let parameters = request.uri.queryParameters
        func text(_ key: String) -> String? { parameters.get(key).flatMap { $0.isEmpty ? nil : String($0.prefix(200)) } }
        let name = text("name") ?? "recording"
        var metadata = RecordingMetadata(agent: text("agent"), queue: text("queue"), callerNumber: text("caller"))
        if let started = text("started_at") {
            guard let date = CallQuery.date(started) else { throw HTTPError(.badRequest, message: "started_at must be a date such as 2026-11-25T10:00:00Z") }
            metadata.startedAt = date
        }
        let body = try await request.body.collect(upTo: configuration.maxUploadBytes)
        guard body.readableBytes > 0 else { throw HTTPError(.badRequest, message: "the request body must be the call's recording") }
        let data = Data(body.readableBytesView)
        let id = RecordedCall.id(sha256: SHA256.hash(data: data))
        if let stored = try await qa.store.detail(of: id) {
            let entry = RecordingImport(callId: id, name: name, status: .done, already: true, agent: stored.call.agent,
                                        score: stored.call.score.map { Int($0.rounded()) }, findings: stored.findings.map(\.rule))
            return try entry.response(from: request, context: context)
        }
        let (path, duration) = try Self.keepUpload(data, name: name, speech: speech)
        if metadata.startedAt == nil { metadata.startedAt = Date().addingTimeInterval(-duration) }
        let details = metadata
        let node = qa.feed.node
        let logger = self.logger
        /// Transcribes, checks and stores the recording; the entry it ends with.
        let run: @Sendable () async -> RecordingImport = {
            defer { try? FileManager.default.removeItem(atPath: path) }
            var entry = RecordingImport(callId: id, name: name, status: .running, agent: details.agent)
            qa.imports.set(entry)
            do {
                let transcript = try await speech.transcribe(file: path, name: name)
                let call = RecordedCall(id: id, transcript: transcript, metadata: details, rules: rules, node: node)
                try await call.save(to: qa.store, recording: Recording(callId: id, mediaType: Recording.mediaType(forFileName: name), data: data))
                entry.status = .done
                entry.score = call.record.score.map { Int($0.rounded()) }
                entry.findings = call.findings.map(\.rule)
            } catch {
                logger.error("recording import failed", metadata: ["call": "\(id)", "name": "\(name)", "error": "\(error)"])
                entry.status = .failed
                entry.error = "\(name): \(error)"
            }
            qa.imports.set(entry)
            return entry
        }
        if duration <= configuration.synchronousTranscriptionSeconds {
            let entry = await run()
            guard entry.status == .done else { throw HTTPError(.unprocessableContent, message: entry.error ?? "\(name): not imported") }
            var response = try entry.response(from: request, context: context)
            response.status = .created
            response.headers[.location] = "/v1/qa/calls/\(id)"
            return response
        }
        let accepted = RecordingImport(callId: id, name: name, status: .running, agent: metadata.agent)
        qa.imports.set(accepted)
        Task { _ = await run() }
        var response = try accepted.response(from: request, context: context)
        response.status = .accepted
        response.headers[.location] = "/v1/qa/recordings/\(id)"
        return response
    }
}
