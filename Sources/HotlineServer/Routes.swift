import Foundation
import HotlineCore
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle
import Synchronization

// MARK: - Routes, transcription and chat

extension HotlineServer {
    // MARK: - Routes

    /// The node's readiness as JSON: `status` (ready, draining, or store-unavailable when `requireStore`), `calls`,
    /// `store` (available, unavailable or none), and while it is down how long and why, and the writes queued.
    func readiness(requireStore: Bool) -> Response {
        struct Readiness: Encodable {
            var status, calls, store: String
            var storeUnavailableSeconds: Double?
            var storeError: String?
            var queuedWrites: Int?
            var oldestQueuedSeconds: Double?
        }
        let draining = host.registry.isDraining
        let health = quality?.health.status
        var body = Readiness(status: "ready", calls: draining ? "draining" : "ready",
                             store: health.map { $0.available ? "available" : "unavailable" } ?? "none")
        if let quality, let health {
            body.queuedWrites = quality.writer.pending
            body.oldestQueuedSeconds = (quality.writer.oldestQueued.seconds * 10).rounded() / 10
            if !health.available {
                body.storeUnavailableSeconds = (health.unavailableSeconds * 10).rounded() / 10
                body.storeError = health.error
            }
        }
        if draining {
            body.status = "draining"
        } else if requireStore, health?.available == false {
            body.status = "store-unavailable"
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = (try? encoder.encode(body)) ?? Data(#"{"status":"ready"}"#.utf8)
        return Response(status: body.status == "ready" ? .ok : .serviceUnavailable, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: json)))
    }

    func makeRouter() -> Router<HotlineRequestContext> {
        let router = Router(context: HotlineRequestContext.self)
        router.add(middleware: RequestLogger(logger: logger))
        router.add(middleware: BodyLimit(uploadLimit: configuration.maxUploadBytes))
        router.add(middleware: StoreOutageResponder())
        router.get("health") { _, _ in HealthResponse(status: "ok") }
        // Readiness: `/ready` (and `/ready/calls`) for the voice gateways' balancer: 503 only while draining, as calls never
        // need the store; the body tells the store's state too. `/ready/qa` for the QA pages' balancer: 503 while
        // draining or while the store is unavailable.
        router.get("ready") { _, _ in readiness(requireStore: false) }
        router.get("ready/calls") { _, _ in readiness(requireStore: false) }
        router.get("ready/qa") { _, _ in readiness(requireStore: true) }
        router.get("openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        }
        router.get("metrics") { request, _ -> Response in
            if !configuration.metricsPublic { _ = try authorize(request, [.admin]) }
            updatePoolGauges()
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                            body: .init(byteBuffer: ByteBuffer(bytes: metrics.emitToBuffer())))
        }
        let api = router.group("v1")
        api.get("calls") { request, _ -> CallList in
            _ = try authorize(request, [.qa])
            return CallList(calls: host.registry.liveCalls)
        }
        api.get("calls/:id") { request, context -> JSONBody<CallView> in
            _ = try authorize(request, [.qa, .gateway])
            let id = try context.parameters.require("id")
            guard let view = host.registry.view(of: id) else { throw HTTPError(.notFound, message: "no call with id \(id)") }
            return JSONBody(view)
        }
        api.post("transcriptions") { request, context -> Response in
            _ = try authorize(request, [.gateway])
            return try await transcribe(request, context: context)
        }
        api.get("transcriptions/:id") { request, context -> TranscriptionJob in
            _ = try authorize(request, [.gateway])
            let id = try context.parameters.require("id")
            guard let job = jobs[id] else { throw HTTPError(.notFound, message: "no transcription job \(id)") }
            return job
        }
        api.post("synthesize") { request, context -> Response in
            _ = try authorize(request, [.gateway])
            let body = try await request.decode(as: SynthesisRequest.self, context: context)
            guard let speech else { throw HTTPError(.serviceUnavailable, message: "synthesis is not available") }
            let text = body.text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty, text.count <= 5_000 else { throw HTTPError(.badRequest, message: "text must be 1 to 5000 characters") }
            let rate = body.sampleRate ?? 8_000
            guard [8_000, 16_000, 22_050].contains(rate) else { throw HTTPError(.badRequest, message: "sample_rate must be 8000, 16000 or 22050") }
            if let voice = body.voice {
                let known = await speech.voices()
                let base = voice.split(separator: "+").first.map(String.init) ?? voice
                if !known.isEmpty, !known.contains(where: { $0.caseInsensitiveCompare(base) == .orderedSame }) {
                    throw HTTPError(.badRequest, message: "unknown voice '\(voice)'; voices: \(known.prefix(40).joined(separator: ", "))"
                                    + (known.count > 40 ? ", … (hotline say --list-voices lists all \(known.count))" : ""))
                }
            }
            let wav: [UInt8]
            do {
                wav = try await speech.synthesize(text, voice: body.voice, sampleRate: rate)
            } catch {
                logger.error("synthesis failed", metadata: ["error": "\(error)"])
                throw HTTPError(.internalServerError, message: "synthesis failed: \(error)")
            }
            return Response(status: .ok, headers: [.contentType: "audio/wav"], body: .init(byteBuffer: ByteBuffer(bytes: wav)))
        }
        if let quality {
            addQualityRoutes(to: api, quality)
            addRecordingRoutes(to: api, quality)
            addQualityPages(to: router, quality)
        }
        api.post("chat") { request, context -> ChatResponse in
            let identity = try authorize(request, [.gateway])
            let body = try await request.decode(as: ChatRequest.self, context: context)
            return try await chat(body, identity: identity)
        }
        return router
    }

