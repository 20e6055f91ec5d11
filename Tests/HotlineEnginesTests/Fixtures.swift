import Foundation
import HotlineCore
import HotlineEngines

/// Real recordings from Debian's pocketsphinx-testdata, and helpers to make test files from them.
enum Fixtures {
    static let data = "/usr/share/pocketsphinx/test/data"
    static let librivox = data + "/librivox"
    static let librivoxReference = librivox + "/transcription"
    static let librivoxFiles = (try? FileManager.default.contentsOfDirectory(atPath: librivox))?
        .filter { $0.hasSuffix(".wav") }.sorted().map { librivox + "/" + $0 } ?? []
    static let goForward = data + "/goforward.raw"
    static let numbers = data + "/numbers.raw"
    static let cards = data + "/cards"

    /// References by id.
    static func references(_ path: String) throws -> [String: String] {
        Dictionary(try ReferenceTranscripts.parse(String(contentsOfFile: path, encoding: .utf8), source: path).map { ($0.id, $0.text) }) { a, _ in a }
    }

    /// A fresh temporary directory.
    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "hotline-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// All samples of an input, mono (first channel).
    static func samples(_ input: AudioInput) throws -> (samples: [Float], rate: Int) {
        let reader = try SndFileAudioDecoder().open(input)
        let samples = try reader.readAll()
        return (samples, reader.info.sampleRate)
    }

    static func transcriber() throws -> Transcriber {
        Transcriber(recognizer: try PocketSphinxRecognizer(), decoder: SndFileAudioDecoder())
    }
}
