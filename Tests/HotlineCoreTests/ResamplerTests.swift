import Foundation
import Testing
@testable import HotlineCore

/// Signal helpers for the audio tests.
enum Signal {
    static func tone(_ frequency: Double, rate: Int, seconds: Double, amplitude: Float = 0.5) -> [Float] {
        (0..<Int(Double(rate) * seconds)).map { amplitude * Float(sin(2 * Double.pi * frequency * Double($0) / Double(rate))) }
    }

    static func rms(_ samples: some Collection<Float>) -> Double {
        guard !samples.isEmpty else { return 0 }
        return (samples.reduce(0.0) { $0 + Double($1 * $1) } / Double(samples.count)).squareRoot()
    }

    /// Power of one frequency (Goertzel), normalised to the RMS amplitude of a sinusoid at that frequency.
    static func level(of frequency: Double, in samples: [Float], rate: Int) -> Double {
        let omega = 2 * Double.pi * frequency / Double(rate)
        let coefficient = 2 * cos(omega)
        var s1 = 0.0, s2 = 0.0
        for sample in samples {
            let s0 = Double(sample) + coefficient * s1 - s2
            s2 = s1
            s1 = s0
        }
        let power = s1 * s1 + s2 * s2 - coefficient * s1 * s2
        return (2 * power).squareRoot() / Double(samples.count) / 2.squareRoot()
    }

    /// Frequency from the count of upward zero crossings.
    static func frequency(_ samples: [Float], rate: Int) -> Double {
        var crossings = 0
        for i in 1..<samples.count where samples[i - 1] < 0 && samples[i] >= 0 { crossings += 1 }
        return Double(crossings) * Double(rate) / Double(samples.count)
    }

    static func decibels(_ ratio: Double) -> Double { 20 * log10(max(ratio, 1e-12)) }
}

@Suite struct ResamplerTests {
    @Test(arguments: [(8_000, 16_000, 1_000.0), (44_100, 16_000, 3_000.0), (22_050, 16_000, 440.0), (48_000, 16_000, 2_500.0),
                      (16_000, 8_000, 1_200.0), (11_025, 16_000, 2_000.0), (7_999, 16_000, 800.0)])
    func aToneKeepsItsFrequencyAndLevel(input: Int, output: Int, frequency: Double) {
        var resampler = Resampler(from: input, to: output)
        let tone = Signal.tone(frequency, rate: input, seconds: 1)
        let result = resampler.process(tone) + resampler.flush()
        #expect(result.count == (tone.count * output + input - 1) / input)
        let middle = Array(result[output / 10..<output * 9 / 10])
        #expect(abs(Signal.frequency(middle, rate: output) - frequency) < 3, "\(input)→\(output)")
        let inputLevel = Signal.rms(tone)
        #expect(abs(Signal.decibels(Signal.rms(middle) / inputLevel)) < 0.2, "passband gain \(input)→\(output)")
    }

    @Test(arguments: [(48_000, 16_000, 10_000.0), (44_100, 16_000, 9_000.0), (22_050, 16_000, 9_500.0), (16_000, 8_000, 5_000.0)])
    func contentAboveTheNewNyquistIsSuppressed(input: Int, output: Int, frequency: Double) {
        var resampler = Resampler(from: input, to: output)
        let tone = Signal.tone(frequency, rate: input, seconds: 1)
        let result = resampler.process(tone) + resampler.flush()
        let middle = Array(result[output / 10..<output * 9 / 10])
        let attenuation = Signal.decibels(Signal.rms(middle) / Signal.rms(tone))
        #expect(attenuation < -60, "\(frequency) Hz at \(input)→\(output) only \(attenuation) dB down")
    }

    @Test func upsamplingAddsNoImageAboveTheOldNyquist() {
        // 8 kHz → 16 kHz: a 3 kHz tone must not leave its 5 kHz image.
        var resampler = Resampler(from: 8_000, to: 16_000)
        let result = resampler.process(Signal.tone(3_000, rate: 8_000, seconds: 1)) + resampler.flush()
        let middle = Array(result[1_600..<14_400])
        let image = Signal.level(of: 5_000, in: middle, rate: 16_000)
        let wanted = Signal.level(of: 3_000, in: middle, rate: 16_000)
        #expect(Signal.decibels(image / wanted) < -60)
    }

    @Test(arguments: [1, 7, 160, 1_000, 48_000])
    func chunkSizeDoesNotChangeTheOutput(chunk: Int) {
        let input = Signal.tone(700, rate: 44_100, seconds: 0.5) + Signal.tone(1_900, rate: 44_100, seconds: 0.5)
        var whole = Resampler(from: 44_100, to: 16_000)
        let expected = whole.process(input) + whole.flush()
        var streaming = Resampler(from: 44_100, to: 16_000)
        var output: [Float] = []
        var index = 0
        while index < input.count {
            output += streaming.process(Array(input[index..<min(index + chunk, input.count)]))
            index += chunk
        }
        output += streaming.flush()
        #expect(output == expected)
    }

    @Test func sameRateIsIdentity() {
        var resampler = Resampler(from: 16_000, to: 16_000)
        let input = Signal.tone(1_000, rate: 16_000, seconds: 0.1)
        #expect(resampler.process(input) == input)
        #expect(resampler.flush().isEmpty)
    }

    @Test func aConstantStaysConstant() {
        var resampler = Resampler(from: 8_000, to: 16_000)
        let result = resampler.process([Float](repeating: 0.25, count: 8_000)) + resampler.flush()
        for sample in result[200..<15_800] { #expect(abs(sample - 0.25) < 1e-4) }
    }

    @Test func telephoneRoundTripKeepsSpeechBandTones() {
        let tone = Signal.tone(1_000, rate: 16_000, seconds: 1, amplitude: 0.3)
        let back = TelephoneChannel.decode(TelephoneChannel.encode(tone, from: 16_000), to: 16_000)
        #expect(back.count == tone.count)
        let middle = Array(back[1_600..<14_400])
        #expect(abs(Signal.frequency(middle, rate: 16_000) - 1_000) < 3)
        #expect(abs(Signal.decibels(Signal.rms(middle) / Signal.rms(tone))) < 0.5)
    }
}
