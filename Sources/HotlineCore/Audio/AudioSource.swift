// MARK: - Inputs

/// How samples are encoded in a headerless stream or file.
public enum SampleEncoding: String, Sendable, CaseIterable, Codable {
    /// Signed 16-bit little-endian linear PCM (L16 on the wire is big-endian; gateways here send little-endian).
    case linear16 = "s16le"
    /// G.711 μ-law.
    case muLaw = "mulaw"
    /// G.711 A-law.
    case aLaw = "alaw"
}

/// An audio file to read: self-describing (WAV, FLAC, Ogg, AIFF, AU, …) or headerless.
public enum AudioInput: Sendable, Equatable, CustomStringConvertible {
    /// A file whose header says its format.
    case file(path: String)
    /// A headerless file of the given encoding, rate and channel count.
    case raw(path: String, encoding: SampleEncoding, sampleRate: Int, channels: Int)

    /// The file's path.
    public var path: String {
        switch self {
        case .file(let path), .raw(let path, _, _, _): path
        }
    }

    /// The path, for messages.
    public var description: String { path }
}

/// What a reader found in the header.
public struct AudioSourceInfo: Sendable, Equatable {
    /// Samples per second per channel.
    public var sampleRate: Int
    /// Channels per frame.
    public var channels: Int
    /// Frames in the file, when the header says.
    public var frameCount: Int?
    /// Container and encoding, for messages and summaries.
    public var formatName: String

    /// Makes a description of a source.
    public init(sampleRate: Int, channels: Int, frameCount: Int?, formatName: String) {
        self.sampleRate = sampleRate
        self.channels = channels
        self.frameCount = frameCount
        self.formatName = formatName
    }

    /// Length in seconds, when the frame count is known.
    public var duration: Double? { frameCount.map { Double($0) / Double(sampleRate) } }
}

// MARK: - Errors

/// Why an audio input could not be read. The message names the file and the reason.
public struct AudioError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The kinds of failure a batch reports separately.
    public enum Kind: String, Sendable, Codable {
        /// No file at the path.
        case missing
        /// The file exists but cannot be opened (permissions, a directory).
        case unreadable
        /// The file has no bytes or no samples.
        case empty
        /// The format or encoding is not one the decoder reads.
        case unsupported
        /// The header or data is damaged.
        case corrupt
    }

    /// The kind of failure.
    public var kind: Kind
    /// The file concerned.
    public var path: String
    /// What was wrong, in the decoder's words.
    public var reason: String

    /// Makes an error.
    public init(_ kind: Kind, path: String, reason: String) {
        self.kind = kind
        self.path = path
        self.reason = reason
    }

    /// "path: reason (kind)".
    public var description: String { "\(path): \(reason) (\(kind.rawValue))" }
}

// MARK: - Protocols

/// An open audio stream, read block by block so memory stays flat however long the file is.
public protocol AudioReading: AnyObject {
    /// Rate, channels and format of the source.
    var info: AudioSourceInfo { get }
    /// The next block of at most `maxFrames` frames, one float array (−1…1) per channel; `nil` at the end.
    func readBlock(maxFrames: Int) throws(AudioError) -> [[Float]]?
}

/// Opens audio inputs for reading.
public protocol AudioDecoding: Sendable {
    /// Opens the input, or throws an ``AudioError`` naming the file and the reason.
    func open(_ input: AudioInput) throws(AudioError) -> any AudioReading
}

// MARK: - Sample conversion

/// Conversions between float samples (−1…1) and 16-bit PCM.
public enum PCM {
    /// Float samples to 16-bit, clipped and rounded.
    public static func int16(_ samples: some Collection<Float>) -> [Int16] {
        samples.map { Int16(max(-32_768, min(32_767, ($0 * 32_768).rounded()))) }
    }

    /// 16-bit samples to floats in −1…1.
    public static func floats(_ samples: some Collection<Int16>) -> [Float] {
        samples.map { Float($0) / 32_768 }
    }

    /// Interleaved 16-bit little-endian bytes to samples; a trailing odd byte is an error the caller must report.
    public static func int16(littleEndianBytes bytes: some Collection<UInt8>) -> [Int16] {
        var result: [Int16] = []
        result.reserveCapacity(bytes.count / 2)
        var iterator = bytes.makeIterator()
        while let low = iterator.next(), let high = iterator.next() {
            result.append(Int16(bitPattern: UInt16(low) | UInt16(high) << 8))
        }
        return result
    }

    /// Samples to 16-bit little-endian bytes.
    public static func littleEndianBytes(_ samples: [Int16]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(samples.count * 2)
        for sample in samples {
            let value = UInt16(bitPattern: sample)
            bytes.append(UInt8(value & 0xFF))
            bytes.append(UInt8(value >> 8))
        }
        return bytes
    }
}

extension AudioReading {
    /// Reads the rest of one channel into memory (for short recordings: prompts, test and benchmark material).
    public func readAll(channel: Int = 0) throws(AudioError) -> [Float] {
        var samples: [Float] = []
        while let block = try readBlock(maxFrames: 65_536) { samples += block[min(channel, block.count - 1)] }
        return samples
    }
}
