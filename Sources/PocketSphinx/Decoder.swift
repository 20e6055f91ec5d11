internal import CPocketSphinx

#if canImport(Glibc)
internal import Glibc
#endif

// MARK: - Errors

/// An error from PocketSphinx, naming the operation (and file, where there is one) that failed.
public struct PocketSphinxError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What failed, in words a person can act on.
    public let description: String

    /// Makes an error with the given description.
    public init(_ description: String) { self.description = description }
}

/// The one place a PocketSphinx status code is checked: a negative status throws.
@discardableResult
func check(_ status: Int32, _ what: @autoclosure () -> String) throws(PocketSphinxError) -> Int32 {
    guard status >= 0 else { throw PocketSphinxError("\(what()) failed (status \(status))") }
    return status
}

// MARK: - Results

/// One word of a hypothesis with its frame span and scores.
public struct Segment: Sendable, Equatable {
    /// The word as the dictionary spells it, including fillers such as `<sil>` and `[NOISE]`
    /// and alternate pronunciations such as `read(2)`.
    public var word: String
    /// First frame of the word (inclusive).
    public var startFrame: Int
    /// Last frame of the word (inclusive).
    public var endFrame: Int
    /// Posterior probability of the word in 0...1 (1 when no lattice was computed).
    public var posterior: Double
}

/// A decoded hypothesis: the words and the decoder's path score.
public struct Hypothesis: Sendable, Equatable {
    /// Space-separated words, fillers removed.
    public var text: String
    /// The path score (log domain, larger is better).
    public var score: Int32
    /// Posterior probability of the whole hypothesis in 0...1.
    public var probability: Double
}

// MARK: - Decoder

/// A PocketSphinx decoder: one acoustic model, dictionary and a set of named searches.
///
/// Not thread-safe and deliberately not `Sendable`: use one decoder per concurrent stream.
public final class Decoder {
    private let decoder: OpaquePointer
    /// Frames per second of the front end (100 unless `-frate` says otherwise).
    public let framesPerSecond: Int
    /// Sample rate the model expects (16 000 for the Debian en-us model).
    public let sampleRate: Int

    /// Creates a decoder from PocketSphinx command-line style options (`["-hmm": path, "-lm": path]`).
    ///
    /// Options not given keep PocketSphinx's defaults; logging is always discarded.
    public init(options: [(String, String)]) throws(PocketSphinxError) {
        Decoder.silenceLibraryLog
        // No -logfn: it swaps the library's global log file on every ps_init, which races when decoders are
        // made on several threads; the global log is already discarded.
        let arguments = options.flatMap { [$0.0, $0.1] }
        let cArguments: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        defer { cArguments.forEach { free($0) } }
        var argv = cArguments
        // Loading touches process-wide state in sphinxbase (seen: a model checksum failing, and the exit it
        // triggers deadlocking, when two threads loaded at once), so decoders are made one at a time.
        let made: (OpaquePointer?, Bool) = Decoder.lifecycle.withLock {
            let config = argv.withUnsafeMutableBufferPointer { buffer in
                cmd_ln_parse_r(nil, ps_args(), Int32(buffer.count), buffer.baseAddress, 1)
            }
            guard let config else { return (nil, false) }
            defer { cmd_ln_free_r(config) }
            return (ps_init(config), true)
        }
        guard made.1 else {
            throw PocketSphinxError("invalid decoder options: \(arguments.joined(separator: " "))")
        }
        guard let decoder = made.0 else {
            let files = options.filter { ["-hmm", "-lm", "-dict", "-jsgf", "-kws", "-fsg", "-featparams"].contains($0.0) }
                .map { "\($0.0) \($0.1)" }.joined(separator: ", ")
            throw PocketSphinxError("could not load the recognition model (\(files)): missing or unreadable file")
        }
        self.decoder = decoder
        let active = ps_get_config(decoder)
        framesPerSecond = Int(cmd_ln_int_r(active, "-frate"))
        sampleRate = Int(cmd_ln_float_r(active, "-samprate"))
    }

