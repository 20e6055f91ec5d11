import Foundation
import HotlineCore
import HotlineEngines
import HotlineTestSupport
import Testing

/// Drives call sessions with real recordings, a real recognizer pool and real synthesis.
enum Calls {
    /// Feeds `bytes` in chunks as fast as possible, hangs up, and returns every event.
    static func run(
        _ bytes: [UInt8], format: CallAudioFormat, chunk: Int = 160, configuration: CallConfiguration = CallConfiguration(),
        pool: RecognizerPool, renderer: PromptRenderer? = nil, responder: (any CallResponder)? = nil, framed: Bool = false, settled: Bool = false,
        script: @Sendable (CallSession) async -> Void = { _ in }
    ) async throws -> [CallEvent] {
        var configuration = configuration
        // Settled after each chunk: the decoder must not wait for a batch of them.
        if settled { configuration.decoderBatch = 0 }
        let session = try CallSession(id: "test", format: format, configuration: configuration, pool: pool, renderer: renderer, responder: responder)
        return await withTaskGroup(of: [CallEvent].self) { group in
            group.addTask { await session.run(); return [] }
            group.addTask {
                var events: [CallEvent] = []
                for await event in session.events { events.append(event) }
                return events
            }
            await script(session)
            var offset = 0
            while offset < bytes.count {
                let piece = Array(bytes[offset..<min(offset + chunk, bytes.count)])
                if framed { session.receive(frame: piece) } else { session.receive(audio: piece) }
                offset += chunk
                // Settled after each chunk: the timeline of a real-time call on a machine that keeps up.
                while settled && !session.isSettled { try? await Task.sleep(for: .milliseconds(1)) }
            }
            session.hangUp()
            var all: [CallEvent] = []
            for await events in group { all += events }
            return all
        }
    }

    static func finals(_ events: [CallEvent]) -> [UtteranceResult] {
        events.compactMap { if case .final(let result) = $0 { result } else { nil } }.sorted { $0.utterance.start < $1.utterance.start }
    }

    /// A recording in a call format (resampled and encoded with this project's code).
    static func encode(_ input: AudioInput, as format: CallAudioFormat, leadingSilence: Double = 0, trailingSilence: Double = 1) throws -> [UInt8] {
        let (samples, rate) = try Fixtures.samples(input)
        let audio = [Float](repeating: 0, count: Int(leadingSilence * Double(format.sampleRate)))
            + Resampler.resample(samples, from: rate, to: format.sampleRate) + [Float](repeating: 0, count: Int(trailingSilence * Double(format.sampleRate)))
        return format.encode(audio)
    }

    static func pool(size: Int = 1, grammars: [String: String] = [:]) throws -> RecognizerPool {
        try RecognizerPool(size: size) {
            let recognizer = try PocketSphinxRecognizer()
            for (name, file) in grammars { try recognizer.addGrammar(named: name, file: file) }
            return recognizer
        }
    }

    static let goForward = AudioInput.raw(path: Fixtures.goForward, encoding: .linear16, sampleRate: 16_000, channels: 1)
}

@Suite(.serialized) struct CallSessionTests {
    @Test(arguments: [CallAudioFormat.linear16k, .muLaw8k])
    func wholeUtteranceFinalsMatchTheOfflinePath(format: CallAudioFormat) async throws {
        // Two LibriVox sentences with a pause, as one call leg.
        let directory = try Fixtures.temporaryDirectory()
        let first = try Calls.encode(.file(path: Fixtures.librivoxFiles[1]), as: format, leadingSilence: 0.5, trailingSilence: 1)
        let second = try Calls.encode(.file(path: Fixtures.librivoxFiles[4]), as: format, trailingSilence: 1)
        let path = directory + "/leg." + (format.encoding == .muLaw ? "ul" : "raw")
        try Data(first + second).write(to: URL(fileURLWithPath: path))
        let offline = try Fixtures.transcriber().transcribe(.raw(path: path, encoding: format.encoding, sampleRate: format.sampleRate, channels: 1))
        var configuration = CallConfiguration()
        configuration.decoding = .whole
        let events = try await Calls.run(first + second, format: format, configuration: configuration, pool: try Calls.pool())
        let finals = Calls.finals(events)
        #expect(finals.count == 2)
        #expect(finals.map(\.utterance.text) == offline.utterances.map(\.text))
        #expect(finals.map(\.utterance.words) == offline.utterances.map(\.words))
        #expect(finals.allSatisfy { $0.decoding == .whole && $0.latency >= 0 })
        #expect(events.last.map { if case .ended = $0 { true } else { false } } == true)
    }

