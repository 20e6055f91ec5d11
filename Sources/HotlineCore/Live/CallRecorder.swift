public import Foundation
import Synchronization

// MARK: - Call recording

/// Both sides of a call on the call's timeline: the caller's audio as received, the bot's prompts placed where they
/// started and cut where the caller barged in. 16-bit samples at the call's rate; stops growing at `maximumSeconds`.
public final class CallRecorder: Sendable {
    private struct State {
        var caller: [Int16] = []
        var bot: [Int16] = []
        var cursor: [Int: Int] = [:]  // prompt id → next sample index
    }

    /// Samples per second.
    public let sampleRate: Int
    private let format: CallAudioFormat
    private let limit: Int
    private let state = Mutex(State())

    /// Records a call in `format`, keeping at most `maximumSeconds` of it.
    public init(format: CallAudioFormat, maximumSeconds: Double = 3600) {
        self.format = format
        sampleRate = format.sampleRate
        limit = Int(maximumSeconds * Double(format.sampleRate))
    }

    /// Caller audio, in order (from ``CallSession``'s `callerAudio`).
    public func caller(_ samples: [Float]) {
        state.withLock { state in
            let room = limit - state.caller.count
            guard room > 0 else { return }
            state.caller += samples.prefix(room).map(Self.short)
        }
    }

    /// `caller(_:)` as a ``CallSession`` `callerAudio` closure.
    public static func tap(_ recorder: CallRecorder) -> @Sendable ([Float]) -> Void { { recorder.caller($0) } }

    /// Places the bot's prompt audio (playback events; others are ignored).
    public func record(_ event: CallEvent) {
        state.withLock { state in
            switch event {
            case .playbackStarted(let id, _, let at, _):
                state.cursor[id] = Int(at * Double(sampleRate))
            case .playbackAudio(let id, let bytes):
                guard let position = state.cursor[id], position < limit else { return }
                let samples = format.decode(bytes).prefix(limit - position).map(Self.short)
                if state.bot.count < position + samples.count { state.bot += [Int16](repeating: 0, count: position + samples.count - state.bot.count) }
                state.bot.replaceSubrange(position..<position + samples.count, with: samples)
                state.cursor[id] = position + samples.count
            case .bargeIn(let id, let at):
                // Silence the rest of the prompt from the barge-in on.
                let cut = Int(at * Double(sampleRate))
                if let end = state.cursor[id], cut < end, cut < state.bot.count {
                    for index in cut..<min(end, state.bot.count) { state.bot[index] = 0 }
                }
                state.cursor[id] = nil
            default:
                break
            }
        }
    }

    /// Seconds recorded so far (the longer side).
    public var duration: Double { state.withLock { Double(max($0.caller.count, $0.bot.count)) / Double(sampleRate) } }

    /// The bot's side alone, `length` samples long (padded with silence).
    public func botSamples(length: Int) -> [Float] {
        state.withLock { state in
            state.bot.prefix(length).map { Float($0) / 32767 } + [Float](repeating: 0, count: max(0, length - state.bot.count))
        }
    }

    /// Interleaved stereo: caller left, bot right, as long as the longer side.
    public func stereo() -> [Int16] {
        state.withLock { state in
            let length = max(state.caller.count, state.bot.count)
            var interleaved = [Int16](repeating: 0, count: length * 2)
            for (index, sample) in state.caller.enumerated() { interleaved[index * 2] = sample }
            for (index, sample) in state.bot.enumerated() { interleaved[index * 2 + 1] = sample }
            return interleaved
        }
    }

    private static func short(_ sample: Float) -> Int16 { Int16(max(-1, min(1, sample)) * 32767) }
}

/// Compresses a call's stereo recording (libsndfile FLAC in the engines).
public protocol RecordingEncoder: Sendable {
    /// The encoded file's MIME type.
    var mediaType: String { get }
    /// Encodes interleaved 16-bit stereo (caller left, bot right).
    func encode(stereo: [Int16], sampleRate: Int) throws -> Data
}
