import Testing
@testable import HotlineCore

@Suite struct WordErrorRateTests {
    @Test func countsSubstitutionsDeletionsAndInsertions() {
        let substituted = WordErrorRate.counts(reference: "lost my card", hypothesis: "lost my cart")
        #expect(substituted == WordErrorCounts(referenceWords: 3, correct: 2, substitutions: 1, deletions: 0, insertions: 0))
        let deleted = WordErrorRate.counts(reference: "lost my card", hypothesis: "lost card")
        #expect(deleted == WordErrorCounts(referenceWords: 3, correct: 2, substitutions: 0, deletions: 1, insertions: 0))
        let inserted = WordErrorRate.counts(reference: "lost card", hypothesis: "lost the card")
        #expect(inserted == WordErrorCounts(referenceWords: 2, correct: 2, substitutions: 0, deletions: 0, insertions: 1))
        // Several alignments cost the same here; the minimum edit distance is what is scored.
        let mixed = WordErrorRate.counts(reference: "the cat sat on the mat", hypothesis: "the bat sat on mat today")
        #expect(mixed.errors == 3 && mixed.referenceWords == 6)
        #expect(abs(mixed.rate - 0.5) < 1e-9)
    }

    @Test func identicalTextsScoreZeroAndEmptyHypothesisDeletesEverything() {
        #expect(WordErrorRate.counts(reference: "<s> Go forward ten meters </s>", hypothesis: "go forward ten meters").rate == 0)
        let empty = WordErrorRate.counts(reference: "go forward", hypothesis: "")
        #expect(empty.deletions == 2 && empty.rate == 1)
        #expect(WordErrorRate.counts(reference: "", hypothesis: "").rate == 0)
        #expect(WordErrorRate.counts(reference: "", hypothesis: "noise").insertions == 1)
    }

    @Test func normalisationDropsMarkersFillersAndAlternatePronunciations() {
        #expect(WordErrorRate.normalizedWords("<s> Read(2) the [NOISE] <sil> Book, please! </s>") == ["read", "the", "book", "please"])
    }

    @Test func countsAdd() {
        let total = WordErrorRate.counts(reference: "a b", hypothesis: "a c") + WordErrorRate.counts(reference: "d", hypothesis: "")
        #expect(total.referenceWords == 3 && total.errors == 2)
    }

    @Test func parsesSphinxTranscriptionsHypothesesAndTSV() throws {
        let text = """
            <s> he was not an ill disposed young man </s> (sense-0880)
            he was not an illness those young man (sense-0880b -11423)
            # a comment

            call-7\tI lost my card
            """
        let entries = try ReferenceTranscripts.parse(text)
        #expect(entries.map(\.id) == ["sense-0880", "sense-0880b", "call-7"])
        #expect(entries[0].text == "<s> he was not an ill disposed young man </s>")
        #expect(entries[1].text == "he was not an illness those young man")
        #expect(entries[2].text == "I lost my card")
    }

    @Test func aMalformedLineIsNamedInTheError() {
        #expect(throws: ReferenceTranscripts.ParseError(description: "refs.txt:2: expected '<s> text </s> (id)' or 'id<TAB>text'")) {
            try ReferenceTranscripts.parse("<s> ok </s> (a)\nno id here\n", source: "refs.txt")
        }
    }

    @Test func idsComeFromFileNames() {
        #expect(ReferenceTranscripts.id(forPath: "/data/cards/001.wav") == "001")
        #expect(ReferenceTranscripts.id(forPath: "call.tar.gz") == "call.tar")
        #expect(ReferenceTranscripts.id(forPath: ".hidden") == ".hidden")
    }
}
