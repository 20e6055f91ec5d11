public import Foundation
public import HotlineCore
public import Logging
import Metrics
import Synchronization

// MARK: - What the server knows about a call

/// The gateway protocol a call arrived by.
public enum Gateway: String, Sendable, Codable, CaseIterable {
    case audioSocket = "audiosocket"
    case twilio
    case audioFork = "audio-fork"
    case jambonz
    case vosk
    case chat
}

/// How a call began: who, from where, with what parameters.
public struct CallStart: Sendable, Equatable {
    /// The call's id (AudioSocket UUID, Twilio call SID, or one made up by the server).
    public var id: String
    /// The gateway protocol.
    public var gateway: Gateway
    /// The caller's number, when the gateway passes it (caller memory uses it).
    public var callerNumber: String?
    /// The caller's language, when the gateway passes it.
    public var language: String?
    /// Other parameters from the gateway (Twilio custom parameters, fork metadata).
    public var parameters: [String: String]
    /// The name of the API key the gateway used (never the key).
    public var keyName: String?

    /// Makes a call start.
    public init(id: String, gateway: Gateway, callerNumber: String? = nil, language: String? = nil, parameters: [String: String] = [:],
                keyName: String? = nil) {
        self.id = id
        self.gateway = gateway
        self.callerNumber = callerNumber
        self.language = language
        self.parameters = parameters
        self.keyName = keyName
    }
}

/// One line of a call's transcript as the server reports it.
public struct CallLine: Sendable, Equatable, Codable {
    /// "caller" or "bot".
    public var speaker: String
    /// What was said (for the caller: what was recognised).
    public var text: String
    /// Call time, seconds.
    public var at: Double
    /// Recognition confidence (caller lines).
    public var confidence: Double?
}

/// A call's state and, once it is over, its outcome: what a dialplan asks by call id after the socket closes.
public struct CallOutcome: Sendable, Equatable, Codable {
    /// Where the call is.
    public enum Status: String, Sendable, Codable {
        /// Still connected.
        case live
        /// The bot finished the call (or the caller hung up) without a handoff.
        case completed
        /// The bot handed the caller to a person: route the call to `handoff.queue`.
        case handedOff = "handed-off"
        /// The call was closed because of an error (named in `error`).
        case failed
    }

    /// The call id.
    public var id: String
    /// The gateway protocol.
    public var gateway: Gateway
    /// Where the call is.
    public var status: Status
    /// The caller's number, if known.
    public var callerNumber: String?
    /// Wall-clock start.
    public var startedAt: Date
    /// Wall-clock end, once over.
    public var endedAt: Date?
    /// Why the call ended ("caller hung up", "handed to cards", …).
    public var endReason: String?
    /// Seconds of call audio received.
    public var duration: Double
    /// The handoff: queue, reason, intent, slots, transcript summary.
    public var handoff: Handoff?
    /// What went wrong, when `status` is failed or a recoverable error happened.
    public var errors: [String]
    /// The conversation so far.
    public var transcript: [CallLine]

    /// Makes an outcome.
    public init(id: String, gateway: Gateway, status: Status, callerNumber: String? = nil, startedAt: Date, endedAt: Date? = nil, endReason: String? = nil,
                duration: Double, handoff: Handoff? = nil, errors: [String], transcript: [CallLine]) {
        self.id = id
        self.gateway = gateway
        self.status = status
        self.callerNumber = callerNumber
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.endReason = endReason
        self.duration = duration
        self.handoff = handoff
        self.errors = errors
        self.transcript = transcript
    }
}

// MARK: - The bot behind the gateways

/// What answers calls: the CLI wires the flow's dialog, caller memory and engines in; tests use fakes.
public protocol CallBot: Sendable {
    /// The call configuration (initial search, voice, decoding) for a call.
    func configuration(for call: CallStart) -> CallConfiguration
    /// The responder for a bot call (`nil` when the bot stays silent).
    func responder(for call: CallStart) async -> (any CallResponder)?
    /// Called once per bot call when it is over (caller memory).
    func callEnded(_ call: CallStart, outcome: CallOutcome, responder: (any CallResponder)?) async
}

extension CallBot {
    /// Nothing to remember by default.
    public func callEnded(_ call: CallStart, outcome: CallOutcome, responder: (any CallResponder)?) async {}
}

