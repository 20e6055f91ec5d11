public import Foundation
public import HotlineCore
import SndFile

/// Compresses call recordings to FLAC with libsndfile (lossless; about half the size of 16-bit PCM for speech).
public struct FLACRecordingEncoder: RecordingEncoder {
    public let mediaType = "audio/flac"

    public init() {}

    public func encode(stereo: [Int16], sampleRate: Int) throws -> Data {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hotline-recording-\(UUID().uuidString).flac").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let file = try SoundFile(writingPath: path, format: .flac, sampleRate: sampleRate, channels: 2)
            try file.write(shorts: stereo)
        }  // closed here, so the header is complete
        return try Data(contentsOf: URL(fileURLWithPath: path))
    }
}
