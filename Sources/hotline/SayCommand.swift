import ArgumentParser
import Foundation
import HotlineCore
import HotlineEngines
import SndFile

// MARK: - hotline say

/// Audio formats `hotline say` writes.
enum SpeechFileFormat: String, CaseIterable, ExpressibleByArgument {
    /// WAV, 16-bit PCM at espeak-ng's 22 050 Hz.
    case wav
    /// WAV, 16-bit PCM at 16 kHz (the recognizer's rate, wideband legs).
    case wav16k
    /// WAV, 16-bit PCM at 8 kHz (L16 telephone legs).
    case wav8k
    /// WAV, G.711 μ-law at 8 kHz (telephone legs).
    case ulaw

    var sampleRate: Int? {
        switch self {
        case .wav: nil
        case .wav16k: 16_000
        case .wav8k, .ulaw: 8_000
        }
    }
}

struct SayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "say",
        abstract: "Synthesize speech with espeak-ng into a WAV file.",
        discussion: "TEXT '-' reads the text from standard input. Telephone legs want --audio-format ulaw (8 kHz μ-law)."
    )

    @Argument(help: "The text to speak, or '-' to read it from standard input.")
    var text: String?

    @Option(name: .shortAndLong, help: "Output WAV file.")
    var output: String?

    @Option(help: "Voice name or language (see --list-voices).")
    var voice: String = VoiceSettings().voice

    @Option(help: "Speaking rate, words per minute (80-450).")
    var rate: Int = VoiceSettings().rate

    @Option(help: "Base pitch (0-100).")
    var pitch: Int = VoiceSettings().pitch

    @Option(help: "wav (22050 Hz), wav16k, wav8k or ulaw (8 kHz μ-law).")
    var audioFormat: SpeechFileFormat = .wav

    @Flag(help: "List the installed voices and exit.")
    var listVoices = false

    func validate() throws {
        if !listVoices {
            guard text != nil else { throw ValidationError("give the text to speak (or '-' for standard input)") }
            guard output != nil else { throw ValidationError("give the output file with -o FILE") }
        }
        if !(80...450).contains(rate) { throw ValidationError("--rate must be between 80 and 450 words per minute") }
        if !(0...100).contains(pitch) { throw ValidationError("--pitch must be between 0 and 100") }
    }

    func run() async throws {
        let synthesizer = try ESpeakSynthesizer.shared()
        if listVoices {
            for voice in await synthesizer.voices() {
                print("\(voice.identifier)\t\(voice.name)\t\(voice.languages.joined(separator: ","))")
            }
            return
        }
        guard let text, let output else { return }
        let content = text == "-" ? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) : text
        guard !content.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw ValidationError("the text to speak is empty")
        }
        let settings = VoiceSettings(voice: voice, rate: rate, pitch: pitch)
        let samples: [Int16]
        do {
            samples = try await synthesizer.synthesizeSamples(content, voice: settings)
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        let sourceRate = synthesizer.sampleRate
        let targetRate = audioFormat.sampleRate ?? sourceRate
        var floats = PCM.floats(samples)
        if targetRate != sourceRate {
            floats = Resampler.resample(floats, from: sourceRate, to: targetRate)
        }
        do {
            let file = try SoundFile(writingPath: output, format: audioFormat == .ulaw ? .wavMuLaw : .wav16, sampleRate: targetRate)
            try file.write(shorts: PCM.int16(floats))
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
    }
}
