import Synchronization

// MARK: - The session loop

extension CallSession {
    // MARK: - The session loop's state

    /// State owned by ``run()``: endpointing, the utterance being heard, playback and timers.
    struct Loop {
        let session: CallSession
        let recognizerRate = 16_000
        var detector: VoiceActivityDetector
        var resampler: Resampler
        var leftover: [UInt8] = []
        var samplesReceived = 0  // at the call's rate
        var samples16k = 0  // resampled samples seen by the detector
        var recent: [Float] = []  // last second at 16 kHz, for the audio before speech started
        var recentStart = 0
        var search: RecognitionSearch
        var utterance: Utterance?
        var lastActivity = 0.0  // call time the caller last spoke or the bot last finished
        var noInputReported = false
        var playback: (id: Int, start: Double, end: Double?)?
        var nextPlayback = 0
        var endReason = "hangup"
        var endedByBot = false
        var pendingHangUp = false
        var nextUtterance = 0  // numbers utterances in the order they open
        /// The end hangover for the turn in progress before anything is heard (the flow state's, or the configured one).
        var baseHangover: Double
        /// Call time the caller last finished speaking, and whether the holding phrase was said for that turn.
        var turnEnded: Double?
        var heldTurn = false
        /// Call time the last reply to the caller began.
        var lastReply = -1.0
        /// The caller's last finished utterance and the call time its turn ended.
        var lastClosed: (id: Int, at: Double)?
        /// The playback of the last reply to the caller.
        var replyPlayback: Int?
        /// Replies that came while the caller was speaking again, or before the end hangover of a turn closed early ran
        /// out: said when they stop, not over them.
        var heldReplies: [Input] = []
        /// The live utterance closed before the end hangover ran out (``closeEarly()``), the search it was heard with,
        /// and where it ended (16 kHz samples); and how much speech has been heard since (a caller going on).
        var closedEarly: (id: Int, search: RecognitionSearch, endSample: Int)?
        var speechSinceEarlyClose = 0.0

        /// The utterance being fed to a live decoder.
        struct Utterance {
            let id: Int
            let queue: BlockQueue
            let control: UtteranceControl
            var block: [Float] = []
            var overloaded = false
            var droppedSamples = 0
            /// The caller is pausing: the decoder has been asked for what it heard.
            var pausing = false
            /// The hypothesis the end hangover was last set from.
            var judged: String?
            /// The words heard so far were judged unfinished: the decoder goes on hearing the pause, so that a last word
            /// it guessed from the first moments of silence ("…my cable the") can be heard again and the turn rejudged.
            var waitingLong = false
            /// Silence held back from the decoder while the caller pauses: sent if they speak again, dropped if the turn ends.
            var held: [[Float]] = []
        }

        init(session: CallSession) {
            self.session = session
            detector = VoiceActivityDetector(sampleRate: recognizerRate, configuration: session.configuration.voiceActivity)
            resampler = Resampler(from: session.format.sampleRate, to: recognizerRate)
            search = session.configuration.initialSearch
            baseHangover = session.configuration.voiceActivity.endDuration
        }

        var callTime: Double { Double(samplesReceived) / Double(session.format.sampleRate) }

