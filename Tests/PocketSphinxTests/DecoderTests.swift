import Foundation
import PocketSphinx
import Testing

@Suite struct DecoderTests {
    static let model = "/usr/share/pocketsphinx/model/en-us"
    static let goForward = "/usr/share/pocketsphinx/test/data/goforward.raw"

    static func decoder(_ extra: [(String, String)] = []) throws -> Decoder {
        try Decoder(options: [("-hmm", model + "/en-us"), ("-dict", model + "/cmudict-en-us.dict"), ("-lm", model + "/en-us.lm.bin")] + extra)
    }

    static func samples() throws -> [Int16] {
        let data = try Data(contentsOf: URL(fileURLWithPath: goForward))
        return data.withUnsafeBytes { Array($0.bindMemory(to: Int16.self)) }
    }

    @Test func decodesInChunksWithTheLiveFrontEnd() throws {
        let decoder = try Self.decoder()
        #expect(decoder.sampleRate == 16_000 && decoder.framesPerSecond == 100)
        let samples = try Self.samples()
        try decoder.startUtterance()
        var heardSpeech = false
        var index = 0
        while index < samples.count {
            try decoder.process(Array(samples[index..<min(index + 320, samples.count)]))
            heardSpeech = heardSpeech || decoder.inSpeech
            index += 320
        }
        try decoder.endUtterance()
        #expect(heardSpeech)
        let hypothesis = try #require(decoder.hypothesis())
        #expect(hypothesis.text == "go forward ten meters")
        #expect(hypothesis.probability > 0 && hypothesis.probability <= 1)
        let words = decoder.segments().map(\.word).filter { !$0.hasPrefix("<") && !$0.hasPrefix("[") }
        #expect(words == ["go", "forward", "ten", "meters"])
        let segments = decoder.segments()
        #expect(zip(segments, segments.dropFirst()).allSatisfy { $0.endFrame < $1.startFrame })
    }

    @Test func dictionaryLookupsAndAdditions() throws {
        let decoder = try Self.decoder()
        #expect(decoder.pronunciation(of: "forward") == "F AO R W ER D")
        #expect(decoder.pronunciation(of: "hotlinez") == nil)
        try decoder.addWord("hotlinez", phones: "HH AA T L AY N Z")
        #expect(decoder.pronunciation(of: "hotlinez") == "HH AA T L AY N Z")
        #expect(throws: PocketSphinxError.self) { try decoder.addWord("badword", phones: "XX YY") }
    }

    @Test func searchesAreNamedAndSwitchable() throws {
        let decoder = try Self.decoder()
        try decoder.addGrammar(named: "yesno", jsgf: "#JSGF V1.0; grammar yesno; public <answer> = yes | no;")
        try decoder.addKeyphrase(named: "agent", phrase: "agent")
        #expect(decoder.searchNames.contains("yesno") && decoder.searchNames.contains("agent"))
        try decoder.setActiveSearch("yesno")
        #expect(decoder.activeSearch == "yesno")
        #expect(throws: PocketSphinxError.self) { try decoder.setActiveSearch("missing") }
        #expect(throws: PocketSphinxError.self) { try decoder.addGrammar(named: "broken", jsgf: "#JSGF V1.0; grammar x; public <a> = ;") }
    }

    @Test func invalidOptionsAndModelsAreNamed() {
        #expect(throws: PocketSphinxError.self) { try Decoder(options: [("-no-such-flag", "1")]) }
        #expect {
            try Decoder(options: [("-hmm", "/nonexistent/hmm"), ("-dict", Self.model + "/cmudict-en-us.dict")])
        } throws: { error in
            String(describing: error).contains("/nonexistent/hmm")
        }
    }
}
