internal import CSndFile

// MARK: - Errors

/// An error from libsndfile, naming the file and what libsndfile said was wrong with it.
public struct SndFileError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What failed, in words a person can act on.
    public let description: String

    /// Makes an error with the given description.
    public init(_ description: String) { self.description = description }
}

/// The one place libsndfile's error state is turned into a thrown error.
func check(_ handle: OpaquePointer?, _ what: @autoclosure () -> String) throws(SndFileError) {
    let code = sf_error(handle)
    guard code != 0 else { return }
    let reason = sf_strerror(handle).map { String(cString: $0) } ?? "error \(code)"
    throw SndFileError("\(what()): \(reason)")
}

// MARK: - Formats

/// Sample encodings libsndfile reads from headerless (raw) files.
public enum RawEncoding: String, Sendable, CaseIterable {
    /// Signed 16-bit little-endian PCM.
    case s16le
    /// G.711 μ-law, 8 bits per sample.
    case mulaw
    /// G.711 A-law, 8 bits per sample.
    case alaw
}

/// Container and encoding of a file to write.
public enum WriteFormat: String, Sendable, CaseIterable {
    /// WAV, signed 16-bit PCM.
    case wav16
    /// WAV, G.711 μ-law.
    case wavMuLaw
    /// WAV, G.711 A-law.
    case wavALaw
    /// WAV, 32-bit float.
    case wavFloat
    /// FLAC, 16-bit.
    case flac
    /// Ogg Vorbis.
    case oggVorbis
    /// AIFF, 16-bit PCM.
    case aiff
    /// Sun/NeXT AU, G.711 μ-law.
    case auMuLaw

    var flags: Int32 {
        let value: Int
        switch self {
        case .wav16: value = SF_FORMAT_WAV | SF_FORMAT_PCM_16
        case .wavMuLaw: value = SF_FORMAT_WAV | SF_FORMAT_ULAW
        case .wavALaw: value = SF_FORMAT_WAV | SF_FORMAT_ALAW
        case .wavFloat: value = SF_FORMAT_WAV | SF_FORMAT_FLOAT
        case .flac: value = SF_FORMAT_FLAC | SF_FORMAT_PCM_16
        case .oggVorbis: value = SF_FORMAT_OGG | SF_FORMAT_VORBIS
        case .aiff: value = SF_FORMAT_AIFF | SF_FORMAT_PCM_16
        case .auMuLaw: value = SF_FORMAT_AU | SF_FORMAT_ULAW
        }
        return Int32(value)
    }
}

// MARK: - Sound file

/// An open sound file (reading or writing), closed when released.
///
/// Not thread-safe and deliberately not `Sendable`.
public final class SoundFile {
    private let handle: OpaquePointer
    /// The path the file was opened with (for messages).
    public let path: String
    /// Sample frames in the file (reading) or written so far (writing).
    public private(set) var frames: Int
    /// Frames per second.
    public let sampleRate: Int
    /// Interleaved channels per frame.
    public let channels: Int
    /// libsndfile's name for the container and encoding, such as "WAV (Microsoft) / Signed 16 bit PCM".
    public let formatName: String

    /// Opens a file of any format libsndfile recognises from its header.
    public convenience init(readingPath path: String) throws(SndFileError) {
        var info = SF_INFO()
        try self.init(path: path, mode: SFM_READ, info: &info)
    }

    /// Opens a headerless file of the given encoding, rate and channel count.
    public convenience init(readingRawPath path: String, encoding: RawEncoding, sampleRate: Int, channels: Int = 1)
        throws(SndFileError)
    {
        guard sampleRate > 0, channels > 0 else {
            throw SndFileError("\(path): raw audio needs a positive sample rate and channel count")
        }
        var info = SF_INFO()
        info.samplerate = Int32(sampleRate)
        info.channels = Int32(channels)
        let subtype: Int
        switch encoding {
        case .s16le: subtype = SF_FORMAT_PCM_16 | SF_ENDIAN_LITTLE
        case .mulaw: subtype = SF_FORMAT_ULAW
        case .alaw: subtype = SF_FORMAT_ALAW
        }
        info.format = Int32(SF_FORMAT_RAW | subtype)
        try self.init(path: path, mode: SFM_READ, info: &info)
    }