        /// Handles one input; returns true when the call is over.
        mutating func handle(_ input: Input, group: inout DiscardingTaskGroup) -> Bool {
            switch input {
            case .audio(let bytes, let framed):
                accept(bytes, framed: framed, group: &group)
                session.shared.withLock { $0.pendingInputBytes -= bytes.count }
            case .dtmf(let digit):
                session.emit(.dtmf(digit: digit, at: callTime))
                lastActivity = callTime
                noInputReported = false
            case .say(let text, let trigger, let nextSearch, let hangUp, let handoff):
                if let nextSearch { search = nextSearch }
                if trigger != nil { lastReply = callTime }
                if trigger != nil, !text.isEmpty, detector.isInSpeech,
                   closedEarly != nil || (!hangUp && session.configuration.bargeIn) {
                    // The reply to a turn closed early, before its end hangover has run out; or the reply to an earlier
                    // turn, and the caller is speaking again: it waits for them to stop, as a person would, rather than
                    // start over them (then a hang-up or handoff goes ahead as it must).
                    heldReplies.append(input)
                    return false
                }
                if !text.isEmpty {
                    startPlayback(text, trigger: trigger, group: &group)
                    if trigger != nil { replyPlayback = nextPlayback }
                }
                if let handoff { session.emit(.handoff(handoff, at: callTime)) }
                if hangUp {
                    endReason = handoff.map { "handed to \($0.queue)" } ?? "bot ended the call"
                    endedByBot = true
                    pendingHangUp = true
                    return text.isEmpty
                }
            case .search(let newSearch):
                search = newSearch
            case .playbackProduced(let id, let duration):
                if playback?.id == id, let start = playback?.start {
                    playback?.end = start + duration
                    session.emit(.playbackFinished(id: id, duration: duration))
                }
                if pendingHangUp { return true }
            case .hangUp(let reason):
                endReason = reason
                return true
            case .marker(let name):
                session.emit(.marker(name))
            }
            return false
        }

        // MARK: Audio

        mutating func accept(_ bytes: [UInt8], framed: Bool, group: inout DiscardingTaskGroup) {
            let width = session.format.bytesPerSample
            var data: [UInt8]
            if framed {
                guard bytes.count % width == 0 else {
                    CallSession.malformed.increment()
                    session.emit(.error(.malformedFrame(
                        "\(bytes.count) bytes is not a whole number of \(width)-byte \(session.format) samples; frame dropped at \(callTime) s")))
                    return
                }
                data = bytes
            } else {
                data = leftover + bytes
                let whole = data.count - data.count % width
                leftover = Array(data[whole...])
                data.removeSubrange(whole...)
            }
            // Work in steps of at most 20 ms so timers and events keep their times whatever the chunk size.
            let step = session.format.bytes(forSeconds: 0.02)
            var offset = 0
            while offset < data.count {
                let piece = data[offset..<min(offset + step, data.count)]
                offset += step
                samplesReceived += piece.count / width
                let samples = session.format.decode(piece)
                session.callerAudio?(samples)
                process16k(resampler.process(samples), group: &group)
            }
        }

        mutating func process16k(_ audio: [Float], group: inout DiscardingTaskGroup) {
            // Keep the last second for the audio just before speech was detected.
            recent.append(contentsOf: audio)
            if recent.count > 2 * recognizerRate {
                let drop = recent.count - recognizerRate
                recent.removeFirst(drop)
                recentStart += drop
            }
            let events = detector.process(audio)
            samples16k += audio.count
            // Audio reaches an open live utterance before the detector's verdict on it.
            if utterance != nil { feedUtterance(audio) }
            for event in events { handle(event, group: &group) }
            steerEndpoint()
            closeEarly()
            goOnAfterEarlyClose(audio.count, group: &group)
            checkNoInput(group: &group)
            checkHolding(group: &group)
        }

        // MARK: Adaptive end of turn

        /// While the caller pauses, asks the live decoder what it has heard and lets the responder set the end hangover
        /// from it: a complete request closes the turn soon, an unfinished phrase waits longer.
        mutating func steerEndpoint() {
            guard var open = utterance, let speechEnd = detector.speechEndSample else { return }
            if detector.trailingSilence == 0 {
                guard open.pausing else { return }
                // Speaking again: back to the turn's own hangover, and the decoder's work is no longer urgent.
                open.pausing = false
                open.judged = nil
                open.waitingLong = false
                open.control.state.withLock {
                    $0.urgent = false
                    $0.wantsHypothesis = false
                    $0.heard = nil
                }
                detector.endHangover = baseHangover
                utterance = open
                return
            }
            if !open.pausing {
                open.pausing = true
                open.control.state.withLock {
                    $0.urgent = true
                    $0.wantsHypothesis = true
                }
            }
            defer { utterance = open }
            // Judge only a hypothesis that has heard the end of the speech and 120 ms beyond: the last word's tail (judged
            // sooner, a trailing "the" or "to" is often the decoder's guess at the last phones).
            guard let responder = session.responder, let heard = open.control.state.withLock({ $0.heard }),
                  heard.through >= speechEnd + recognizerRate * 3 / 25, heard.text != open.judged else { return }
            open.judged = heard.text
            detector.endHangover = responder.endHangover(afterHearing: heard.text) ?? baseHangover
            open.waitingLong = detector.endHangover > baseHangover
        }

