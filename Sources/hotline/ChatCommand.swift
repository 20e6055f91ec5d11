import ArgumentParser
import Foundation
import HotlineCore
import HotlineEngines

// MARK: - hotline chat

struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Talk to a flow by typing: the same dialog a caller gets, without audio.",
        discussion: "Type what a caller would say; an empty line is silence (no input). Ends when the bot ends the call or hands off."
    )

    @Option(help: "Flow file.")
    var flow: String = defaultFlowPath

    @Flag(help: "Show the intent, confidence and slots behind each answer.")
    var verbose = false

    @Option(help: "The caller's number: calls from the same number are linked (caller memory).")
    var caller: String?

    @Option(help: "Caller memory file.")
    var memory = ".hotline/callers.json"

    func run() async throws {
        let definition = try loadFlow(flow)
        guard let dialog = definition.dialog else {
            printError("error: \(flow): the flow has no states to talk through")
            throw ExitCode(2)
        }
        var session = DialogSession(dialog: dialog, matcher: definition.makeMatcher())
        let callers = caller.map { _ in FileCallerMemory(path: memory) }
        let returning = caller.flatMap { callers?.recall($0)?.lastTopic }
        var turn = returning.map { session.start(returningAbout: $0) } ?? session.start()
        printOut("bot: \(turn.say)\n")
        while !turn.end {
            printOut("you: ")
            guard let line = readLine() else { break }
            let text = line.trimmingCharacters(in: .whitespaces)
            turn = text.isEmpty ? session.noInput() : session.hear(text)
            if let call = turn.webhook {
                let data = try? await HTTPWebhooks().fetch(call, payload: session.webhookPayload)
                turn = session.complete(call, with: data)
            }
            if verbose {
                let slots = session.slots.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ", ")
                printOut("     [intent \(turn.intent ?? "none"), state \(session.state)\(slots.isEmpty ? "" : ", slots \(slots)")]\n")
            }
            printOut("bot: \(turn.say)\n")
        }
        if let caller, let callers {
            callers.remember(caller, topic: session.topic, outcome: turn.handoff.map { "handed to \($0.queue)" } ?? (turn.end ? "completed" : "caller left"), at: Date())
        }
        if let handoff = turn.handoff {
            printOut("\n→ handed to queue '\(handoff.queue)': \(handoff.reason)\n")
            printOut("  intent: \(handoff.intent ?? "unknown")" + (handoff.slots.isEmpty ? "" : "; slots: " + handoff.slots.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ", ")) + "\n")
            for line in handoff.transcript { printOut("  \(line)\n") }
        } else if turn.end {
            printOut("\n→ call ended by the bot\n")
        }
    }
}