    deinit { Decoder.lifecycle.withLock { _ = ps_free(decoder) } }

    /// Serialises making and freeing decoders (see `init`).
    static let lifecycle = LibraryLock()

    /// Discards the library's global log once per process (the `-logfn` option covers decoders only).
    private static let silenceLibraryLog: Void = { err_set_logfp(nil) }()

    /// The same, for other users of the library in this module.
    static var silenceLibraryLogOnce: Void { silenceLibraryLog }

    // MARK: - Utterances

    /// Starts a new stream: frame numbers (and so word times) count from zero again.
    public func startStream() throws(PocketSphinxError) {
        try check(ps_start_stream(decoder), "starting a stream")
    }

    /// Starts a new utterance.
    public func startUtterance() throws(PocketSphinxError) {
        try check(ps_start_utt(decoder), "starting an utterance")
    }

    /// Feeds 16-bit samples at ``sampleRate``.
    ///
    /// With `fullUtterance` the samples are the whole utterance: the front end then normalises the
    /// cepstral mean over the utterance itself (batch CMN), which is markedly more accurate than the
    /// running estimate live decoding must use.
    public func process(_ samples: [Int16], fullUtterance: Bool = false) throws(PocketSphinxError) {
        let status = samples.withUnsafeBufferPointer { buffer in
            ps_process_raw(decoder, buffer.baseAddress, buffer.count, 0, fullUtterance ? 1 : 0)
        }
        try check(status, "processing \(samples.count) samples")
    }

    /// Ends the utterance, running the remaining search passes.
    public func endUtterance() throws(PocketSphinxError) {
        try check(ps_end_utt(decoder), "ending an utterance")
    }

    /// Whether the decoder's own voice activity detector heard speech in the last block fed.
    public var inSpeech: Bool { ps_get_in_speech(decoder) != 0 }

    /// The best hypothesis so far (partial while an utterance is open), or `nil` when nothing was recognised.
    public func hypothesis() -> Hypothesis? {
        var score: Int32 = 0
        guard let cText = ps_get_hyp(decoder, &score) else { return nil }
        let text = String(cString: cText)
        let probability = logmath_exp(ps_get_logmath(decoder), ps_get_prob(decoder))
        return Hypothesis(text: text, score: score, probability: min(max(probability, 0), 1))
    }

    /// The words of the best hypothesis with their frame spans and posteriors.
    public func segments() -> [Segment] {
        collect(ps_seg_iter(decoder))
    }

    /// Up to `count` distinct alternative hypotheses from the lattice, best first.
    public func nBest(_ count: Int) -> [Hypothesis] {
        guard count > 0 else { return [] }
        var result: [Hypothesis] = []
        var iterator = ps_nbest(decoder)
        var seen = Set<String>()
        var visited = 0
        while let current = iterator, result.count < count, visited < count * 20 {
            visited += 1
            var score: Int32 = 0
            if let cText = ps_nbest_hyp(current, &score) {
                let text = String(cString: cText)
                if seen.insert(text).inserted { result.append(Hypothesis(text: text, score: score, probability: 0)) }
            }
            iterator = ps_nbest_next(current)
        }
        if let iterator { ps_nbest_free(iterator) }
        return result
    }

    private func collect(_ first: OpaquePointer?) -> [Segment] {
        var segments: [Segment] = []
        let logmath = ps_get_logmath(decoder)
        var iterator = first
        while let segment = iterator {
            var start: Int32 = 0, end: Int32 = 0
            ps_seg_frames(segment, &start, &end)
            var acoustic: Int32 = 0, language: Int32 = 0, backoff: Int32 = 0
            let posterior = logmath_exp(logmath, ps_seg_prob(segment, &acoustic, &language, &backoff))
            let word = ps_seg_word(segment).map { String(cString: $0) } ?? ""
            segments.append(Segment(word: word, startFrame: Int(start), endFrame: Int(end), posterior: min(max(posterior, 0), 1)))
            iterator = ps_seg_next(segment)
        }
        return segments
    }

