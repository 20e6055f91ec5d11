import Foundation
import HotlineCore
import HotlineEngines
import SndFile
import Testing

/// Every format and failure the decoder handles, on real recordings.
@Suite(.serialized) struct AudioDecodingTests {
    static let sentence = Fixtures.librivox + "/sense_and_sensibility_01_austen_64kb-0880.wav"
    static let reference = "he was not an ill disposed young man"

    /// Writes the sentence (resampled to `rate`) in a format.
    static func write(_ format: WriteFormat, rate: Int = 16_000, to path: String) throws {
        var (samples, source) = try Fixtures.samples(.file(path: sentence))
        if rate != source {
            samples = Resampler.resample(samples, from: source, to: rate)
        }
        let file = try SoundFile(writingPath: path, format: format, sampleRate: rate)
        try file.write(floats: samples)
    }

    @Test(arguments: [
        (WriteFormat.wav16, 16_000, "wav"), (.wavMuLaw, 16_000, "wav"), (.wavALaw, 16_000, "wav"), (.wavFloat, 44_100, "wav"),
        (.flac, 22_050, "flac"), (.oggVorbis, 16_000, "ogg"), (.aiff, 48_000, "aiff"), (.auMuLaw, 8_000, "au"), (.wav16, 11_025, "wav"),
    ])
    func everyContainerAndRateIsTranscribed(format: WriteFormat, rate: Int, ext: String) throws {
        let directory = try Fixtures.temporaryDirectory()
        let path = "\(directory)/sentence-\(format.rawValue)-\(rate).\(ext)"
        try Self.write(format, rate: rate, to: path)
        let transcript = try Fixtures.transcriber().transcribe(.file(path: path))
        #expect(transcript.audio.sampleRate == rate)
        #expect(abs(transcript.audio.duration - 2.99) < 0.02)
        // 3 of 8 words wrong on the original; narrowband and lossy copies may lose one more.
        let bound = rate < 16_000 ? 5 : 4
        #expect(WordErrorRate.counts(reference: Self.reference, hypothesis: transcript.text()).errors <= bound, "\(format) \(rate): \(transcript.text())")
    }

    @Test(arguments: [(SampleEncoding.linear16, "raw"), (.muLaw, "ul"), (.aLaw, "al")])
    func headerlessTelephoneAudioIsTranscribed(encoding: SampleEncoding, ext: String) throws {
        let directory = try Fixtures.temporaryDirectory()
        let (samples, rate) = try Fixtures.samples(.raw(path: Fixtures.goForward, encoding: .linear16, sampleRate: 16_000, channels: 1))
        let narrow = PCM.int16(Resampler.resample(samples, from: rate, to: 8_000))
        let bytes: [UInt8] = switch encoding {
        case .linear16: PCM.littleEndianBytes(narrow)
        case .muLaw: G711.muLaw(fromLinear: narrow)
        case .aLaw: G711.aLaw(fromLinear: narrow)
        }
        let path = "\(directory)/goforward-8k.\(ext)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let input = AudioInput.raw(path: path, encoding: encoding, sampleRate: 8_000, channels: 1)
        // libsndfile's decoding of the headerless file agrees with this project's G.711 to the sample.
        let decoded = try Fixtures.samples(input).samples
        let expected: [Int16] = switch encoding {
        case .linear16: narrow
        case .muLaw: G711.linear(fromMuLaw: bytes)
        case .aLaw: G711.linear(fromALaw: bytes)
        }
        #expect(PCM.int16(decoded) == expected)
        let transcript = try Fixtures.transcriber().transcribe(input)
        #expect(transcript.audio.sampleRate == 8_000)
        #expect(abs(transcript.audio.duration - 2.786) < 0.01)
        // Narrowband audio through the wideband model: "go forward" survives; "ten meters" is marginal at 8 kHz.
        #expect(transcript.text().hasPrefix("go forward"), "\(encoding): \(transcript.text())")
        #expect(WordErrorRate.counts(reference: "go forward ten meters", hypothesis: transcript.text()).errors <= 2, "\(encoding): \(transcript.text())")
    }

