import Testing
@testable import HotlineCore

@Suite struct VoiceActivityDetectorTests {
    /// Pseudo-random noise with a fixed seed (speech-like bursts and a quiet background).
    static func noise(seconds: Double, amplitude: Float, seed: UInt64 = 1) -> [Float] {
        var state = seed
        return (0..<Int(seconds * 16_000)).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return amplitude * (Float(state >> 40) / Float(1 << 24) * 2 - 1)
        }
    }

    static func segments(_ events: [VoiceActivityEvent]) -> [SpeechSegment] {
        events.compactMap { if case .segment(let segment) = $0 { segment } else { nil } }
    }

    static func run(_ audio: [Float], chunk: Int = 320, configuration: VoiceActivityDetector.Configuration = .init()) -> [VoiceActivityEvent] {
        var detector = VoiceActivityDetector(sampleRate: 16_000, configuration: configuration)
        var events: [VoiceActivityEvent] = []
        var index = 0
        while index < audio.count {
            events += detector.process(Array(audio[index..<min(index + chunk, audio.count)]))
            index += chunk
        }
        return events + detector.flush()
    }

    @Test func findsABurstBetweenSilencesWithPadding() {
        let audio = Self.noise(seconds: 1, amplitude: 0.001) + Self.noise(seconds: 1.5, amplitude: 0.3, seed: 2) + Self.noise(seconds: 1, amplitude: 0.001, seed: 3)
        let events = Self.run(audio)
        let segments = Self.segments(events)
        #expect(segments.count == 1)
        guard let segment = segments.first else { return }
        #expect(events.first == .speechStarted(sample: 16_000))
        // 0.25 s of padding either side of the 1.5 s burst.
        #expect(abs(segment.startSample - 12_000) <= 160)
        #expect(abs(segment.endSample - 44_000) <= 320)
        #expect(!segment.wasSplit)
    }

    @Test func separatesUtterancesByPausesLongerThanTheEndHangover() {
        let quiet = { (seed: UInt64) in Self.noise(seconds: 0.8, amplitude: 0.001, seed: seed) }
        let loud = { (seed: UInt64) in Self.noise(seconds: 0.6, amplitude: 0.2, seed: seed) }
        let audio = quiet(1) + loud(2) + quiet(3) + loud(4) + Self.noise(seconds: 0.2, amplitude: 0.001, seed: 5) + loud(6) + quiet(7)
        let segments = Self.segments(Self.run(audio))
        // The 0.8 s pause splits; the 0.2 s pause (shorter than the 0.5 s hangover) does not.
        #expect(segments.count == 2)
        #expect(segments.last.map { $0.samples.count > 16_000 } == true)
    }

    @Test func dropsClicksShorterThanTheMinimum() {
        let audio = Self.noise(seconds: 1, amplitude: 0.001) + Self.noise(seconds: 0.07, amplitude: 0.5, seed: 9) + Self.noise(seconds: 1, amplitude: 0.001, seed: 3)
        let events = Self.run(audio)
        #expect(Self.segments(events).isEmpty)
        #expect(events.last == .speechDiscarded)
    }

    @Test func cutsACallerWhoNeverStops() {
        var configuration = VoiceActivityDetector.Configuration()
        configuration.maximumDuration = 4
        let audio = Self.noise(seconds: 0.5, amplitude: 0.001) + Self.noise(seconds: 11, amplitude: 0.2, seed: 4) + Self.noise(seconds: 1, amplitude: 0.001, seed: 5)
        let segments = Self.segments(Self.run(audio, configuration: configuration))
        #expect(segments.count >= 3)
        #expect(segments.allSatisfy { $0.samples.count <= 4 * 16_000 })
        #expect(segments.dropLast().allSatisfy { $0.wasSplit })
        // Nothing is lost between pieces: each starts where the previous ended.
        for (previous, next) in zip(segments, segments.dropFirst()) { #expect(previous.endSample == next.startSample) }
    }

    @Test(arguments: [1, 33, 160, 4_000, 100_000])
    func chunkSizeDoesNotChangeTheSegments(chunk: Int) {
        let audio = Self.noise(seconds: 0.7, amplitude: 0.002) + Self.noise(seconds: 0.9, amplitude: 0.25, seed: 8) + Self.noise(seconds: 0.9, amplitude: 0.002, seed: 6)
            + Self.noise(seconds: 0.4, amplitude: 0.25, seed: 10) + Self.noise(seconds: 0.3, amplitude: 0.002, seed: 11)
        #expect(Self.run(audio, chunk: chunk) == Self.run(audio, chunk: 320))
    }

    @Test func silenceGivesNothing() {
        #expect(Self.run([Float](repeating: 0, count: 48_000)).isEmpty)
    }
}
