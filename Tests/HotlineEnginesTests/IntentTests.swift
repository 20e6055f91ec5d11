import Foundation
import HotlineCore
import HotlineEngines
import HotlineTestSupport
import Testing

enum Flows {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let bank = root + "/Models/flows/bank.yaml"
    static let paraphrases = root + "/Tests/Fixtures/bank-paraphrases.tsv"
    static let unrelated = root + "/Tests/Fixtures/bank-unrelated.tsv"
    static let stories = root + "/Models/flows/bank.stories.yaml"

    /// A session on `dialog` past its opening prompt.
    static func started(_ dialog: DialogDefinition, _ matcher: IntentMatcher) -> DialogSession {
        var session = DialogSession(dialog: dialog, matcher: matcher)
        _ = session.start()
        return session
    }

    /// The bank flow's dialog with its bank service at `url` (no server: the tests complete webhooks themselves).
    static func dialog(bank url: String = "http://bank.test") throws -> (DialogDefinition, IntentMatcher) {
        let flow = try FlowLoader.load(path: bank)
        return (try #require(flow.dialog).binding(services: ["bank": url]), flow.makeMatcher())
    }

    static func labelled() throws -> [(intent: String, text: String)] {
        try ReferenceTranscripts.parse(String(contentsOfFile: paraphrases, encoding: .utf8), source: paraphrases).map { ($0.id, $0.text) }
    }
}

@Suite struct IntentTests {
    static let required = [
        "check_balance", "recent_transactions", "lost_card", "card_declined", "pay_bill", "transfer_money", "opening_hours",
        "branch_location", "reset_password", "dispute_charge", "change_address", "loan_inquiry", "speak_to_agent", "complaint",
        "affirm", "deny", "goodbye", "repeat", "out_of_scope",
    ]

    @Test func theBankFlowHasEveryRequiredIntentWithVariedExamples() throws {
        let flow = try FlowLoader.load(path: Flows.bank)
        #expect(flow.intents.map(\.name) == Self.required)
        for intent in flow.intents {
            #expect(intent.examples.count >= 15, "\(intent.name)")
            #expect(Set(intent.examples).count == intent.examples.count, "\(intent.name) repeats an example")
        }
    }