    // MARK: - Channel normalisation

    /// The live cepstral mean the front end normalises with (one value per cepstral coefficient).
    ///
    /// Live decoding adapts it as audio arrives; it belongs to the audio channel, not to the decoder, so a
    /// decoder lent to many calls should be given each call's own mean before each utterance.
    public var cepstralMean: [Float] {
        get {
            guard let feat = ps_get_feat(decoder), let cmn = feat.pointee.cmn_struct, let mean = cmn.pointee.cmn_mean else { return [] }
            return Array(UnsafeBufferPointer(start: mean, count: Int(cmn.pointee.veclen)))
        }
        set {
            guard let feat = ps_get_feat(decoder), let cmn = feat.pointee.cmn_struct, newValue.count == Int(cmn.pointee.veclen) else { return }
            newValue.withUnsafeBufferPointer { cmn_live_set(cmn, $0.baseAddress) }
        }
    }

    // MARK: - Named searches

    /// The name of the search decoding uses now.
    public var activeSearch: String {
        ps_get_search(decoder).map { String(cString: $0) } ?? ""
    }

    /// Makes the named search active for the next utterance.
    public func setActiveSearch(_ name: String) throws(PocketSphinxError) {
        try check(ps_set_search(decoder, name), "selecting search '\(name)' (is it added?)")
    }

    /// Names of every search this decoder holds.
    public var searchNames: [String] {
        var names: [String] = []
        var iterator = ps_search_iter(decoder)
        while let current = iterator {
            if let name = ps_search_iter_val(current) { names.append(String(cString: name)) }
            iterator = ps_search_iter_next(current)
        }
        return names.sorted()
    }

    /// Adds (or replaces) a search over an n-gram language model file (ARPA or binary).
    public func addLanguageModel(named name: String, file path: String) throws(PocketSphinxError) {
        try check(ps_set_lm_file(decoder, name, path), "loading language model \(path)")
    }

    /// Adds (or replaces) a search over a JSGF grammar file.
    public func addGrammar(named name: String, file path: String) throws(PocketSphinxError) {
        try check(ps_set_jsgf_file(decoder, name, path), "loading JSGF grammar \(path)")
    }

    /// Adds (or replaces) a search over a JSGF grammar given as text.
    public func addGrammar(named name: String, jsgf: String) throws(PocketSphinxError) {
        try check(ps_set_jsgf_string(decoder, name, jsgf), "compiling JSGF grammar '\(name)'")
    }

    /// Adds (or replaces) a keyword-spotting search from a file of `phrase /threshold/` lines.
    public func addKeywords(named name: String, file path: String) throws(PocketSphinxError) {
        try check(ps_set_kws(decoder, name, path), "loading keyword list \(path)")
    }

    /// Adds (or replaces) a keyword-spotting search for a single phrase.
    public func addKeyphrase(named name: String, phrase: String) throws(PocketSphinxError) {
        try check(ps_set_keyphrase(decoder, name, phrase), "setting key phrase '\(phrase)'")
    }

    // MARK: - Dictionary

    /// The pronunciation of a word in the dictionary, or `nil` when the word is unknown.
    public func pronunciation(of word: String) -> String? {
        guard let phones = ps_lookup_word(decoder, word) else { return nil }
        defer { free(phones) }
        return String(cString: phones)
    }

    /// Adds a word with a pronunciation (space-separated phones of the model's set).
    public func addWord(_ word: String, phones: String) throws(PocketSphinxError) {
        try check(ps_add_word(decoder, word, phones, 1), "adding word '\(word)' /\(phones)/")
    }
}

/// A process-wide lock around sphinxbase calls that touch global state.
final class LibraryLock: @unchecked Sendable {
    // @unchecked: the pthread mutex is the synchronisation itself.
    private var mutex = pthread_mutex_t()

    init() { pthread_mutex_init(&mutex, nil) }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }
}
