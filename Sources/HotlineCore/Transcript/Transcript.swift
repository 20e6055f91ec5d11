import Foundation

// MARK: - Transcript

/// One utterance of a transcript: who said what, when, how sure the recognizer was.
public struct Utterance: Sendable, Equatable, Codable {
    /// Channel index in the source (0 for mono).
    public var channel: Int
    /// The channel's label ("caller", "agent", or "mono").
    public var speaker: String
    /// Start, seconds from the start of the audio.
    public var start: Double
    /// End, seconds from the start of the audio.
    public var end: Double
    /// The recognised words, separated by spaces.
    public var text: String
    /// Confidence in the utterance, 0…1 (mean word posterior).
    public var confidence: Double
    /// Words with times (seconds from the start of the audio) and confidences; fillers are left out.
    public var words: [RecognizedWord]

    /// Makes an utterance.
    public init(channel: Int, speaker: String, start: Double, end: Double, text: String, confidence: Double, words: [RecognizedWord]) {
        self.channel = channel
        self.speaker = speaker
        self.start = start
        self.end = end
        self.text = text
        self.confidence = confidence
        self.words = words
    }
}

/// Facts about the audio a transcript came from.
public struct AudioSummary: Sendable, Equatable, Codable {
    /// Seconds of audio (per channel).
    public var duration: Double
    /// Original samples per second.
    public var sampleRate: Int
    /// Original channel count.
    public var channels: Int
    /// Container and encoding.
    public var format: String

    /// Makes a summary.
    public init(duration: Double, sampleRate: Int, channels: Int, format: String) {
        self.duration = duration
        self.sampleRate = sampleRate
        self.channels = channels
        self.format = format
    }
}

/// The transcript of one recording. Its JSON form is the stable schema `hotline.transcript/1`
/// (see `docs/transcript-schema.md`); fields are only ever added to it.
public struct Transcript: Sendable, Equatable, Codable {
    /// Schema identifier, `hotline.transcript/1`.
    public var schema: String = Transcript.schemaIdentifier
    /// The input path.
    public var source: String
    /// The audio.
    public var audio: AudioSummary
    /// Labels of the channels, by index.
    public var speakers: [String]
    /// Utterances in order of start time.
    public var utterances: [Utterance]
    /// Wall-clock seconds spent reading and decoding.
    public var decodeTime: Double
    /// `decodeTime / audio.duration` (lower is faster; 0.1 means ten times faster than real time).
    public var realTimeFactor: Double

    /// The schema identifier this version writes.
    public static let schemaIdentifier = "hotline.transcript/1"

    /// Makes a transcript.
    public init(source: String, audio: AudioSummary, speakers: [String], utterances: [Utterance], decodeTime: Double) {
        self.source = source
        self.audio = audio
        self.speakers = speakers
        self.utterances = utterances
        self.decodeTime = decodeTime
        realTimeFactor = audio.duration > 0 ? decodeTime / audio.duration : 0
    }

    /// All utterance texts joined by spaces (per channel when `channel` is given).
    public func text(channel: Int? = nil) -> String {
        utterances.filter { channel == nil || $0.channel == channel }.map(\.text).filter { !$0.isEmpty }.joined(separator: " ")
    }
}

// MARK: - Output formats

/// The formats `hotline transcribe` writes.
public enum TranscriptFormat: String, Sendable, CaseIterable, Codable {
    /// One line per utterance: `[start-end] speaker: text` (speaker only for multi-channel audio).
    case text
    /// The `hotline.transcript/1` JSON document.
    case json
    /// SubRip subtitles.
    case srt
    /// WebVTT subtitles.
    case vtt

    /// File extension for the format.
    public var fileExtension: String {
        switch self {
        case .text: "txt"
        case .json: "json"
        case .srt: "srt"
        case .vtt: "vtt"
        }
    }
}

extension Transcript {
    /// Renders the transcript in a format.
    public func rendered(as format: TranscriptFormat) -> String {
        switch format {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            // Encoding plain structs of strings and finite numbers cannot fail.
            let data = (try? encoder.encode(self)) ?? Data()
            return String(decoding: data, as: UTF8.self) + "\n"
        case .text:
            return utterances.map { TranscriptFormatter.textLine($0, labelled: speakers.count > 1) + "\n" }.joined()
        case .srt:
            return TranscriptFormatter.header(for: .srt)
                + utterances.enumerated().map { TranscriptFormatter.cue($0.element, index: $0.offset + 1, format: .srt, labelled: speakers.count > 1) }.joined()
        case .vtt:
            return TranscriptFormatter.header(for: .vtt)
                + utterances.enumerated().map { TranscriptFormatter.cue($0.element, index: $0.offset + 1, format: .vtt, labelled: speakers.count > 1) }.joined()
        }
    }
}

/// Renders pieces of transcripts; used whole or utterance by utterance when output streams.
public enum TranscriptFormatter {
    /// What precedes the first cue.
    public static func header(for format: TranscriptFormat) -> String {
        format == .vtt ? "WEBVTT\n\n" : ""
    }

    /// One text-format line (no newline).
    public static func textLine(_ utterance: Utterance, labelled: Bool) -> String {
        let span = "[\(clock(utterance.start, separator: ".")) - \(clock(utterance.end, separator: "."))]"
        return labelled ? "\(span) \(utterance.speaker): \(utterance.text)" : "\(span) \(utterance.text)"
    }

    /// One SRT or WebVTT cue, with its trailing blank line.
    public static func cue(_ utterance: Utterance, index: Int, format: TranscriptFormat, labelled: Bool) -> String {
        let separator = format == .srt ? "," : "."
        let timing = "\(clock(utterance.start, separator: separator)) --> \(clock(utterance.end, separator: separator))"
        let text: String
        if labelled {
            text = format == .vtt ? "<v \(utterance.speaker)>\(utterance.text)" : "\(utterance.speaker): \(utterance.text)"
        } else {
            text = utterance.text
        }
        return "\(index)\n\(timing)\n\(text)\n\n"
    }

    /// `HH:MM:SS<separator>mmm`.
    public static func clock(_ seconds: Double, separator: String) -> String {
        let milliseconds = max(0, Int((seconds * 1000).rounded()))
        let hours = milliseconds / 3_600_000
        let minutes = milliseconds / 60_000 % 60
        let secs = milliseconds / 1000 % 60
        let millis = milliseconds % 1000
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(hours, 2)):\(pad(minutes, 2)):\(pad(secs, 2))\(separator)\(pad(millis, 3))"
    }
}