        /// The caller speaks again soon after their turn ended, before the bot's reply to it has started or just as it
        /// starts (`stopped`: the playback the barge-in stopped; `held`: the reply is held, not yet started): they are
        /// going on with the turn. Returns whether a reply already made was taken back.
        @discardableResult
        mutating func goOnFromLastTurn(at: Double, stopped: Int?, held: Bool = false) -> Bool {
            guard let window = session.configuration.continuationWindow, let last = lastClosed, at - last.at <= window else { return false }
            let upcoming = nextUtterance  // the number the utterance starting now will have
            let interrupted = held || (stopped != nil && stopped == replyPlayback)
            return session.shared.withLock { shared in
                var tookBack = false
                if shared.unanswered.contains(last.id) {
                    shared.continued.insert(last.id)  // a retractable reply will be withheld
                } else if interrupted, let answer = shared.lastAnswer, answer.heard.id == last.id {
                    // Its reply had just started and the barge-in stopped it, or it waits to start: taken back like
                    // one not yet said.
                    shared.withheld[last.id] = answer
                    shared.lastAnswer = nil
                    CallSession.withheldReplies.increment()
                    tookBack = true
                } else {
                    return false
                }
                shared.continuing[upcoming] = last.id
                return tookBack
            }
        }

        // MARK: Answering during the end hangover

        /// Seconds of speech after an early close that mean the caller is going on (not a click or a breath).
        static let goingOnSpeech = 0.06

        /// Closes the live utterance once the pause has been judged a finished turn, before the end hangover runs out:
        /// the final decode and the dialog run while the hangover does, and the reply is held until it has (or taken
        /// back if the caller goes on first). Only a turn judged complete (a hangover shorter than the turn's usual
        /// one): words that might go on (digits read at the greeting, an unfinished phrase) wait for the hangover, so
        /// that a number read in groups stays one utterance, masked as one.
        mutating func closeEarly() {
            guard session.configuration.answerDuringHangover, session.configuration.continuationWindow != nil,
                  let open = utterance, open.judged != nil, detector.endHangover < baseHangover, detector.isInSpeech,
                  detector.trailingSilence >= Self.earlyCloseAfter,
                  detector.endHangover - detector.trailingSilence >= Self.earlyCloseGain else { return }
            let id = open.id
            let endSample = samples16k
            closeUtterance()
            closedEarly = (id, search, endSample)
            speechSinceEarlyClose = 0
        }

        /// Hangover left, in seconds, for an early close to be worth it.
        static let earlyCloseGain = 0.04
        /// Seconds of a pause the decoder hears before an early close: with 0.13 s the intent accuracy on the spoken
        /// fixtures is what it is with the whole hangover (66.5%), with 0.10 s it falls (65.6%).
        static let earlyCloseAfter = 0.14

        /// After an early close, the caller speaks again before the end hangover has run out: they are going on with
        /// the same turn. The reply (held, or still being made) is taken back when it can be, and a new utterance hears
        /// what they add from where the first one ended.
        mutating func goOnAfterEarlyClose(_ count: Int, group: inout DiscardingTaskGroup) {
            guard let early = closedEarly, utterance == nil, detector.isInSpeech else { return }
            guard detector.trailingSilence == 0 else {
                speechSinceEarlyClose = 0
                return
            }
            speechSinceEarlyClose += Double(count) / Double(recognizerRate)
            guard speechSinceEarlyClose >= Self.goingOnSpeech else { return }
            closedEarly = nil
            // The reply to the turn closed early, when it has come, is the last one held.
            if goOnFromLastTurn(at: callTime, stopped: nil, held: !heldReplies.isEmpty) { heldReplies.removeLast() }
            // Heard with the search of the turn it goes on from, unless a reply that acted moved the dialog on.
            if heldReplies.isEmpty { search = early.search }
            detector.endHangover = baseHangover
            let start = max(recentStart, early.endSample)
            openUtterance(startSample: start, group: &group)
            let end = recentStart + recent.count
            if start < end { feedUtterance(Array(recent[(start - recentStart)...])) }
        }

