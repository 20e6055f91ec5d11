// MARK: - Telephone channel

/// A narrowband telephone leg: 8 kHz G.711, as IVR gateways carry calls.
public enum TelephoneChannel {
    /// The sample rate of a telephone leg.
    public static let sampleRate = 8_000

    /// Resamples audio at `rate` to 8 kHz (band-limited) and encodes it to μ-law.
    public static func encode(_ samples: [Float], from rate: Int) -> [UInt8] {
        var resampler = Resampler(from: rate, to: sampleRate)
        let narrow = resampler.process(samples) + resampler.flush()
        return G711.muLaw(fromLinear: PCM.int16(narrow))
    }

    /// Decodes μ-law at 8 kHz and resamples to `rate`.
    public static func decode(_ codes: [UInt8], to rate: Int) -> [Float] {
        var resampler = Resampler(from: sampleRate, to: rate)
        let linear = PCM.floats(G711.linear(fromMuLaw: codes))
        return resampler.process(linear) + resampler.flush()
    }
}
