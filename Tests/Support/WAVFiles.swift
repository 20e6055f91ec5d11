public import Foundation

/// The few WAV files the tests read and write by hand, so they are byte-exact.
public enum WAVFiles {
    /// The bytes of a WAV file's data chunk (the μ-law codes of a telephone fixture, or PCM samples).
    public static func dataChunk(_ path: String) throws -> Data {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        var offset = 12
        while offset + 8 <= data.count {
            let id = String(decoding: data[offset..<offset + 4], as: UTF8.self)
            let size = Int(data[offset + 4]) | Int(data[offset + 5]) << 8 | Int(data[offset + 6]) << 16 | Int(data[offset + 7]) << 24
            if id == "data" { return data[(offset + 8)..<min(data.count, offset + 8 + size)] }
            offset += 8 + size + size % 2
        }
        return Data()
    }

    /// Writes 16-bit mono little-endian PCM at `rate` as a WAV file.
    public static func writePCM16(_ pcm: Data, rate: Int, to path: String) throws {
        var header = Data()
        func append(_ value: UInt32, _ bytes: Int) { withUnsafeBytes(of: value.littleEndian) { header += Data($0.prefix(bytes)) } }
        header += Data("RIFF".utf8); append(UInt32(36 + pcm.count), 4); header += Data("WAVEfmt ".utf8)
        append(16, 4); append(1, 2); append(1, 2); append(UInt32(rate), 4); append(UInt32(rate * 2), 4); append(2, 2); append(16, 2)
        header += Data("data".utf8); append(UInt32(pcm.count), 4)
        try (header + pcm).write(to: URL(fileURLWithPath: path))
    }
}