        /// The caller has stopped: replies held while they spoke are said now, as one prompt (each playback started
        /// stops the one before it, so two started at once would lose the first).
        mutating func sayHeldReply(group: inout DiscardingTaskGroup) {
            var texts: [String] = []
            var trigger: ContinuousClock.Instant?
            var nextSearch: RecognitionSearch?
            var hangUp = false
            var handoff: Handoff?
            for case .say(let text, let heldTrigger, let heldSearch, let heldHangUp, let heldHandoff) in heldReplies {
                texts.append(text)
                trigger = trigger ?? heldTrigger
                nextSearch = heldSearch ?? nextSearch
                hangUp = hangUp || heldHangUp
                handoff = heldHandoff ?? handoff
            }
            guard !texts.isEmpty else { return }
            heldReplies.removeAll()
            // Not in speech now, so it plays (held replies have words, so the call goes on until they are played).
            _ = handle(.say(texts.joined(separator: " "), trigger: trigger, nextSearch: nextSearch, hangUp: hangUp, handoff: handoff), group: &group)
        }

        /// Says the holding phrase once when the caller finished speaking a while ago and the reply is still being made.
        mutating func checkHolding(group: inout DiscardingTaskGroup) {
            guard let delay = session.configuration.holdingDelay, let ended = turnEnded, !heldTurn, lastReply < ended, !detector.isInSpeech,
                  callTime - ended >= delay, session.shared.withLock({ $0.awaitingReplies > 0 }) else { return }
            heldTurn = true
            CallSession.holdingPhrases.increment()
            startPlayback(session.configuration.holdingPhrase, trigger: nil, group: &group)
        }

        /// A caller's turn has ended: a reply is awaited.
        mutating func turnEnded(_ segment: SpeechSegment) {
            if !segment.wasSplit { CallSession.TurnTimers.hangover.recordSeconds(segment.hangover) }
            turnEnded = callTime
            heldTurn = false
        }

        mutating func handle(_ event: VoiceActivityEvent, group: inout DiscardingTaskGroup) {
            switch event {
            case .speechStarted(let sample):
                let at = Double(sample) / Double(recognizerRate)
                session.emit(.speechStarted(at: at))
                lastActivity = at
                noInputReported = false
                let stopped = bargeIn(at: at)
                goOnFromLastTurn(at: at, stopped: stopped)
                baseHangover = session.responder?.endHangover(afterHearing: "") ?? session.configuration.voiceActivity.endDuration
                detector.endHangover = baseHangover
                if session.configuration.decoding(for: search) == .live {
                    let start = max(recentStart, sample - detector.paddingSamples)
                    openUtterance(startSample: start, group: &group)
                    // Everything from the start of the padding up to now.
                    let end = recentStart + recent.count
                    if start < end { feedUtterance(Array(recent[(start - recentStart)...])) }
                }
            case .segment(let segment):
                lastActivity = callTime
                turnEnded(segment)
                if !segment.wasSplit { sayHeldReply(group: &group) }
                if let early = closedEarly, utterance == nil {
                    // Its words were closed early and are being (or have been) answered; the turn ends now, and the
                    // continuation window runs from here.
                    if !segment.wasSplit {
                        closedEarly = nil
                        if lastClosed?.id == early.id { lastClosed = (early.id, callTime) }
                    }
                } else if utterance != nil {
                    // Live: the decoder has heard everything up to now; a split utterance goes on in a new one.
                    closeUtterance()
                    if segment.wasSplit { openUtterance(startSample: samples16k, group: &group) }
                } else {
                    decodeWhole(segment, endpointed: .now, group: &group)
                }
            case .speechDiscarded:
                sayHeldReply(group: &group)
                let upcoming = nextUtterance
                if utterance == nil, session.shared.withLock({ $0.continuing[upcoming] != nil }) {
                    // A blip, not the caller going on: a reply withheld for them is said (whole decoding opened no utterance).
                    let session = self.session
                    group.addTask { await session.cameToNothing(upcoming) }
                }
                if let open = utterance {
                    open.queue.yield([])  // an empty block marks the utterance as discarded
                    session.shared.withLock { $0.busy += 1 }
                    open.queue.finish()
                    utterance = nil
                }
            }
        }