    @Test func paraphrasesAreNotExamplesAndReachNinetyPercentFromText() throws {
        let flow = try FlowLoader.load(path: Flows.bank)
        let examples = Set(flow.intents.flatMap(\.examples).map { TextNormalizer.words($0).joined(separator: " ") })
        let labelled = try Flows.labelled()
        #expect(labelled.count >= 70)
        #expect(Set(labelled.map(\.intent)) == Set(Self.required).subtracting(["out_of_scope"]))
        for (_, text) in labelled { #expect(!examples.contains(TextNormalizer.words(text).joined(separator: " ")), "\(text) is an example") }
        let matcher = flow.makeMatcher()
        var correct = 0
        var misses: [String] = []
        for (intent, text) in labelled {
            let match = matcher.match(text)
            if match.intent == intent { correct += 1 } else { misses.append("\(text) → \(match.intent ?? "none") (want \(intent))") }
        }
        let accuracy = Double(correct) / Double(labelled.count)
        #expect(accuracy >= 0.9, "accuracy \(accuracy); misses: \(misses.joined(separator: "; "))")
    }

    @Test func unrelatedTalkIsNoneOfThese() throws {
        let matcher = try FlowLoader.load(path: Flows.bank).makeMatcher()
        for text in ["the weather in paris is lovely in spring", "my cat likes to sleep on the piano", ""] {
            #expect([nil, "out_of_scope"].contains(matcher.match(text).intent), "\(text)")
        }
    }

    /// Unrelated requests (written apart from the flow's out_of_scope examples) are declined, not taken for one of the
    /// flow's intents: before out_of_scope and the unknown-word rule, 29 of 40 were acted on or confirmed as one.
    @Test func unrelatedRequestsAreRarelyTakenForAnIntent() throws {
        let flow = try FlowLoader.load(path: Flows.bank)
        let examples = Set(flow.intents.flatMap(\.examples).map { TextNormalizer.words($0).joined(separator: " ") })
        let unrelated = try ReferenceTranscripts.parse(String(contentsOfFile: Flows.unrelated, encoding: .utf8), source: Flows.unrelated)
        #expect(unrelated.count >= 40)
        let matcher = flow.makeMatcher()
        var taken: [String] = []
        for (label, text) in unrelated {
            #expect(label == "out_of_scope" && !examples.contains(TextNormalizer.words(text).joined(separator: " ")), "\(text)")
            let match = matcher.match(text)
            if let intent = match.intent, intent != "out_of_scope" { taken.append("\(text) → \(intent)\(match.needsConfirmation ? " (to confirm)" : "")") }
        }
        // Measured: 4 of 40 (one acted on, three confirmed first).
        #expect(taken.count <= 6, "\(taken.joined(separator: "; "))")
        #expect(taken.filter { !$0.hasSuffix("(to confirm)") }.count <= 2, "\(taken.joined(separator: "; "))")
    }

    @Test func confidenceIsHigherForClearRequestsAndAlternativesAreRanked() throws {
        let matcher = try FlowLoader.load(path: Flows.bank).makeMatcher()
        let clear = matcher.match("i lost my debit card")
        let vague = matcher.match("card")
        #expect(clear.intent == "lost_card")
        #expect(clear.confidence > vague.confidence)
        #expect(clear.alternatives.count == Self.required.count)
        #expect(zip(clear.alternatives, clear.alternatives.dropFirst()).allSatisfy { $0.score >= $1.score })
    }

    @Test func anNBestListRescuesAMisrecognisedTopHypothesis() throws {
        let matcher = try FlowLoader.load(path: Flows.bank).makeMatcher()
        // The recognizer's best guess is garbled; its alternatives hold the real request.
        let recognition = Recognition(
            text: "i last mike art", words: [], confidence: 0.3,
            alternatives: [
                RecognitionAlternative(text: "i last mike art", score: 0), RecognitionAlternative(text: "i lost my card", score: -120),
                RecognitionAlternative(text: "i lost my cart", score: -300),
            ]
        )
        #expect(matcher.match("i last mike art").intent != "lost_card")
        #expect(matcher.match(recognition).intent == "lost_card")
    }

    static func result(_ text: String, id: Int) -> UtteranceResult {
        UtteranceResult(id: id, utterance: Utterance(channel: 0, speaker: "caller", start: Double(id), end: Double(id) + 1, text: text, confidence: 0.9,
                                                     words: []),
                        alternatives: [], search: .standard, decoding: .live, endpointedAt: Double(id) + 1, latency: 0)
    }

    @Test func aCallerGoingOnIsHeardAsOneTurnFromWhereTheDialogWas() async throws {
        let flow = try FlowLoader.load(path: Flows.bank)
        let dialog = try #require(flow.dialog).binding(services: ["bank": "http://bank.test"])
        let going = DialogResponder(dialog: dialog, matcher: flow.makeMatcher())
        _ = await going.opening()
        let first = Self.result("i want to transfer money", id: 0)
        let withheld = try #require(await going.respond(to: first))
        #expect(withheld.retractable, "asking for the amount has done nothing outside the call")
        let joined = await going.respond(to: Self.result("two hundred dollars to my savings", id: 1), continuing: first)
        let once = DialogResponder(dialog: dialog, matcher: flow.makeMatcher())
        _ = await once.opening()
        let whole = await once.respond(to: Self.result("i want to transfer money two hundred dollars to my savings", id: 0))
        #expect(joined?.text == whole?.text)
        #expect(joined?.text.contains("200") == true || joined?.text.contains("two hundred") == true, "\(joined?.text ?? "")")
        #expect(going.slots == once.slots)
        #expect(going.state == once.state)
    }

    @Test func aReplyThatCalledAWebhookCannotBeWithheld() async throws {
        let flow = try FlowLoader.load(path: Flows.bank)
        let dialog = try #require(flow.dialog).binding(services: ["bank": "http://127.0.0.1:9"])
        let responder = DialogResponder(dialog: dialog, matcher: flow.makeMatcher())
        _ = await responder.opening()
        let reply = await responder.respond(to: Self.result("how much money is in my checking account", id: 0))
        #expect(reply?.retractable == false)
    }
}

@Suite struct FlowLoaderTests {
    /// A state asking for a card or account number (a digits slot) listens with the digits grammar unless it names
    /// another search; `search: digits` is accepted anywhere.
    @Test func statesAskingForDigitsListenForDigits() throws {
        let flow = try FlowLoader.parse("""
            name: cards
            start: ask_number
            intents:
              lost_card: {examples: [i lost my card, my card is gone]}
              affirm: {examples: [yes, yes please]}
            slots:
              card_number: digits
              amount: money
            states:
              ask_number: {ask: card_number, prompt: Please read me your card number., next: confirm}
              ask_amount: {ask: amount, prompt: How much?, next: confirm}
              confirm: {prompt: Is that right?, search: digits, on: {affirm: ask_number}}
            """, source: "cards.yaml")
        let states = try #require(flow.dialog?.states)
        #expect(states["ask_number"]?.search == .digits)
        #expect(states["ask_amount"]?.search == .domain)
        #expect(states["confirm"]?.search == .digits)
        #expect(StateSearch.digits.searchName == "digits")
        #expect(DialogResponder.recognitionSearch(.digits) == .named("digits"))
    }

