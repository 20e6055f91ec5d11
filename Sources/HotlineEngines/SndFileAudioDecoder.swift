public import HotlineCore
import SndFile
import Foundation

// MARK: - libsndfile decoder

/// Reads every format libsndfile knows (WAV in PCM, μ-law, A-law and float, FLAC, Ogg Vorbis, AIFF, AU, …)
/// and headerless files given their encoding and rate.
public struct SndFileAudioDecoder: AudioDecoding {
    /// Makes a decoder.
    public init() {}

    /// Opens the input, classifying failures (missing, unreadable, empty, unsupported, corrupt).
    public func open(_ input: AudioInput) throws(AudioError) -> any AudioReading {
        let path = input.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw AudioError(.missing, path: path, reason: "no such file")
        }
        if isDirectory.boolValue { throw AudioError(.unreadable, path: path, reason: "is a directory, not an audio file") }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw AudioError(.unreadable, path: path, reason: "permission denied")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
        if size == 0 { throw AudioError(.empty, path: path, reason: "the file is empty (0 bytes)") }
        do {
            let file: SoundFile
            switch input {
            case .file:
                file = try SoundFile(readingPath: path)
            case .raw(_, let encoding, let rate, let channels):
                let raw: RawEncoding = switch encoding {
                case .linear16: .s16le
                case .muLaw: .mulaw
                case .aLaw: .alaw
                }
                file = try SoundFile(readingRawPath: path, encoding: raw, sampleRate: rate, channels: channels)
            }
            return SndFileReader(file: file)
        } catch {
            throw Self.classify(error, path: path)
        }
    }

    /// Maps libsndfile's message to the kind of failure a batch reports.
    static func classify(_ error: SndFileError, path: String) -> AudioError {
        let message = error.description.hasPrefix(path + ": ") ? String(error.description.dropFirst(path.count + 2)) : error.description
        let lower = message.lowercased()
        if lower.contains("format not recognised") || lower.contains("unknown format") || lower.contains("not supported")
            || lower.contains("unsupported") || lower.contains("bad format")
        {
            return AudioError(.unsupported, path: path, reason: "not an audio format libsndfile reads (\(message))")
        }
        if lower.contains("permission") { return AudioError(.unreadable, path: path, reason: message) }
        return AudioError(.corrupt, path: path, reason: "damaged or truncated audio (\(message))")
    }
}

/// Reads a `SoundFile` block by block, de-interleaving channels.
final class SndFileReader: AudioReading {
    private let file: SoundFile
    let info: AudioSourceInfo

    init(file: SoundFile) {
        self.file = file
        info = AudioSourceInfo(sampleRate: file.sampleRate, channels: file.channels, frameCount: file.frames, formatName: file.formatName)
    }

    func readBlock(maxFrames: Int) throws(AudioError) -> [[Float]]? {
        let interleaved: [Float]
        do {
            interleaved = try file.readFloats(maxFrames: maxFrames)
        } catch {
            throw SndFileAudioDecoder.classify(error, path: file.path)
        }
        guard !interleaved.isEmpty else { return nil }
        let channels = file.channels
        if channels == 1 { return [interleaved] }
        let frames = interleaved.count / channels
        var result = [[Float]](repeating: [Float](repeating: 0, count: frames), count: channels)
        for frame in 0..<frames {
            for channel in 0..<channels { result[channel][frame] = interleaved[frame * channels + channel] }
        }
        return result
    }
}