    @Test(arguments: [UtteranceDecoding.live, .whole])
    func chunkSizeDoesNotChangeTheResult(decoding: UtteranceDecoding) async throws {
        let bytes = try Calls.encode(Calls.goForward, as: .linear8k, leadingSilence: 0.5)
        var configuration = CallConfiguration()
        configuration.decoding = decoding
        let pool = try Calls.pool()
        var results: [[Utterance]] = []
        for chunk in [1, 7, 320, 16_000] {  // 1 byte (half a sample) up to 1 s
            let events = try await Calls.run(bytes, format: .linear8k, chunk: chunk, configuration: configuration, pool: pool)
            results.append(Calls.finals(events).map(\.utterance))
        }
        #expect(results[0].count == 1)
        #expect(results.allSatisfy { $0 == results[0] })
        #expect(results[0].first?.text.hasPrefix("go forward") == true)
    }

    @Test func liveDecodingReportsPartialsAndTimesFromTheStartOfTheCall() async throws {
        let bytes = try Calls.encode(Calls.goForward, as: .linear16k, leadingSilence: 2)
        let events = try await Calls.run(bytes, format: .linear16k, pool: try Calls.pool())
        let partials = events.compactMap { if case .partial(let text, let at) = $0 { (text, at) } else { nil } }
        #expect(partials.count >= 3)
        #expect(zip(partials, partials.dropFirst()).allSatisfy { $1.1 - $0.1 >= 0.199 })
        let final = try #require(Calls.finals(events).first)
        #expect(final.utterance.text == "go forward ten meters")
        #expect(final.decoding == .live)
        #expect(final.alternatives.count > 1)
        // goforward.raw speaks from 0.46 s; with 2 s of leading silence the first word starts near 2.46 s.
        #expect(abs(final.utterance.start - 2.46) < 0.1)
        let started = events.compactMap { if case .speechStarted(let at) = $0 { at } else { nil } }
        #expect(started.count == 1 && abs(started[0] - 2.4) < 0.2)
    }

    @Test func callerSpeechStopsAPromptAndIsRecognisedFromItsFirstSyllable() async throws {
        let renderer = PromptRenderer(synthesizer: try ESpeakSynthesizer.shared())
        let bytes = try Calls.encode(Calls.goForward, as: .muLaw8k, leadingSilence: 0.5)
        let events = try await Calls.run(bytes, format: .muLaw8k, pool: try Calls.pool(), renderer: renderer) { session in
            session.say("Thank you for calling First Community Bank. Please tell me, in a few words, how I can help you today.")
        }
        let bargeIns = events.compactMap { if case .bargeIn(let id, let at) = $0 { (id, at) } else { nil } }
        #expect(bargeIns.count == 1)
        #expect(bargeIns.first?.0 == 1)
        let speechStart = try #require(events.compactMap { if case .speechStarted(let at) = $0 { at } else { nil } }.first)
        #expect(bargeIns.first?.1 == speechStart)
        // The prompt is far longer than the half second before the caller spoke.
        let duration = events.compactMap { if case .playbackFinished(_, let duration) = $0 { duration } else { nil } }.first ?? 99
        #expect(duration > 3)
        let final = try #require(Calls.finals(events).first)
        #expect(final.utterance.words.first?.word == "go")
        #expect(final.utterance.text.hasPrefix("go forward"))
    }

