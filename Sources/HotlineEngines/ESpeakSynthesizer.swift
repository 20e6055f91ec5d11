public import HotlineCore
import ESpeakNG

// MARK: - espeak-ng synthesizer

/// Speech synthesis with espeak-ng. espeak-ng is process-global, so this actor is the one owner of it:
/// every instance shares ``shared``'s engine through the actor's serial executor.
public actor ESpeakSynthesizer: SpeechSynthesizing {
    private let speaker: Speaker
    private var current: VoiceSettings?
    /// Samples per second of the audio produced (22 050).
    public nonisolated let sampleRate: Int

    /// The process's synthesizer.
    public static func shared() throws -> ESpeakSynthesizer {
        try instance.get()
    }

    private static let instance: Result<ESpeakSynthesizer, any Error> = Result {
        ESpeakSynthesizer(speaker: try Speaker.shared())
    }

    private init(speaker: Speaker) {
        self.speaker = speaker
        sampleRate = speaker.sampleRate
    }

    /// The installed voices.
    public func voices() -> [InstalledVoice] {
        speaker.voices().map { InstalledVoice(name: $0.name, identifier: $0.identifier, languages: $0.languages) }
    }

    /// Synthesizes text, handing each block (about 100 ms) to `chunk` as espeak-ng produces it.
    /// Cancelling the calling task stops synthesis at the next block.
    public func synthesize(_ text: String, voice: VoiceSettings, chunk: @Sendable ([Float]) -> Void) throws {
        try apply(voice)
        try speaker.synthesize(text) { samples in
            guard !Task.isCancelled else { return false }
            chunk(samples.map { Float($0) / 32_768 })
            return true
        }
    }

    /// Synthesizes text to 16-bit samples at ``sampleRate``.
    public func synthesizeSamples(_ text: String, voice: VoiceSettings = VoiceSettings()) throws -> [Int16] {
        try apply(voice)
        var samples: [Int16] = []
        try speaker.synthesize(text) { block in
            samples.append(contentsOf: block)
            return true
        }
        return samples
    }

    /// espeak-ng's phonemes for text (its ASCII notation).
    public func phonemes(for text: String, voice: VoiceSettings = VoiceSettings()) throws -> String {
        try apply(voice)
        return speaker.phonemes(for: text)
    }

    private func apply(_ voice: VoiceSettings) throws {
        guard voice != current else { return }
        try speaker.setVoice(voice.voice)
        try speaker.setRate(max(80, min(450, voice.rate)))
        try speaker.setPitch(max(0, min(100, voice.pitch)))
        current = voice
    }
}
