public import Foundation
public import HotlineCore
public import Logging
import Metrics
import Synchronization

// MARK: - Host

/// Runs calls for the gateways: makes the session and the call's ledger, registers them, folds the session's events into
/// the ledger, hands the ledger's changes to the observers (store, live feed), measures the call and ends it cleanly
/// however the connection ends. One per server.
public final class CallHost: Sendable {
    /// Recognizers shared by all calls.
    public let pool: RecognizerPool
    /// Prompt synthesis shared by all calls.
    public let renderer: PromptRenderer?
    /// The bot.
    public let bot: any CallBot
    /// Live calls and recent outcomes.
    public let registry: CallRegistry
    /// Observers of every call.
    public let observers: [any CallObserver]
    /// The longest stretch of a call that is recorded (when an observer wants recordings).
    public let maximumRecordingSeconds: Double
    /// The QA rules every call is checked against as it happens.
    public let rules: QualityRules
    /// This node's name in call records.
    public let node: String
    /// When new calls are refused: past capacity.
    public let admission: Admission

    /// The limits past which new calls are refused so the calls already up keep real time.
    public struct Admission: Sendable, Equatable {
        /// The busy share of the decoding threads over the last seconds (0…1; 1 never refuses).
        public var maximumLoad: Double
        /// Seconds recognizer work may wait for a thread.
        public var maximumQueueWait: Double

        /// Makes limits; the defaults never refuse.
        public init(maximumLoad: Double = 1, maximumQueueWait: Double = .infinity) {
            self.maximumLoad = maximumLoad
            self.maximumQueueWait = maximumQueueWait
        }
    }

    /// Why a new call would be refused now, or `nil` when there is room.
    public var overload: String? {
        let statistics = pool.statistics
        if admission.maximumLoad < 1, statistics.busyFraction >= admission.maximumLoad {
            return String(format: "overloaded: the recognizers are %.0f%% busy (limit %.0f%%)", statistics.busyFraction * 100, admission.maximumLoad * 100)
        }
        if statistics.queueWait > admission.maximumQueueWait {
            return String(format: "overloaded: recognizer work has waited %.1f s for a thread (limit %.1f s)", statistics.queueWait, admission.maximumQueueWait)
        }
        return nil
    }

    private let totals = Mutex(Totals())

    struct Totals {
        var audioSeconds = 0.0
    }

    /// Makes a host.
    public init(pool: RecognizerPool, renderer: PromptRenderer?, bot: any CallBot, registry: CallRegistry = CallRegistry(),
                observers: [any CallObserver] = [], maximumRecordingSeconds: Double = 3600, rules: QualityRules = QualityRules(rules: []),
                node: String = ProcessInfo.processInfo.hostName, admission: Admission = Admission()) {
        self.admission = admission
        self.maximumRecordingSeconds = maximumRecordingSeconds
        self.pool = pool
        self.renderer = renderer
        self.bot = bot
        self.registry = registry
        self.observers = observers
        self.rules = rules
        self.node = node
    }

    /// Seconds of caller audio processed by all calls so far.
    public var audioSecondsProcessed: Double { totals.withLock { $0.audioSeconds } }

    /// A running call as a gateway handler sees it.
    public struct ActiveCall: Sendable {
        /// The session: feed it audio, DTMF and hang-ups.
        public let session: CallSession
        /// The call's events, for the gateway to turn into its protocol's messages.
        public let events: AsyncStream<CallEvent>
        /// A logger whose every line carries the call id.
        public let logger: Logger
        /// How the call began.
        public let start: CallStart
        let host: CallHost

        /// Records a problem with the call's input (it is logged, counted and kept in the call's record).
        public func reportError(_ message: String, kind: String) async {
            await host.reportError(start, message, kind: kind, logger: logger)
        }
    }