    @Test func stereoCallsAreTranscribedPerChannelAndLabelled() throws {
        let directory = try Fixtures.temporaryDirectory()
        let left = try Fixtures.samples(.raw(path: Fixtures.goForward, encoding: .linear16, sampleRate: 16_000, channels: 1)).samples
        let right = try Fixtures.samples(.file(path: Fixtures.cards + "/005.wav")).samples
        // Caller speaks first; the agent answers after the caller stops.
        let length = left.count + right.count
        let callerTrack = left + [Float](repeating: 0, count: right.count)
        let agentTrack = [Float](repeating: 0, count: left.count) + right
        var interleaved = [Float](repeating: 0, count: length * 2)
        for i in 0..<length {
            interleaved[2 * i] = callerTrack[i]
            interleaved[2 * i + 1] = agentTrack[i]
        }
        let path = directory + "/call.wav"
        try SoundFile(writingPath: path, format: .wav16, sampleRate: 16_000, channels: 2).write(floats: interleaved)
        let transcript = try Fixtures.transcriber().transcribe(.file(path: path))
        #expect(transcript.speakers == ["caller", "agent"])
        #expect(transcript.text(channel: 0) == "go forward ten meters")
        #expect(!transcript.text(channel: 1).isEmpty)
        #expect(transcript.utterances.first?.speaker == "caller")
        let agent = try #require(transcript.utterances.first { $0.channel == 1 })
        #expect(agent.speaker == "agent" && agent.start >= Double(left.count) / 16_000 - 0.3)

        var mixed = TranscriptionOptions()
        mixed.channelMode = .mix
        let mono = try Fixtures.transcriber().transcribe(.file(path: path), options: mixed)
        #expect(mono.speakers == ["mono"])
        #expect(mono.text().hasPrefix("go forward ten meters"))
    }

    @Test func utterancesStreamOutBeforeTheFileIsFinished() throws {
        // A 2-minute recording of sentences and pauses: utterances must arrive while blocks are still being read.
        let directory = try Fixtures.temporaryDirectory()
        var track: [Float] = []
        for _ in 0..<8 {
            for file in Fixtures.librivoxFiles {
                track += try Fixtures.samples(.file(path: file)).samples + [Float](repeating: 0, count: 16_000)
            }
        }
        let path = directory + "/long.wav"
        try SoundFile(writingPath: path, format: .wav16, sampleRate: 16_000).write(floats: track)
        let counting = CountingDecoder()
        let transcriber = Transcriber(recognizer: try PocketSphinxRecognizer(), decoder: counting)
        var blocksAtUtterance: [Int] = []
        let transcript = try transcriber.transcribe(.file(path: path)) { _ in blocksAtUtterance.append(counting.blocks) }
        let totalBlocks = counting.blocks
        #expect(transcript.utterances.count >= 40)
        #expect(transcript.utterances.count == blocksAtUtterance.count)
        // The first utterance is out after a few blocks, not after all of them.
        #expect((blocksAtUtterance.first ?? totalBlocks) < totalBlocks / 10)
        #expect(abs(transcript.audio.duration - Double(track.count) / 16_000) < 0.01)
    }

    // MARK: - Bad input

