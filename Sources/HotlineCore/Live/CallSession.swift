import Metrics
import Synchronization

// MARK: - Configuration

/// How a call listens and speaks. Defaults suit 8 kHz telephone calls.
public struct CallConfiguration: Sendable, Equatable {
    /// Endpointing: start and end hangover, minimum and maximum utterance, padding kept around speech.
    public var voiceActivity = VoiceActivityDetector.Configuration()
    /// Seconds of caller silence, after the bot finishes speaking or the caller last spoke, that raise
    /// `noInput` (once until the caller or the bot speaks again). `nil` disables it. Default 8.
    public var noInputTimeout: Double? = 8
    /// Minimum seconds of audio between partial results. Default 0.2.
    public var partialInterval = 0.2
    /// Alternatives (n-best) in each final. Default 5.
    public var alternatives = 5
    /// Seconds of caller audio that may wait for a free recognizer before the call reports `overloaded`
    /// and stops accepting audio for that utterance. Default 10.
    public var maximumBacklog = 10.0
    /// How utterances are decoded with the standard search. Default live.
    public var decoding: UtteranceDecoding = .live
    /// How utterances are decoded with each named search (unlisted ones: ``namedDecoding``).
    public var decodingBySearch: [String: UtteranceDecoding] = [:]
    /// How utterances are decoded with named searches not in ``decodingBySearch``. Default whole.
    public var namedDecoding: UtteranceDecoding = .whole
    /// The search for the first utterance. Default the recognizer's standard search.
    public var initialSearch: RecognitionSearch = .standard
    /// Seconds after the caller finishes speaking without the bot's reply starting (the recognizers or a webhook
    /// are slow) after which the bot says ``holdingPhrase``, once per turn, rather than leave the caller in silence.
    /// `nil` disables it. Default 1.5.
    public var holdingDelay: Double? = 1.5
    /// What the bot says while a late reply is being prepared. Default "One moment."
    public var holdingPhrase = "One moment."
    /// Seconds after the end of the caller's turn within which, if they speak again before the bot's reply has
    /// finished playing, they are heard as going on with the same turn: the reply is withheld, or stopped and taken
    /// back (when nothing outside the call has happened for it), and both parts are understood as one ("I need to send
    /// some funds … to my daughter"). A reply heard to its end is answered, not taken back. `nil`: every utterance is
    /// its own turn. Default 1.
    public var continuationWindow: Double? = 1
    /// Whether a turn the endpointer has judged complete is decoded and answered while its end hangover runs (needs
    /// ``continuationWindow``): the reply is ready when the hangover ends and is said then, instead of being made only
    /// after it. A caller who speaks again first is going on with the same turn, as within the continuation window.
    /// Default true.
    public var answerDuringHangover = true
    /// Seconds of a speaking caller's audio gathered before the live decoder is woken to hear it (from the first
    /// moments of a pause, every block at once): a decoder a little behind a speaking caller costs nothing, and a
    /// worker woken for every 20 ms block costs a thread switch each time. 0: every block as it comes (what waits for
    /// ``CallSession/isSettled`` after each frame needs it). Default 0.1.
    public var decoderBatch = 0.1
    /// The bot's voice.
    public var voice = VoiceSettings()
    /// Whether the caller speaking stops a prompt. Default true.
    public var bargeIn = true

    /// Default settings.
    public init() {}

    /// The decoding used for a search.
    public func decoding(for search: RecognitionSearch) -> UtteranceDecoding {
        switch search {
        case .standard: decoding
        case .named(let name): decodingBySearch[name] ?? namedDecoding
        }
    }
}

// MARK: - Session

/// One live call: audio chunks in (any size, in the call's format), events out as an `AsyncSequence`.
///
/// Feed it with ``receive(audio:)`` (a byte stream) or ``receive(frame:)`` (framed protocols, whole samples per
/// frame), DTMF with ``receive(dtmf:)``, prompts with ``say(_:)``; it must be running in ``run()`` (one child
/// task per call in the server). Times in events are seconds of call audio received, so a replayed recording
/// gives the same timeline at any speed. Caller utterances are found by the voice-activity endpointer and
/// decoded with a recognizer borrowed from the shared ``RecognizerPool`` for that utterance only.
public final class CallSession: Sendable {
    /// The call's identifier (for logs and storage).
    public let id: String
    /// The call's audio format.
    public let format: CallAudioFormat
    /// The configuration in force.
    public let configuration: CallConfiguration
    /// What the call reports, in order; finishes after `ended`.
    public let events: AsyncStream<CallEvent>

