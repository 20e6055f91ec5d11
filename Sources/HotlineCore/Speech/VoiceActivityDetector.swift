import Foundation

// MARK: - Voice activity

/// A stretch of speech cut from a stream, with a little silence kept around it.
public struct SpeechSegment: Sendable, Equatable {
    /// Index in the stream (at the detector's sample rate) of the first sample of `samples`.
    public var startSample: Int
    /// The samples, padding included.
    public var samples: [Float]
    /// Whether the segment was cut because it reached the maximum length (the caller kept talking).
    public var wasSplit: Bool
    /// Seconds of silence after the last speech that closed it (the end hangover the caller waited through); 0 when split.
    public var hangover: Double = 0

    /// Index one past the last sample.
    public var endSample: Int { startSample + samples.count }
}

/// What the detector reports as it is fed.
public enum VoiceActivityEvent: Sendable, Equatable {
    /// Speech began at this sample index (before padding).
    case speechStarted(sample: Int)
    /// An utterance is complete.
    case segment(SpeechSegment)
    /// The speech announced by the last `speechStarted` was too short to keep (a click or a cough).
    case speechDiscarded
}

/// An energy-based endpointer for telephone and wideband audio, fed in chunks of any size.
///
/// It tracks the noise floor (falling fast, rising slowly), calls a 10 ms frame speech when it is
/// `threshold` dB above that floor (and above an absolute minimum), opens an utterance after `startDuration`
/// of speech, closes it after `endDuration` of silence, trims the silence beyond `padding` on both sides,
/// drops blips shorter than `minimumSpeech`, and cuts an utterance that reaches `maximumDuration` at the
/// quietest frame of its last seconds so a caller who never pauses is decoded in pieces, not buffered forever.
public struct VoiceActivityDetector: Sendable {
    /// Tuning, with defaults that suit both 8 kHz phone audio (after upsampling) and wideband recordings.
    public struct Configuration: Sendable, Equatable, Codable {
        /// dB above the noise floor that makes a frame speech. Default 10.
        public var threshold: Double = 10
        /// Frames quieter than this (dBFS) are never speech. Default −55.
        public var absoluteMinimum: Double = -55
        /// Speech needed to open an utterance (start hangover), seconds. Default 0.06.
        public var startDuration: Double = 0.06
        /// Silence that closes an utterance (end hangover), seconds. Default 0.5.
        public var endDuration: Double = 0.5
        /// Utterances with less speech than this are dropped as noise, seconds. Default 0.1.
        public var minimumSpeech: Double = 0.1
        /// Utterances are cut at this length, seconds. Default 20.
        public var maximumDuration: Double = 20
        /// Silence kept before and after the speech, seconds. Default 0.25.
        public var padding: Double = 0.25
        /// How fast the noise floor may rise, dB per second. Default 3.
        public var floorRise: Double = 3

        /// Default settings.
        public init() {}
    }

    /// Samples per second of the audio fed in.
    public let sampleRate: Int
    /// The settings in force.
    public let configuration: Configuration

    private let frameLength: Int
    private let startFrames: Int
    private var endFrames: Int
    private let minimumFrames: Int
    private let maximumFrames: Int
    private let paddingFrames: Int
    private let floorRisePerFrame: Double

    private var pending: [Float] = []
    private var framesSeen = 0
    private var floor = -60.0

    // Silence state: recent frames kept for the leading padding.
    private var preroll: [[Float]] = []
    private var speechRun = 0

    // Speech state.
    private var inSpeech = false
    private var utterance: [[Float]] = []
    private var energies: [Double] = []
    private var utteranceStartFrame = 0
    private var lastSpeechIndex = 0  // index in `utterance` of the last speech frame
    private var speechFrames = 0
    private var silenceRun = 0

    /// Makes a detector for audio at `sampleRate`.
    public init(sampleRate: Int, configuration: Configuration = Configuration()) {
        self.sampleRate = sampleRate
        self.configuration = configuration
        frameLength = max(1, sampleRate / 100)
        func frames(_ seconds: Double) -> Int { max(1, Int((seconds * 100).rounded())) }
        startFrames = frames(configuration.startDuration)
        endFrames = frames(configuration.endDuration)
        minimumFrames = frames(configuration.minimumSpeech)
        maximumFrames = max(frames(configuration.maximumDuration), 50)
        paddingFrames = Int((configuration.padding * 100).rounded())
        floorRisePerFrame = configuration.floorRise / 100
    }

    /// Whether an utterance is open.
    public var isInSpeech: Bool { inSpeech }

    /// The silence that closes the open utterance, seconds: the configured `endDuration` unless set for this turn (an
    /// endpointer that knows the caller has finished, or has not, sets it as it hears them). Takes effect from the next
    /// frame; a silence already longer closes the utterance at the next frame.
    public var endHangover: Double {
        get { Double(endFrames) / 100 }
        set { endFrames = max(1, Int((newValue * 100).rounded())) }
    }

    /// Seconds of silence since the last speech frame while an utterance is open (0 otherwise).
    public var trailingSilence: Double { inSpeech ? Double(silenceRun) / 100 : 0 }

    /// Index (at the detector's rate) one past the last speech frame of the open utterance, or `nil` when none is open.
    public var speechEndSample: Int? { inSpeech ? (utteranceStartFrame + lastSpeechIndex + 1) * frameLength : nil }