        // MARK: Live utterances

        mutating func openUtterance(startSample: Int, group: inout DiscardingTaskGroup) {
            let queue = BlockQueue(batch: Int((session.configuration.decoderBatch / 0.02).rounded()))
            let control = UtteranceControl()
            let id = nextUtterance
            nextUtterance += 1
            utterance = Utterance(id: id, queue: queue, control: control)
            let session = self.session
            let search = self.search
            let offset = Double(startSample) / Double(recognizerRate)
            let configuration = session.configuration
            group.addTask {
                await session.decodeLive(queue, control: control, id: id, search: search, offset: offset, configuration: configuration)
            }
        }

        mutating func feedUtterance(_ audio: [Float]) {
            guard var open = utterance else { return }
            open.block.append(contentsOf: audio)
            let blockSize = recognizerRate / 50  // 20 ms: the decoder sees the same blocks whatever the chunking
            // Past the first moments of a pause the decoder has all it needs to judge the turn: the rest of the silence
            // (most of the end hangover) is not worth its CPU unless the caller goes on.
            let pausing = detector.trailingSilence >= Self.silenceDecoded && !open.waitingLong
            while open.block.count >= blockSize {
                let block = Array(open.block.prefix(blockSize))
                open.block.removeFirst(blockSize)
                if pausing {
                    open.held.append(block)
                    continue
                }
                for waiting in open.held { send(waiting, to: &open) }
                open.held.removeAll()
                send(block, to: &open)
            }
            utterance = open
        }

        /// Seconds of a pause the live decoder hears before the rest is held back (all of it while the words so far are
        /// judged unfinished).
        static let silenceDecoded = 0.2

        /// Seconds of a pause after which the live decoder is fed every block as it comes (before, in batches).
        static let eagerAfter = 0.05

        /// The backlog bound in samples.
        var backlogLimit: Int {
            let seconds = session.configuration.maximumBacklog
            return seconds.isFinite ? Int(max(0, seconds) * Double(recognizerRate)) : Int.max / 2
        }

        mutating func send(_ block: [Float], to open: inout Utterance) {
            let limit = backlogLimit
            let backlog = session.shared.withLock { $0.backlogSamples }
            if open.overloaded || backlog + block.count > limit {
                if !open.overloaded {
                    open.overloaded = true
                    CallSession.overloads.increment()
                }
                open.droppedSamples += block.count
                return
            }
            session.shared.withLock { $0.backlogSamples += block.count }
            // While the caller speaks the decoder is fed in batches; from the first moments of a pause, at once.
            open.queue.yield(block, eager: detector.trailingSilence >= Self.eagerAfter || detector.speechEndSample == nil)
        }

        mutating func closeUtterance() {
            guard var open = utterance else { return }
            if !open.block.isEmpty && open.held.isEmpty {  // held back: the rest is the same silence
                let block = open.block
                open.block.removeAll()
                send(block, to: &open)
            }
            if open.overloaded {
                let dropped = Double(open.droppedSamples) / Double(recognizerRate)
                session.emit(.overloaded(at: callTime - dropped, droppedSeconds: dropped))
            }
            let closedAtCallTime = Double(samples16k) / Double(recognizerRate)
            open.control.state.withLock {
                $0.closedAt = .now
                $0.closedAtCallTime = closedAtCallTime
                $0.urgent = true
                $0.wantsHypothesis = false
            }
            session.shared.withLock {
                $0.busy += 1  // until the live decoder reports the final
                $0.awaitingReplies += 1
                $0.unanswered.insert(open.id)
            }
            lastClosed = (open.id, callTime)
            open.queue.finish()
            utterance = nil
        }

        // MARK: Whole utterances