    func makeWebSocketRouter() -> Router<HotlineRequestContext> {
        let router = Router(context: HotlineRequestContext.self)
        TwilioGateway(server: self).register(on: router)
        ForkGateway(server: self).register(on: router)
        VoskGateway(server: self).register(on: router)
        return router
    }

    func gauge(_ name: String, _ help: String) -> Prometheus.Gauge {
        metrics.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help))
    }

    func updatePoolGauges() {
        let statistics = host.pool.statistics
        gauge("hotline_recognizers", "Recognizers in the pool").set(Double(statistics.size))
        gauge("hotline_recognizers_busy", "Recognizers lent to calls now").set(Double(statistics.busy))
        gauge("hotline_recognizer_waiters", "Utterances waiting for a recognizer now").set(Double(statistics.waiting))
        gauge("hotline_recognizer_loans", "Recognizer loans since start").set(Double(statistics.loans))
        gauge("hotline_recognizer_waits", "Loans that had to wait since start").set(Double(statistics.waits))
        gauge("hotline_decoding_threads", "Threads running the recognizers").set(Double(statistics.workers))
        gauge("hotline_recognizer_busy_fraction", "Share of the decoding threads' time busy over the last seconds (headroom: 1 minus this)")
            .set(statistics.busyFraction)
        gauge("hotline_recognizer_queue_wait_seconds", "How long the oldest queued recognizer work has waited for a thread")
            .set(statistics.queueWait)
        gauge("hotline_overloaded", "1 while new calls are refused for want of capacity").set(Double(host.overload == nil ? 0 : 1))
        gauge("hotline_live_calls", "Calls connected now").set(Double(host.registry.liveCount))
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        let audio = host.audioSecondsProcessed
        gauge("hotline_real_time_factor", "Process CPU seconds per second of call audio, over finished calls")
            .set(audio > 0 ? cpu / audio : 0)
        gauge("hotline_resident_memory_bytes", "Peak resident memory").set(Double(usage.ru_maxrss) * 1024)
    }

    // MARK: - Transcription

    func transcribe(_ request: Request, context: HotlineRequestContext) async throws -> Response {
        guard let speech else { throw HTTPError(.serviceUnavailable, message: "transcription is not available") }
        let body = try await request.body.collect(upTo: configuration.maxUploadBytes)
        guard body.readableBytes > 0 else { throw HTTPError(.badRequest, message: "the request body must be an audio file") }
        let name = request.uri.queryParameters.get("name") ?? "upload"
        let (path, duration) = try Self.keepUpload(Data(body.readableBytesView), name: name, speech: speech)
        if duration <= configuration.synchronousTranscriptionSeconds {
            defer { try? FileManager.default.removeItem(atPath: path) }
            do {
                let transcript = try await speech.transcribe(file: path, name: name)
                return try JSONBody(transcript).response(from: request, context: context)
            } catch {
                throw HTTPError(.unprocessableContent, message: "\(name): \(error)")
            }
        }
        let job = jobs.create(name: name, duration: duration)
        let logger = self.logger
        Task {
            defer { try? FileManager.default.removeItem(atPath: path) }
            jobs.update(job.id) { $0.status = .running }
            do {
                let transcript = try await speech.transcribe(file: path, name: name)
                jobs.update(job.id) {
                    $0.status = .done
                    $0.transcript = transcript
                }
            } catch {
                logger.error("transcription job failed", metadata: ["job": "\(job.id)", "error": "\(error)"])
                jobs.update(job.id) {
                    $0.status = .failed
                    $0.error = "\(name): \(error)"
                }
            }
        }
        var response = try job.response(from: request, context: context)
        response.status = .accepted
        response.headers[.location] = "/v1/transcriptions/\(job.id)"
        return response
    }

    /// Writes an uploaded audio file where the engines can read it (named with `name`'s extension, which may name its
    /// format) and measures it: its path and duration. Audio that cannot be read is a 422 naming the upload.
    static func keepUpload(_ data: Data, name: String, speech: any SpeechServices) throws -> (path: String, duration: Double) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hotline-uploads", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let suffix = (name as NSString).pathExtension.isEmpty ? "" : "." + (name as NSString).pathExtension
        let path = directory.appendingPathComponent(UUID().uuidString + suffix).path
        try data.write(to: URL(fileURLWithPath: path))
        do {
            return (path, try speech.duration(ofFile: path))
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw HTTPError(.unprocessableContent, message: "\(name): \(error)")
        }
    }

    // MARK: - Chat

    func chat(_ body: ChatRequest, identity: Identity) async throws -> ChatResponse {
        if let id = body.session {
            guard let responder = chats[id] else { throw HTTPError(.notFound, message: "no chat session \(id) (sessions expire after 30 minutes idle)") }
            let reply = await responder.respond(toText: body.text ?? "")
            if reply.hangUp || reply.handoff != nil { chats.remove(id) }
            return ChatResponse(session: id, reply: reply.text, intent: responder.intent, state: responder.state, ended: reply.hangUp || reply.handoff != nil,
                                handoff: reply.handoff)
        }
        let id = UUID().uuidString.lowercased()
        let start = CallStart(id: id, gateway: .chat, callerNumber: body.caller, keyName: identity.name)
        guard let responder = await host.bot.responder(for: start) as? any TextResponding else {
            throw HTTPError(.serviceUnavailable, message: "the bot has no dialog flow to chat with")
        }
        chats.add(id, responder)
        var reply = await responder.opening() ?? Reply(text: "")
        if let text = body.text, !text.isEmpty { reply = await responder.respond(toText: text) }
        return ChatResponse(session: id, reply: reply.text, intent: responder.intent, state: responder.state, ended: reply.hangUp || reply.handoff != nil,
                            handoff: reply.handoff)
    }
}