    let eventSink: AsyncStream<CallEvent>.Continuation
    private let inputs: AsyncStream<Input>
    let inputSink: AsyncStream<Input>.Continuation
    let pool: RecognizerPool
    let renderer: PromptRenderer?
    let responder: (any CallResponder)?
    let shared: Mutex<Shared>

    static let overloads = Counter(label: "hotline_call_overloads_total")
    static let malformed = Counter(label: "hotline_call_malformed_input_total")
    static let holdingPhrases = Counter(label: "hotline_holding_phrases_total")
    /// Replies withheld or taken back because the caller went on with their turn (heard again as one).
    static let withheldReplies = Counter(label: "hotline_withheld_replies_total")

    /// The parts of a turn, from the caller's last voiced frame to the bot's first audio (the server's side of the gap).
    public enum TurnTimers {
        /// Silence the endpointer waited through before closing the utterance.
        static let hangover = Metrics.Timer(label: "hotline_turn_hangover_seconds")
        /// From the endpoint to the start of the final pass: waiting for a decoder and a worker, and catching up with audio
        /// not yet decoded.
        static let recognizerWait = Metrics.Timer(label: "hotline_turn_recognizer_wait_seconds")
        /// The final pass (or the whole-utterance decode).
        static let decode = Metrics.Timer(label: "hotline_turn_decode_seconds")
        /// Understanding and answering, webhooks included.
        static let dialog = Metrics.Timer(label: "hotline_turn_dialog_seconds")
        /// From the reply to its first audio.
        static let synthesis = Metrics.Timer(label: "hotline_turn_synthesis_seconds")
        /// The labels, for histogram buckets fine enough to read a p95 off.
        public static let labels = ["hotline_turn_hangover_seconds", "hotline_turn_recognizer_wait_seconds", "hotline_turn_decode_seconds",
                                    "hotline_turn_dialog_seconds", "hotline_turn_synthesis_seconds", "hotline_turn_pacing_seconds"]
        /// Buckets: 1, 2 and 5 ms, 10 ms steps to half a second, 50 ms steps to two seconds, then coarser.
        public static let buckets: [Duration] = [1, 2, 5].map { .milliseconds($0) } + stride(from: 10, through: 500, by: 10).map { .milliseconds($0) }
            + stride(from: 550, through: 2_000, by: 50).map { .milliseconds($0) } + [3, 5, 10, 30].map { .seconds($0) }
    }

    enum Input: Sendable {
        case audio([UInt8], framed: Bool)
        case dtmf(Character)
        case say(String, trigger: ContinuousClock.Instant?, nextSearch: RecognitionSearch?, hangUp: Bool, handoff: Handoff? = nil)
        case search(RecognitionSearch)
        case playbackProduced(id: Int, duration: Double)
        case hangUp(String)
        case marker(String)
    }

    /// State shared between the session loop and its decoding and playback tasks.
    struct Shared {
        var adaptation: ChannelAdaptation?
        var pendingInputBytes = 0
        var ended = false
        /// Finals being produced, prompts being rendered.
        var busy = 0
        /// Utterances the caller has finished whose reply (or lack of one) is not settled yet.
        var awaitingReplies = 0
        var backlogSamples = 0
        var activePlayback: Int?
        /// Utterances the caller has finished whose reply has not been handed to the loop yet (by number).
        var unanswered: Set<Int> = []
        /// Those of them the caller went on speaking after: a retractable reply to one is withheld.
        var continued: Set<Int> = []
        /// An utterance → the earlier one it goes on from.
        var continuing: [Int: Int] = [:]
        /// Replies withheld, with what they answered: heard again with what the caller went on to say.
        var withheld: [Int: Withheld] = [:]
        /// The last retractable reply handed to the loop: taken back if the caller barges in on it going on with their turn.
        var lastAnswer: Withheld?
    }