    @Test(arguments: [
        ("name: x\nintents:\n  a:\n    exmples: [hi]\n", 4, 5, "unknown key 'exmples' in intent 'a'"),
        ("name: x\nintents:\n  a:\n    examples: hello\n", 4, 15, "examples of 'a' must be a list"),
        ("intents:\n  a:\n    examples: [hi]\n", 1, 1, "the flow needs a 'name'"),
        ("name: x\nintents:\n  a:\n    examples: [i lost my card]\n  b:\n    examples: [I lost my card!]\n", 6, 16,
         "example \"I lost my card!\" of 'b' is also an example of 'a'"),
        ("name: x\nintents: [a, b\n", 3, 1, "YAML syntax"),
        ("name: x\nintents:\n  a:\n    examples: [hi]\n  a:\n    examples: [yo]\n", 3, 3, "'a' appears twice in the same mapping"),
    ])
    func malformedFlowsNameTheFileLineAndProblem(yaml: String, line: Int, column: Int, problem: String) {
        #expect {
            _ = try FlowLoader.parse(yaml, source: "broken.yaml")
        } throws: { error in
            guard let error = error as? FlowError else { return false }
            return error.file == "broken.yaml" && error.line == line && error.column == column && error.problem.contains(problem)
        }
    }

    @Test func aMissingFileIsNamed() {
        #expect(throws: FlowError(file: "/nonexistent/flow.yaml", line: 0, column: 0, problem: "no such file")) {
            try FlowLoader.load(path: "/nonexistent/flow.yaml")
        }
    }
}

@Suite(.serialized) struct DomainModelTests {
    @Test func theDomainModelIsBuiltCachedLoadedAndHelpsRecognition() async throws {
        let flow = try FlowLoader.load(path: Flows.bank)
        let cache = try Fixtures.temporaryDirectory()
        let model = try await DomainModel.build(for: flow, cacheDirectory: cache)
        #expect(FileManager.default.fileExists(atPath: model.path))
        #expect(model.sentences > flow.intents.reduce(0) { $0 + $1.examples.count })
        // Words the dictionary lacks are pronounced by espeak-ng and mapped to CMU phones.
        #expect(model.unknownWords.isEmpty)
        #expect(model.pronunciations["passcode"] == "P AE S K OW D")
        #expect(model.pronunciations["pickpocketed"] == "P IH K P AA K IH T IH D")
        let modified = try FileManager.default.attributesOfItem(atPath: model.path)[.modificationDate] as? Date
        #expect(try await DomainModel.build(for: flow, cacheDirectory: cache).path == model.path)  // reused, not rebuilt
        #expect(try FileManager.default.attributesOfItem(atPath: model.path)[.modificationDate] as? Date == modified)

        let recognizer = try PocketSphinxRecognizer()
        try recognizer.prepare(for: flow, domainModel: model)
        #expect(recognizer.pronunciation(of: "pickpocketed") == "P IH K P AA K IH T IH D")
        let synthesizer = try ESpeakSynthesizer.shared()
        let matcher = flow.makeMatcher()
        // A caller line through a telephone leg: the domain search hears the request the general model garbles.
        let speech = PCM.floats(try await synthesizer.synthesizeSamples("I lost my debit card yesterday"))
        let phone = TelephoneChannel.decode(TelephoneChannel.encode(speech, from: synthesizer.sampleRate), to: 16_000)
        let padded = [Float](repeating: 0, count: 4_000) + phone + [Float](repeating: 0, count: 4_000)
        let domain = try recognizer.recognize(padded, search: .named("domain"), alternatives: 5)
        #expect(matcher.match(domain).intent == "lost_card", "heard \(domain.text)")
        #expect(domain.text.contains("card"))
    }
}

