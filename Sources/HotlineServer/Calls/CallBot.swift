public import HotlineCore

// MARK: - The bot behind the gateways, and who watches the calls

/// What answers calls: the CLI wires the flow's dialog, caller memory and engines in; tests use fakes.
public protocol CallBot: Sendable {
    /// The call configuration (initial search, voice, decoding) for a call.
    func configuration(for call: CallStart) -> CallConfiguration
    /// The responder for a bot call (`nil` when the bot stays silent).
    func responder(for call: CallStart) async -> (any CallResponder)?
    /// Called once per bot call when it is over, with its final record (caller memory).
    func callEnded(_ call: CallStart, record: CallRecord, responder: (any CallResponder)?) async
}

extension CallBot {
    /// Nothing to remember by default.
    public func callEnded(_ call: CallStart, record: CallRecord, responder: (any CallResponder)?) async {}
}

/// Watches every call's record change as it happens: the transcript store and the live QA feed are observers. The
/// changes come from the call's ``CallLedger``: redacted, sequenced, in order, its start first and its end last.
public protocol CallObserver: Sendable {
    /// What changed in a call's record.
    func call(_ call: CallStart, changed: [CallLedger.Change]) async
    /// Whether this observer wants the call's audio (both sides, recorded by the host).
    var wantsRecording: Bool { get }
    /// The call's audio, after its end (only when `wantsRecording`).
    func callRecorded(_ call: CallStart, recorder: CallRecorder) async
}

extension CallObserver {
    /// No audio by default.
    public var wantsRecording: Bool { false }
    /// Nothing to do with audio by default.
    public func callRecorded(_ call: CallStart, recorder: CallRecorder) async {}
}