    /// Receives the caller's audio as the session takes it in (call rate, in call-time order): a call recorder.
    let callerAudio: (@Sendable ([Float]) -> Void)?

    /// Makes a session. Throws when the format is not a telephone format. `callerAudio` receives the caller's
    /// audio as it is processed (to record the call).
    public init(
        id: String, format: CallAudioFormat, configuration: CallConfiguration = CallConfiguration(),
        pool: RecognizerPool, renderer: PromptRenderer? = nil, responder: (any CallResponder)? = nil,
        callerAudio: (@Sendable ([Float]) -> Void)? = nil
    ) throws(CallError) {
        try format.validate()
        self.callerAudio = callerAudio
        self.id = id
        self.format = format
        self.configuration = configuration
        self.pool = pool
        self.renderer = renderer
        self.responder = responder
        (events, eventSink) = AsyncStream.makeStream(of: CallEvent.self)
        (inputs, inputSink) = AsyncStream.makeStream(of: Input.self)
        shared = Mutex(Shared())
    }

    // MARK: - Input

    /// Caller audio as a byte stream: chunks of any size, even splitting a 16-bit sample.
    public func receive(audio bytes: [UInt8]) { send(.audio(bytes, framed: false), bytes: bytes.count) }

    /// One frame of caller audio from a framed protocol: it must hold whole samples, or it is rejected with an error event.
    public func receive(frame bytes: [UInt8]) { send(.audio(bytes, framed: true), bytes: bytes.count) }

    /// Queues audio for the loop; after the call has ended it is not counted as pending.
    private func send(_ input: Input, bytes: Int) {
        shared.withLock { $0.pendingInputBytes += bytes }
        if case .terminated = inputSink.yield(input) { shared.withLock { $0.pendingInputBytes -= bytes } }
    }

    /// Whether the call has ended (hung up by either side); later input is ignored.
    public var hasEnded: Bool { shared.withLock { $0.ended } }

    /// Audio bytes received but not yet processed (a feeder faster than real time can wait on it).
    public var pendingInputBytes: Int { shared.withLock { $0.pendingInputBytes } }

    /// Whether everything received so far has been processed: audio endpointed and decoded up to now, finals
    /// reported and replies rendered. A feeder faster than real time that waits for this after each chunk gets
    /// the same timeline as a real-time call on an infinitely fast machine.
    public var isSettled: Bool { shared.withLock { $0.ended || $0.pendingInputBytes == 0 && $0.backlogSamples == 0 && $0.busy == 0 } }

    /// A DTMF digit.
    public func receive(dtmf digit: Character) { inputSink.yield(.dtmf(digit)) }

    /// Speaks a prompt to the caller.
    public func say(_ text: String) { inputSink.yield(.say(text, trigger: nil, nextSearch: nil, hangUp: false)) }

    /// Reports `.marker(name)` once the loop reaches it: after every event of the input sent before it, and after the
    /// finals of utterances already decoded (call it once ``isSettled``). A gateway that must answer each frame in order
    /// (vosk) waits for its marker.
    public func mark(_ name: String) { inputSink.yield(.marker(name)) }

    /// Recognises the caller's next utterances with this search.
    public func use(search: RecognitionSearch) { inputSink.yield(.search(search)) }

    /// Ends the call: pending utterances are still decoded, then `ended` is reported.
    public func hangUp(reason: String = "hangup") { inputSink.yield(.hangUp(reason)) }

    // MARK: - Run

    /// Processes the call until it is hung up, then reports `ended` and finishes ``events``.
    public func run() async {
        var loop = Loop(session: self)
        if let responder, let opening = await responder.opening() { deliver(opening, trigger: nil) }
        await withDiscardingTaskGroup { group in
            for await input in inputs {
                if loop.handle(input, group: &group) { break }
            }
            inputSink.finish()
            shared.withLock { $0.ended = true }
            loop.finish(group: &group)
        }
        eventSink.yield(.ended(at: loop.callTime, reason: loop.endReason, byBot: loop.endedByBot))
        eventSink.finish()
    }

    func emit(_ event: CallEvent) { eventSink.yield(event) }