@Suite struct DialogTests {
    static func session() throws -> DialogSession {
        let flow = try FlowLoader.load(path: Flows.bank)
        return DialogSession(dialog: try #require(flow.dialog), matcher: flow.makeMatcher())
    }

    @Test func lostCardIsConfirmedThenHandedToTheCardsTeamWithASummary() throws {
        var dialog = try Self.session()
        #expect(dialog.start().say.hasPrefix("Thank you for calling First Community Bank"))
        let first = dialog.hear("hi i can't find my debit card anywhere, the number is four five six seven eight nine one two three four five six")
        #expect(first.intent == "lost_card" && first.search == .domain)
        #expect(first.say.contains("Shall I block it now?"))
        let second = dialog.hear("yeah")
        let handoff = try #require(second.handoff)
        #expect(second.end && second.say.contains("Your card is blocked"))
        #expect(handoff.queue == "cards" && handoff.intent == "lost_card")
        #expect(handoff.slots["digits"] == "********3456")
        #expect(handoff.transcript.count == 5)
        #expect(!handoff.transcript.joined().contains("four five six seven eight"))  // the card number is never kept
    }

    @Test func twoAnswersThatMatchNothingGoToAPerson() throws {
        var dialog = try Self.session()
        _ = dialog.start()
        let reprompt = dialog.hear("the moon is made of cheese")
        #expect(reprompt.handoff == nil && reprompt.say.hasPrefix("Sorry, I didn't catch that"))
        let second = dialog.hear("purple monkey dishwasher")
        #expect(second.handoff?.reason == "repeated no match" && second.handoff?.queue == "general")
    }

    @Test func aRequestForAPersonIsHonouredAnywhereAndRoutedBySkill() throws {
        var dialog = try Self.session()
        _ = dialog.start()
        _ = dialog.hear("my card got declined at the store")
        let turn = dialog.hear("just let me talk to a real person")
        #expect(turn.handoff?.reason == "caller asked for a person")
        #expect(turn.handoff?.queue == "cards")  // the caller's topic decides the skill
    }

    @Test func requestsWithoutAnAutomatedAnswerGoToTheRightQueue() throws {
        var dialog = try Self.session()
        _ = dialog.start()
        let turn = dialog.hear("i'd like to apply for a mortgage")
        #expect(turn.handoff?.queue == "lending" && turn.handoff?.intent == "loan_inquiry")
    }

    @Test func silenceRepromptsThenHandsOffAndAnswersEndTheCall() throws {
        var dialog = try Self.session()
        _ = dialog.start()
        #expect(dialog.noInput().say.hasPrefix("Are you still there?"))
        #expect(dialog.noInput().handoff?.reason == "no input")
        var polite = try Self.session()
        _ = polite.start()
        let hours = polite.hear("what time do you close on saturday")
        #expect(hours.say.contains("nine to noon") && hours.say.hasSuffix("Is there anything else I can help you with?"))
        #expect(polite.hear("no that's all").end)
    }

    @Test func anUncertainRequestIsConfirmedBeforeTheBotActsOnIt() throws {
        // "card" alone could mean several things: the bot checks its best guess first.
        let matcher = try FlowLoader.load(path: Flows.bank).makeMatcher()
        #expect(matcher.match("card").needsConfirmation && matcher.match("card").intent == "lost_card")
        #expect(!matcher.match("i lost my debit card").needsConfirmation)
        var dialog = try Self.session()
        _ = dialog.start()
        let check = dialog.hear("card")
        #expect(check.say == "It sounds like you'd like to report a lost or stolen card. Is that right?" && check.handoff == nil)
        #expect(check.heard?.intent == "lost_card")
        let yes = dialog.hear("yes")
        #expect(yes.intent == "lost_card" && yes.say.contains("Shall I block it now?"))

        var wrong = try Self.session()
        _ = wrong.start()
        _ = wrong.hear("card")
        let no = wrong.hear("no")
        #expect(no.say == "Okay, my mistake. Please tell me again, in a few words, what you'd like to do." && no.handoff == nil)
        #expect(wrong.hear("what time do you open tomorrow").say.contains("nine to five"), "the caller restates and is understood")

        // Restating instead of answering is taken as the new request.
        var restated = try Self.session()
        _ = restated.start()
        _ = restated.hear("card")
        #expect(restated.hear("my card was declined at the shop").intent == "card_declined")
    }

    @Test func aTransferAsksForWhatIsMissingConfirmsAndNeverAsksTwice() throws {
        let (bank, matcher) = try Flows.dialog()
        // Nothing given with the request: both slots are asked for, then confirmed.
        var dialog = Flows.started(bank, matcher)
        let ask = dialog.hear("i need to move some money around")
        #expect(ask.intent == "transfer_money" && ask.say == "How much would you like to transfer?")
        let unclear = dialog.hear("um let me think")
        #expect(unclear.handoff == nil && unclear.say == "Please tell me the amount in dollars, for example, fifty dollars.", "not an amount: asked again")
        let account = dialog.hear("two hundred and fifty dollars")
        #expect(account.say == "Should the 250 dollars go to your checking account or your savings account?")
        #expect(account.heard?.slots["amount"] == "250" && account.heard?.state == "transfer_money.amount")
        let confirm = dialog.hear("savings please")
        #expect(confirm.say == "To confirm, you'd like to move 250 dollars to your savings account. Is that right?")
        #expect(dialog.slots["amount"] == "250" && dialog.slots["to_account"] == "savings")
        let done = dialog.hear("yes")
        #expect(done.webhook?.url == "http://bank.test/v1/transfer")
        #expect(dialog.webhookPayload["amount"] == "250" && dialog.webhookPayload["to_account"] == "savings")
        let answer = dialog.complete(try #require(done.webhook), with: ["reference": "T 42"])
        #expect(answer.say == "Done. 250 dollars are on their way to your savings account. Your reference is T 42. Is there anything else I can help you with?")

        // Everything given with the request: straight to the confirmation.
        var quick = Flows.started(bank, matcher)
        let direct = quick.hear("transfer fifty dollars to my savings account")
        #expect(direct.intent == "transfer_money")
        #expect(direct.say == "To confirm, you'd like to move 50 dollars to your savings account. Is that right?")

        // Half given: only the missing one is asked; a plain "no" forgets the form and starts again.
        var half = Flows.started(bank, matcher)
        #expect(half.hear("can i send a hundred dollars to another account").say == "Should the 100 dollars go to your checking account or your savings account?")
        #expect(half.hear("checking").say == "To confirm, you'd like to move 100 dollars to your checking account. Is that right?")
        let again = half.hear("no")
        #expect(again.say == "No problem, let's fix that. How much would you like to transfer?")
        #expect(half.slots["amount"] == nil && half.slots["to_account"] == nil)
        #expect(half.hear("forty").say == "Should the 40 dollars go to your checking account or your savings account?", "a bare number answers 'how much'")
        // Two accounts named, each with its marker: the destination is the one after "to".
        #expect(half.hear("from savings to checking").say == "To confirm, you'd like to move 40 dollars from your savings account to your checking account. Is that right?")
        #expect(half.slots["from_account"] == "savings")
        // A request for a person is honoured while the bot asks; the transfer is in the summary as the request in hand.
        let person = half.hear("can i just talk to a person")
        #expect(person.handoff?.reason == "caller asked for a person" && person.handoff?.intent == "transfer_money" && person.handoff?.queue == "payments")
    }

    @Test func slotsFromAnywhereAndCorrectionsInPlace() throws {
        let (bank, matcher) = try Flows.dialog()
        var dialog = Flows.started(bank, matcher)
        // Every slot the sentence carries, even a bare amount.
        #expect(dialog.hear("move a hundred from savings to checking").say == "To confirm, you'd like to move 100 dollars from your savings account to your checking account. Is that right?")
        #expect(dialog.slots["from_account"] == "savings")
        // At the confirmation a correction changes that slot and confirms again; the amount stays (and the source, now the
        // destination too, gives way).
        let corrected = dialog.hear("no, make that savings")
        #expect(corrected.say == "Okay. To confirm, you'd like to move 100 dollars to your savings account. Is that right?")
        #expect(corrected.heard?.progress == .asking && dialog.slots["amount"] == "100")
        #expect(dialog.hear("no make it a hundred and twenty").say.contains("move 120 dollars to your savings account"))

        // "checking, no wait, savings" while the bot asks.
        var asked = Flows.started(bank, matcher)
        _ = asked.hear("i'd like to transfer eighty dollars")
        #expect(asked.hear("checking, no wait, savings").say == "To confirm, you'd like to move 80 dollars to your savings account. Is that right?")
        // "savings, not checking".
        var negated = Flows.started(bank, matcher)
        #expect(negated.hear("transfer thirty dollars to savings not checking").say.contains("move 30 dollars to your savings account"))
    }

    @Test func aRequestInTheMiddleOfAnotherIsServedAndTheFirstResumes() throws {
        let (bank, matcher) = try Flows.dialog()
        var dialog = Flows.started(bank, matcher)
        _ = dialog.hear("i want to transfer money")
        // Said unclearly, the other request is checked first; a yes serves it and the transfer goes on.
        #expect(dialog.hear("hang on, when do you close on saturday").say == "It sounds like you'd like to know our opening hours. Is that right?")
        let hours = dialog.hear("yes")
        #expect(hours.say == "Our branches are open Monday to Friday, nine to five, and Saturday, nine to noon. Now, back to your transfer. How much would you like to transfer?")
        #expect(hours.acted == ["opening_hours"] && hours.heard?.progress == .asking)
        #expect(dialog.hear("sixty dollars").say.hasPrefix("Should the 60 dollars go"))
        // A balance asked in the middle needs the bank: the webhook runs, then the form resumes.
        let balance = dialog.hear("what's in my savings account right now")
        let webhook = try #require(balance.webhook)
        #expect(webhook.url == "http://bank.test/v1/balance" && dialog.webhookPayload["intent"] == "check_balance")
        let answered = dialog.complete(webhook, with: ["account": "savings", "balance": "4,800 dollars"])
        #expect(answered.say == "Your savings account has 4,800 dollars available. Now, back to your transfer. Should the 60 dollars go to your checking account or your savings account?")
    }

    @Test func severalRequestsInOneSentenceAreServedInTurnAndTheRestIsInTheHandoff() throws {
        let (bank, matcher) = try Flows.dialog()
        var dialog = Flows.started(bank, matcher)
        let both = dialog.hear("i lost my card and i also need my balance")
        #expect(both.acted == ["lost_card"] && both.say.hasSuffix("Shall I block it now?"))
        let blocked = dialog.hear("yes")
        let handoff = try #require(blocked.handoff)
        #expect(handoff.queue == "cards" && handoff.intent == "lost_card" && handoff.pending == ["check_balance"])
        #expect(CallLedger.summary(handoff).contains("also asked, not served: check_balance"))

        var kept = Flows.started(bank, matcher)
        _ = kept.hear("i lost my card and i also need my balance")
        let next = kept.hear("no")
        #expect(next.acted == ["check_balance"])
        let balance = kept.complete(try #require(next.webhook), with: ["account": "checking", "balance": "12 dollars"])
        #expect(balance.say == "Okay, your card stays active. You also asked about your balance. Your checking account has 12 dollars available. Is there anything else I can help you with?")
    }

    @Test func outOfScopeIsARealAnswer() throws {
        let (bank, matcher) = try Flows.dialog()
        for text in ["i want to close my account", "what's the weather like", "do you sell car insurance"] {
            var dialog = Flows.started(bank, matcher)
            let turn = dialog.hear(text)
            #expect(turn.say.hasPrefix("I'm sorry, I can't help with that here.") && turn.say.hasSuffix("Is there anything else I can help you with?"), "\(text)")
            #expect(turn.heard?.intent == "out_of_scope" && turn.heard?.progress == .unserved && turn.acted.isEmpty, "\(text)")
        }
        // In the middle of a request, the bot says so and goes back to it.
        var dialog = Flows.started(bank, matcher)
        _ = dialog.hear("i want to move some money")
        #expect(dialog.hear("do you sell car insurance").say.hasSuffix("Now, back to your transfer. How much would you like to transfer?"))
    }

    @Test func frustrationAndRepetitionHandOffWithTheReason() throws {
        let (bank, matcher) = try Flows.dialog()
        // A "no" to the confirmation, then an angry turn: to the team of the request in hand, with what was said.
        var angry = Flows.started(bank, matcher)
        _ = angry.hear("transfer fifty dollars to savings")
        _ = angry.hear("no that's not what i said")
        let turn = angry.hear("this is ridiculous, you're not listening")
        #expect(turn.handoff?.queue == "payments" && turn.handoff?.reason.hasPrefix("caller frustrated") == true)
        // One sign of frustration alone gets an apology, not a handoff.
        var once = Flows.started(bank, matcher)
        let sorry = once.hear("ugh this is so annoying, what time do you open tomorrow")
        #expect(sorry.handoff == nil && sorry.say.hasPrefix("I'm sorry for the trouble. Our branches are open"))
        // The same question is never asked a third time.
        var loop = Flows.started(bank, matcher)
        _ = loop.hear("transfer fifty dollars to savings")
        _ = loop.hear("no")
        _ = loop.hear("fifty dollars")
        _ = loop.hear("savings")
        let third = loop.hear("no")
        #expect(third.handoff == nil && third.say == "No problem, let's fix that. How much would you like to transfer?")
        _ = loop.hear("fifty dollars")
        let stuck = loop.hear("savings")
        #expect(stuck.handoff?.reason == "the bot would have asked the same question a third time" && stuck.handoff?.queue == "payments")
    }

    @Test func aFailedWebhookOffersAPerson() throws {
        let (bank, matcher) = try Flows.dialog()
        var dialog = Flows.started(bank, matcher)
        let turn = dialog.hear("what's my balance")
        let failed = dialog.complete(try #require(turn.webhook), with: nil, failure: "http://bank.test/v1/balance: timed out")
        #expect(failed.say == "I'm sorry, I can't reach your account details right now. Would you like me to connect you with someone who can help?")
        #expect(failed.heard?.progress == .failed)
        let yes = dialog.hear("yes please")
        #expect(yes.handoff?.queue == "accounts" && yes.handoff?.reason == "check_balance failed: http://bank.test/v1/balance: timed out")
        var declined = Flows.started(bank, matcher)
        let again = declined.hear("what's my balance")
        _ = declined.complete(try #require(again.webhook), with: nil)
        #expect(declined.hear("no").say == "Okay. Is there anything else I can help you with?")
    }

    @Test(arguments: [
        ("    ask: {amout: How much?}\n", 7, 11, "ask: 'amout' is not a slot of this flow"),
        ("    check: Sure?\n    answer: ok\n", 5, 3, "'check' goes with 'ask'"),
        ("    go: nowhere\n", 7, 9, "no state 'nowhere' to go to"),
        ("    webhook: {url: \"{core}/v1/x\", fallback: sorry}\n", 9, 1, "uses '{core}', which is not one of the flow's 'services'"),
        ("    webhook: {url: \"ftp://x\", fallback: sorry}\n", 7, 20, "webhook url must be http or https"),
    ])
    func malformedServingNamesTheLine(serving: String, line: Int, column: Int, problem: String) {
        let yaml = "name: x\nslots:\n  amount: money\nintents:\n  a:\n    examples: [hello]\n" + serving + "start: s\nstates:\n  s:\n    prompt: hi\n"
        #expect {
            _ = try FlowLoader.parse(yaml, source: "/tmp/flows/serving.yaml")
        } throws: { error in
            guard let error = error as? FlowError else { return false }
            return error.line == line && error.column == column && error.problem.contains(problem)
        }
    }

    @Test func aFlowWithoutServingStillRunsItsStatesRules() throws {
        // The older form: each state lists its own rules, with no `after`; an answer without `go` stays where it is.
        let yaml = """
            name: x
            intents:
              opening_hours: {examples: [what are your hours, when are you open, what time do you close]}
              lost_card: {examples: [i lost my card, my card is missing, my card was stolen]}
            start: a
            states:
              a:
                prompt: How can I help?
                on:
                  opening_hours: {say: "Nine to five."}
                  lost_card: {say: "I'll block it.", handoff: cards}
            """
        let flow = try FlowLoader.parse(yaml, source: "old.yaml")
        var dialog = DialogSession(dialog: try #require(flow.dialog), matcher: flow.makeMatcher())
        _ = dialog.start()
        #expect(dialog.hear("what are your hours").say == "Nine to five.")
        #expect(dialog.hear("i lost my card").handoff?.queue == "cards")
    }

    @Test func anIntentNamingAnUndeclaredSlotIsNamed() {
        #expect {
            _ = try FlowLoader.parse("name: x\nintents:\n  a:\n    slots: [amount]\n    examples: [hi]\n", source: "f.yaml")
        } throws: { error in
            (error as? FlowError)?.line == 4 && (error as? FlowError)?.problem.contains("slots: 'amount' is not a slot of this flow") == true
        }
    }

    @Test(arguments: [
        ("start: nowhere\nstates:\n  a:\n    prompt: hi\n", 1, 8, "start: there is no state 'nowhere'"),
        ("start: a\nstates:\n  a:\n    prompt: hi\n    on:\n      lost_card: b\n", 6, 18, "no state 'b' to go to"),
        ("start: a\nstates:\n  a:\n    prompt: hi\n    on:\n      lost_kard: a\n", 6, 7, "on: 'lost_kard' is not an intent of this flow"),
        ("start: a\nstates:\n  a:\n    prompt: hi\n    search: grammar:missing.gram\n", 5, 13, "search: no such file"),
        ("states:\n  a:\n    prompt: hi\n", 1, 1, "a flow with 'states' needs 'start'"),
        ("start: a\nstates:\n  a:\n    prompt: hi\n    ask: amount\n", 5, 10, "ask: 'amount' is not a slot of this flow"),
        ("slots:\n  amount: money\nstart: a\nstates:\n  a:\n    prompt: hi\n    ask: amount\n", 5, 3, "asks for a slot and needs 'next'"),
        ("slots:\n  amount: cash\n", 2, 11, "slot 'amount': unknown type 'cash'"),
        ("slots:\n  account: {type: choice}\n", 2, 3, "slot 'account' of type choice needs 'values'"),
        ("slots:\n  amount: money\nstart: a\nstates:\n  a:\n    prompt: hi\n    on:\n      lost_card: {forget: [amout], go: a}\n", 8, 28,
         "forget: 'amout' is not a slot of this flow"),
    ])
    func malformedDialogsNameTheLine(dialog: String, line: Int, column: Int, problem: String) {
        let yaml = "name: x\nintents:\n  lost_card:\n    examples: [i lost my card]\n" + dialog
        #expect {
            _ = try FlowLoader.parse(yaml, source: "/tmp/flows/broken.yaml")
        } throws: { error in
            guard let error = error as? FlowError else { return false }
            return error.line == line + 4 && error.column == column && error.problem.contains(problem)
        }
    }
}

@Suite struct CallerMemoryTests {
    @Test func aReturningCallerIsAskedAboutTheirLastTopicAndYesTakesThemThere() throws {
        let flow = try FlowLoader.load(path: Flows.bank)
        var dialog = DialogSession(dialog: try #require(flow.dialog), matcher: flow.makeMatcher())
        #expect(dialog.start(returningAbout: "lost_card").say == "Welcome back. Are you calling about your lost card again? If not, just tell me how I can help.")
        let turn = dialog.hear("yes")
        #expect(turn.intent == "lost_card" && dialog.state == "lost_card")
        var other = DialogSession(dialog: try #require(flow.dialog), matcher: flow.makeMatcher())
        _ = other.start(returningAbout: "lost_card")
        #expect(other.hear("what are your opening hours").say.contains("nine to five"))
    }

    @Test func callsFromTheSameNumberAreLinkedAcrossRestarts() throws {
        let path = try Fixtures.temporaryDirectory() + "/callers.json"
        let memory = FileCallerMemory(path: path)
        #expect(memory.recall("+1 (555) 010-0199") == nil)
        memory.remember("+1 (555) 010-0199", topic: "lost_card", outcome: "handed to cards", at: Date())
        memory.remember("15550100199", topic: nil, outcome: "completed", at: Date())
        let reopened = FileCallerMemory(path: path)
        let record = try #require(reopened.recall("1 555 010 0199"))
        #expect(record.calls == 2 && record.lastTopic == "lost_card" && record.lastOutcome == "completed")
        let stale = FileCallerMemory(path: path, topicLifetime: 0)
        #expect(stale.recall("15550100199")?.lastTopic == nil)  // too old to ask about
    }
}

@Suite(.serialized) struct SpokenIntentTests {
    /// The paraphrase set and the unrelated set read by two natural-sounding voices (hibari-tts "heart", festival
    /// ked_diphone) through the 8 kHz μ-law telephone channel (`Tests/Fixtures/spoken`, made by `hotline bench
    /// understanding --write`), recognised with the flow's domain model (whole utterance, 5-best) and matched; an intent
    /// the bot would confirm first counts when it is the right one. Measured: 72.2% of the 144 spoken requests (heart
    /// 77.8%, ked 66.7%; typed 95.8%), general model 56.9%; 31 of 80 unrelated sentences taken for an intent (8 acted on).
    @Test func spokenParaphrasesByNaturalVoicesThroughATelephoneLeg() async throws {
        let flow = try FlowLoader.load(path: Flows.bank)
        let matcher = flow.makeMatcher()
        let recognizer = try PocketSphinxRecognizer()
        try recognizer.prepare(for: flow, domainModel: try await DomainModel.build(for: flow, cacheDirectory: try Fixtures.temporaryDirectory()))
        let manifest = Flows.root + "/Tests/Fixtures/spoken/spoken.tsv"
        let items = try ReferenceTranscripts.parse(String(contentsOfFile: manifest, encoding: .utf8), source: manifest)
        var byVoice: [String: (right: Int, count: Int)] = [:]
        // The general model (slow) hears every third request, against the domain model on the same ones.
        var general = 0, domainOnSample = 0, sample = 0, requests = 0, taken = 0, acted = 0, unrelated = 0
        for (intent, field) in items {
            let file = String(field.split(separator: "\t")[0])
            let voice = file.contains("hibari") ? "heart" : "ked"
            let speech = TelephoneChannel.decode([UInt8](try WAVFiles.dataChunk(Flows.root + "/" + file)), to: 16_000)
            let match = matcher.match(try recognizer.recognize(speech, search: .named("domain"), alternatives: 5))
            if intent == "out_of_scope" {
                unrelated += 1
                if let heard = match.intent, heard != "out_of_scope" {
                    taken += 1
                    if !match.needsConfirmation { acted += 1 }
                }
                continue
            }
            requests += 1
            byVoice[voice, default: (0, 0)].count += 1
            if match.intent == intent { byVoice[voice, default: (0, 0)].right += 1 }
            if requests % 3 == 0 {
                sample += 1
                if match.intent == intent { domainOnSample += 1 }
                if matcher.match(try recognizer.recognize(speech, search: .standard, alternatives: 5)).intent == intent { general += 1 }
            }
        }
        #expect(requests == 144 && unrelated == 80)
        let domain = Double(byVoice.values.map(\.right).reduce(0, +)) / Double(requests)
        #expect(domain >= 0.65, "spoken intent accuracy \(domain)")
        for (voice, tally) in byVoice { #expect(Double(tally.right) / Double(tally.count) >= 0.6, "\(voice): \(tally)") }
        #expect(domainOnSample > general + sample / 20, "domain \(domainOnSample) vs general \(general) of \(sample)")
        #expect(taken <= 36 && acted <= 12, "unrelated taken for an intent: \(taken) of \(unrelated), \(acted) acted on")
    }
    /// A call decodes the flow's domain model live, on a decoder cut down to the flow's words (`forCalls`), with each
    /// caller's running cepstral mean carried from one utterance to the next; the tests above decode whole utterances on
    /// the full model. Both hear the 144 spoken requests with the same intents, near enough, and live decoding with the
    /// carried mean hears more of them: measured 85% the same intent, live 77.8% right against whole 73.6%.
    @Test func liveDecodingOnACallsDecoderHearsTheIntentsOfWholeUtteranceDecoding() async throws {
        let flow = try FlowLoader.load(path: Flows.bank)
        let matcher = flow.makeMatcher()
        let domain = try await DomainModel.build(for: flow, cacheDirectory: try Fixtures.temporaryDirectory())
        let whole = try PocketSphinxRecognizer()
        try whole.prepare(for: flow, domainModel: domain)
        let live = try PocketSphinxRecognizer(configuration: try PocketSphinxConfiguration().forCalls(on: flow, domainModel: domain))
        try live.prepare(for: flow, domainModel: domain)
        let manifest = Flows.root + "/Tests/Fixtures/spoken/spoken.tsv"
        let items = try ReferenceTranscripts.parse(String(contentsOfFile: manifest, encoding: .utf8), source: manifest).filter { $0.id != "out_of_scope" }
        var same = 0, rightWhole = 0, rightLive = 0
        var adaptation: [String: ChannelAdaptation] = [:]  // one caller per voice
        for (intent, field) in items {
            let file = String(field.split(separator: "\t")[0])
            let voice = file.contains("hibari") ? "heart" : "ked"
            let speech = TelephoneChannel.decode([UInt8](try WAVFiles.dataChunk(Flows.root + "/" + file)), to: 16_000)
            let byWhole = matcher.match(try whole.recognize(speech, search: .named("domain"), alternatives: 5)).intent
            try live.beginUtterance(search: .named("domain"), adaptation: adaptation[voice] ?? live.initialAdaptation(narrowband: true))
            for start in stride(from: 0, to: speech.count, by: 320) { try live.feed(Array(speech[start..<min(start + 320, speech.count)])) }
            let (recognition, carried) = try live.endUtterance(alternatives: 5)
            adaptation[voice] = carried
            let byLive = matcher.match(recognition).intent
            if byLive == byWhole { same += 1 }
            if byWhole == intent { rightWhole += 1 }
            if byLive == intent { rightLive += 1 }
        }
        #expect(items.count == 144)
        #expect(Double(same) / Double(items.count) >= 0.8, "the same intent for \(same) of \(items.count)")
        #expect(rightLive >= rightWhole - 7, "live \(rightLive), whole \(rightWhole) of \(items.count)")
    }
}