        mutating func decodeWhole(_ segment: SpeechSegment, endpointed: ContinuousClock.Instant, group: inout DiscardingTaskGroup) {
            let limit = backlogLimit
            let id = nextUtterance
            let accepted = session.shared.withLock { shared -> Bool in
                // One utterance is always accepted when nothing waits, however long it is.
                guard shared.backlogSamples == 0 || shared.backlogSamples + segment.samples.count <= limit else { return false }
                shared.backlogSamples += segment.samples.count
                shared.awaitingReplies += 1
                shared.unanswered.insert(id)
                return true
            }
            guard accepted else {
                CallSession.overloads.increment()
                let seconds = Double(segment.samples.count) / Double(recognizerRate)
                session.emit(.overloaded(at: Double(segment.startSample) / Double(recognizerRate), droppedSeconds: seconds))
                return
            }
            let session = self.session
            let search = self.search
            let configuration = session.configuration
            let at = callTime
            nextUtterance += 1
            lastClosed = (id, at)
            session.shared.withLock { $0.busy += 1 }
            group.addTask {
                defer { session.shared.withLock { $0.busy -= 1 } }
                await session.decodeWhole(segment, id: id, search: search, endpointedAt: at, endpointed: endpointed, configuration: configuration)
            }
        }

        // MARK: Playback

        mutating func startPlayback(_ text: String, trigger: ContinuousClock.Instant?, group: inout DiscardingTaskGroup) {
            guard let renderer = session.renderer else { return }
            nextPlayback += 1
            let id = nextPlayback
            let start = max(callTime, playback?.end ?? callTime)
            playback = (id, start, nil)
            session.shared.withLock { $0.activePlayback = id }
            noInputReported = false
            let session = self.session
            let voice = session.configuration.voice
            let format = session.format
            session.shared.withLock { $0.busy += 1 }
            group.addTask {
                defer { session.shared.withLock { $0.busy -= 1 } }
                await session.play(text, id: id, at: start, trigger: trigger, voice: voice, format: format, renderer: renderer)
            }
        }

        /// The caller spoke over the prompt being played: it stops. Returns the playback stopped.
        @discardableResult
        mutating func bargeIn(at time: Double) -> Int? {
            guard session.configuration.bargeIn, let current = playback else { return nil }
            if let end = current.end, end <= time { return nil }
            session.shared.withLock { if $0.activePlayback == current.id { $0.activePlayback = nil } }
            session.emit(.bargeIn(id: current.id, at: time))
            playback = nil
            return current.id
        }

        mutating func checkNoInput(group: inout DiscardingTaskGroup) {
            guard let timeout = session.configuration.noInputTimeout, !noInputReported, !detector.isInSpeech, utterance == nil else { return }
            var since = lastActivity
            if let current = playback {
                guard let end = current.end else { return }  // still producing the prompt
                since = max(since, end)
            }
            if callTime - since >= timeout {
                noInputReported = true
                let silence = callTime - since
                session.emit(.noInput(at: callTime, silence: silence))
                if let responder = session.responder {
                    let session = self.session
                    session.shared.withLock { $0.busy += 1 }
                    group.addTask {
                        defer { session.shared.withLock { $0.busy -= 1 } }
                        if let reply = await responder.noInput(silence: silence) { session.deliver(reply, trigger: nil) }
                    }
                }
            }
        }

        // MARK: End

        mutating func finish(group: inout DiscardingTaskGroup) {
            if !leftover.isEmpty {
                session.emit(.error(.malformedFrame("the L16 stream ended with \(leftover.count) byte(s) of a partial sample")))
            }
            // Close the utterance in progress so what was said before hang-up is decoded.
            let tail = resampler.flush()
            for event in detector.process(tail) + detector.flush() {
                if case .speechStarted = event { continue }
                if case .segment(let segment) = event, utterance == nil, closedEarly == nil, session.configuration.decoding(for: search) == .live {
                    decodeWhole(segment, endpointed: .now, group: &group)
                    continue
                }
                handle(event, group: &group)
            }
            closeUtterance()
            session.shared.withLock { $0.activePlayback = nil }
        }
    }
}