    /// Runs one call: `body` receives the running call and feeds it; when `body` returns or throws, the call is hung
    /// up (reason: `body`'s error or `reason`), the remaining events are drained, and the call's record is closed.
    /// Throws `CallRegistry.Refusal` when the call cannot be admitted.
    public func withCall(
        _ start: CallStart, format: CallAudioFormat, transcriptionOnly: Bool = false, keyLimit: Int? = nil, logger parent: Logger,
        _ body: (ActiveCall) async throws -> String
    ) async throws {
        var logger = parent
        logger[metadataKey: "call"] = "\(start.id)"
        logger[metadataKey: "gateway"] = "\(start.gateway.rawValue)"
        var configuration = transcriptionOnly ? CallConfiguration() : bot.configuration(for: start)
        if transcriptionOnly {
            configuration.noInputTimeout = nil
            // A transcription client is answered frame by frame (vosk waits for each frame to settle): no batching.
            configuration.decoderBatch = 0
        }
        let responder = transcriptionOnly ? nil : await bot.responder(for: start)
        let recorder = observers.contains(where: \.wantsRecording) ? CallRecorder(format: format, maximumSeconds: maximumRecordingSeconds) : nil
        let session = try CallSession(id: start.id, format: format, configuration: configuration, pool: pool,
                                      renderer: transcriptionOnly ? nil : renderer, responder: responder, callerAudio: recorder.map(CallRecorder.tap))
        let ledger = CallLedger(start, node: node, rules: rules, hasBot: responder != nil)
        do {
            if let overload { throw CallRegistry.Refusal.overloaded(overload) }
            try registry.admit(start, ledger: ledger, limit: keyLimit) { reason in session.hangUp(reason: reason) }
        } catch {
            logger.warning("call refused", metadata: ["reason": "\(error)"])
            Self.refused.increment()
            throw error
        }
        logger.info("call started", metadata: ["format": "\(format)", "caller": "\(start.callerNumber.map(Self.maskNumber) ?? "unknown")"])
        recordActiveCalls(start.gateway)
        await publish(start, ledger.begin(), logger: logger)
        let (forward, sink) = AsyncStream.makeStream(of: CallEvent.self)
        let call = ActiveCall(session: session, events: forward, logger: logger, start: start, host: self)
        var failure: String?
        async let running: Void = session.run()
        let pumpLogger = logger
        async let pumping: Void = {
            for await event in session.events {
                recorder?.record(event)
                await self.observe(event, call: start, logger: pumpLogger)
                sink.yield(event)
            }
            sink.finish()
        }()
        let reason: String
        do {
            reason = try await body(call)
        } catch {
            failure = "\(error)"
            reason = "\(error)"
            await reportError(start, "\(error)", kind: "protocol", logger: logger)
        }
        session.hangUp(reason: reason)
        _ = await (running, pumping)
        guard let (changes, view, record) = registry.finish(start, failure: failure) else { return }
        recordActiveCalls(start.gateway)
        Counter(label: "hotline_calls_total", dimensions: [("gateway", start.gateway.rawValue), ("outcome", record.status.rawValue)]).increment()
        logger.info("call ended", metadata: [
            "outcome": "\(record.status.rawValue)", "why": "\(record.outcomeReason ?? "")", "reason": "\(record.endReason ?? "")",
            "seconds": "\(String(format: "%.1f", record.duration))", "utterances": "\(view.transcript.count { $0.speaker == "caller" })",
            "score": "\(record.score.map { String(Int($0)) } ?? "-")",
        ])
        await publish(start, changes, logger: logger)
        if let recorder { for observer in observers where observer.wantsRecording { await observer.callRecorded(start, recorder: recorder) } }
        if !transcriptionOnly { await bot.callEnded(start, record: record, responder: responder) }
    }

    private func recordActiveCalls(_ gateway: Gateway) {
        Gauge(label: "hotline_active_calls", dimensions: [("gateway", gateway.rawValue)]).record(registry.liveCount(gateway))
    }

    /// Measures an event, folds it into the call's ledger and passes what changed on.
    private func observe(_ event: CallEvent, call: CallStart, logger: Logger) async {
        switch event {
        case .final(let result):
            Self.finalLatency.recordSeconds(result.latency)
            logger.debug("final", metadata: ["latency_ms": "\(Int(result.latency * 1000))", "words": "\(result.utterance.words.count)"])
        case .playbackStarted(_, _, _, let latency):
            if let latency { Self.replyLatency.recordSeconds(latency) }
        case .handoff(let handoff, _):
            logger.info("handoff", metadata: ["queue": "\(handoff.queue)", "reason": "\(handoff.reason)"])
        case .overloaded(_, let dropped):
            Self.errors(kind: "overload").increment()
            logger.warning("overloaded", metadata: ["dropped_seconds": "\(dropped)"])
        case .error(let error):
            Self.errors(kind: Self.kind(of: error)).increment()
            logger.error("call error", metadata: ["kind": "\(Self.kind(of: error))", "error": "\(CallLedger.redact("\(error)"))"])
        case .ended(let at, _, _):
            totals.withLock { $0.audioSeconds += at }
        case .playbackAudio, .partial, .marker:
            return
        default:
            break
        }
        await publish(call, registry.apply(call.id, event), logger: logger)
    }

    /// Counts findings and alerts, logs alerts, and hands the changes to every observer.
    private func publish(_ call: CallStart, _ changes: [CallLedger.Change], logger: Logger) async {
        guard !changes.isEmpty else { return }
        for change in changes {
            guard case .finding(let finding, let alert) = change else { continue }
            Counter(label: "hotline_qa_findings_total", dimensions: [("rule", finding.rule)]).increment()
            if alert {
                Counter(label: "hotline_qa_alerts_total", dimensions: [("rule", finding.rule)]).increment()
                logger.warning("QA alert", metadata: ["rule": "\(finding.rule)", "message": "\(finding.message)"])
            }
        }
        for observer in observers { await observer.call(call, changed: changes) }
    }

    func reportError(_ call: CallStart, _ message: String, kind: String, logger: Logger) async {
        Self.errors(kind: kind).increment()
        logger.error("call error", metadata: ["kind": "\(kind)", "error": "\(CallLedger.redact(message))"])
        await publish(call, registry.noteError(call.id, message), logger: logger)
    }

    private static func kind(of error: CallError) -> String {
        switch error {
        case .unsupportedFormat: "format"
        case .malformedFrame: "malformed_frame"
        case .callEnded: "call_ended"
        case .recognition: "recognition"
        case .synthesis: "synthesis"
        }
    }

    /// "+4412…89": enough of a number to tell calls apart in logs, not enough to identify the caller.
    static func maskNumber(_ number: String) -> String {
        guard number.count > 6 else { return "…" }
        return String(number.prefix(5)) + "…" + String(number.suffix(2))
    }

    static let finalLatency = Metrics.Timer(label: "hotline_final_latency_seconds")
    static let replyLatency = Metrics.Timer(label: "hotline_reply_latency_seconds")
    static let refused = Counter(label: "hotline_calls_refused_total")
    static func errors(kind: String) -> Counter { Counter(label: "hotline_errors_total", dimensions: [("kind", kind)]) }
}

extension Metrics.Timer {
    func recordSeconds(_ seconds: Double) { recordNanoseconds(Int64(max(0, seconds) * 1e9)) }
}