/// Watches every call's events as they happen (the transcript store and the live QA feed are observers).
public protocol CallObserver: Sendable {
    /// A call began.
    func callStarted(_ call: CallStart) async
    /// Something happened on the call (playback audio is not passed on).
    func call(_ call: CallStart, event: CallEvent) async
    /// The call is over; `outcome` is final.
    func callEnded(_ call: CallStart, outcome: CallOutcome) async
    /// Whether this observer wants the call's audio (both sides, recorded by the host).
    var wantsRecording: Bool { get }
    /// The call's audio, after `callEnded` (only when `wantsRecording`).
    func callRecorded(_ call: CallStart, recorder: CallRecorder) async
}

extension CallObserver {
    /// No audio by default.
    public var wantsRecording: Bool { false }
    /// Nothing to do with audio by default.
    public func callRecorded(_ call: CallStart, recorder: CallRecorder) async {}
}

// MARK: - Registry

/// Live calls and the outcomes of recent ones, in memory. Thread-safe.
public final class CallRegistry: Sendable {
    private struct State {
        var live: [String: CallOutcome] = [:]
        var finished: [String: CallOutcome] = [:]
        var finishedOrder: [String] = []
        var callsByKey: [String: Int] = [:]
        var hangUps: [String: @Sendable (String) -> Void] = [:]
        var draining = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    /// How many finished outcomes are kept for lookups.
    public let retainedOutcomes: Int

    /// Makes a registry keeping the last `retainedOutcomes` finished calls.
    public init(retainedOutcomes: Int = 10_000) { self.retainedOutcomes = retainedOutcomes }

    /// Why a call was refused.
    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case draining
        case limit(key: String, limit: Int)
        case duplicate(String)

        public var description: String {
            switch self {
            case .draining: "the server is shutting down and takes no new calls"
            case .limit(let key, let limit): "API key '\(key)' already has \(limit) concurrent call(s), its limit"
            case .duplicate(let id): "a call with id \(id) is already live"
            }
        }
    }

    /// Registers a new call; `limit` is the key's concurrent-call limit. `hangUp` ends the call (shutdown).
    func admit(_ call: CallStart, limit: Int?, hangUp: @escaping @Sendable (String) -> Void) throws(Refusal) {
        try state.withLock { (state) throws(Refusal) in
            if state.draining { throw .draining }
            if state.live[call.id] != nil { throw .duplicate(call.id) }
            if let key = call.keyName, let limit, state.callsByKey[key, default: 0] >= limit { throw .limit(key: key, limit: limit) }
            if let key = call.keyName { state.callsByKey[key, default: 0] += 1 }
            state.live[call.id] = CallOutcome(id: call.id, gateway: call.gateway, status: .live, callerNumber: call.callerNumber, startedAt: Date(),
                                              duration: 0, errors: [], transcript: [])
            state.hangUps[call.id] = hangUp
        }
    }

    /// Updates a live call.
    func update(_ id: String, _ change: (inout CallOutcome) -> Void) {
        state.withLock { state in
            if var outcome = state.live[id] {
                change(&outcome)
                state.live[id] = outcome
            }
        }
    }

    /// Moves a call from live to finished and returns its outcome.
    @discardableResult
    func finish(_ call: CallStart, _ change: (inout CallOutcome) -> Void) -> CallOutcome? {
        let (outcome, waiters) = state.withLock { state -> (CallOutcome?, [CheckedContinuation<Void, Never>]) in
            guard var outcome = state.live.removeValue(forKey: call.id) else { return (nil, []) }
            state.hangUps[call.id] = nil
            if let key = call.keyName { state.callsByKey[key, default: 1] -= 1 }
            change(&outcome)
            outcome.endedAt = Date()
            state.finished[call.id] = outcome
            state.finishedOrder.append(call.id)
            if state.finishedOrder.count > retainedOutcomes {
                let drop = state.finishedOrder.count - retainedOutcomes
                for id in state.finishedOrder.prefix(drop) { state.finished[id] = nil }
                state.finishedOrder.removeFirst(drop)
            }
            var waiters: [CheckedContinuation<Void, Never>] = []
            if state.live.isEmpty { swap(&waiters, &state.idleWaiters) }
            return (outcome, waiters)
        }
        waiters.forEach { $0.resume() }
        return outcome
    }

    /// The live calls, oldest first.
    public var liveCalls: [CallOutcome] { state.withLock { Array($0.live.values) }.sorted { $0.startedAt < $1.startedAt } }