    @Test func badInputsAreNamedAndClassified() throws {
        let directory = try Fixtures.temporaryDirectory()
        let empty = directory + "/empty.wav"
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        let garbage = directory + "/garbage.wav"
        try Data((0..<4_000).map { UInt8(truncatingIfNeeded: $0 &* 7919 &+ 13) }).write(to: URL(fileURLWithPath: garbage))
        let text = directory + "/notes.txt"
        try "this is not audio\n".write(toFile: text, atomically: true, encoding: .utf8)
        let headerOnly = directory + "/header-only.wav"
        try Data(try Data(contentsOf: URL(fileURLWithPath: Self.sentence)).prefix(44)).write(to: URL(fileURLWithPath: headerOnly))
        let cases: [(String, AudioError.Kind)] = [
            (directory + "/missing.wav", .missing), (directory, .unreadable), (empty, .empty),
            (garbage, .unsupported), (text, .unsupported), (headerOnly, .empty),
        ]
        for (path, kind) in cases {
            #expect {
                _ = try Fixtures.transcriber().transcribe(.file(path: path))
            } throws: { error in
                guard let error = error as? AudioError else { return false }
                return error.kind == kind && error.path == path && error.description.hasPrefix(path + ": ")
            }
        }
    }

    @Test func aTruncatedFileKeepsWhatWasReadable() throws {
        let directory = try Fixtures.temporaryDirectory()
        let path = directory + "/truncated.wav"
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.sentence))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
        let transcript = try Fixtures.transcriber().transcribe(.file(path: path))
        #expect(transcript.audio.duration > 1.3 && transcript.audio.duration < 1.6)
        #expect(transcript.text().hasPrefix("he was"))
    }

    @Test func aBatchReportsEachFailureAndFinishesTheRest() throws {
        let directory = try Fixtures.temporaryDirectory()
        let garbage = directory + "/garbage.flac"
        try Data(repeating: 0x41, count: 1_000).write(to: URL(fileURLWithPath: garbage))
        let inputs: [AudioInput] = [
            .raw(path: Fixtures.goForward, encoding: .linear16, sampleRate: 16_000, channels: 1),
            .file(path: directory + "/missing.wav"),
            .file(path: garbage),
            .file(path: Fixtures.cards + "/001.wav"),
        ]
        let events = EventLog()
        let batch = BatchTranscriber(jobs: 2, decoder: SndFileAudioDecoder()) { try PocketSphinxRecognizer() }
        let summary = try batch.run(inputs, options: TranscriptionOptions()) { events.append($0) }
        #expect(summary.files == 4 && summary.succeeded == 2 && summary.failed == 2)
        let failures = events.failures
        #expect(failures.count == 2)
        #expect(failures.contains { $0.contains(directory + "/missing.wav") && $0.contains("no such file") })
        #expect(failures.contains { $0.contains(garbage) && $0.contains("unsupported") })
        #expect(Set(events.finished) == [Fixtures.goForward, Fixtures.cards + "/001.wav"])
        #expect(summary.audioSeconds > 3)
    }

    @Test func aBatchWithAnUnloadableModelFailsAsAWhole() {
        var configuration = PocketSphinxConfiguration()
        configuration.dictionary = "/nonexistent/words.dict"
        let broken = configuration
        let batch = BatchTranscriber(jobs: 2, decoder: SndFileAudioDecoder()) { try PocketSphinxRecognizer(configuration: broken) }
        #expect {
            _ = try batch.run([.file(path: Fixtures.cards + "/001.wav")], options: TranscriptionOptions()) { _ in }
        } throws: { error in
            String(describing: error).contains("/nonexistent/words.dict")
        }
    }
}

/// Wraps the libsndfile decoder and counts blocks read.
final class CountingDecoder: AudioDecoding, @unchecked Sendable {
    private(set) var blocks = 0

    func open(_ input: AudioInput) throws(AudioError) -> any AudioReading {
        Reader(inner: try SndFileAudioDecoder().open(input), owner: self)
    }

    final class Reader: AudioReading {
        let inner: any AudioReading
        let owner: CountingDecoder
        init(inner: any AudioReading, owner: CountingDecoder) {
            self.inner = inner
            self.owner = owner
        }
        var info: AudioSourceInfo { inner.info }
        func readBlock(maxFrames: Int) throws(AudioError) -> [[Float]]? {
            owner.blocks += 1
            return try inner.readBlock(maxFrames: maxFrames)
        }
    }
}

/// Batch events gathered from worker threads.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [BatchEvent] = []
    func append(_ event: BatchEvent) { lock.withLock { events.append(event) } }
    var failures: [String] {
        lock.withLock { events.compactMap { if case .failed(_, _, let reason) = $0 { reason } else { nil } } }
    }
    var finished: [String] {
        lock.withLock { events.compactMap { if case .finished(_, let transcript) = $0 { transcript.source } else { nil } } }
    }
}
