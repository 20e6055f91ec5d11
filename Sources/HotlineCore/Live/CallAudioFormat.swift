// MARK: - Call audio format

/// The audio format of one call leg, as the gateway sends and expects it.
public struct CallAudioFormat: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// Sample encoding.
    public var encoding: SampleEncoding
    /// Samples per second.
    public var sampleRate: Int

    /// 8 kHz G.711 μ-law (Twilio, most SIP trunks in North America).
    public static let muLaw8k = CallAudioFormat(encoding: .muLaw, sampleRate: 8_000)
    /// 8 kHz G.711 A-law.
    public static let aLaw8k = CallAudioFormat(encoding: .aLaw, sampleRate: 8_000)
    /// 8 kHz signed 16-bit little-endian (Asterisk AudioSocket `slin`).
    public static let linear8k = CallAudioFormat(encoding: .linear16, sampleRate: 8_000)
    /// 16 kHz signed 16-bit little-endian (wideband legs).
    public static let linear16k = CallAudioFormat(encoding: .linear16, sampleRate: 16_000)

    /// Makes a format; check it with ``validate()``.
    public init(encoding: SampleEncoding, sampleRate: Int) {
        self.encoding = encoding
        self.sampleRate = sampleRate
    }

    /// Throws when the combination is not one a telephone leg uses: G.711 is 8 kHz only; L16 is 8–48 kHz.
    public func validate() throws(CallError) {
        switch encoding {
        case .muLaw, .aLaw:
            guard sampleRate == 8_000 else { throw CallError.unsupportedFormat("\(encoding.rawValue) at \(sampleRate) Hz (G.711 is 8000 Hz only)") }
        case .linear16:
            guard (8_000...48_000).contains(sampleRate) else { throw CallError.unsupportedFormat("L16 at \(sampleRate) Hz (8000 to 48000 Hz)") }
        }
    }

    /// Bytes per sample.
    public var bytesPerSample: Int { encoding == .linear16 ? 2 : 1 }

    /// Bytes in `seconds` of audio.
    public func bytes(forSeconds seconds: Double) -> Int { Int(seconds * Double(sampleRate)) * bytesPerSample }

    /// Whether the leg is narrowband (8 kHz or less): telephone audio.
    public var isNarrowband: Bool { sampleRate <= 8_000 }

    /// "mulaw/8000".
    public var description: String { "\(encoding.rawValue)/\(sampleRate)" }

    /// Encodes float samples (−1…1) to bytes in this format.
    public func encode(_ samples: [Float]) -> [UInt8] {
        let linear = PCM.int16(samples)
        switch encoding {
        case .linear16: return PCM.littleEndianBytes(linear)
        case .muLaw: return G711.muLaw(fromLinear: linear)
        case .aLaw: return G711.aLaw(fromLinear: linear)
        }
    }

    /// Decodes whole samples of bytes in this format (a trailing partial sample is ignored: callers keep it).
    public func decode(_ bytes: some Collection<UInt8>) -> [Float] {
        switch encoding {
        case .linear16: PCM.floats(PCM.int16(littleEndianBytes: bytes))
        case .muLaw: PCM.floats(G711.linear(fromMuLaw: bytes))
        case .aLaw: PCM.floats(G711.linear(fromALaw: bytes))
        }
    }
}

/// Why a call could not take some input. Each names the call concern precisely; the call goes on unless said.
public enum CallError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The audio format is not one a telephone leg uses.
    case unsupportedFormat(String)
    /// A framed audio message had a length that is not a whole number of samples.
    case malformedFrame(String)
    /// Input after the call ended.
    case callEnded
    /// The recognizer failed on an utterance.
    case recognition(String)
    /// Synthesis failed for a prompt.
    case synthesis(String)

    /// The message.
    public var description: String {
        switch self {
        case .unsupportedFormat(let detail): "unsupported audio format: \(detail)"
        case .malformedFrame(let detail): "malformed audio frame: \(detail)"
        case .callEnded: "the call has ended"
        case .recognition(let detail): "recognition failed: \(detail)"
        case .synthesis(let detail): "speech synthesis failed: \(detail)"
        }
    }
}