    /// A call's state or outcome by id.
    public func outcome(of id: String) -> CallOutcome? { state.withLock { $0.live[id] ?? $0.finished[id] } }

    /// Whether new calls are refused (shutting down).
    public var isDraining: Bool { state.withLock { $0.draining } }

    /// Stops taking calls, waits up to `grace` for live calls to end, then hangs up the rest and waits for them to close.
    public func drain(grace: Duration, logger: Logger) async {
        let count = state.withLock { state -> Int in
            state.draining = true
            return state.live.count
        }
        guard count > 0 else { return }
        logger.info("shutting down: waiting for live calls to finish", metadata: ["calls": "\(count)", "grace": "\(grace)"])
        // Polled: a waiter for "idle" cannot be cancelled, so it must not race a timer in a task group.
        let deadline = ContinuousClock.now + grace
        while !state.withLock({ $0.live.isEmpty }), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        if !state.withLock({ $0.live.isEmpty }) {
            let hangUps = state.withLock { Array($0.hangUps.values) }
            logger.warning("shutting down: hanging up calls still live after the grace period", metadata: ["calls": "\(hangUps.count)"])
            hangUps.forEach { $0("server shutting down") }
            await waitUntilIdle()
        }
    }

    /// Returns when no call is live (also when cancelled).
    func waitUntilIdle() async {
        await withCheckedContinuation { continuation in
            let idle = state.withLock { state -> Bool in
                if state.live.isEmpty { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }
}

// MARK: - Host

/// Runs calls for the gateways: makes the session, registers it, records its events, measures it and ends it
/// cleanly however the connection ends. One per server.
public final class CallHost: Sendable {
    /// Recognizers shared by all calls.
    public let pool: RecognizerPool
    /// Prompt synthesis shared by all calls.
    public let renderer: PromptRenderer?
    /// The bot.
    public let bot: any CallBot
    /// Live calls and outcomes.
    public let registry: CallRegistry
    /// Observers of every call.
    public let observers: [any CallObserver]
    /// The longest stretch of a call that is recorded (when an observer wants recordings).
    public let maximumRecordingSeconds: Double

    private let totals = Mutex(Totals())

    struct Totals {
        var audioSeconds = 0.0
    }

    /// Makes a host.
    public init(pool: RecognizerPool, renderer: PromptRenderer?, bot: any CallBot, registry: CallRegistry = CallRegistry(),
                observers: [any CallObserver] = [], maximumRecordingSeconds: Double = 3600) {
        self.maximumRecordingSeconds = maximumRecordingSeconds
        self.pool = pool
        self.renderer = renderer
        self.bot = bot
        self.registry = registry
        self.observers = observers
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

        /// Records a problem with the call's input (it is logged, counted and kept in the outcome).
        public func reportError(_ message: String, kind: String) {
            host.reportError(start, message, kind: kind, logger: logger)
        }
    }

    /// Runs one call: `body` receives the running call and feeds it; when `body` returns or throws, the call is hung
    /// up (reason: `body`'s error or `reason`), the remaining events are drained, and the outcome is recorded.
    /// Throws `CallRegistry.Refusal` when the call cannot be admitted.
    public func withCall(
        _ start: CallStart, format: CallAudioFormat, transcriptionOnly: Bool = false, keyLimit: Int? = nil, logger parent: Logger,
        _ body: (ActiveCall) async throws -> String
    ) async throws {
        var logger = parent
        logger[metadataKey: "call"] = "\(start.id)"
        logger[metadataKey: "gateway"] = "\(start.gateway.rawValue)"
        var configuration = transcriptionOnly ? CallConfiguration() : bot.configuration(for: start)
        if transcriptionOnly { configuration.noInputTimeout = nil }
        let responder = transcriptionOnly ? nil : await bot.responder(for: start)
        let recorder = observers.contains(where: \.wantsRecording) ? CallRecorder(format: format, maximumSeconds: maximumRecordingSeconds) : nil
        let session = try CallSession(id: start.id, format: format, configuration: configuration, pool: pool,
                                      renderer: transcriptionOnly ? nil : renderer, responder: responder, callerAudio: recorder.map(CallRecorder.tap))
        do {
            try registry.admit(start, limit: keyLimit) { reason in session.hangUp(reason: reason) }
        } catch {
            logger.warning("call refused", metadata: ["reason": "\(error)"])
            Self.refused.increment()
            throw error
        }
        logger.info("call started", metadata: ["format": "\(format)", "caller": "\(start.callerNumber.map(Self.maskNumber) ?? "unknown")"])
        recordActiveCalls(start.gateway)
        for observer in observers { await observer.callStarted(start) }
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
            reportError(start, "\(error)", kind: "protocol", logger: logger)
        }
        session.hangUp(reason: reason)
        _ = await (running, pumping)
        let outcome = registry.finish(start) { outcome in
            if let failure, outcome.status == .live { outcome.status = .failed; outcome.endReason = failure }
            if outcome.status == .live { outcome.status = outcome.handoff == nil ? .completed : .handedOff }
        }
        guard let outcome else { return }
        recordActiveCalls(start.gateway)
        Counter(label: "hotline_calls_total", dimensions: [("gateway", start.gateway.rawValue), ("outcome", outcome.status.rawValue)]).increment()
        logger.info("call ended", metadata: [
            "outcome": "\(outcome.status.rawValue)", "reason": "\(outcome.endReason ?? "")", "seconds": "\(String(format: "%.1f", outcome.duration))",
            "utterances": "\(outcome.transcript.count { $0.speaker == "caller" })",
        ])
        for observer in observers { await observer.callEnded(start, outcome: outcome) }
        if let recorder { for observer in observers where observer.wantsRecording { await observer.callRecorded(start, recorder: recorder) } }
        if !transcriptionOnly { await bot.callEnded(start, outcome: outcome, responder: responder) }
    }

    private func recordActiveCalls(_ gateway: Gateway) {
        Gauge(label: "hotline_active_calls", dimensions: [("gateway", gateway.rawValue)]).record(registry.liveCalls.count { $0.gateway == gateway })
    }

    private func observe(_ event: CallEvent, call: CallStart, logger: Logger) async {
        switch event {
        case .final(let result):
            Self.finalLatency.recordSeconds(result.latency)
            registry.update(call.id) {
                $0.transcript.append(CallLine(speaker: "caller", text: Self.redactor.redact(result.utterance.text), at: result.utterance.start,
                                              confidence: result.utterance.confidence))
                $0.duration = max($0.duration, result.endpointedAt)
            }
            logger.debug("final", metadata: ["latency_ms": "\(Int(result.latency * 1000))", "words": "\(result.utterance.words.count)"])
        case .playbackStarted(_, let text, let at, let latency):
            if let latency { Self.replyLatency.recordSeconds(latency) }
            registry.update(call.id) { $0.transcript.append(CallLine(speaker: "bot", text: Self.redactor.redactKeepingForm(text), at: at, confidence: nil)) }
        case .handoff(let handoff, _):
            registry.update(call.id) { $0.handoff = handoff }
            logger.info("handoff", metadata: ["queue": "\(handoff.queue)", "reason": "\(handoff.reason)"])
        case .overloaded(let at, let dropped):
            Self.errors(kind: "overload").increment()
            registry.update(call.id) { $0.errors.append(String(format: "overloaded at %.1f s: %.1f s of audio not accepted", at, dropped)) }
            logger.warning("overloaded", metadata: ["dropped_seconds": "\(dropped)"])
        case .error(let error):
            reportError(call, "\(error)", kind: Self.kind(of: error), logger: logger)
        case .ended(let at, let reason):
            totals.withLock { $0.audioSeconds += at }
            registry.update(call.id) {
                $0.duration = at
                $0.endReason = reason
            }
        case .playbackAudio:
            return
        default:
            break
        }
        for observer in observers { await observer.call(call, event: event) }
    }

    func reportError(_ call: CallStart, _ message: String, kind: String, logger: Logger) {
        Self.errors(kind: kind).increment()
        registry.update(call.id) { $0.errors.append(message) }
        logger.error("call error", metadata: ["kind": "\(kind)", "error": "\(message)"])
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

    /// Card and account numbers never reach the registry, the API or the logs.
    static let redactor = SlotExtractor()
    static let finalLatency = Metrics.Timer(label: "hotline_final_latency_seconds")
    static let replyLatency = Metrics.Timer(label: "hotline_reply_latency_seconds")
    static let refused = Counter(label: "hotline_calls_refused_total")
    static func errors(kind: String) -> Counter { Counter(label: "hotline_errors_total", dimensions: [("kind", kind)]) }
}

extension Metrics.Timer {
    func recordSeconds(_ seconds: Double) { recordNanoseconds(Int64(max(0, seconds) * 1e9)) }
}
