import ArgumentParser
import Foundation
import HotlineCore
import HotlineEngines
import HotlineServer
import SndFile
import Synchronization

// MARK: - hotline simulate

/// Call leg formats the simulator can put a recording through.
enum LegFormat: String, CaseIterable, ExpressibleByArgument {
    case mulaw, alaw, l16, l16wide = "l16-16k"

    var format: CallAudioFormat {
        switch self {
        case .mulaw: .muLaw8k
        case .alaw: .aLaw8k
        case .l16: .linear8k
        case .l16wide: .linear16k
        }
    }
}

struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Play a recording into a live call session and print the call's timeline.",
        discussion: """
            The recording is converted to the call leg's format (--leg) and fed in 20 ms chunks at real-time pace \
            (or as fast as possible with --fast; the timeline is the same). The bot greets the caller, and answers \
            each utterance with --reply ({text} is replaced by what it heard). Caller speech over a prompt stops \
            it (barge-in). --output writes the whole call as a stereo WAV: the caller left, the bot right.
            """
    )

    @Argument(help: "The caller's side of the call: any audio file libsndfile reads (mixed to mono).")
    var recording: String

    @Flag(help: "Feed audio as fast as possible instead of in real time.")
    var fast = false

    @Option(help: "Call leg format: mulaw, alaw, l16 (8 kHz) or l16-16k.")
    var leg: LegFormat = .mulaw

    @Option(help: "Run this flow's dialog (its prompts, searches and handoffs) instead of --greeting and --reply.")
    var flow: String?

    @OptionGroup var services: FlowServiceOptions

    @Option(help: "The caller's number, for caller memory with --flow.")
    var caller: String?

    @Option(help: "Caller memory file.")
    var memory = ".hotline/callers.json"

    @Option(help: "The bot's first prompt (empty for none).")
    var greeting = "Thank you for calling. How can I help you today?"

    @Option(help: "The bot's answer to each utterance; {text} is replaced by what it heard (empty for none).")
    var reply = "You said {text}."

    @Option(help: "How the standard search decodes finals: live (partials, lowest latency) or whole (most accurate).")
    var decoding: UtteranceDecoding = .live

    @Option(name: .shortAndLong, help: "Write the call (caller left, bot right) to this WAV file.")
    var output: String?

    @Option(help: "Seconds of silence after the recording, so the bot can answer the last utterance.")
    var tail = 3.0

    @Option(help: "Use this channel of a multi-channel recording (0 is the first) instead of mixing them.")
    var channel: Int?

    @Flag(help: "Print partial results too.")
    var partials = false

    @Flag(help: "Print the final count and the process's peak memory at the end.")
    var stats = false

    @Option(help: "Voice for the bot.")
    var voice = VoiceSettings().voice

    @Option(help: "Sample rate of a headerless recording, Hz (default 16000; 8000 for .ul/.al/.sln).")
    var rate: Int?

    @Option(help: "Encoding of a headerless recording: s16le, mulaw or alaw.")
    var encoding: SampleEncoding?

    @OptionGroup var model: ModelOptions

    func run() async throws {
        let reader: any AudioReading
        do {
            reader = try SndFileAudioDecoder().open(AudioOptions.input(for: recording, encoding: encoding, rate: rate, channels: 1))
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        let format = leg.format
        if let channel, channel < 0 || channel >= reader.info.channels {
            throw ValidationError("--channel \(channel): the recording has \(reader.info.channels) channel(s)")
        }
        let configuration = model.configuration
        var callConfiguration = CallConfiguration()
        callConfiguration.decoding = decoding
        callConfiguration.voice.voice = voice
        // Fed faster than real time, audio waits for the decoder by design: no backlog bound.
        if fast {
            callConfiguration.maximumBacklog = .infinity
            callConfiguration.decoderBatch = 0  // each chunk settles before the next
        }
        if model.grammar != nil || model.keywords != nil { callConfiguration.decoding = .whole }
        let pool: RecognizerPool
        let responder: (any CallResponder)?
        var dialogResponder: DialogResponder?
        var sampleBank: SampleBank?
        defer { if let sampleBank { Task { await sampleBank.stop() } } }
        if let flow {
            let definition = try loadFlow(flow)
            guard let unbound = definition.dialog else { throw ValidationError("\(flow): the flow has no states") }
            let (dialog, bank) = try await services.bind(unbound)
            sampleBank = bank
            let domain = try await DomainModel.build(for: definition, recognizer: configuration)
            pool = try RecognizerPool(size: 1) {
                let recognizer = try PocketSphinxRecognizer(configuration: configuration)
                try recognizer.prepare(for: definition, domainModel: domain)
                return recognizer
            }
            callConfiguration.initialSearch = DialogResponder.recognitionSearch(dialog.states[dialog.start]!.search)
            let returning = caller.flatMap { FileCallerMemory(path: memory).recall($0)?.lastTopic }
            dialogResponder = DialogResponder(dialog: dialog, matcher: definition.makeMatcher(), returningTopic: returning, webhooks: HTTPWebhooks())
            responder = dialogResponder
        } else {
            pool = try RecognizerPool(size: 1) { try PocketSphinxRecognizer(configuration: configuration) }
            let template = reply
            let greetingReply = greeting.isEmpty ? nil : Reply(text: greeting)
            responder = template.isEmpty && greetingReply == nil ? nil : ReplyToEachUtterance(greeting: greetingReply) { result in
                template.isEmpty ? nil : Reply(text: template.replacingOccurrences(of: "{text}", with: result.utterance.text))
            }
        }
        let renderer = PromptRenderer(synthesizer: try ESpeakSynthesizer.shared())
        let recorder = output == nil ? nil : CallRecorder(format: format)
        let session = try CallSession(
            id: "simulated", format: format, configuration: callConfiguration, pool: pool, renderer: renderer, responder: responder,
            callerAudio: recorder.map(CallRecorder.tap)
        )
        let finals = FinalsCount()
        let seconds = reader.info.duration.map { String(format: "%.1f s", $0) } ?? "unknown length"
        print("call: \(recording) as \(format), \(seconds), \(fast ? "fast" : "real time")")
        let showPartials = partials
        // The call's record, as the server keeps it: outcome and QA findings (the default rules when they load).
        let rules = (try? QualityRulesLoader.load(path: "Models/qa/rules.yaml")) ?? QualityRules(rules: [])
        let ledger = LockedLedger(CallLedger(CallStart(id: "simulated", gateway: .recording, callerNumber: caller), node: "simulate", rules: rules,
                                             hasBot: responder != nil))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await session.run() }
            group.addTask {
                for await event in session.events {
                    _ = ledger.state.withLock { $0.apply(event) }
                    recorder?.record(event)
                    if case .final = event { finals.count.withLock { $0 += 1 } }
                    if let line = Self.describe(event, partials: showPartials) { print(line) }
                }
            }
            // Stream the recording: read, resample and encode block by block, feed 20 ms chunks.
            let chunk = format.bytes(forSeconds: 0.02)
            let clock = ContinuousClock()
            let start = clock.now
            var index = 0
            var pending: [UInt8] = []
            var resampler = Resampler(from: reader.info.sampleRate, to: format.sampleRate)
            var finished = false
            while !finished, !session.hasEnded {
                var audio: [Float]
                if let block = try reader.readBlock(maxFrames: 8_192) {
                    let mono = channel.map { block[$0] } ?? (block.count == 1 ? block[0] : Transcriber.mixDown(block))
                    audio = resampler.process(mono)
                } else {
                    audio = resampler.flush() + [Float](repeating: 0, count: Int(max(0, tail) * Double(format.sampleRate)))
                    finished = true
                }
                pending += format.encode(audio)
                while pending.count >= chunk || (finished && !pending.isEmpty) {
                    session.receive(audio: Array(pending.prefix(chunk)))
                    pending.removeFirst(min(chunk, pending.count))
                    index += 1
                    if fast {
                        // As fast as the machine goes, but causally: each chunk is fully handled before the next.
                        var spins = 0
                        while !session.isSettled {
                            spins += 1
                            if spins < 200 { await Task.yield() } else { try await Task.sleep(for: .milliseconds(1)) }
                        }
                    } else {
                        try await clock.sleep(until: start + .milliseconds(20 * index))
                    }
                }
            }
            session.hangUp(reason: "recording ended")
            try await group.waitForAll()
        }
        let record = ledger.state.withLock { ledger in
            _ = ledger.close()
            return (ledger.record, ledger.findings)
        }
        print("outcome: \(record.0.status.rawValue) (\(record.0.outcomeReason ?? "")); QA score \(Int(record.0.score ?? 100))"
              + (record.1.isEmpty ? "" : "; findings: " + record.1.map(\.rule).joined(separator: ", ")))
        if let caller, let dialogResponder {
            FileCallerMemory(path: memory).remember(caller, topic: dialogResponder.topic,
                                                    outcome: dialogResponder.handoff.map { "handed to \($0.queue)" } ?? "completed", at: Date())
        }
        if stats {
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            print("stats: finals \(finals.count.withLock { $0 }), peak RSS \(usage.ru_maxrss / 1024) MB")
        }
        if let output, let recorder {
            try SoundFile(writingPath: output, format: .wav16, sampleRate: format.sampleRate, channels: 2).write(shorts: recorder.stereo())
            print("wrote \(output) (caller left, bot right)")
        }
    }

    static func describe(_ event: CallEvent, partials: Bool) -> String? {
        func stamp(_ time: Double) -> String { String(format: "[%7.3f]", time) }
        switch event {
        case .speechStarted(let at): return "\(stamp(at)) caller  speech started"
        case .partial(let text, let at): return partials ? "\(stamp(at)) caller  … \(text)" : nil
        case .final(let result):
            return "\(stamp(result.endpointedAt)) caller  \"\(result.utterance.text)\"  (confidence \(String(format: "%.2f", result.utterance.confidence)), "
                + "\(result.decoding.rawValue), \(String(format: "%.0f", result.latency * 1000)) ms after endpoint; spoke \(result.utterance.start)–\(result.utterance.end) s)"
        case .noInput(let at, let silence): return "\(stamp(at)) caller  no input for \(String(format: "%.1f", silence)) s"
        case .dtmf(let digit, let at): return "\(stamp(at)) caller  DTMF \(digit)"
        case .playbackStarted(let id, let text, let at, let latency):
            let reaction = latency.map { String(format: ", first audio %.0f ms after endpoint", $0 * 1000) } ?? ""
            return "\(stamp(at)) bot     ▶ prompt \(id): \"\(text)\"\(reaction)"
        case .understood(let reading, let utterance):
            return "          bot     understood utterance \(utterance): \(reading.intent ?? "no match") (\(String(format: "%.2f", reading.confidence)))"
                + (reading.progress.map { ", \($0.rawValue)" } ?? "")
                + (reading.slots.isEmpty ? "" : ", slots " + reading.slots.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ", "))
        case .playbackAudio, .marker: return nil
        case .playbackFinished(let id, let duration): return "          bot     prompt \(id) is \(String(format: "%.2f", duration)) s long"
        case .bargeIn(let id, let at): return "\(stamp(at)) bot     ■ barge-in: prompt \(id) stopped"
        case .overloaded(let at, let dropped): return "\(stamp(at)) call    overloaded: \(String(format: "%.1f", dropped)) s of audio not accepted"
        case .error(let error): return "          call    error: \(error)"
        case .handoff(let handoff, let at):
            return "\(stamp(at)) bot     → handoff to '\(handoff.queue)' (\(handoff.reason)); intent \(handoff.intent ?? "unknown")"
                + (handoff.slots.isEmpty ? "" : ", slots " + handoff.slots.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ", "))
        case .ended(let at, let reason, _): return "\(stamp(at)) call    ended (\(reason))"
        }
    }
}

/// Finals seen by a simulated call (`--stats`).
private final class FinalsCount: Sendable {
    let count = Mutex(0)
}

/// A call's ledger shared by the event reader and the end of the simulation.
final class LockedLedger: Sendable {
    let state: Mutex<CallLedger>
    init(_ ledger: CallLedger) { state = Mutex(ledger) }
}