    // MARK: - Decoding tasks

    /// What the session loop and the live decoder of one utterance tell each other while the caller speaks.
    final class UtteranceControl: Sendable {
        struct State {
            /// The caller has stopped speaking (or the utterance is closed): the decoder's work is urgent.
            var urgent = false
            /// The loop wants the hypothesis after each block (the caller is pausing: has the turn ended?).
            var wantsHypothesis = false
            /// The latest hypothesis and the stream sample (16 kHz) it covers up to.
            var heard: (text: String, through: Int)?
            /// When the loop closed the utterance, and the call time it closed at (the audio after the pause's first
            /// moments is not decoded, so the decoder's own count of samples stops short of it).
            var closedAt: ContinuousClock.Instant?
            var closedAtCallTime: Double?
        }

        let state = Mutex(State())
    }

    /// The 20 ms blocks of one live utterance, from the session loop to its decoder. Once a decoder is attached, the pool's
    /// worker threads drain it directly: a block arriving when no drain job is pending schedules one, and that job feeds
    /// everything waiting before it ends. A decoder that fell behind (it waited for a recognizer, or the machine was busy)
    /// catches up in one piece of work, and no block waits for the Swift concurrency pool on its way to the decoder.
    final class BlockQueue: Sendable {
        private struct State {
            var blocks: [[Float]] = []
            var finished = false
            /// A drain job is scheduled or running.
            var scheduled = false
            /// Schedules a drain job; `nil` until a decoder is attached.
            var schedule: (@Sendable () -> Void)?
            /// Resumed once the queue is finished and drained.
            var drained: CheckedContinuation<Void, Never>?
        }

        private let state = Mutex(State())

        /// Blocks gathered before a drain job is scheduled while the caller speaks (``CallConfiguration/decoderBatch``).
        let batch: Int

        init(batch: Int) { self.batch = max(1, batch) }

        /// Adds a block (an empty one marks the utterance as discarded). `eager`: the decoder should see it now (the
        /// caller is pausing and the turn is being judged), not once a batch has gathered.
        func yield(_ block: [Float], eager: Bool = true) { update(eager: eager) { $0.blocks.append(block) } }

        /// No more blocks.
        func finish() { update(eager: true) { $0.finished = true } }

        /// Makes a change and, when a decoder is attached, no drain job is pending and there is reason to wake one
        /// (`eager`, or a batch has gathered), schedules one to see it.
        private func update(eager: Bool, _ change: (inout State) -> Void) {
            let run = state.withLock { state -> (@Sendable () -> Void)? in
                change(&state)
                guard let schedule = state.schedule, !state.scheduled, eager || state.blocks.count >= batch else { return nil }
                state.scheduled = true
                return schedule
            }
            run?()
        }

        /// Attaches the decoder (`schedule` submits a drain job that calls ``take()`` until it returns `nil`) and returns
        /// once every block has been drained and the queue is finished.
        func attach(_ schedule: @escaping @Sendable () -> Void) async {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                state.withLock { state in
                    state.schedule = schedule
                    state.drained = continuation
                    state.scheduled = true
                }
                schedule()  // what arrived while waiting for a decoder, or the end
            }
        }

