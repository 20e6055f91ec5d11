// MARK: - Telephone channel

/// A narrowband telephone leg: 8 kHz G.711, as IVR gateways carry calls.
public enum TelephoneChannel {
    /// The sample rate of a telephone leg.
    public static let sampleRate = 8_000

    /// Resamples audio at `rate` to 8 kHz (band-limited) and encodes it to μ-law.
    public static func encode(_ samples: [Float], from rate: Int) -> [UInt8] {
        G711.muLaw(fromLinear: PCM.int16(Resampler.resample(samples, from: rate, to: sampleRate)))
    }

    /// Decodes μ-law at 8 kHz and resamples to `rate`.
    public static func decode(_ codes: [UInt8], to rate: Int) -> [Float] {
        Resampler.resample(PCM.floats(G711.linear(fromMuLaw: codes)), from: sampleRate, to: rate)
    }
}