    /// Creates (or truncates) a file to write in the given format.
    public convenience init(writingPath path: String, format: WriteFormat, sampleRate: Int, channels: Int = 1)
        throws(SndFileError)
    {
        var info = SF_INFO()
        info.samplerate = Int32(sampleRate)
        info.channels = Int32(channels)
        info.format = format.flags
        guard sf_format_check(&info) != 0 else {
            throw SndFileError("\(path): libsndfile cannot write \(format.rawValue) at \(sampleRate) Hz, \(channels) channel(s)")
        }
        try self.init(path: path, mode: SFM_WRITE, info: &info)
    }

    private init(path: String, mode: Int, info: inout SF_INFO) throws(SndFileError) {
        guard let handle = sf_open(path, Int32(mode), &info) else {
            let reason = sf_strerror(nil).map { String(cString: $0) } ?? "unknown error"
            throw SndFileError("\(path): \(reason)")
        }
        self.handle = handle
        self.path = path
        frames = mode == SFM_READ ? Int(info.frames) : 0
        sampleRate = Int(info.samplerate)
        channels = Int(info.channels)
        formatName = SoundFile.describe(format: info.format)
        if mode == SFM_READ, sampleRate <= 0 || channels <= 0 {
            sf_close(handle)
            throw SndFileError("\(path): header gives \(sampleRate) Hz and \(channels) channels")
        }
    }

    deinit { sf_close(handle) }

    private static func describe(format: Int32) -> String {
        func name(_ command: Int32, _ value: Int32) -> String? {
            var info = SF_FORMAT_INFO()
            info.format = value
            guard sf_command(nil, command, &info, Int32(MemoryLayout<SF_FORMAT_INFO>.size)) == 0,
                let cName = info.name
            else { return nil }
            return String(cString: cName)
        }
        let major = name(Int32(SFC_GET_FORMAT_MAJOR), format & Int32(SF_FORMAT_TYPEMASK)) ?? "unknown container"
        let minor = name(Int32(SFC_GET_FORMAT_SUBTYPE), format & Int32(SF_FORMAT_SUBMASK)) ?? "unknown encoding"
        return "\(major) / \(minor)"
    }

    // MARK: - Reading

    /// Reads up to `maxFrames` frames as interleaved floats in -1...1; returns fewer (or none) at the end.
    public func readFloats(maxFrames: Int) throws(SndFileError) -> [Float] {
        var buffer = [Float](repeating: 0, count: maxFrames * channels)
        let read = buffer.withUnsafeMutableBufferPointer { sf_readf_float(handle, $0.baseAddress, sf_count_t(maxFrames)) }
        try check(handle, "\(path): reading")
        buffer.removeSubrange(Int(read) * channels..<buffer.count)
        return buffer
    }

    // MARK: - Writing

    /// Appends interleaved float frames in -1...1.
    public func write(floats samples: [Float]) throws(SndFileError) {
        let count = samples.count / channels
        let written = samples.withUnsafeBufferPointer { sf_writef_float(handle, $0.baseAddress, sf_count_t(count)) }
        try check(handle, "\(path): writing")
        guard Int(written) == count else { throw SndFileError("\(path): wrote \(written) of \(count) frames") }
        frames += count
    }

    /// Appends interleaved 16-bit frames.
    public func write(shorts samples: [Int16]) throws(SndFileError) {
        let count = samples.count / channels
        let written = samples.withUnsafeBufferPointer { sf_writef_short(handle, $0.baseAddress, sf_count_t(count)) }
        try check(handle, "\(path): writing")
        guard Int(written) == count else { throw SndFileError("\(path): wrote \(written) of \(count) frames") }
        frames += count
    }

    /// The libsndfile version string, such as "libsndfile-1.2.0".
    public static var libraryVersion: String { String(cString: sf_version_string()) }
}
