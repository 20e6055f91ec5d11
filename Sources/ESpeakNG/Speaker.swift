internal import CEspeakNG

#if canImport(Glibc)
internal import Glibc
#endif

// MARK: - Errors

/// An error from espeak-ng, naming what was asked of it.
public struct ESpeakError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What failed, in words a person can act on.
    public let description: String

    /// Makes an error with the given description.
    public init(_ description: String) { self.description = description }
}

/// The one place an espeak-ng status code is checked.
func check(_ status: espeak_ERROR, _ what: @autoclosure () -> String) throws(ESpeakError) {
    guard status != EE_OK else { return }
    let reason = status == EE_NOT_FOUND ? "not found" : status == EE_BUFFER_FULL ? "buffer full" : "internal error"
    throw ESpeakError("\(what()): \(reason)")
}

// MARK: - Speaker

/// A voice installed with espeak-ng.
public struct Voice: Sendable, Equatable {
    /// The voice's name, such as "english-us".
    public var name: String
    /// The voice's file identifier, such as "gmw/en-US"; `setVoice` accepts it too.
    public var identifier: String
    /// Languages the voice speaks, most preferred first, such as ["en-us", "en"].
    public var languages: [String]
}

/// The process's espeak-ng engine.
///
/// espeak-ng keeps its state in globals, so there is exactly one ``Speaker`` per process
/// (``Speaker/shared()``); it is not thread-safe and not `Sendable`: one actor must own it.
public final class Speaker {
    /// Samples per second of everything synthesized (22 050 for espeak-ng's voices).
    public let sampleRate: Int

    /// Initialised once per process (Swift runs a `static let` initialiser exactly once, thread-safely).
    nonisolated(unsafe) private static let instance: Result<Speaker, ESpeakError> = {
        let rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 100, nil, 0)
        guard rate > 0 else { return .failure(ESpeakError("initialising espeak-ng failed: is espeak-ng-data installed?")) }
        espeak_SetSynthCallback(speakerCallback)
        return .success(Speaker(sampleRate: Int(rate)))
    }()

    /// The process's speaker, initialising espeak-ng on first use.
    public static func shared() throws(ESpeakError) -> Speaker {
        try instance.get()
    }

    private init(sampleRate: Int) { self.sampleRate = sampleRate }

    // MARK: - Settings

    /// Selects a voice by name or identifier ("en-us", "english-us", "gmw/en-US").
    public func setVoice(_ name: String) throws(ESpeakError) {
        try check(espeak_SetVoiceByName(name), "selecting voice '\(name)'")
    }

    /// Speaking rate in words per minute (80...450; 175 is normal).
    public func setRate(_ wordsPerMinute: Int) throws(ESpeakError) {
        try check(espeak_SetParameter(espeakRATE, Int32(wordsPerMinute), 0), "setting rate \(wordsPerMinute)")
    }

    /// Base pitch (0...100; 50 is normal).
    public func setPitch(_ pitch: Int) throws(ESpeakError) {
        try check(espeak_SetParameter(espeakPITCH, Int32(pitch), 0), "setting pitch \(pitch)")
    }

    /// Every installed voice.
    public func voices() -> [Voice] {
        guard let list = espeak_ListVoices(nil) else { return [] }
        var voices: [Voice] = []
        var index = 0
        while let entry = list[index] {
            let voice = entry.pointee
            voices.append(Voice(
                name: voice.name.map { String(cString: $0) } ?? "",
                identifier: voice.identifier.map { String(cString: $0) } ?? "",
                languages: Speaker.languages(voice.languages)
            ))
            index += 1
        }
        return voices
    }

    /// Decodes espeak-ng's list of (priority byte, zero-terminated name) pairs ending in an empty name.
    private static func languages(_ pointer: UnsafePointer<CChar>?) -> [String] {
        guard var cursor = pointer else { return [] }
        var result: [String] = []
        while cursor.pointee != 0 {
            cursor += 1  // priority byte
            let name = String(cString: cursor)
            if name.isEmpty { break }
            result.append(name)
            cursor += name.utf8.count + 1
        }
        return result
    }

    // MARK: - Synthesis

    /// Synthesizes UTF-8 text, handing each block of 16-bit mono samples at ``sampleRate`` to `chunk`
    /// as soon as espeak-ng produces it. Return `false` from `chunk` to stop early.
    public func synthesize(_ text: String, chunk: (UnsafeBufferPointer<Int16>) -> Bool) throws(ESpeakError) {
        try withoutActuallyEscaping(chunk) { (escapable) throws(ESpeakError) in
            let sink = Sink(escapable)
            let context = Unmanaged.passUnretained(sink).toOpaque()
            let bytes = Array(text.utf8CString)
            let status = bytes.withUnsafeBufferPointer { buffer in
                espeak_Synth(buffer.baseAddress, buffer.count, 0, POS_CHARACTER, 0, UInt32(espeakCHARS_UTF8), nil, context)
            }
            try check(status, "synthesizing \(text.count) characters")
        }
    }

    /// The phonemes espeak-ng would speak for text, in its ASCII (Kirshenbaum-style) notation.
    public func phonemes(for text: String) -> String {
        var parts: [String] = []
        text.withCString { start in
            var cursor: UnsafeRawPointer? = UnsafeRawPointer(start)
            while let current = cursor, UnsafePointer<CChar>(OpaquePointer(current)).pointee != 0 {
                guard let phonemes = espeak_TextToPhonemes(&cursor, Int32(espeakCHARS_UTF8), 0) else { break }
                parts.append(String(cString: phonemes))
            }
        }
        return parts.joined(separator: " ").trimmingSpaces()
    }
}

/// Receives the samples of one `espeak_Synth` call.
private final class Sink {
    let chunk: (UnsafeBufferPointer<Int16>) -> Bool
    init(_ chunk: @escaping (UnsafeBufferPointer<Int16>) -> Bool) { self.chunk = chunk }
}

/// espeak-ng's synthesis callback: forwards samples to the `Sink` passed as user data; 1 aborts.
private func speakerCallback(_ wav: UnsafeMutablePointer<Int16>?, _ count: Int32, _ events: UnsafeMutablePointer<espeak_EVENT>?) -> Int32 {
    guard let wav, count > 0, let context = events?.pointee.user_data else { return 0 }
    let sink = Unmanaged<Sink>.fromOpaque(context).takeUnretainedValue()
    return sink.chunk(UnsafeBufferPointer(start: wav, count: Int(count))) ? 0 : 1
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        var scalars = Substring(self)
        while scalars.first == " " || scalars.first == "\n" { scalars.removeFirst() }
        while scalars.last == " " || scalars.last == "\n" { scalars.removeLast() }
        return String(scalars)
    }
}
