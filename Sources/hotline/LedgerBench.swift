import ArgumentParser
import Foundation
import HotlineCore
import HotlineEngines

// MARK: - hotline bench ledger

/// What keeping a call's record costs a call: a bank call's events folded through `CallLedger` with the default QA
/// rules, against the same fold with no rules, in one run.
struct LedgerBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger",
        abstract: "Time the call ledger: a bank call's events folded with the QA rules vs without, microseconds per event.",
        discussion: """
            Each simulated call has a greeting, six caller turns (one reading out a card number) with the bot's answers, \
            a barge-in, a silence with a no-input prompt, a handoff and the end: about 40 events. Prints the time per \
            event and per call, with the default rules (Models/qa/rules.yaml) and with none, and the share of a \
            recognizer's cost per utterance that it represents.
            """
    )

    @Option(help: "Calls to fold.")
    var calls = 5_000

    @Option(help: "The QA rules file.")
    var rules = "Models/qa/rules.yaml"

    func run() async throws {
        let ruleSet = try QualityRulesLoader.load(path: rules)
        let events = Self.call()
        print("\(calls) calls of \(events.count) events each; 2 cores, one thread")
        var results: [(String, Double)] = []
        for (name, set) in [("no rules", QualityRules(rules: [])), ("default rules (\(ruleSet.rules.count))", ruleSet)] {
            _ = Self.fold(events, calls: max(1, calls / 10), rules: set)  // warm up
            let clock = ContinuousClock()
            let started = clock.now
            let changes = Self.fold(events, calls: calls, rules: set)
            let seconds = (clock.now - started).seconds
            let perEvent = seconds / Double(calls * events.count) * 1e6
            results.append((name, perEvent))
            print("  " + name.padding(toLength: 22, withPad: " ", startingAt: 0)
                  + String(format: " %7.2f µs per event, %7.1f µs per call, %d changes per call", perEvent, perEvent * Double(events.count), changes / calls))
        }
        let caller = events.count { if case .final = $0 { true } else { false } }
        let perCall = results.last!.1 * Double(events.count)
        // A whole-utterance decode with the domain model costs ~0.02–0.2 s of CPU (docs/ROADMAP.md); compare per utterance.
        print(String(format: "  with rules: %.1f µs per caller utterance, %.4f%% of a 50 ms decode", perCall / Double(caller),
                     perCall / Double(caller) / 50_000 * 100))
    }

    static func fold(_ events: [CallEvent], calls: Int, rules: QualityRules) -> Int {
        var changes = 0
        for index in 0..<calls {
            var ledger = CallLedger(CallStart(id: "bench-\(index)", gateway: .audioSocket), node: "bench", rules: rules, hasBot: true)
            changes += ledger.begin().count
            for event in events { changes += ledger.apply(event).count }
            changes += ledger.close().count
        }
        return changes
    }

    /// A bank call as its session reports it.
    static func call() -> [CallEvent] {
        var events: [CallEvent] = []
        var time = 0.0
        var prompt = 0
        var utterance = 0
        func bot(_ text: String, seconds: Double) {
            prompt += 1
            events += [.playbackStarted(id: prompt, text: text, at: time, responseLatency: 0.1), .playbackFinished(id: prompt, duration: seconds)]
            time += seconds + 0.8
        }
        func caller(_ text: String, intent: String?, progress: TurnProgress?) {
            let words = text.split(separator: " ").enumerated().map {
                RecognizedWord(word: String($1), start: time + Double($0) * 0.3, end: time + Double($0) * 0.3 + 0.25, confidence: 0.8)
            }
            let spoken = Utterance(channel: 0, speaker: "caller", start: time, end: time + Double(words.count) * 0.3, text: text, confidence: 0.7,
                                   words: words)
            events.append(.speechStarted(at: time))
            events.append(.final(UtteranceResult(id: utterance, utterance: spoken, alternatives: [], search: .named("domain"), decoding: .live,
                                                 endpointedAt: spoken.end + 0.5, latency: 0.04)))
            events.append(.understood(Interpretation(intent: intent, confidence: 0.8, slots: [:], state: "greeting", request: intent, progress: progress),
                                      utterance: utterance))
            utterance += 1
            time = spoken.end + 0.6
        }
        bot("Thank you for calling First Community Bank. This call may be recorded for quality. How can I help you today?", seconds: 6)
        caller("hi i was wondering what time you open on saturday", intent: "opening_hours", progress: .served)
        bot("Our branches are open Monday to Friday, nine to five, and Saturday, nine to noon. Is there anything else I can help you with?",
            seconds: 7)
        caller("yes i need to move some money to my savings", intent: "transfer_money", progress: .asking)
        bot("How much would you like to transfer?", seconds: 2)
        events.append(.bargeIn(id: prompt, at: time - 1.5))
        caller("two hundred dollars", intent: nil, progress: .asking)
        bot("To confirm, you'd like to move 200 dollars to your savings account. Is that right?", seconds: 4)
        events.append(.noInput(at: time + 8, silence: 8))
        time += 8
        bot("Are you still there? Just tell me in a few words how I can help.", seconds: 3)
        caller("yes that's right", intent: "affirm", progress: .served)
        bot("Done. 200 dollars are on their way to your savings account. Is there anything else I can help you with?", seconds: 6)
        caller("my card number is four one one one one one one one one one one one one one one one and it was declined", intent: "card_declined",
               progress: .asking)
        bot("Sorry about that. Was the card declined in the last twenty four hours?", seconds: 4)
        caller("this is ridiculous let me talk to a person", intent: "speak_to_agent", progress: nil)
        bot("Let me connect you with one of our team. Please hold for a moment.", seconds: 4)
        events.append(.handoff(Handoff(queue: "cards", reason: "caller asked for a person", intent: "opening_hours", slots: ["amount": "200"],
                                       transcript: ["caller: my card number is ************1111"]), at: time))
        events.append(.ended(at: time + 1, reason: "handed to cards", byBot: true))
        return events
    }
}