    @Test func promptsStreamInTheCallFormatAndRepeatsComeFromTheCache() async throws {
        let renderer = PromptRenderer(synthesizer: try ESpeakSynthesizer.shared())
        let text = "Your balance is one hundred and twenty dollars."
        let chunks = ChunkLog()
        try await renderer.render(text, voice: VoiceSettings(), format: .muLaw8k) { chunks.add($0) }
        let first = chunks.take()
        #expect(first.count > 3)  // streamed as espeak-ng produces it
        let seconds = Double(first.reduce(0) { $0 + $1.count }) / 8_000
        #expect(seconds > 1.5 && seconds < 5)
        try await renderer.render(text, voice: VoiceSettings(), format: .muLaw8k) { chunks.add($0) }
        #expect(chunks.take() == first)
        #expect(renderer.cacheStatistics.hits == 1 && renderer.cacheStatistics.misses == 1)
        try await renderer.render(text, voice: VoiceSettings(), format: .linear16k) { chunks.add($0) }
        let wide = chunks.take().reduce(0) { $0 + $1.count }
        #expect(abs(Double(wide) / 32_000 - seconds) < 0.05)  // espeak-ng itself varies by a few ms between runs
    }

    @Test func anOverloadedPoolReportsItAndLosesNoAcceptedAudio() async throws {
        let pool = try Calls.pool()
        let held = try await pool.borrow()  // every recognizer is busy
        var configuration = CallConfiguration()
        configuration.maximumBacklog = 1.0
        let bytes = try Calls.encode(Calls.goForward, as: .muLaw8k, leadingSilence: 0.3)
        let events = try await Calls.run(bytes, format: .muLaw8k, configuration: configuration, pool: pool) { _ in
            Task {
                try? await Task.sleep(for: .milliseconds(300))
                held.release()
            }
        }
        let overloads = events.compactMap { if case .overloaded(let at, let dropped) = $0 { (at, dropped) } else { nil } }
        #expect(overloads.count == 1)
        #expect((overloads.first?.1 ?? 0) > 0.5)
        // The accepted second (from the padding before speech) is still decoded.
        let final = try #require(Calls.finals(events).first)
        #expect(final.utterance.text.hasPrefix("go"))
        #expect(final.utterance.end <= 0.3 + 0.46 + 1.0)
    }

    @Test func malformedFramesAreReportedAndTheCallGoesOn() async throws {
        let audio = try Calls.encode(Calls.goForward, as: .linear8k, leadingSilence: 0.3)
        // One odd-length frame first, then the real audio in 20 ms frames, then a dangling byte on the stream.
        let events = try await Calls.run(audio, format: .linear8k, chunk: 320, pool: try Calls.pool(), framed: true) { session in
            session.receive(frame: [1, 2, 3])
        }
        let errors = events.compactMap { if case .error(let error) = $0 { error } else { nil } }
        #expect(errors.count == 1)
        #expect(errors.first?.description.contains("3 bytes is not a whole number of 2-byte s16le/8000 samples") == true)
        #expect(Calls.finals(events).first?.utterance.text.hasPrefix("go forward") == true)

        let dangling = try await Calls.run(audio + [7], format: .linear8k, chunk: 333, pool: try Calls.pool())
        #expect(dangling.contains { if case .error(.malformedFrame(let detail)) = $0 { detail.contains("partial sample") } else { false } })
        #expect(throws: CallError.self) { try CallSession(id: "x", format: CallAudioFormat(encoding: .aLaw, sampleRate: 16_000), pool: try Calls.pool()) }
    }

