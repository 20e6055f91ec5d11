// MARK: - Synthesis

/// Voice settings for speech synthesis.
public struct VoiceSettings: Sendable, Equatable, Hashable {
    /// Voice name or language, such as "en-us". Default "en-us".
    public var voice: String = "en-us"
    /// Words per minute (80…450). Default 165, a little slower than normal, for phone lines.
    public var rate: Int = 165
    /// Base pitch 0…100. Default 50.
    public var pitch: Int = 50

    /// Default settings.
    public init() {}

    /// Settings with the given values.
    public init(voice: String, rate: Int, pitch: Int) {
        self.voice = voice
        self.rate = rate
        self.pitch = pitch
    }
}

/// A speech synthesizer that streams audio as it is produced.
public protocol SpeechSynthesizing: Sendable {
    /// The rate of the audio it produces.
    var sampleRate: Int { get }
    /// Synthesizes text; `chunk` receives each block of float samples (−1…1) as soon as it exists.
    func synthesize(_ text: String, voice: VoiceSettings, chunk: @Sendable ([Float]) -> Void) async throws
}

/// A voice a synthesizer offers.
public struct InstalledVoice: Sendable, Equatable {
    /// The voice's name.
    public var name: String
    /// The identifier to select it with.
    public var identifier: String
    /// Languages it speaks, most preferred first.
    public var languages: [String]

    /// Makes a voice description.
    public init(name: String, identifier: String, languages: [String]) {
        self.name = name
        self.identifier = identifier
        self.languages = languages
    }
}