    /// Samples of silence kept before speech (the padding), at the detector's rate.
    public var paddingSamples: Int { paddingFrames * frameLength }

    /// The current noise-floor estimate, dBFS.
    public var noiseFloor: Double { floor }

    /// Feeds samples; returns what happened, in order.
    public mutating func process(_ samples: [Float]) -> [VoiceActivityEvent] {
        var events: [VoiceActivityEvent] = []
        var offset = 0
        if !pending.isEmpty {
            let needed = frameLength - pending.count
            if samples.count < needed {
                pending.append(contentsOf: samples)
                return events
            }
            pending.append(contentsOf: samples[0..<needed])
            offset = needed
            let frame = pending
            pending.removeAll(keepingCapacity: true)
            step(frame, into: &events)
        }
        while offset + frameLength <= samples.count {
            step(Array(samples[offset..<offset + frameLength]), into: &events)
            offset += frameLength
        }
        if offset < samples.count { pending.append(contentsOf: samples[offset...]) }
        return events
    }

    /// Ends the stream: closes an open utterance (if it holds enough speech).
    public mutating func flush() -> [VoiceActivityEvent] {
        var events: [VoiceActivityEvent] = []
        if !pending.isEmpty {
            let frame = pending + [Float](repeating: 0, count: frameLength - pending.count)
            pending.removeAll()
            step(frame, into: &events)
        }
        if inSpeech { closeUtterance(into: &events) }
        preroll.removeAll()
        return events
    }

    // MARK: - Frame logic

    private static func energy(_ frame: [Float]) -> Double {
        var sum: Float = 0
        for sample in frame { sum += sample * sample }
        return 10 * log10(Double(sum) / Double(frame.count) + 1e-10)
    }

    private mutating func step(_ frame: [Float], into events: inout [VoiceActivityEvent]) {
        let index = framesSeen
        framesSeen += 1
        let level = VoiceActivityDetector.energy(frame)
        let isSpeech = level > floor + configuration.threshold && level > configuration.absoluteMinimum
        if !inSpeech || !isSpeech {
            // The floor follows quiet frames down at once and creeps up slowly, so loud speech never becomes "noise".
            floor = level < floor ? level : min(level, floor + floorRisePerFrame)
        }
        if inSpeech {
            utterance.append(frame)
            energies.append(level)
            if isSpeech {
                speechFrames += 1
                silenceRun = 0
                lastSpeechIndex = utterance.count - 1
            } else {
                silenceRun += 1
            }
            if silenceRun >= endFrames {
                closeUtterance(into: &events)
            } else if utterance.count >= maximumFrames {
                splitUtterance(into: &events)
            }
            return
        }
        preroll.append(frame)
        speechRun = isSpeech ? speechRun + 1 : 0
        if speechRun >= startFrames {
            let firstSpeech = index - speechRun + 1
            let keep = min(preroll.count, paddingFrames + speechRun)
            utterance = Array(preroll.suffix(keep))
            energies = [Double](repeating: configuration.absoluteMinimum, count: keep - speechRun)
                + [Double](repeating: level, count: speechRun)
            utteranceStartFrame = index - keep + 1
            lastSpeechIndex = utterance.count - 1
            speechFrames = speechRun
            silenceRun = 0
            inSpeech = true
            preroll.removeAll(keepingCapacity: true)
            speechRun = 0
            events.append(.speechStarted(sample: firstSpeech * frameLength))
        } else if preroll.count > paddingFrames + startFrames {
            preroll.removeFirst(preroll.count - paddingFrames - startFrames)
        }
    }

    private mutating func closeUtterance(into events: inout [VoiceActivityEvent]) {
        let end = min(utterance.count, lastSpeechIndex + 1 + paddingFrames)
        if speechFrames >= minimumFrames {
            events.append(.segment(SpeechSegment(
                startSample: utteranceStartFrame * frameLength,
                samples: Array(utterance[0..<end].joined()),
                wasSplit: false,
                hangover: Double(silenceRun) / 100
            )))
        } else {
            events.append(.speechDiscarded)
        }
        // Trailing silence past the padding becomes lead-in for the next utterance.
        preroll = Array(utterance[end...].suffix(paddingFrames))
        resetUtterance()
        endFrames = max(1, Int((configuration.endDuration * 100).rounded()))
    }

    private mutating func splitUtterance(into events: inout [VoiceActivityEvent]) {
        // Cut at the quietest frame of the last two seconds (or of the second half, for short maxima).
        let window = min(200, utterance.count / 2)
        let searchStart = utterance.count - window
        var cut = searchStart
        for i in searchStart..<utterance.count where energies[i] < energies[cut] { cut = i }
        cut = max(cut, 1)
        events.append(.segment(SpeechSegment(
            startSample: utteranceStartFrame * frameLength,
            samples: Array(utterance[0..<cut].joined()),
            wasSplit: true
        )))
        utterance.removeFirst(cut)
        energies.removeFirst(cut)
        utteranceStartFrame += cut
        lastSpeechIndex = max(0, lastSpeechIndex - cut)
        speechFrames = energies.filter { $0 > floor + configuration.threshold }.count
    }

    private mutating func resetUtterance() {
        inSpeech = false
        utterance.removeAll(keepingCapacity: true)
        energies.removeAll(keepingCapacity: true)
        speechFrames = 0
        silenceRun = 0
        speechRun = 0
    }
}
