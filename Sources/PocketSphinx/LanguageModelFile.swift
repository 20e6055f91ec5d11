internal import CPocketSphinx

// MARK: - Language model files

/// Reads facts from an n-gram language model file (ARPA or binary) without making a decoder.
public enum LanguageModelFile {
    /// The `count` most probable words of the model's unigrams, most probable first (sentence markers left out).
    public static func topWords(path: String, count: Int) throws(PocketSphinxError) -> [String] {
        _ = Decoder.silenceLibraryLogOnce
        guard let logmath = logmath_init(1.0001, 0, 0) else { throw PocketSphinxError("cannot initialise log tables") }
        defer { logmath_free(logmath) }
        guard let model = Decoder.lifecycle.withLock({ ngram_model_read(nil, path, NGRAM_AUTO, logmath) }) else {
            throw PocketSphinxError("cannot read language model \(path)")
        }
        defer { _ = Decoder.lifecycle.withLock { ngram_model_free(model) } }
        guard let counts = ngram_model_get_counts(model) else { return [] }
        var scored: [(word: String, score: Int32)] = []
        scored.reserveCapacity(Int(counts[0]))
        for wid in 0..<Int32(counts[0]) {
            guard let cWord = ngram_word(model, wid) else { continue }
            let word = String(cString: cWord)
            if word.hasPrefix("<") || word.hasPrefix("[") { continue }
            var used: Int32 = 0
            scored.append((word, ngram_ng_score(model, wid, nil, 0, &used)))
        }
        return scored.sorted { $0.score > $1.score }.prefix(count).map(\.word)
    }
}
