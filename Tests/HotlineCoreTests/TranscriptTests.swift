import Foundation
import Testing
@testable import HotlineCore

@Suite struct TranscriptTests {
    static let sample = Transcript(
        source: "/calls/a.wav",
        audio: AudioSummary(duration: 3723.5, sampleRate: 8_000, channels: 2, format: "WAV (Microsoft) / U-Law"),
        speakers: ["caller", "agent"],
        utterances: [
            Utterance(channel: 0, speaker: "caller", start: 1.25, end: 2.5, text: "i lost my card", confidence: 0.8,
                      words: [RecognizedWord(word: "i", start: 1.25, end: 1.4, confidence: 0.9)]),
            Utterance(channel: 1, speaker: "agent", start: 3661.001, end: 3662, text: "let me help", confidence: 0.7, words: []),
        ],
        decodeTime: 372.35
    )

    @Test func srtHasNumberedCuesWithCommaMilliseconds() {
        #expect(Self.sample.rendered(as: .srt) == """
            1
            00:00:01,250 --> 00:00:02,500
            caller: i lost my card

            2
            01:01:01,001 --> 01:01:02,000
            agent: let me help


            """)
    }

    @Test func vttHasAHeaderAndVoiceTags() {
        let vtt = Self.sample.rendered(as: .vtt)
        #expect(vtt.hasPrefix("WEBVTT\n\n1\n00:00:01.250 --> 00:00:02.500\n<v caller>i lost my card\n\n"))
    }

    @Test func textLabelsSpeakersOnlyForMultiChannelAudio() {
        #expect(Self.sample.rendered(as: .text).hasPrefix("[00:00:01.250 - 00:00:02.500] caller: i lost my card\n"))
        var mono = Self.sample
        mono.speakers = ["mono"]
        #expect(mono.rendered(as: .text).hasPrefix("[00:00:01.250 - 00:00:02.500] i lost my card\n"))
    }

    @Test func jsonFollowsTheDocumentedSchemaAndRoundTrips() throws {
        let json = Self.sample.rendered(as: .json)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["schema"] as? String == "hotline.transcript/1")
        #expect(Set(object.keys) == ["schema", "source", "audio", "speakers", "utterances", "decodeTime", "realTimeFactor"])
        let utterance = try #require((object["utterances"] as? [[String: Any]])?.first)
        #expect(Set(utterance.keys) == ["channel", "speaker", "start", "end", "text", "confidence", "words"])
        let word = try #require((utterance["words"] as? [[String: Any]])?.first)
        #expect(Set(word.keys) == ["word", "start", "end", "confidence"])
        #expect(try JSONDecoder().decode(Transcript.self, from: Data(json.utf8)) == Self.sample)
        #expect(abs(Self.sample.realTimeFactor - 0.1) < 1e-9)
    }

    @Test func textJoinsUtterancesPerChannel() {
        #expect(Self.sample.text() == "i lost my card let me help")
        #expect(Self.sample.text(channel: 1) == "let me help")
    }
}
