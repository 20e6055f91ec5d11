import Foundation
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

    /// A card number the recognizer half-heard is still a card number: masked in text and words, and found.
    @Test func redactionHidesNoisyCardNumbers() {
        let heard = "my number is five three mine want to free for five six seven eight nine oh one two thanks"
        #expect(extractor.containsSensitiveNumber(heard))
        #expect(extractor.redact(heard) == "my number is ****9012 thanks")
        let words = heard.split(separator: " ").enumerated().map { RecognizedWord(word: String($1), start: Double($0), end: Double($0) + 0.5, confidence: 0.9) }
        let masked = extractor.redact(words: words).map(\.word)
        #expect(masked.prefix(3) == ["my", "number", "is"] && masked.suffix(5) == ["nine", "oh", "one", "two", "thanks"])
        #expect(masked.filter { $0 == "*" }.count == 11)
        // Digits after a word or two of noise are the rest of the number: nothing of it stays readable.
        #expect(extractor.redact("number on the card is two five eight five five nine one seven seven four two dear a seven three nine eight")
            == "number on the card is ****")
        // Pairs, a word of noise between digits, a run of mostly sound-alikes with four sure digits.
        #expect(extractor.containsSensitiveNumber("forty five thirty nine twelve thirty four fifty six seventy eight"))
        #expect(extractor.containsSensitiveNumber("four five three nine uh one two three four five six"))
        #expect(extractor.containsSensitiveNumber("for five free mine want to four six ate one"))
        // Ordinary talk with sound-alike words is not a number.
        for text in ["i want to pay for two things to my account", "can i transfer two hundred dollars to savings for the rent",
                     "i want to know if it is free for one to two hours", "one two three", "call me at five five five one two one two",
                     "i was charged twice for the same thing on the fourth and the fifth"] {
            #expect(!extractor.containsSensitiveNumber(text), "\(text)")
            #expect(extractor.redact(text) == TextNormalizer.words(text).joined(separator: " "), "\(text)")
        }
    }

    /// None of the bank paraphrases (ordinary requests, written apart from the flow) is taken for a card number.
    @Test func noFalseCardNumbersInParaphrases() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fixtures/bank-paraphrases.tsv").standardized
        let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("#") }
        let texts = lines.compactMap { $0.split(separator: "\t").last.map(String.init) }
        #expect(texts.count >= 70)
        #expect(texts.filter(extractor.containsSensitiveNumber).isEmpty)
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

@Suite struct SlotFillingTests {
    static let accounts: [String: [String]] = ["checking": ["checking account"], "savings": ["savings account"]]
    static let slots = [
        SlotDefinition(name: "amount", kind: .builtin("money")),
        SlotDefinition(name: "from_account", kind: .choice(accounts), markers: ["from", "out of"]),
        SlotDefinition(name: "to_account", kind: .choice(accounts), markers: ["to", "into"]),
    ]

    static func fill(_ text: String, asked: String? = nil, current: [String: String] = [:]) -> [String: String] {
        SlotFilling.fill(slots, in: text, extracted: SlotExtractor().extract(from: text), asked: asked, preference: ["to_account"], current: current)
            .mapValues(\.value)
    }

    @Test func everySlotTheSentenceCarries() {
        #expect(Self.fill("move a hundred from savings to checking") == ["amount": "100", "from_account": "savings", "to_account": "checking"])
        #expect(Self.fill("put fifty dollars into my savings account") == ["amount": "50", "to_account": "savings"])
        #expect(Self.fill("take twenty out of checking") == ["amount": "20", "from_account": "checking"])
    }

    @Test func anUnmarkedValueGoesToTheSlotAskedOrPreferred() {
        #expect(Self.fill("savings please", asked: "to_account") == ["to_account": "savings"])
        #expect(Self.fill("savings please", asked: "from_account") == ["from_account": "savings"])
        #expect(Self.fill("savings please") == ["to_account": "savings"])
    }

    @Test func correctionsTakeTheLaterValue() {
        #expect(Self.fill("checking, no wait, savings", asked: "to_account") == ["to_account": "savings"])
        #expect(Self.fill("to checking, i mean savings") == ["to_account": "savings"])
        #expect(Self.fill("savings not checking", asked: "to_account") == ["to_account": "savings"])
        #expect(Self.fill("fifty dollars, sorry, sixty dollars")["amount"] == "60")
        #expect(Self.fill("make it two hundred")["amount"] == "200")
        // Without a correction, two values for one slot are ambiguous: nothing is guessed.
        #expect(Self.fill("checking or savings", asked: "to_account")["to_account"] == nil)
    }

    @Test func aCorrectionGoesToTheSlotItChanges() {
        // The call already has savings as the source: "make that savings" is news for the destination.
        #expect(Self.fill("make that savings", current: ["from_account": "savings", "to_account": "checking"]) == ["to_account": "savings"])
        #expect(Self.fill("make that checking", current: ["from_account": "savings", "to_account": "savings"])["from_account"] == "checking"
            || Self.fill("make that checking", current: ["from_account": "savings", "to_account": "savings"])["to_account"] == "checking")
    }
}
