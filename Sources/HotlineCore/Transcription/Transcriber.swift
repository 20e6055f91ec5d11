// MARK: - Offline transcription

/// How a multi-channel recording is treated.
public enum ChannelMode: String, Sendable, CaseIterable, Codable {
    /// Each channel is transcribed on its own and labelled (stereo call recordings: caller and agent).
    case split
    /// Channels are averaged to one before transcription.
    case mix
}

/// Settings for transcribing a recording.
public struct TranscriptionOptions: Sendable, Equatable {
    /// Endpointing that cuts the recording into utterances.
    public var voiceActivity = VoiceActivityDetector.Configuration()
    /// Split or mix channels. Default split.
    public var channelMode: ChannelMode = .split
    /// Labels for channels 0, 1, …; missing ones are "channel N". Default caller, agent.
    public var channelLabels: [String] = ["caller", "agent"]
    /// The recognizer search to use. Default the configured one.
    public var search: RecognitionSearch = .standard
    /// Frames read per block (memory per channel is a few of these plus the longest utterance). Default 16 384.
    public var blockFrames = 16_384
    /// Whole-utterance decoding (default, most accurate) or live decoding as a call would do it, with the
    /// channel's cepstral mean carried from one utterance to the next (needs a streaming recognizer).
    public var decoding: UtteranceDecoding = .whole

    /// Default settings.
    public init() {}

    /// The label of channel `index` of `count`.
    public func label(channel index: Int, of count: Int) -> String {
        if count == 1 { return "mono" }
        return index < channelLabels.count ? channelLabels[index] : "channel \(index + 1)"
    }
}

/// Transcribes recordings: reads in blocks, resamples each channel to the recognizer's rate with a
/// band-limited resampler, cuts utterances by voice activity and decodes each as it completes, so memory
/// stays flat for hour-long calls and utterances stream out while the file is still being read.
///
/// Holds one recognizer, which is not thread-safe: use one transcriber per worker.
public final class Transcriber {
    private let recognizer: any SpeechRecognizing
    private let decoder: any AudioDecoding

    /// Makes a transcriber over a recognizer and an audio decoder.
    public init(recognizer: any SpeechRecognizing, decoder: any AudioDecoding) {
        self.recognizer = recognizer
        self.decoder = decoder
    }

    /// Transcribes one input. `onUtterance` receives each utterance as soon as it is decoded (per channel in
    /// time order); the returned transcript has them all, sorted by start time.
    public func transcribe(
        _ input: AudioInput,
        options: TranscriptionOptions = TranscriptionOptions(),
        onUtterance: (Utterance) -> Void = { _ in }
    ) throws -> Transcript {
        let clock = ContinuousClock()
        let started = clock.now
        let reader = try decoder.open(input)
        let info = reader.info
        if info.frameCount == 0 { throw AudioError(.empty, path: input.path, reason: "the file contains no audio samples") }
        let streams = options.channelMode == .mix || info.channels == 1 ? 1 : info.channels
        let targetRate = recognizer.sampleRate
        var lanes = (0..<streams).map { channel in
            Lane(
                channel: channel,
                speaker: options.label(channel: channel, of: streams),
                resampler: Resampler(from: info.sampleRate, to: targetRate),
                detector: VoiceActivityDetector(sampleRate: targetRate, configuration: options.voiceActivity)
            )
        }
        var utterances: [Utterance] = []
        var framesRead = 0
        func decode(_ events: [VoiceActivityEvent], lane: Lane) throws {
            let lane = lanes[lane.channel]
            for case .segment(let segment) in events {
                let offset = Double(segment.startSample) / Double(targetRate)
                let result: Recognition
                if options.decoding == .live, let streaming = recognizer as? any StreamingSpeechRecognizing {
                    let adaptation = lanes[lane.channel].adaptation ?? streaming.initialAdaptation(narrowband: info.sampleRate <= 8_000)
                    try streaming.beginUtterance(search: options.search, adaptation: adaptation)
                    var index = 0
                    while index < segment.samples.count {
                        try streaming.feed(Array(segment.samples[index..<min(index + 320, segment.samples.count)]))
                        index += 320
                    }
                    let (recognition, next) = try streaming.endUtterance(alternatives: 0)
                    lanes[lane.channel].adaptation = next
                    result = recognition
                } else {
                    result = try recognizer.recognize(segment.samples, search: options.search, alternatives: 0)
                }
                guard !result.text.isEmpty else { continue }
                let words = result.words.map {
                    RecognizedWord(word: $0.word, start: rounded(offset + $0.start), end: rounded(offset + $0.end), confidence: rounded($0.confidence))
                }
                let utterance = Utterance(
                    channel: lane.channel, speaker: lane.speaker,
                    start: rounded(words.first?.start ?? offset),
                    end: rounded(words.last?.end ?? Double(segment.endSample) / Double(targetRate)),
                    text: result.text, confidence: rounded(result.confidence), words: words
                )
                utterances.append(utterance)
                onUtterance(utterance)
            }
        }
        while let block = try reader.readBlock(maxFrames: options.blockFrames) {
            guard let first = block.first, !first.isEmpty else { break }
            framesRead += first.count
            let channels = streams == 1 && block.count > 1 ? [Transcriber.mixDown(block)] : block
            for index in lanes.indices {
                let samples = lanes[index].resampler.process(channels[index])
                let events = lanes[index].detector.process(samples)
                try decode(events, lane: lanes[index])
            }
        }
        guard framesRead > 0 else { throw AudioError(.empty, path: input.path, reason: "the file contains no audio samples") }
        for index in lanes.indices {
            var events = lanes[index].detector.process(lanes[index].resampler.flush())
            events += lanes[index].detector.flush()
            try decode(events, lane: lanes[index])
        }
        utterances.sort { ($0.start, $0.channel) < ($1.start, $1.channel) }
        let elapsed = clock.now - started
        return Transcript(
            source: input.path,
            audio: AudioSummary(
                duration: rounded(Double(framesRead) / Double(info.sampleRate)),
                sampleRate: info.sampleRate, channels: info.channels, format: info.formatName
            ),
            speakers: lanes.map(\.speaker),
            utterances: utterances,
            decodeTime: rounded(elapsed.seconds)
        )
    }

    private struct Lane {
        let channel: Int
        let speaker: String
        var resampler: Resampler
        var detector: VoiceActivityDetector
        var adaptation: ChannelAdaptation? = nil
    }

    /// Averages channels into one.
    public static func mixDown(_ channels: [[Float]]) -> [Float] {
        guard let first = channels.first else { return [] }
        var mixed = first
        for channel in channels.dropFirst() {
            for i in mixed.indices { mixed[i] += channel[i] }
        }
        let scale = 1 / Float(channels.count)
        for i in mixed.indices { mixed[i] *= scale }
        return mixed
    }
}

/// Rounds to the millisecond, so JSON output is stable and readable.
func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }

extension Duration {
    /// The duration in seconds.
    public var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
