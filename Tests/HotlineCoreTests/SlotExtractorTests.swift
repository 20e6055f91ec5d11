import Testing
@testable import HotlineCore

@Suite struct SlotExtractorTests {
    let extractor = SlotExtractor()

    func slots(_ text: String) -> [String] { extractor.extract(from: text).map { "\($0.name)=\($0.masked)" } }

    @Test func spokenDigitStringsAndCardNumbersAreMasked() {
        #expect(slots("my pin is four five six seven") == ["digits=4567"])
        #expect(slots("card number four five six seven eight nine one two three four five six") == ["digits=********3456"])
        #expect(slots("account 1234 5678 9012") == ["digits=********9012"])
        #expect(slots("double five oh seven") == ["digits=5507"])
        let card = extractor.extract(from: "it's four one one one one one one one one one one one one one one one")
        #expect(card.first?.sensitive == true && card.first?.value.count == 16)
    }

    @Test func numbersAndMoney() {
        #expect(slots("transfer one hundred and twenty dollars") == ["money=120"])
        #expect(slots("pay forty five dollars and fifty cents") == ["money=45.50"])
        #expect(slots("two thousand five hundred dollars") == ["money=2500"])
        #expect(slots("send a hundred dollars") == ["money=100"])
        #expect(slots("a thousand bucks") == ["money=1000"])
        #expect(slots("i have a question") == [])
        #expect(slots("i called three times") == ["number=3"])
        #expect(slots("twenty five") == ["number=25"])
    }

    @Test func datesTimesAndYesNo() {
        #expect(slots("can i come tomorrow at three pm") == ["date=tomorrow", "time=15:00"])
        #expect(slots("pay it on march the third") == ["date=march 3"])
        #expect(slots("on the twenty first") == ["date=day 21"])
        #expect(slots("next friday") == ["date=friday"])
        #expect(slots("yeah go ahead") == ["yes_no=yes"])
        #expect(slots("nope") == ["yes_no=no"])
    }

    @Test func redactionHidesCardNumbersInText() {
        #expect(extractor.redact("my card is four five six seven eight nine one two three four five six thanks")
            == "my card is ********3456 thanks")
        #expect(extractor.redact("i lost my card") == "i lost my card")
        #expect(extractor.redact("the pin is one two three four") == "the pin is one two three four")  // short codes stay
    }
}

@Suite struct TextNormalizerTests {
    @Test func contractionsStemsAndSynonyms() {
        let normalizer = TextNormalizer(synonyms: ["agent": ["real person", "representative"], "card": ["debit card"]])
        #expect(normalizer.tokens("I can't find my Debit Card!") == ["i", "can", "not", "find", "my", "card"])
        #expect(normalizer.tokens("let's talk to a real person") == ["let", "us", "talk", "to", "a", "agent"])
        #expect(TextNormalizer.stem("blocked") == "block" && TextNormalizer.stem("stopped") == "stop" && TextNormalizer.stem("cards") == "card")
        #expect(TextNormalizer.stem("passes") == "pass" && TextNormalizer.stem("address") == "address")
    }

    @Test func keywordBaselineNeedsTheLiteralWords() {
        let baseline = KeywordBaseline(intents: ["lost_card", "check_balance", "affirm"])
        #expect(baseline.match("i lost my card") == "lost_card")
        #expect(baseline.match("i can't find my debit card") == "lost_card")  // "card" alone still hits
        #expect(baseline.match("how much money do i have") == nil)
        #expect(baseline.match("yes please") == "affirm")
    }
}

@Suite struct ESpeakToCMUTests {
    @Test func espeakPhonemesBecomeCMUPhones() {
        #expect(ESpeakToCMU.convert("p'aaskoUd") == "P AE S K OW D")
        #expect(ESpeakToCMU.convert("h'0tlaIn") == "HH AA T L AY N")
        #expect(ESpeakToCMU.convert("tS'i:z") == "CH IY Z")
        #expect(ESpeakToCMU.convert("D@ T'INz") == "DH AH TH IH NG Z")
        #expect(ESpeakToCMU.convert("") == nil)
        #expect(ESpeakToCMU.convert("q") == nil)  // no CMU counterpart: the word is left out rather than mispronounced
    }
}
