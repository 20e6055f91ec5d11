import ArgumentParser
import Foundation
import HotlineCore
import HotlineEngines

// MARK: - hotline flow test

struct FlowTest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Play conversation tests (stories) against a flow and say which hold.",
        discussion: """
            A stories file is a YAML list; each story has 'name', 'turns' (the caller's lines in order; "" is a silence) \
            and 'expect' with any of: status (completed, handed-off, abandoned), queue (a name or a list), intents (acted \
            on, in this order; others may come between), not_intents, slots (name: value). Exits 1 when a story fails. \
            Webhooks go to the flow's services as in 'hotline serve' (the bank flow's sample bank by default).
            """
    )

    @Argument(help: "Stories files.")
    var stories: [String]

    @Option(help: "Flow file.")
    var flow: String = defaultFlowPath

    @Flag(help: "One JSON line per story: name, passed, status, queue, intents, slots.")
    var json = false

    @OptionGroup var services: FlowServiceOptions

    func run() async throws {
        let (definition, unbound) = try loadDialogFlow(flow)
        var all: [FlowStory] = []
        do {
            for file in stories { all += try FlowStories.load(path: file) }
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        // A story naming an intent or slot the flow does not have could never fail where it should.
        let intents = Set(definition.intents.map(\.name))
        let slots = Set(unbound.slots.keys).union(SlotDefinition.builtinKinds)
        for story in all {
            for name in story.expect.intents + story.expect.notIntents where !intents.contains(name) {
                printError("error: \(story.location): story '\(story.name)': '\(name)' is not an intent of \(flow)")
                throw ExitCode(2)
            }
            for name in story.expect.slots.keys where !slots.contains(name) {
                printError("error: \(story.location): story '\(story.name)': '\(name)' is not a slot of \(flow)")
                throw ExitCode(2)
            }
        }
        let (dialog, bank) = try await services.bind(unbound)
        let matcher = definition.makeMatcher()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var failed = 0
        for story in all {
            let result = await FlowStories.play(story, dialog: dialog, matcher: matcher, webhooks: HTTPWebhooks())
            if !result.passed { failed += 1 }
            if json {
                printOut(String(decoding: try encoder.encode(result), as: UTF8.self) + "\n")
                continue
            }
            printOut("\(result.passed ? "PASS" : "FAIL")  \(story.name)\n")
            if !result.passed {
                printOut("      at \(story.location)\n")
                for problem in result.problems { printOut("      \(problem)\n") }
                for line in result.transcript { printOut("        \(line)\n") }
            }
        }
        await bank?.stop()
        if !json { printOut("\n\(all.count - failed) of \(all.count) stories passed\n") }
        if failed > 0 { throw ExitCode(1) }
    }
}
