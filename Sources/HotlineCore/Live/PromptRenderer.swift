import Synchronization

// MARK: - Speech out

/// Turns prompt text into audio in a call's format, chunk by chunk as the synthesizer produces it
/// (resampled with the band-limited resampler and encoded for the leg), with a cache for repeated prompts.
public final class PromptRenderer: Sendable {
    /// Cache figures.
    public struct CacheStatistics: Sendable, Equatable {
        /// Prompts served from the cache.
        public var hits: Int
        /// Prompts synthesized.
        public var misses: Int
        /// Bytes held.
        public var bytes: Int
        /// Prompts held.
        public var entries: Int
    }

    private struct Key: Hashable {
        var text: String
        var voice: VoiceSettings
        var format: CallAudioFormat
    }

    private struct Cache {
        var entries: [Key: [[UInt8]]] = [:]
        var order: [Key] = []  // least recently used first
        var bytes = 0
        var hits = 0
        var misses = 0
    }

    private let synthesizer: any SpeechSynthesizing
    private let capacity: Int
    private let cache = Mutex(Cache())

    /// Makes a renderer over a synthesizer, caching up to `cacheBytes` of rendered prompts (0 disables the cache).
    public init(synthesizer: any SpeechSynthesizing, cacheBytes: Int = 32 << 20) {
        self.synthesizer = synthesizer
        capacity = cacheBytes
    }

    /// Cache usage.
    public var cacheStatistics: CacheStatistics {
        cache.withLock { CacheStatistics(hits: $0.hits, misses: $0.misses, bytes: $0.bytes, entries: $0.entries.count) }
    }

    /// Renders a prompt, handing each encoded chunk to `chunk` as soon as it exists. Cancelling the task stops
    /// synthesis at the next chunk (a cancelled prompt is not cached).
    public func render(_ text: String, voice: VoiceSettings, format: CallAudioFormat, chunk: @escaping @Sendable ([UInt8]) -> Void) async throws {
        let key = Key(text: text, voice: voice, format: format)
        if let cached = lookUp(key) {
            for piece in cached {
                try Task.checkCancellation()
                chunk(piece)
            }
            return
        }
        let converter = Mutex(Converter(from: synthesizer.sampleRate, to: format))
        try await synthesizer.synthesize(text, voice: voice) { samples in
            let bytes = converter.withLock { $0.convert(samples) }
            if !bytes.isEmpty { chunk(bytes) }
        }
        try Task.checkCancellation()
        let tail = converter.withLock { $0.finish() }
        if !tail.isEmpty { chunk(tail) }
        store(key, converter.withLock { $0.chunks })
    }

    private func lookUp(_ key: Key) -> [[UInt8]]? {
        cache.withLock { cache in
            guard let hit = cache.entries[key] else {
                cache.misses += 1
                return nil
            }
            cache.hits += 1
            if let index = cache.order.firstIndex(of: key) { cache.order.remove(at: index) }
            cache.order.append(key)
            return hit
        }
    }

    private func store(_ key: Key, _ chunks: [[UInt8]]) {
        let size = chunks.reduce(0) { $0 + $1.count }
        guard size <= capacity else { return }
        cache.withLock { cache in
            guard cache.entries[key] == nil else { return }
            while cache.bytes + size > capacity, !cache.order.isEmpty {
                let evicted = cache.order.removeFirst()
                cache.bytes -= cache.entries.removeValue(forKey: evicted)?.reduce(0) { $0 + $1.count } ?? 0
            }
            cache.entries[key] = chunks
            cache.order.append(key)
            cache.bytes += size
        }
    }

    /// Resamples and encodes a stream of synthesizer blocks, remembering what it produced for the cache. The
    /// synthesizer's leading silence is left out: the caller hears the answer that much sooner.
    private struct Converter {
        var resampler: Resampler
        let format: CallAudioFormat
        let rate: Int
        var chunks: [[UInt8]] = []
        var started = false

        init(from rate: Int, to format: CallAudioFormat) {
            resampler = Resampler(from: rate, to: format.sampleRate)
            self.format = format
            self.rate = rate
        }

        mutating func convert(_ input: [Float]) -> [UInt8] {
            var samples = input
            if !started {
                // Speech starts at the first sample above −50 dBFS; 10 ms before it are kept.
                guard let onset = samples.firstIndex(where: { abs($0) > 0.003 }) else { return [] }
                samples.removeFirst(max(0, onset - rate / 100))
                started = true
            }
            let bytes = format.encode(resampler.process(samples))
            if !bytes.isEmpty { chunks.append(bytes) }
            return bytes
        }

        mutating func finish() -> [UInt8] {
            let bytes = format.encode(resampler.flush())
            if !bytes.isEmpty { chunks.append(bytes) }
            return bytes
        }
    }
}