    @Test func silenceRaisesNoInputOnceAndDTMFIsTimed() async throws {
        var configuration = CallConfiguration()
        configuration.noInputTimeout = 1.5
        let silence = CallAudioFormat.muLaw8k.encode([Float](repeating: 0, count: 8_000 * 4))
        let events = try await Calls.run(Array(silence.prefix(8_000)), format: .muLaw8k, configuration: configuration, pool: try Calls.pool()) { session in
            session.receive(audio: Array(silence.prefix(8_000)))  // 1 s, then the digit, then 4 s more
            session.receive(dtmf: "5")
            session.receive(audio: silence)
        }
        let noInputs = events.compactMap { if case .noInput(let at, let silence) = $0 { (at, silence) } else { nil } }
        #expect(noInputs.count == 1)
        // The digit at 1 s counts as the caller's activity: the timeout runs from there.
        #expect(noInputs.first.map { abs($0.0 - 2.5) < 0.05 && abs($0.1 - 1.5) < 0.05 } == true)
        #expect(events.contains(.dtmf(digit: "5", at: 1.0)))
    }

    @Test func aNamedGrammarSearchIsUsedPerUtterance() async throws {
        let pool = try Calls.pool(grammars: ["cards": Fixtures.cards + "/cards.gram"])
        let card = try Calls.encode(.file(path: Fixtures.cards + "/005.wav"), as: .linear16k, leadingSilence: 0.5)
        let events = try await Calls.run(card, format: .linear16k, pool: pool) { session in
            session.use(search: .named("cards"))
        }
        let final = try #require(Calls.finals(events).first)
        #expect(final.search == .named("cards") && final.decoding == .whole)
        #expect(final.utterance.text == "eight of spades four of clubs seven of hearts")
    }
}

final class ChunkLog: @unchecked Sendable {
    private let lock = NSLock()
    private var chunks: [[UInt8]] = []
    func add(_ chunk: [UInt8]) { lock.withLock { chunks.append(chunk) } }
    func take() -> [[UInt8]] { lock.withLock { defer { chunks = [] }; return chunks } }
}

/// The end of a caller's turn, judged from what the live decoder has heard (the bank flow's dialog on a real pool).
@Suite(.serialized) struct AdaptiveEndpointTests {
    static let pauses = Flows.root + "/Tests/Fixtures/spoken/pauses"

    /// 8 kHz μ-law codes of a fixture.
    static func codes(_ name: String) throws -> [UInt8] { [UInt8](try WAVFiles.dataChunk(pauses + "/" + name)) }

    /// A fixture's speech without the synthesizer's leading and trailing silence (20 ms frames under −45 dBFS), so the
    /// pauses a test puts between phrases are the pauses the caller makes.
    static func speech(_ name: String) throws -> [UInt8] {
        let codes = try codes(name)
        let frames = stride(from: 0, to: codes.count, by: 160).map { Array(codes[$0..<min($0 + 160, codes.count)]) }
        func voiced(_ frame: [UInt8]) -> Bool {
            let samples = CallAudioFormat.muLaw8k.decode(frame)
            return 10 * log10(Double(samples.reduce(0) { $0 + $1 * $1 }) / Double(max(1, samples.count)) + 1e-12) > -45
        }
        guard let first = frames.firstIndex(where: voiced), let last = frames.lastIndex(where: voiced) else { return [] }
        return Array(frames[first...last].joined())
    }

    static func silence(_ seconds: Double) -> [UInt8] { [UInt8](repeating: 0xFF, count: Int(seconds * 8_000)) }  // μ-law zero

