import Foundation

// MARK: - Resampler

/// A streaming band-limited sample-rate converter: polyphase windowed-sinc (Kaiser window).
///
/// The ratio is kept exact as `up/down` (for 8 000 → 16 000 that is 2/1, for 44 100 → 16 000 it is 160/441).
/// The low-pass cut-off sits at `cutoff` × the lower of the two Nyquist frequencies, so content the output
/// rate cannot carry is suppressed rather than aliased. Feed chunks of any size with ``process(_:)``;
/// call ``flush()`` once at the end to drain the filter's tail. Output lags input by half the filter length
/// only inside a stream; ``flush()`` returns exactly `ceil(inputCount × outputRate / inputRate)` samples in total.
public struct Resampler: Sendable {
    /// Filter design settings.
    public struct Configuration: Sendable, Equatable {
        /// Zero crossings of the sinc on each side of the centre (filter length grows with it). Default 24.
        public var zeroCrossings: Int = 24
        /// Cut-off as a fraction of the lower Nyquist frequency. Default 0.9.
        public var cutoff: Double = 0.9
        /// Kaiser window β (stop-band attenuation ≈ 8.7 β dB for long filters). Default 8.
        public var kaiserBeta: Double = 8
        /// The most distinct filter phases kept; stranger ratios use the nearest phase. Default 1 024.
        public var maximumPhases: Int = 1_024

        /// Default settings.
        public init() {}
    }

    /// Input samples per second.
    public let inputRate: Int
    /// Output samples per second.
    public let outputRate: Int

    private let up: Int
    private let down: Int
    private let halfWidth: Int
    private let taps: Int
    private let phases: Int
    private let coefficients: [Float]
    private let identity: Bool

    private var buffer: [Float]
    private var base = 0  // index in `buffer` of the input sample at or before the next output time
    private var phase = 0  // next output time = base + phase / up
    private var consumedIn = 0  // input samples received
    private var produced = 0  // output samples returned

    /// Makes a resampler from `inputRate` to `outputRate` (both positive).
    public init(from inputRate: Int, to outputRate: Int, configuration: Configuration = Configuration()) {
        precondition(inputRate > 0 && outputRate > 0, "sample rates must be positive")
        self.inputRate = inputRate
        self.outputRate = outputRate
        let divisor = Resampler.gcd(inputRate, outputRate)
        up = outputRate / divisor
        down = inputRate / divisor
        identity = up == down
        // Cut-off in cycles per input sample.
        let cutoff = 0.5 * configuration.cutoff * min(1, Double(up) / Double(down))
        halfWidth = identity ? 0 : Int((Double(configuration.zeroCrossings) / (2 * cutoff)).rounded(.up))
        taps = 2 * halfWidth
        phases = min(up, configuration.maximumPhases)
        var table = [Float](repeating: 0, count: identity ? 0 : phases * taps)
        if !identity {
            let beta = configuration.kaiserBeta
            let norm = Resampler.besselI0(beta)
            for p in 0..<phases {
                let fraction = Double(p) / Double(phases)
                var row = [Double](repeating: 0, count: taps)
                for j in 0..<taps {
                    // Tap j multiplies input sample (base - halfWidth + 1 + j); the output sits at base + fraction.
                    let tau = fraction - Double(j - halfWidth + 1)
                    let x = tau / Double(halfWidth)
                    guard abs(x) < 1 else { continue }
                    let window = Resampler.besselI0(beta * (1 - x * x).squareRoot()) / norm
                    let argument = 2 * cutoff * tau
                    let sinc = argument == 0 ? 1 : sin(Double.pi * argument) / (Double.pi * argument)
                    row[j] = 2 * cutoff * sinc * window
                }
                // Normalise each phase to unity DC gain so a constant stays constant.
                let sum = row.reduce(0, +)
                for j in 0..<taps { table[p * taps + j] = Float(row[j] / sum) }
            }
        }
        coefficients = table
        // Start with half a filter of silence so the first output is centred on the first input.
        buffer = [Float](repeating: 0, count: halfWidth == 0 ? 0 : halfWidth - 1)
        base = buffer.count
    }

    /// Converts a whole recording in one go (the streaming pair ``process(_:)`` + ``flush()``).
    public static func resample(_ samples: [Float], from inputRate: Int, to outputRate: Int) -> [Float] {
        var resampler = Resampler(from: inputRate, to: outputRate)
        return resampler.process(samples) + resampler.flush()
    }

    /// Converts the next chunk of input; returns whatever output is ready (possibly none).
    public mutating func process(_ input: [Float]) -> [Float] {
        consumedIn += input.count
        if identity {
            produced += input.count
            return input
        }
        buffer.append(contentsOf: input)
        return drain(limit: Int.max)
    }

    /// Ends the stream: returns the remaining output so that the total matches the rate ratio exactly.
    public mutating func flush() -> [Float] {
        guard !identity else { return [] }
        let total = (consumedIn * up + down - 1) / down
        buffer.append(contentsOf: repeatElement(0, count: halfWidth + 1))
        let output = drain(limit: total - produced)
        buffer.removeAll(keepingCapacity: false)
        return output
    }

    private mutating func drain(limit: Int) -> [Float] {
        var output: [Float] = []
        let available = buffer.count - halfWidth  // the last base whose taps are all present, plus one
        guard base < available, limit > 0 else { return output }
        output.reserveCapacity(min(limit, (available - base) * up / down + 1))
        let taps = self.taps, up = self.up, down = self.down, phases = self.phases
        buffer.withUnsafeBufferPointer { input in
            coefficients.withUnsafeBufferPointer { table in
                while base < available, output.count < limit {
                    let row = (phases == up ? phase : phase * phases / up) * taps
                    let start = base - halfWidth + 1
                    // Eight lanes at a time (the compiler may not reorder a float sum itself), then the rest.
                    var lanes = SIMD8<Float>()
                    var j = 0
                    let samples = UnsafeRawPointer(input.baseAddress! + start), weights = UnsafeRawPointer(table.baseAddress! + row)
                    while j + 8 <= taps {
                        lanes += samples.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)
                            * weights.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)
                        j += 8
                    }
                    var sum = lanes.sum()
                    while j < taps {
                        sum += input[start + j] * table[row + j]
                        j += 1
                    }
                    output.append(sum)
                    phase += down
                    base += phase / up
                    phase %= up
                }
            }
        }
        produced += output.count
        // Drop input no future output needs.
        let keepFrom = max(0, base - halfWidth + 1)
        if keepFrom > 4_096 {
            buffer.removeFirst(keepFrom)
            base -= keepFrom
        }
        return output
    }

    // MARK: - Helpers

    private static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }

    /// Modified Bessel function of the first kind, order 0 (power series).
    private static func besselI0(_ x: Double) -> Double {
        var sum = 1.0, term = 1.0, k = 1.0
        let half = x / 2
        while term > 1e-12 * sum {
            term *= (half / k) * (half / k)
            sum += term
            k += 1
        }
        return sum
    }
}
