import Foundation
import HotlineCore
import HotlineEngines
import Testing

@Suite struct SynthesisTests {
    @Test func speechIsSynthesizedAt22kHzInChunks() async throws {
        let synthesizer = try ESpeakSynthesizer.shared()
        #expect(synthesizer.sampleRate == 22_050)
        let chunks = Counter()
        try await synthesizer.synthesize("Thank you for calling. How can I help you today?", voice: VoiceSettings()) { chunk in
            chunks.add(chunk.count)
        }
        #expect(chunks.count > 5)  // streamed in ~100 ms blocks, not one buffer
        let seconds = Double(chunks.total) / 22_050
        #expect(seconds > 1.5 && seconds < 6, "\(seconds) s")
    }

    @Test func rateChangesTheLength() async throws {
        let synthesizer = try ESpeakSynthesizer.shared()
        let text = "Your balance is one hundred and twenty dollars."
        let slow = try await synthesizer.synthesizeSamples(text, voice: VoiceSettings(voice: "en-us", rate: 120, pitch: 50))
        let fast = try await synthesizer.synthesizeSamples(text, voice: VoiceSettings(voice: "en-us", rate: 300, pitch: 50))
        #expect(Double(slow.count) > Double(fast.count) * 1.7)
    }

    @Test func anUnknownVoiceIsNamed() async throws {
        let synthesizer = try ESpeakSynthesizer.shared()
        await #expect {
            _ = try await synthesizer.synthesizeSamples("hello", voice: VoiceSettings(voice: "no-such-voice", rate: 165, pitch: 50))
        } throws: { error in
            String(describing: error).contains("no-such-voice")
        }
    }

    @Test func voicesAndPhonemesAreAvailable() async throws {
        let synthesizer = try ESpeakSynthesizer.shared()
        let voices = await synthesizer.voices()
        #expect(voices.contains { $0.languages.contains("en-us") })
        let phonemes = try await synthesizer.phonemes(for: "hello")
        #expect(!phonemes.isEmpty)
    }

    @Test func synthesizedSpeechSurvivesATelephoneChannelAndIsRecognisedWithAGrammar() async throws {
        // espeak-ng's voice recognises poorly with the general model; only a grammar-constrained check is fair.
        let synthesizer = try ESpeakSynthesizer.shared()
        var configuration = PocketSphinxConfiguration()
        configuration.grammar = Fixtures.data + "/goforward.gram"
        let recognizer = try PocketSphinxRecognizer(configuration: configuration)
        let samples = PCM.floats(try await synthesizer.synthesizeSamples("go forward ten meters"))
        let phone = TelephoneChannel.decode(TelephoneChannel.encode(samples, from: synthesizer.sampleRate), to: 16_000)
        #expect(abs(phone.count - samples.count * 16_000 / synthesizer.sampleRate) <= 2)
        let padded = [Float](repeating: 0, count: 4_000) + phone + [Float](repeating: 0, count: 4_000)
        #expect(try recognizer.recognize(padded).text == "go forward ten meters")
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var chunks = 0
    private var samples = 0
    func add(_ n: Int) { lock.withLock { chunks += 1; samples += n } }
    var count: Int { lock.withLock { chunks } }
    var total: Int { lock.withLock { samples } }
}
