import ArgumentParser
import Foundation
import HotlineCore
import HotlineEngines

// MARK: - hotline bench endpointer

/// How often the end of a caller's turn is called too soon (one sentence heard as two), and how long the caller waits
/// for it, with the fixed end hangover and with the one that listens to the words.
struct EndpointBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "endpointer",
        abstract: "Cut-offs and end hangovers: the fixed hangover against the adaptive end of turn, on real and spoken callers.",
        discussion: """
            Each recording is one caller turn, put through the telephone channel (8 kHz μ-law) and fed to a call on the \
            bank flow with the flow's decoders, settled after every 20 ms (a machine that keeps up). Real recordings: the \
            LibriVox sentences and goforward, numbers and something of pocketsphinx-testdata (read speech, with its \
            pauses). Multi-phrase callers: the pairs of Tests/Fixtures/spoken/pauses (an unfinished phrase, a pause, the \
            rest of the request), with pauses of 0.4, 0.6 and 0.8 s. Bank requests: a third of the spoken paraphrases of \
            Tests/Fixtures/spoken (one sentence each, with the voices' own pauses at commas). Prints, per set and mode, the \
            turns heard as more than one utterance (cut off) and the end hangover after the last word (mean and p95).
            """
    )

    @Option(help: "The fixed hangover to compare with, seconds.")
    var fixed = 0.5

    @Flag(help: "Print what was heard of each turn that was cut off.")
    var showCuts = false

    func run() async throws {
        let flow = try loadFlow("Models/flows/bank.yaml")
        guard let unbound = flow.dialog else { throw ValidationError("the bank flow has no dialog") }
        let dialog = unbound.binding(services: ["bank": "http://127.0.0.1:9"])
        let matcher = flow.makeMatcher()
        let domain = try await DomainModel.build(for: flow)
        let configuration = try PocketSphinxConfiguration().forCalls(on: flow, domainModel: domain)
        let pool = try RecognizerPool(size: 1) {
            let recognizer = try PocketSphinxRecognizer(configuration: configuration)
            try recognizer.prepare(for: flow, domainModel: domain)
            return recognizer
        }
        var sets: [(String, [[UInt8]])] = []
        let data = "/usr/share/pocketsphinx/test/data"
        var real: [[UInt8]] = []
        for path in try BenchSentences.librivox.files() {
            real.append(try Self.telephone(.file(path: path)))
        }
        for name in ["goforward", "numbers", "something"] {
            real.append(try Self.telephone(.raw(path: "\(data)/\(name).raw", encoding: .linear16, sampleRate: 16_000, channels: 1)))
        }
        for file in try FileManager.default.contentsOfDirectory(atPath: "\(data)/cards").filter({ $0.hasSuffix(".wav") }).sorted() {
            real.append(try Self.telephone(.file(path: "\(data)/cards/\(file)")))
        }
        sets.append(("real recordings (pocketsphinx-testdata)", real))
        let pauses = "Tests/Fixtures/spoken/pauses"
        var spoken: [[UInt8]] = []
        for voice in ["hibari-heart", "festival-ked_diphone"] {
            for pair in 0..<5 {
                let first = try Self.voiced(String(format: "%@/%@-%03d.wav", pauses, voice, pair * 2))
                let second = try Self.voiced(String(format: "%@/%@-%03d.wav", pauses, voice, pair * 2 + 1))
                for pause in [0.4, 0.6, 0.8] { spoken.append(Self.silence(0.5) + first + Self.silence(pause) + second + Self.silence(1.5)) }
            }
        }
        sets.append(("multi-phrase callers (Tests/Fixtures/spoken/pauses)", spoken))
        var requests: [[UInt8]] = []
        for index in stride(from: 0, to: 72, by: 3) {
            for voice in ["hibari-heart", "festival-ked_diphone"] {
                requests.append(Self.silence(0.5) + (try Self.voiced(String(format: "Tests/Fixtures/spoken/%@-%03d.wav", voice, index))) + Self.silence(1.5))
            }
        }
        sets.append(("bank requests (Tests/Fixtures/spoken)", requests))
        print(String(format: "bank flow, 8 kHz μ-law; fixed hangover %.2f s against the adaptive end of turn (%@)", fixed,
                     "complete \(dialog.hangovers.complete) s, otherwise \(dialog.hangovers.otherwise) s, unfinished \(dialog.hangovers.unfinished) s"))
        print("  set                                                  turns  mode       cut off  hangover mean  p95")
        for (name, turns) in sets {
            for adaptive in [false, true] {
                var cut = 0
                var hangovers: [Double] = []
                for audio in turns {
                    let responder = DialogResponder(dialog: dialog, matcher: matcher)
                    let (utterances, hangover) = try await Self.run(audio, pool: pool, responder: adaptive ? responder : nil, fixed: fixed,
                                                                    showCuts: showCuts)
                    if utterances > 1 { cut += 1 }
                    if let hangover { hangovers.append(hangover) }
                }
                let mean = hangovers.isEmpty ? 0 : hangovers.reduce(0, +) / Double(hangovers.count)
                print(String(format: "  %@  %5d  %@  %7d  %10.0f ms  %4.0f ms", name.padding(toLength: 51, withPad: " ", startingAt: 0), turns.count,
                             (adaptive ? "adaptive" : "fixed").padding(toLength: 9, withPad: " ", startingAt: 0), cut, mean * 1000,
                             hangovers.percentile(95) * 1000))
            }
        }
    }

    /// A recording as a phone line carries it, with silence around it.
    static func telephone(_ input: AudioInput) throws -> [UInt8] {
        let reader = try SndFileAudioDecoder().open(input)
        let samples = Resampler.resample(try reader.readAll(), from: reader.info.sampleRate, to: 8_000)
        return silence(0.5) + TelephoneChannel.encode(samples, from: 8_000) + silence(1.5)
    }

    /// μ-law silence.
    static func silence(_ seconds: Double) -> [UInt8] { [UInt8](repeating: 0xFF, count: Int(seconds * 8_000)) }

    /// A fixture's codes without the synthesizer's leading and trailing silence.
    static func voiced(_ path: String) throws -> [UInt8] {
        let reader = try SndFileAudioDecoder().open(.file(path: path))
        let codes = CallAudioFormat.muLaw8k.encode(try reader.readAll())
        let frames = BenchAudio.frames(codes)
        let voiced = frames.map { BenchAudio.isVoiced(CallAudioFormat.muLaw8k.decode($0)) }
        guard let first = voiced.firstIndex(of: true), let last = voiced.lastIndex(of: true) else { return [] }
        return Array(frames[first...last].joined())
    }

    /// Utterances heard in one turn, and the silence from the last voiced frame to the last utterance's endpoint.
    static func run(_ audio: [UInt8], pool: RecognizerPool, responder: DialogResponder?, fixed: Double, showCuts: Bool) async throws -> (Int, Double?) {
        var configuration = CallConfiguration()
        configuration.initialSearch = .named(StateSearch.domain.searchName)
        configuration.decodingBySearch[StateSearch.domain.searchName] = .live
        configuration.noInputTimeout = nil
        configuration.holdingDelay = nil
        configuration.voiceActivity.endDuration = fixed
        // Fed frame by frame once settled, and measuring where the endpointer ends turns (not when they are answered).
        configuration.decoderBatch = 0
        configuration.answerDuringHangover = false
        let session = try CallSession(id: "endpointer", format: .muLaw8k, configuration: configuration, pool: pool, responder: responder)
        let frames = BenchAudio.frames(audio)
        async let running: Void = session.run()
        for frame in frames {
            session.receive(frame: frame)
            while !session.isSettled { try await Task.sleep(for: .milliseconds(1)) }
        }
        session.hangUp()
        var finals: [UtteranceResult] = []
        for await event in session.events { if case .final(let result) = event { finals.append(result) } }
        await running
        let lastVoiced = frames.lastIndex { BenchAudio.isVoiced(CallAudioFormat.muLaw8k.decode($0)) }.map { Double($0 + 1) * 0.02 }
        let endpoint = finals.map(\.endpointedAt).max()
        if finals.count > 1, showCuts { print("    cut off: " + finals.map { "\"\($0.utterance.text)\"" }.joined(separator: " | ")) }
        return (finals.count, lastVoiced.flatMap { last in endpoint.map { $0 - last } })
    }
}
