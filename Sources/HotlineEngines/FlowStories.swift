public import HotlineCore
import Foundation
import Yams

// MARK: - Conversation tests for a flow

/// One conversation test: what a caller says, turn by turn, and what should come of it.
public struct FlowStory: Sendable, Equatable {
    /// What the flow owner expects; every field is optional.
    public struct Expectation: Sendable, Equatable {
        /// `completed` (the bot ended the call; `contained` means the same), `handed-off`, or `abandoned` (the caller's
        /// lines ran out while the bot waited).
        public var status: String?
        /// Acceptable handoff queues.
        public var queues: [String]?
        /// Intents the bot acted on, in this order (others may come between).
        public var intents: [String] = []
        /// Intents it must never act on.
        public var notIntents: [String] = []
        /// Slot values at the end (masked as the bot keeps them).
        public var slots: [String: String] = [:]
    }

    /// The story's name.
    public var name: String
    /// The caller's lines in order; "" is a silence.
    public var turns: [String]
    /// What should happen.
    public var expect: Expectation
    /// Where it is in its file ("file:line").
    public var location: String
}

/// What happened when a story was played.
public struct StoryResult: Sendable, Equatable, Codable {
    /// The story.
    public var name: String
    /// Whether every expectation held.
    public var passed: Bool
    /// `completed`, `handed-off` or `abandoned`.
    public var status: String
    /// The queue it was handed to, if any.
    public var queue: String?
    /// Intents acted on, in order.
    public var intents: [String]
    /// Slots at the end.
    public var slots: [String: String]
    /// What did not hold, one line each.
    public var problems: [String] = []
    /// The conversation, "bot: …" and "you: …".
    public var transcript: [String] = []

    enum CodingKeys: String, CodingKey { case name, passed, status, queue, intents, slots }

    /// The JSON line of `hotline flow test --json`: every field, `queue` null when there was no handoff.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(passed, forKey: .passed)
        try container.encode(status, forKey: .status)
        try container.encode(queue, forKey: .queue)
        try container.encode(intents, forKey: .intents)
        try container.encode(slots, forKey: .slots)
    }
}

/// Reads and plays stories files: a YAML list of `{name, turns, expect}`.
public enum FlowStories {
    /// Loads a stories file; problems name the file, line and column.
    public static func load(path: String) throws(FlowError) -> [FlowStory] {
        try parse(Reader.text(of: path), source: path)
    }

    /// Parses stories YAML.
    public static func parse(_ text: String, source: String) throws(FlowError) -> [FlowStory] {
        let reader = Reader(source: source)
        return try reader.stories(Reader.root(of: text, source: source))
    }

    /// Plays one story against a dialog, with `webhooks` answering its webhooks.
    public static func play(_ story: FlowStory, dialog: DialogDefinition, matcher: IntentMatcher, webhooks: any WebhookFetching) async -> StoryResult {
        let responder = DialogResponder(dialog: dialog, matcher: matcher, webhooks: webhooks)
        var transcript: [String] = []
        var reply = await responder.opening() ?? Reply(text: "")
        transcript.append("bot: \(reply.text)")
        var intents: [String] = []
        var used = 0
        for line in story.turns {
            if reply.hangUp || reply.handoff != nil { break }
            transcript.append(line.isEmpty ? "you: (silence)" : "you: \(line)")
            reply = await responder.respond(toText: line)
            used += 1
            intents += responder.acted
            transcript.append("bot: \(reply.text)")
        }
        if used < story.turns.count { transcript.append("(the call was over; \(story.turns.count - used) line(s) not said)") }
        let status = reply.handoff != nil ? "handed-off" : reply.hangUp ? "completed" : "abandoned"
        var result = StoryResult(name: story.name, passed: true, status: status, queue: reply.handoff?.queue, intents: intents, slots: responder.slots,
                                 transcript: transcript)
        if let handoff = reply.handoff { result.transcript.append("(handed to \(handoff.queue): \(handoff.reason))") }
        let expect = story.expect
        if let wanted = expect.status, (wanted == "contained" ? "completed" : wanted) != status {
            result.problems.append("status: expected \(wanted), got \(status)")
        }
        if let queues = expect.queues, !queues.contains(reply.handoff?.queue ?? "") {
            result.problems.append("queue: expected \(queues.joined(separator: " or ")), got \(reply.handoff?.queue ?? "no handoff")")
        }
        var rest = intents[...]
        for wanted in expect.intents {
            guard let index = rest.firstIndex(of: wanted) else {
                result.problems.append("intents: expected \(expect.intents.joined(separator: ", ")) in order, got \(intents.isEmpty ? "none" : intents.joined(separator: ", "))")
                break
            }
            rest = rest[(index + 1)...]
        }
        for unwanted in expect.notIntents where intents.contains(unwanted) { result.problems.append("not_intents: acted on \(unwanted)") }
        for (name, value) in expect.slots.sorted(by: { $0.key < $1.key }) where responder.slots[name] != value {
            result.problems.append("slots: expected \(name)=\(value), got \(responder.slots[name].map { "\(name)=\($0)" } ?? "no \(name)")")
        }
        result.passed = result.problems.isEmpty
        return result
    }

    private struct Reader: ModelFileReader {
        let source: String

        func stories(_ root: Node) throws(FlowError) -> [FlowStory] {
            guard let list = root.sequence else { throw fail(root, "a stories file is a list of stories") }
            var stories: [FlowStory] = []
            var names: Set<String> = []
            for item in list {
                let fields = try mapping(item, "a story")
                try check(fields, allowed: ["name", "turns", "expect"], in: "a story")
                guard let nameEntry = fields.first(where: { $0.key == "name" }) else { throw fail(item, "a story needs a 'name'") }
                let name = try string(nameEntry.value, "name")
                guard names.insert(name).inserted else { throw fail(nameEntry.value, "two stories are called '\(name)'") }
                guard let turnsEntry = fields.first(where: { $0.key == "turns" }), let lines = turnsEntry.value.sequence else {
                    throw fail(item, "story '\(name)' needs 'turns', a list of what the caller says (\"\" is a silence)")
                }
                var turns: [String] = []
                for line in lines { turns.append(try string(line, "each turn of '\(name)'")) }
                var expect = FlowStory.Expectation()
                if let entry = fields.first(where: { $0.key == "expect" }) {
                    let parts = try mapping(entry.value, "expect of '\(name)'")
                    try check(parts, allowed: ["status", "queue", "intents", "not_intents", "slots"], in: "expect of '\(name)'")
                    for part in parts {
                        switch part.key {
                        case "status":
                            let status = try string(part.value, "status")
                            guard ["completed", "contained", "handed-off", "abandoned"].contains(status) else {
                                throw fail(part.value, "status must be completed, handed-off or abandoned, not '\(status)'")
                            }
                            expect.status = status
                        case "queue": expect.queues = part.value.sequence != nil ? try strings(part.value, "queue") : [try string(part.value, "queue")]
                        case "intents": expect.intents = try strings(part.value, "intents")
                        case "not_intents": expect.notIntents = try strings(part.value, "not_intents")
                        default:
                            for slot in try mapping(part.value, "slots") { expect.slots[slot.key] = try string(slot.value, "slot '\(slot.key)'") }
                        }
                    }
                }
                stories.append(FlowStory(name: name, turns: turns, expect: expect, location: "\(source):\(item.mark?.line ?? 0)"))
            }
            return stories
        }
    }
}