        /// For a drain job: every block waiting, or `nil` when none is (the job ends; a later block schedules another).
        func take() -> [[Float]]? {
            let (batch, drained) = state.withLock { state -> ([[Float]]?, CheckedContinuation<Void, Never>?) in
                if !state.blocks.isEmpty {
                    defer { state.blocks.removeAll() }
                    return (state.blocks, nil)
                }
                state.scheduled = false
                guard state.finished else { return (nil, nil) }
                defer { state.drained = nil }
                return (nil, state.drained)
            }
            drained?.resume()
            return batch
        }
    }

    /// A live decoder's running count, kept by its drain jobs (one at a time).
    final class LiveProgress: Sendable {
        struct State {
            var fed = 0
            var sinceP = 0
            var lastPartial = ""
            var discarded = false
            var failure: (any Error)?
        }

        let state = Mutex(State())
    }

    func decodeLive(
        _ queue: BlockQueue, control: UtteranceControl, id: Int, search: RecognitionSearch, offset: Double, configuration: CallConfiguration
    ) async {
        // The loop marked the session busy when it closed the stream; the mark ends with this task.
        defer { shared.withLock { $0.busy -= 1 } }
        if await !decodeLiveUtterance(queue, control: control, id: id, search: search, offset: offset, configuration: configuration) {
            await cameToNothing(id)
        }
    }

    /// Utterance `id` produced no final (discarded, failed, cancelled): it awaits no reply, and a reply withheld for
    /// it to go on from is said after all.
    func cameToNothing(_ id: Int) async {
        shared.withLock { _ = $0.unanswered.remove(id) }
        await sayWithheld(before: id)
    }

    /// Decodes a live utterance; true once its final has been handed on (``finish``).
    private func decodeLiveUtterance(
        _ queue: BlockQueue, control: UtteranceControl, id: Int, search: RecognitionSearch, offset: Double, configuration: CallConfiguration
    ) async -> Bool {
        let progress = LiveProgress()
        let lease: RecognizerPool.Lease
        do {
            lease = try await pool.borrow()
        } catch {
            await queue.attach { [self] in drop(queue, progress) }
            return false
        }
        let narrowband = format.isNarrowband
        let adaptation = shared.withLock { $0.adaptation }
        do {
            try await lease.run(.live) { recognizer in
                try recognizer.beginUtterance(search: search, adaptation: adaptation ?? recognizer.initialAdaptation(narrowband: narrowband))
            }
        } catch {
            progress.state.withLock { $0.failure = error }
        }
        if progress.state.withLock({ $0.failure != nil }) {
            await queue.attach { [self] in drop(queue, progress) }
        } else {
            let partialEvery = Int(configuration.partialInterval * 16_000)
            let startSample = Int((offset * 16_000).rounded())
            await queue.attach { [self] in
                let urgent = control.state.withLock { $0.urgent }
                lease.schedule(urgent ? .urgent : .live) { recognizer in
                    while let batch = queue.take() {
                        self.feed(batch, to: recognizer, progress: progress, control: control, offset: offset, startSample: startSample, partialEvery: partialEvery)
                    }
                }
            }
        }
        let (discarded, failure, fed) = progress.state.withLock { ($0.discarded, $0.failure, $0.fed) }
        if let failure {
            lease.release()
            emit(.error(.recognition(String(describing: failure))))
            if !discarded { shared.withLock { $0.awaitingReplies -= 1 } }
            return false
        }
        let (endpointed, endpointedAt) = control.state.withLock { ($0.closedAt ?? .now, $0.closedAtCallTime ?? offset + Double(fed) / 16_000) }
        let finalStart = ContinuousClock.now
        let alternatives = configuration.alternatives
        do {
            let (recognition, newAdaptation) = try await lease.run(.urgent) { try $0.endUtterance(alternatives: alternatives) }
            lease.release()
            if discarded { return false }
            TurnTimers.recognizerWait.recordSeconds((finalStart - endpointed).seconds)
            TurnTimers.decode.recordSeconds((ContinuousClock.now - finalStart).seconds)
            shared.withLock { $0.adaptation = newAdaptation }
            await finish(recognition, id: id, search: search, decoding: .live, offset: offset, endpointedAt: endpointedAt, endpointed: endpointed)
            return true
        } catch {
            lease.release()
            emit(.error(.recognition(String(describing: error))))
            if !discarded { shared.withLock { $0.awaitingReplies -= 1 } }
            return false
        }
    }

    /// Drains a live utterance that has no decoder (none could be borrowed, or it failed): its audio leaves the backlog.
    private func drop(_ queue: BlockQueue, _ progress: LiveProgress) {
        while let batch = queue.take() {
            if batch.contains(where: \.isEmpty) { progress.state.withLock { $0.discarded = true } }
            shared.withLock { $0.backlogSamples -= batch.reduce(0) { $0 + $1.count } }
        }
    }

    /// Feeds a batch of blocks to a live decoder (on a worker thread): partials where they fall due (every
    /// `partialInterval` of audio), and the hypothesis at the batch's end while the loop is judging a pause.
    private func feed(
        _ batch: [[Float]], to recognizer: any StreamingSpeechRecognizing, progress: LiveProgress, control: UtteranceControl, offset: Double,
        startSample: Int, partialEvery: Int
    ) {
        if batch.contains(where: \.isEmpty) { progress.state.withLock { $0.discarded = true } }
        let blocks = batch.filter { !$0.isEmpty }
        guard !blocks.isEmpty else { return }
        shared.withLock { $0.backlogSamples -= blocks.reduce(0) { $0 + $1.count } }
        var state = progress.state.withLock { $0 }
        guard state.failure == nil else { return }
        do {
            for block in blocks {
                try recognizer.feed(block)
                state.fed += block.count
                state.sinceP += block.count
                if state.sinceP >= partialEvery {
                    state.sinceP = 0
                    let partial = recognizer.partialText()
                    if !partial.isEmpty, partial != state.lastPartial {
                        state.lastPartial = partial
                        emit(.partial(text: partial, at: offset + Double(state.fed) / 16_000))
                    }
                }
            }
            if control.state.withLock({ $0.wantsHypothesis }) {
                let heard = (recognizer.partialText(), startSample + state.fed)
                control.state.withLock { $0.heard = heard }
            }
        } catch {
            state.failure = error
        }
        let updated = state
        progress.state.withLock { $0 = updated }
    }

    func decodeWhole(
        _ segment: SpeechSegment, id: Int, search: RecognitionSearch, endpointedAt: Double, endpointed: ContinuousClock.Instant, configuration: CallConfiguration
    ) async {
        defer { shared.withLock { $0.backlogSamples -= segment.samples.count } }
        do {
            let lease = try await pool.borrow()
            let alternatives = configuration.alternatives
            let samples = segment.samples
            let recognition: Recognition
            let started = ContinuousClock.now
            do {
                recognition = try await lease.run(.urgent) { try $0.recognize(samples, search: search, alternatives: alternatives) }
            } catch {
                lease.release()
                throw error
            }
            lease.release()
            TurnTimers.recognizerWait.recordSeconds((started - endpointed).seconds)
            TurnTimers.decode.recordSeconds((ContinuousClock.now - started).seconds)
            await finish(recognition, id: id, search: search, decoding: .whole, offset: Double(segment.startSample) / 16_000, endpointedAt: endpointedAt, endpointed: endpointed)
            return
        } catch is CancellationError {
            shared.withLock { $0.awaitingReplies -= 1 }
        } catch {
            emit(.error(.recognition(String(describing: error))))
            shared.withLock { $0.awaitingReplies -= 1 }
        }
        await cameToNothing(id)
    }

    /// Reports a final result and asks the responder for a reply.
    private func finish(
        _ recognition: Recognition, id: Int, search: RecognitionSearch, decoding: UtteranceDecoding, offset: Double, endpointedAt: Double,
        endpointed: ContinuousClock.Instant
    ) async {
        // However the turn ends (a reply, no reply, nothing heard), the caller is no longer waiting on this utterance.
        defer {
            shared.withLock {
                $0.awaitingReplies -= 1
                $0.unanswered.remove(id)
            }
        }
        guard !recognition.text.isEmpty else {
            await sayWithheld(before: id)
            return
        }
        let words = recognition.words.map {
            RecognizedWord(word: $0.word, start: rounded(offset + $0.start), end: rounded(offset + $0.end), confidence: rounded($0.confidence))
        }
        let utterance = Utterance(
            channel: 0, speaker: "caller", start: words.first?.start ?? rounded(offset), end: words.last?.end ?? rounded(endpointedAt),
            text: recognition.text, confidence: rounded(recognition.confidence), words: words
        )
        let result = UtteranceResult(
            id: id, utterance: utterance, alternatives: recognition.alternatives, search: search, decoding: decoding,
            endpointedAt: rounded(endpointedAt), latency: (ContinuousClock.now - endpointed).seconds
        )
        emit(.final(result))
        guard let responder else { return }
        let earlier = await withheldReply(before: id)
        let answering = ContinuousClock.now
        let reply: Reply?
        if let earlier { reply = await responder.respond(to: result, continuing: earlier.heard) } else { reply = await responder.respond(to: result) }
        let heard = earlier.map { result.joined(after: $0.heard) } ?? result
        // The caller went on speaking before this reply was handed over: if nothing outside the call has happened
        // for it, it is not said, and the turn is heard again with what they add.
        let withhold = shared.withLock { shared -> Bool in
            shared.unanswered.remove(id)
            guard let reply, shared.continued.remove(id) != nil, reply.retractable else { return false }
            shared.withheld[id] = Withheld(heard: heard, reply: reply, endpointed: endpointed)
            return true
        }
        if withhold {
            CallSession.withheldReplies.increment()
            return
        }
        guard let reply else { return }
        TurnTimers.dialog.recordSeconds((ContinuousClock.now - answering).seconds)
        if let interpretation = reply.interpretation { emit(.understood(interpretation, utterance: id)) }
        shared.withLock { $0.lastAnswer = reply.retractable ? Withheld(heard: heard, reply: reply, endpointed: endpointed, reported: true) : nil }
        deliver(reply, trigger: endpointed)
    }

    /// A reply not said because the caller went on speaking, with the (possibly already joined) utterance it answered.
    struct Withheld: Sendable {
        var heard: UtteranceResult
        var reply: Reply
        var endpointed: ContinuousClock.Instant
        /// The bot's reading was reported (the reply had started when the caller went on).
        var reported = false
    }

    /// The earlier utterance's withheld reply, if utterance `id` goes on from one; waits (a few seconds at most) for
    /// that reply to be settled first, so the dialog hears the two in order.
    private func withheldReply(before id: Int) async -> Withheld? {
        guard let earlier = shared.withLock({ $0.continuing.removeValue(forKey: id) }) else { return nil }
        let deadline = ContinuousClock.now + .seconds(5)
        while shared.withLock({ $0.unanswered.contains(earlier) }) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
        return shared.withLock { shared in
            shared.continued.remove(earlier)
            return shared.withheld.removeValue(forKey: earlier)
        }
    }

    /// Utterance `id` came to nothing (discarded, nothing recognised, failed): a reply withheld for the caller to go on
    /// is said after all.
    func sayWithheld(before id: Int) async {
        guard let withheld = await withheldReply(before: id) else { return }
        if !withheld.reported, let interpretation = withheld.reply.interpretation { emit(.understood(interpretation, utterance: withheld.heard.id)) }
        deliver(withheld.reply, trigger: withheld.endpointed)
    }

    /// Hands a reply to the session loop (prompt, next search, handoff, hang-up).
    func deliver(_ reply: Reply, trigger: ContinuousClock.Instant?) {
        inputSink.yield(.say(reply.text, trigger: trigger, nextSearch: reply.nextSearch, hangUp: reply.hangUp || reply.handoff != nil, handoff: reply.handoff))
    }

    // MARK: - Playback task

    func play(
        _ text: String, id: Int, at start: Double, trigger: ContinuousClock.Instant?, voice: VoiceSettings, format: CallAudioFormat,
        renderer: PromptRenderer
    ) async {
        let produced = Mutex((bytes: 0, started: false))
        let rendering = ContinuousClock.now
        let sampleRate = Double(format.sampleRate)
        let width = format.bytesPerSample
        do {
            try await renderer.render(text, voice: voice, format: format) { [self] bytes in
                // A barge-in stops the prompt: later chunks are dropped.
                guard shared.withLock({ $0.activePlayback == id }) else { return }
                let first = produced.withLock { state -> Bool in
                    defer { state.bytes += bytes.count; state.started = true }
                    return !state.started
                }
                if first {
                    if trigger != nil { TurnTimers.synthesis.recordSeconds((ContinuousClock.now - rendering).seconds) }
                    emit(.playbackStarted(id: id, text: text, at: start, responseLatency: trigger.map { (ContinuousClock.now - $0).seconds }))
                }
                emit(.playbackAudio(id: id, bytes: bytes))
            }
        } catch {
            emit(.error(.synthesis("\(error) (prompt \"\(text.prefix(60))\")")))
        }
        let bytes = produced.withLock { $0.bytes }
        inputSink.yield(.playbackProduced(id: id, duration: Double(bytes / width) / sampleRate))
    }
}