    /// A pool of decoders made for the bank flow, as `hotline serve` makes them.
    static func flowPool() async throws -> (RecognizerPool, DialogDefinition, IntentMatcher) {
        let flow = try FlowLoader.load(path: Flows.bank)
        let domain = try await DomainModel.build(for: flow, cacheDirectory: try Fixtures.temporaryDirectory())
        let configuration = try PocketSphinxConfiguration().forCalls(on: flow, domainModel: domain)
        let pool = try RecognizerPool(size: 1) {
            let recognizer = try PocketSphinxRecognizer(configuration: configuration)
            try recognizer.prepare(for: flow, domainModel: domain)
            return recognizer
        }
        return (pool, try #require(flow.dialog).binding(services: ["bank": "http://bank.test"]), flow.makeMatcher())
    }

    static func configuration() -> CallConfiguration {
        var configuration = CallConfiguration()
        configuration.initialSearch = .named(StateSearch.domain.searchName)
        configuration.decodingBySearch[StateSearch.domain.searchName] = .live
        configuration.noInputTimeout = nil
        // Where the endpointer ends the turn, not when the turn is answered (AnswerDuringHangoverTests).
        configuration.answerDuringHangover = false
        return configuration
    }

    /// The same dialog with the fixed end hangover of before (the endpointer does not listen to the words).
    struct FixedHangover: CallResponder {
        let inner: DialogResponder
        func opening() async -> Reply? { await inner.opening() }
        func respond(to result: UtteranceResult) async -> Reply? { await inner.respond(to: result) }
        func respond(to result: UtteranceResult, continuing earlier: UtteranceResult) async -> Reply? {
            await inner.respond(to: result, continuing: earlier)
        }
    }

    @Test(arguments: ["hibari-heart", "festival-ked_diphone"])
    func aPauseAfterAnUnfinishedPhraseDoesNotEndTheTurn(voice: String) async throws {
        let (pool, dialog, matcher) = try await Self.flowPool()
        // "I want to … check my balance", "I would like to move some money from … my savings to my checking account":
        // 0.7 s pauses, longer than the old fixed hangover (0.5 s).
        for (first, second) in [("000", "001"), ("006", "007")] {
            let audio = Self.silence(0.5) + (try Self.speech("\(voice)-\(first).wav")) + Self.silence(0.7) + (try Self.speech("\(voice)-\(second).wav"))
                + Self.silence(1.5)
            let adaptive = try await Calls.run(audio, format: .muLaw8k, configuration: Self.configuration(), pool: pool,
                                               responder: DialogResponder(dialog: dialog, matcher: matcher), settled: true)
            let fixed = try await Calls.run(audio, format: .muLaw8k, configuration: Self.configuration(), pool: pool,
                                            responder: FixedHangover(inner: DialogResponder(dialog: dialog, matcher: matcher)), settled: true)
            let kept = Calls.finals(adaptive).map(\.utterance.text)
            #expect(kept.count == 1, "\(voice) \(first)+\(second): \(kept)")
            #expect(Calls.finals(fixed).count == 2, "\(voice) \(first)+\(second) with the fixed hangover: \(Calls.finals(fixed).map(\.utterance.text))")
        }
    }

    @Test(arguments: ["hibari-heart", "festival-ked_diphone"])
    func aCompleteRequestEndsTheTurnSoonerThanTheFixedHangover(voice: String) async throws {
        let (pool, dialog, matcher) = try await Self.flowPool()
        // "check my balance", "report a lost card": whole requests.
        for name in ["001", "003"] {
            let audio = Self.silence(0.5) + (try Self.speech("\(voice)-\(name).wav")) + Self.silence(1.5)
            let adaptive = try #require(Calls.finals(try await Calls.run(
                audio, format: .muLaw8k, configuration: Self.configuration(), pool: pool, responder: DialogResponder(dialog: dialog, matcher: matcher),
                settled: true)).first)
            let fixed = try #require(Calls.finals(try await Calls.run(
                audio, format: .muLaw8k, configuration: Self.configuration(), pool: pool,
                responder: FixedHangover(inner: DialogResponder(dialog: dialog, matcher: matcher)), settled: true)).first)
            #expect(adaptive.utterance.text == fixed.utterance.text)
            // The endpoint comes at least 0.15 s sooner (0.2 s after a complete request against 0.5 s).
            #expect(adaptive.endpointedAt <= fixed.endpointedAt - 0.15, "\(voice) \(name): \(adaptive.endpointedAt) vs \(fixed.endpointedAt)")
        }
    }
}
