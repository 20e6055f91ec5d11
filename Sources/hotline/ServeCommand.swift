import ArgumentParser
import Dispatch
import Foundation
import HotlineCore
import HotlineEngines
import HotlineServer
import HotlineStore
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import SndFile
import Synchronization

// MARK: - hotline serve

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Answer calls from IVR gateways (AudioSocket, Twilio, FreeSWITCH/jambonz forks, vosk clients) and serve the REST API.",
        discussion: """
            Configured by a YAML file (--config; every option and its default is in docs/serve.md) and HOTLINE_* \
            environment variables; without either it runs on embedded defaults: HTTP on 127.0.0.1:8080, AudioSocket on \
            127.0.0.1:9092, the bank flow. With no API key configured, one admin key is generated and written to \
            .hotline/api-key (mode 600). SIGTERM or SIGINT: stop taking calls, let live calls finish (calls.shutdown_grace), exit.
            """
    )

    @Option(help: "Configuration file (YAML).")
    var config: String?

    @Option(help: "Override the HTTP port (0 picks a free one).")
    var port: Int?

    @Option(help: "Override the AudioSocket port (0 picks a free one).")
    var audiosocketPort: Int?

    @Option(help: "Write the bound ports as JSON to this file once listening (for scripts and tests).")
    var portsFile: String?

    func run() async throws {
        var settings: ServerConfiguration
        do {
            settings = try ServerConfiguration.load(path: config)
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        if let port { settings.httpPort = port }
        if let audiosocketPort { settings.audioSocketPort = audiosocketPort }
        let level = Logger.Level(rawValue: settings.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "hotline")
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // A turn's parts get buckets fine enough to read a p95 off (`hotline bench serve` does).
        for label in CallSession.TurnTimers.labels { factory.durationHistogramBuckets[label] = CallSession.TurnTimers.buckets }
        MetricsSystem.bootstrap(factory)

        if settings.keys.isEmpty && settings.anonymousRoles.isEmpty {
            settings.keys = [try Self.generatedKey(logger: logger)]
        }
        let flowPath = settings.flow
        let definition = try loadFlow(flowPath)
        guard let unbound = definition.dialog else {
            printError("error: \(flowPath): the flow has no states, so it cannot answer calls")
            throw ExitCode(2)
        }
        // The flow's webhook services: the configuration's, else the flow's own (the sample bank for `sample`).
        let (dialog, sampleBank) = try await SampleBank.bind(unbound, overrides: settings.services, logger: logger)
        defer { if let sampleBank { Task { await sampleBank.stop() } } }
        let recognizerConfiguration = PocketSphinxConfiguration()
        let domain = try await DomainModel.build(for: definition, recognizer: recognizerConfiguration)
        let callConfiguration = try recognizerConfiguration.forCalls(on: definition, domainModel: domain)
        // Decoders are cheap without the general model: enough for every caller speaking at once on a busy node.
        let decoders = settings.recognizers ?? (callConfiguration.languageModel == nil ? 24 : ProcessInfo.processInfo.activeProcessorCount)
        logger.info("loading models", metadata: ["flow": "\(flowPath)", "recognizers": "\(decoders)", "decoding_threads": "\(settings.decodingThreads)"])
        let pool = try RecognizerPool(size: decoders, workers: settings.decodingThreads) {
            let recognizer = try PocketSphinxRecognizer(configuration: callConfiguration)
            try recognizer.prepare(for: definition, domainModel: domain)
            return recognizer
        }
        let synthesizer = try ESpeakSynthesizer.shared()
        let bot = FlowBot(definition: definition, dialog: dialog, memory: FileCallerMemory(path: settings.callerMemory), settings: settings)
        let quality = try await Self.qualityServices(settings, logger: logger)
        let host = CallHost(pool: pool, renderer: PromptRenderer(synthesizer: synthesizer), bot: bot,
                            registry: CallRegistry(retainedOutcomes: settings.retainedOutcomes,
                                                   retainedBytes: Int(settings.retainedOutcomesMegabytes * 1_048_576)), observers: quality.map { [$0.recorder] } ?? [],
                            maximumRecordingSeconds: settings.maximumRecordingSeconds, rules: try Self.rules(settings), node: settings.nodeName,
                            admission: CallHost.Admission(maximumLoad: settings.maximumLoad, maximumQueueWait: settings.maximumQueueWait))
        let speech = EngineSpeechServices(synthesizer: synthesizer, recognizer: recognizerConfiguration)
        let server = HotlineServer(configuration: settings, host: host, speech: speech, metrics: registry, logger: logger, quality: quality)
        let ports = PortsFile(path: portsFile, expectAudioSocket: settings.audioSocketEnabled)
        let services = server.services(onHTTPBound: { ports.set(http: $0) }, onAudioSocketBound: { ports.set(audioSocket: $0) })
        var groupConfiguration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // Live calls get the grace period; whatever still holds on after that (an idle connection) is cancelled.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(settings.shutdownGrace + 10)
        let group = ServiceGroup(configuration: groupConfiguration)
        logger.info("hotline serve starting", metadata: [
            "http": "\(settings.httpHost):\(settings.httpPort)",
            "audiosocket": "\(settings.audioSocketEnabled ? "\(settings.audioSocketHost):\(settings.audioSocketPort)" : "off")",
        ])
        try await group.run()
        logger.info("hotline serve stopped")
    }

    /// Opens the transcript store (migrating it), loads the QA rules and starts the writer and the live feed; `nil` when
    /// the configuration says `store: none`. A store that cannot be opened or a bad rules file stops the server here.
    static func qualityServices(_ settings: ServerConfiguration, logger: Logger) async throws -> QualityServices? {
        guard settings.store != "none" else {
            logger.notice("no transcript store (store: none): transcripts are not kept and the QA pages are off")
            return nil
        }
        let store: any TranscriptStore
        do {
            store = try await TranscriptStores.open(settings.store, timeout: settings.storeTimeout, statementTimeout: settings.storeReadTimeout,
                                                    logger: Logger(label: "hotline.store"))
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        logger.info("transcript store open", metadata: ["store": "\(TranscriptStores.redacted(settings.store))", "node": "\(settings.nodeName)"])
        var options = StoreLimits()
        options.timeout = .milliseconds(Int(settings.storeTimeout * 1000))
        options.readTimeout = .milliseconds(Int(settings.storeReadTimeout * 1000))
        options.queue = settings.storeQueue
        options.syncInterval = .milliseconds(Int(settings.heartbeatInterval * 1000))
        options.nodeTimeout = .milliseconds(Int(settings.nodeTimeout * 1000))
        var quality = QualityServices(store: store, node: settings.nodeName, options: options,
                                      encoder: settings.recordCalls ? FLACRecordingEncoder() : nil, logger: logger)
        if let path = settings.agentRules, FileManager.default.fileExists(atPath: path) || path != ServerConfiguration().agentRules {
            do {
                quality.agentRules = try QualityRulesLoader.load(path: path)
            } catch {
                printError("error: \(error)")
                throw ExitCode(2)
            }
        } else {
            logger.notice("no agent rules file: POST /v1/qa/recordings is off", metadata: ["path": "\(settings.agentRules ?? "none")"])
        }
        // Calls this node left live when it last stopped are closed before it takes new ones.
        do {
            try await NodeWatch.recoverOwnCalls(quality, node: settings.nodeName, logger: logger)
        } catch {
            logger.warning("could not close the calls left live by this node's last run; will retry with the heartbeat", metadata: ["error": "\(error)"])
        }
        return quality
    }

    /// The QA rules every call is checked against (a bad rules file stops the server here).
    static func rules(_ settings: ServerConfiguration) throws -> QualityRules {
        do {
            return try QualityRulesLoader.load(path: settings.qaRules)
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
    }

    /// Makes an admin key for a server started without any, stored where only this user can read it.
    static func generatedKey(logger: Logger) throws -> APIKey {
        let path = ".hotline/api-key"
        let existing = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        let secret: String
        if let existing, existing.count >= 16 {
            secret = existing
        } else {
            var generator = SystemRandomNumberGenerator()
            secret = (0..<32).map { _ in String("abcdefghijklmnopqrstuvwxyz0123456789".randomElement(using: &generator)!) }.joined()
            try FileManager.default.createDirectory(atPath: ".hotline", withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: path, contents: Data((secret + "\n").utf8), attributes: [.posixPermissions: 0o600])
        }
        logger.notice("no API keys configured: using the admin key in \(path) (configure auth.keys for production)")
        return APIKey(name: "generated-admin", secret: secret, roles: [.admin])
    }
}

/// Writes `{"http": N, "audiosocket": M}` once the listeners are bound.
final class PortsFile: Sendable {
    private let path: String?
    private let expectAudioSocket: Bool
    private let ports = Mutex<(http: Int?, audioSocket: Int?)>((nil, nil))

    init(path: String?, expectAudioSocket: Bool) {
        self.path = path
        self.expectAudioSocket = expectAudioSocket
    }

    func set(http: Int? = nil, audioSocket: Int? = nil) {
        let ready = ports.withLock { ports -> (Int, Int?)? in
            if let http { ports.http = http }
            if let audioSocket { ports.audioSocket = audioSocket }
            guard let bound = ports.http, !expectAudioSocket || ports.audioSocket != nil else { return nil }
            return (bound, ports.audioSocket)
        }
        guard let path, let (http, audioSocket) = ready else { return }
        let json = "{\"http\": \(http), \"audiosocket\": \(audioSocket.map(String.init) ?? "null")}\n"
        try? json.write(toFile: path + ".tmp", atomically: false, encoding: .utf8)
        rename(path + ".tmp", path)
    }
}

// MARK: - The bot: a flow's dialog with caller memory

/// Answers calls with the flow's dialog; remembers callers by number between calls.
struct FlowBot: CallBot {
    let definition: FlowDefinition
    let dialog: DialogDefinition
    let memory: FileCallerMemory
    let settings: ServerConfiguration
    let matcher: IntentMatcher

    init(definition: FlowDefinition, dialog: DialogDefinition, memory: FileCallerMemory, settings: ServerConfiguration) {
        self.definition = definition
        self.dialog = dialog
        self.memory = memory
        self.settings = settings
        matcher = definition.makeMatcher()
    }

    func configuration(for call: CallStart) -> CallConfiguration {
        var configuration = CallConfiguration()
        configuration.initialSearch = DialogResponder.recognitionSearch(dialog.states[dialog.start]!.search)
        // The domain model is an n-gram search: decode it as the caller speaks, like the general model.
        configuration.decodingBySearch[StateSearch.domain.searchName] = .live
        configuration.voice.voice = settings.voice
        configuration.noInputTimeout = settings.noInputTimeout
        configuration.holdingDelay = settings.holdingDelay > 0 ? settings.holdingDelay : nil
        configuration.continuationWindow = settings.continuationWindow > 0 ? settings.continuationWindow : nil
        configuration.answerDuringHangover = settings.answerDuringHangover
        return configuration
    }

    func responder(for call: CallStart) async -> (any CallResponder)? {
        let returning = call.callerNumber.flatMap { memory.recall($0)?.lastTopic }
        return DialogResponder(dialog: dialog, matcher: matcher, returningTopic: returning, webhooks: HTTPWebhooks())
    }

    func callEnded(_ call: CallStart, record: CallRecord, responder: (any CallResponder)?) async {
        guard let number = call.callerNumber, let dialog = responder as? DialogResponder else { return }
        let summary = record.handoffQueue.map { "handed to \($0)" } ?? record.status.rawValue
        memory.remember(number, topic: dialog.topic, outcome: summary, at: Date())
        Self.remembered.record(memory.count)
    }

    static let remembered = Gauge(label: "hotline_caller_memory_callers")
}

// MARK: - Offline transcription and synthesis for the API

/// Transcribes uploads one at a time on a recognizer of its own (on its own thread), and synthesizes WAV files.
final class EngineSpeechServices: SpeechServices, @unchecked Sendable {
    // Safety: `recognizer` is touched only on `queue`.
    private let queue = DispatchQueue(label: "hotline.api-transcription")
    private var recognizer: PocketSphinxRecognizer?
    private let configuration: PocketSphinxConfiguration
    private let synthesizer: ESpeakSynthesizer

    init(synthesizer: ESpeakSynthesizer, recognizer: PocketSphinxConfiguration) {
        self.synthesizer = synthesizer
        configuration = recognizer
    }

    func duration(ofFile path: String) throws -> Double {
        let reader = try SndFileAudioDecoder().open(AudioOptions.input(for: path, encoding: nil, rate: nil, channels: 1))
        guard let duration = reader.info.duration, duration > 0 else { throw AudioError(.empty, path: path, reason: "the file contains no audio samples") }
        return duration
    }

    func transcribe(file path: String, name: String) async throws -> Transcript {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { [self] in
                continuation.resume(with: Result {
                    if recognizer == nil { recognizer = try PocketSphinxRecognizer(configuration: configuration) }
                    var transcript = try Transcriber(recognizer: recognizer!, decoder: SndFileAudioDecoder())
                        .transcribe(AudioOptions.input(for: path, encoding: nil, rate: nil, channels: 1))
                    transcript.source = name
                    return transcript
                })
            }
        }
    }

    func voices() async -> [String] {
        // A voice is chosen by identifier ("gmw/en-US"), its last part ("en-US"), name or language ("en-us").
        var names: Set<String> = []
        for voice in await synthesizer.voices() {
            names.insert(voice.identifier)
            names.insert(String(voice.identifier.split(separator: "/").last ?? ""))
            names.insert(voice.name)
            names.formUnion(voice.languages)
        }
        return names.filter { !$0.isEmpty }.sorted()
    }

    func synthesize(_ text: String, voice: String?, sampleRate: Int) async throws -> [UInt8] {
        var settings = VoiceSettings()
        if let voice { settings.voice = voice }
        let samples = try await synthesizer.synthesizeSamples(text, voice: settings)
        let audio = Resampler.resample(PCM.floats(samples), from: synthesizer.sampleRate, to: sampleRate)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hotline-say-\(UUID().uuidString).wav").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SoundFile(writingPath: path, format: .wav16, sampleRate: sampleRate).write(floats: audio)
        return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
