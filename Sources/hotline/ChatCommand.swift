import ArgumentParser
import Foundation
import HotlineCore
import HotlineEngines

// MARK: - hotline chat

struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Talk to a flow by typing: the same dialog a caller gets, without audio.",
        discussion: """
            Type what a caller would say; an empty line is silence (no input). Ends when the bot ends the call or hands off. \
            The flow's webhook services are bound as in 'hotline serve' (the bank flow's 'sample' is the built-in sample bank).
            """
    )

    @Option(help: "Flow file.")
    var flow: String = defaultFlowPath

    @Flag(help: "Show the intent, state and slots behind each answer.")
    var verbose = false

    @Option(help: "The caller's number: calls from the same number are linked (caller memory).")
    var caller: String?

    @Option(help: "Caller memory file.")
    var memory = ".hotline/callers.json"

    @OptionGroup var services: FlowServiceOptions

    func run() async throws {
        let (definition, unbound) = try loadDialogFlow(flow)
        let (dialog, bank) = try await services.bind(unbound)
        let callers = caller.map { _ in FileCallerMemory(path: memory) }
        let returning = caller.flatMap { callers?.recall($0)?.lastTopic }
        let responder = DialogResponder(dialog: dialog, matcher: definition.makeMatcher(), returningTopic: returning, webhooks: HTTPWebhooks())
        var reply = await responder.opening() ?? Reply(text: "")
        printOut("bot: \(reply.text)\n")
        while !reply.hangUp && reply.handoff == nil {
            printOut("you: ")
            guard let line = readLine() else { break }
            if isatty(0) == 0 { printOut("\(line)\n") }  // typed from a file or a pipe: show it
            reply = await responder.respond(toText: line)
            if verbose {
                let slots = responder.slots.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ", ")
                let acted = responder.acted.isEmpty ? "none" : responder.acted.joined(separator: ", ")
                printOut("     [acted on \(acted), state \(responder.state)\(slots.isEmpty ? "" : ", slots \(slots)")]\n")
            }
            printOut("bot: \(reply.text)\n")
        }
        await bank?.stop()
        if let caller, let callers {
            let outcome = reply.handoff.map { "handed to \($0.queue)" } ?? (reply.hangUp ? "completed" : "caller left")
            callers.remember(caller, topic: responder.topic, outcome: outcome, at: Date())
        }
        if let handoff = reply.handoff {
            printOut("\n→ handed to queue '\(handoff.queue)': \(handoff.reason)\n")
            printOut(CallLedger.summary(handoff).split(separator: "\n").dropFirst().map { "  \($0)\n" }.joined())
        } else if reply.hangUp {
            printOut("\n→ call ended by the bot\n")
        }
    }
}
