public import HotlineCore
import Foundation
import Yams

// MARK: - Flow files

/// Reads flow files (YAML) and checks them, reporting problems by file, line and column.
public enum FlowLoader {
    /// Loads and validates a flow file.
    public static func load(path: String) throws(FlowError) -> FlowDefinition {
        try parse(Reader.text(of: path), source: path)
    }

    /// Parses and validates flow YAML.
    public static func parse(_ text: String, source: String) throws(FlowError) -> FlowDefinition {
        var reader = Reader(source: source)
        return try reader.flow(Reader.root(of: text, source: source))
    }

    /// Walks the node tree with positions.
    private struct Reader: ModelFileReader {
        let source: String
        /// Each state's `hangover` node, read once the flow's own is known.
        var stateHangovers: [String: Node] = [:]

        mutating func flow(_ root: Node) throws(FlowError) -> FlowDefinition {
            let top = try mapping(root, "the flow")
            try check(top, allowed: ["name", "description", "language", "synonyms", "intents", "states", "start", "voice", "slots", "handoff", "after",
                                     "services", "frustration", "hangover"], in: "the flow")
            func value(_ key: String) -> (keyNode: Node, value: Node)? { top.first { $0.key == key }.map { ($0.keyNode, $0.value) } }
            guard let nameNode = value("name") else { throw fail(root, "the flow needs a 'name'") }
            let name = try string(nameNode.value, "name")
            let description = try value("description").map { entry throws(FlowError) in try string(entry.value, "description") } ?? ""
            let language = try value("language").map { entry throws(FlowError) in try string(entry.value, "language") } ?? "en-us"
            var synonyms: [String: [String]] = [:]
            if let entry = value("synonyms") {
                for group in try mapping(entry.value, "synonyms") {
                    synonyms[group.key] = try strings(group.value, "synonyms of '\(group.key)'")
                }
            }
            guard let intentsEntry = value("intents") else { throw fail(root, "the flow needs 'intents'") }
            let slotDefinitions = try value("slots").map { entry throws(FlowError) in try slots(entry.value) } ?? [:]
            var intents: [IntentDefinition] = []
            var intentSlots: [String: [String]] = [:]
            var topics: [String: String] = [:]
            var confirmations: [String: String] = [:]
            var exampleOwner: [String: String] = [:]
            var serving: [(intent: String, fields: [(key: String, keyNode: Node, value: Node)], node: Node)] = []
            for intent in try mapping(intentsEntry.value, "intents") {
                let fields = try mapping(intent.value, "intent '\(intent.key)'")
                try check(fields, allowed: ["examples", "slots", "patterns", "description", "topic", "confirm"] + Self.servingKeys, in: "intent '\(intent.key)'")
                let how = fields.filter { Self.servingKeys.contains($0.key) }
                if !how.isEmpty { serving.append((intent.key, how, intent.keyNode)) }
                if let entry = fields.first(where: { $0.key == "topic" }) { topics[intent.key] = try string(entry.value, "topic") }
                if let entry = fields.first(where: { $0.key == "confirm" }) { confirmations[intent.key] = try string(entry.value, "confirm") }
                guard let examplesEntry = fields.first(where: { $0.key == "examples" }) else {
                    throw fail(intent.keyNode, "intent '\(intent.key)' needs 'examples'")
                }
                let examples = try strings(examplesEntry.value, "examples of '\(intent.key)'")
                guard !examples.isEmpty else { throw fail(examplesEntry.value, "intent '\(intent.key)' has no examples") }
                for (index, example) in examples.enumerated() {
                    let key = TextNormalizer.words(example).joined(separator: " ")
                    if let owner = exampleOwner[key], owner != intent.key {
                        throw fail(examplesEntry.value.sequence?[index], "example \"\(example)\" of '\(intent.key)' is also an example of '\(owner)'")
                    }
                    exampleOwner[key] = intent.key
                }
                if let slotsEntry = fields.first(where: { $0.key == "slots" }) {
                    let names = try strings(slotsEntry.value, "slots of '\(intent.key)'")
                    for (index, name) in names.enumerated() where slotDefinitions[name] == nil {
                        throw fail(slotsEntry.value.sequence?[index], "slots: '\(name)' is not a slot of this flow (declare it under the flow's 'slots')")
                    }
                    intentSlots[intent.key] = names
                }
                intents.append(IntentDefinition(name: intent.key, examples: examples))
            }
            guard !intents.isEmpty else { throw fail(intentsEntry.value, "the flow defines no intents") }
            var dialog: DialogDefinition?
            if let statesEntry = value("states") {
                guard let startEntry = value("start") else { throw fail(statesEntry.keyNode, "a flow with 'states' needs 'start'") }
                let names = Set(intents.map(\.name))
                var built = try self.dialog(states: statesEntry.value, start: startEntry.value, handoff: value("handoff")?.value, intents: names,
                                            slots: slotDefinitions)
                built.intentSlots = intentSlots
                built.topics = topics
                built.confirmations = confirmations
                if let entry = value("services") {
                    for service in try mapping(entry.value, "services") { built.services[service.key] = try string(service.value, "service '\(service.key)'") }
                }
                if let entry = value("frustration") { built.frustration = try strings(entry.value, "frustration") }
                if let entry = value("hangover") { built.hangovers = try hangovers(entry.value, base: TurnHangovers()) }
                for (name, node) in stateHangovers { built.states[name]?.hangovers = try hangovers(node, base: built.hangovers) }
                for (intent, fields, node) in serving {
                    try self.serving(intent, fields: fields, node: node, into: &built, slots: slotDefinitions)
                }
                if let entry = value("after") {
                    let after = try string(entry.value, "after")
                    guard built.states[after] != nil else { throw fail(entry.value, "after: there is no state '\(after)'") }
                    built.after = after
                }
                try checkWebhooks(built, node: statesEntry.keyNode)
                dialog = built
            } else if let first = serving.first {
                throw fail(first.node, "intent '\(first.intent)' says how it is served, but the flow has no 'states' to talk through")
            }
            return FlowDefinition(name: name, description: description, language: language, synonyms: synonyms, intents: intents, source: source,
                                  dialog: dialog)
        }

        // MARK: Dialog

        /// The keys with which an intent says how it is served.
        static let servingKeys = ["answer", "say", "ask", "check", "webhook", "go", "handoff", "end"]

        /// An intent's serving: `ask` (slot: question, in order), `check`, then `answer`/`say`, `webhook`, `go`, `handoff`, `end`.
        func serving(_ intent: String, fields: [(key: String, keyNode: Node, value: Node)], node: Node, into dialog: inout DialogDefinition,
                     slots: [String: SlotDefinition]) throws(FlowError) {
            var service = IntentService(action: DialogAction())
            for field in fields {
                switch field.key {
                case "answer", "say": service.action.say = try string(field.value, field.key)
                case "webhook": service.action.webhook = try webhook(field.value)
                case "handoff": service.action.handoff = try string(field.value, "handoff")
                case "check": service.check = try string(field.value, "check")
                case "go":
                    let target = try string(field.value, "go")
                    guard dialog.states[target] != nil else { throw fail(field.value, "no state '\(target)' to go to") }
                    service.action.goTo = target
                case "end":
                    guard let flag = field.value.bool else { throw fail(field.value, "end must be true or false") }
                    service.action.end = flag
                default:
                    for entry in try mapping(field.value, "ask") {
                        guard let slot = slots[entry.key] else {
                            throw fail(entry.keyNode, "ask: '\(entry.key)' is not a slot of this flow (declare it under the flow's 'slots')")
                        }
                        var item = IntentService.Field(slot: entry.key, prompt: "")
                        if slot.kind == .builtin("digits") { item.search = .digits }
                        if let prompt = entry.value.scalar?.string {
                            item.prompt = prompt
                        } else {
                            let parts = try mapping(entry.value, "ask '\(entry.key)'")
                            try check(parts, allowed: ["prompt", "reprompts", "search"], in: "ask '\(entry.key)'")
                            for part in parts {
                                switch part.key {
                                case "prompt": item.prompt = try string(part.value, "prompt")
                                case "reprompts": item.reprompts = try strings(part.value, "reprompts")
                                default: item.search = try search(part.value)
                                }
                            }
                            guard !item.prompt.isEmpty else { throw fail(entry.keyNode, "ask '\(entry.key)' needs a 'prompt'") }
                        }
                        service.form.append(item)
                    }
                }
            }
            if service.check != nil, service.form.isEmpty { throw fail(node, "intent '\(intent)': 'check' goes with 'ask'") }
            if service.action.goTo != nil, service.action.handoff != nil { throw fail(node, "intent '\(intent)': 'go' and 'handoff' do not go together") }
            // Each question of the form, and its check, is a state of the dialog.
            for item in service.form {
                let name = IntentService.stateName(intent: intent, part: item.slot)
                dialog.states[name] = DialogState(name: name, prompt: item.prompt, search: item.search, reprompts: item.reprompts, ask: item.slot, form: intent)
            }
            if let check = service.check {
                let name = IntentService.stateName(intent: intent, part: "check")
                dialog.states[name] = DialogState(name: name, prompt: check, expects: ["affirm", "deny"], form: intent, isCheck: true)
            }
            dialog.serving[intent] = service
        }

        /// Webhook URLs name only services the flow declares, and are URLs once bound.
        func checkWebhooks(_ dialog: DialogDefinition, node: Node) throws(FlowError) {
            let sample = dialog.binding(services: dialog.services.mapValues { _ in "http://127.0.0.1:1" })
            for url in sample.webhookURLs {
                if let open = url.firstRange(of: "{"), let close = url[open.upperBound...].firstIndex(of: "}") {
                    throw fail(node, "webhook url '\(url)' uses '\(url[open.lowerBound...close])', which is not one of the flow's 'services'")
                }
                guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? "") else {
                    throw fail(node, "webhook url must be http or https, not '\(url)'")
                }
            }
        }

        /// The flow's slots: `name: KIND` (money, number, digits, date, time, yes_no) or
        /// `name: {type: choice, values: {value: [phrases]}}`.
        func slots(_ node: Node) throws(FlowError) -> [String: SlotDefinition] {
            var result: [String: SlotDefinition] = [:]
            let kinds = SlotDefinition.builtinKinds.sorted().joined(separator: ", ")
            for entry in try mapping(node, "slots") {
                // `name: KIND`, or a mapping with `type:` (and `values:` for a choice).
                let kind: String, kindNode: Node
                var fields: [(key: String, keyNode: Node, value: Node)] = []
                if let scalar = entry.value.scalar?.string {
                    (kind, kindNode) = (scalar, entry.value)
                } else {
                    fields = try mapping(entry.value, "slot '\(entry.key)'")
                    try check(fields, allowed: ["type", "values", "marked_by"], in: "slot '\(entry.key)'")
                    guard let typeEntry = fields.first(where: { $0.key == "type" }) else { throw fail(entry.keyNode, "slot '\(entry.key)' needs a 'type'") }
                    (kind, kindNode) = (try string(typeEntry.value, "type"), typeEntry.value)
                }
                let valuesEntry = fields.first(where: { $0.key == "values" })
                if kind == "choice" {
                    guard let valuesEntry else { throw fail(entry.keyNode, "slot '\(entry.key)' of type choice needs 'values'") }
                    var values: [String: [String]] = [:]
                    for value in try mapping(valuesEntry.value, "values of '\(entry.key)'") {
                        values[value.key] = try strings(value.value, "phrases for '\(value.key)'")
                    }
                    guard !values.isEmpty else { throw fail(valuesEntry.value, "slot '\(entry.key)' has no values") }
                    let markers = try fields.first(where: { $0.key == "marked_by" }).map { entry throws(FlowError) in try strings(entry.value, "marked_by") } ?? []
                    result[entry.key] = SlotDefinition(name: entry.key, kind: .choice(values), markers: markers)
                } else {
                    guard SlotDefinition.builtinKinds.contains(kind) else {
                        throw fail(kindNode, "slot '\(entry.key)': unknown type '\(kind)' (expected \(kinds), or {type: choice, values: …})")
                    }
                    if let valuesEntry { throw fail(valuesEntry.keyNode, "only choice slots take 'values'") }
                    result[entry.key] = SlotDefinition(name: entry.key, kind: .builtin(kind))
                }
            }
            return result
        }

        mutating func dialog(states node: Node, start: Node, handoff: Node?, intents: Set<String>, slots: [String: SlotDefinition]) throws(FlowError) -> DialogDefinition {
            var policy = HandoffPolicy()
            if let handoff {
                let fields = try mapping(handoff, "handoff")
                try check(fields, allowed: ["default_queue", "queues", "max_no_match", "max_no_input", "message"], in: "handoff")
                for field in fields {
                    switch field.key {
                    case "default_queue": policy.defaultQueue = try string(field.value, "default_queue")
                    case "message": policy.message = try string(field.value, "message")
                    case "max_no_match": policy.maximumNoMatch = try number(field.value, "max_no_match")
                    case "max_no_input": policy.maximumNoInput = try number(field.value, "max_no_input")
                    default:
                        for queue in try mapping(field.value, "queues") {
                            guard intents.contains(queue.key) else { throw fail(queue.keyNode, "queues: '\(queue.key)' is not an intent of this flow") }
                            policy.queueByIntent[queue.key] = try string(queue.value, "queue of '\(queue.key)'")
                        }
                    }
                }
            }
            var states: [String: DialogState] = [:]
            var targets: [(String, Node)] = []
            for entry in try mapping(node, "states") {
                let fields = try mapping(entry.value, "state '\(entry.key)'")
                try check(fields, allowed: ["prompt", "search", "expect", "reprompt", "reprompts", "no_input", "on", "ask", "next", "hangover"],
                          in: "state '\(entry.key)'")
                var state = DialogState(name: entry.key, prompt: "")
                for field in fields {
                    switch field.key {
                    case "prompt": state.prompt = try string(field.value, "prompt")
                    case "search": state.search = try search(field.value)
                    case "expect":
                        state.expects = try strings(field.value, "expect")
                        for (index, name) in state.expects.enumerated() where !intents.contains(name) {
                            throw fail(field.value.sequence?[index], "expect: '\(name)' is not an intent of this flow")
                        }
                    case "reprompt": state.reprompts = [try string(field.value, "reprompt")]
                    case "reprompts": state.reprompts = try strings(field.value, "reprompts")
                    case "no_input": state.noInput = try string(field.value, "no_input")
                    case "ask":
                        let name = try string(field.value, "ask")
                        guard slots[name] != nil else { throw fail(field.value, "ask: '\(name)' is not a slot of this flow (declare it under the flow's 'slots')") }
                        state.ask = name
                    case "hangover":
                        stateHangovers[entry.key] = field.value
                    case "next":
                        let target = try string(field.value, "next")
                        state.next = target
                        targets.append((target, field.value))
                    default:
                        for transition in try mapping(field.value, "on") {
                            guard intents.contains(transition.key) else {
                                throw fail(transition.keyNode, "on: '\(transition.key)' is not an intent of this flow")
                            }
                            let (action, target) = try self.action(transition.value, intent: transition.key, slots: slots)
                            if let target { targets.append((target, transition.value)) }
                            state.transitions[transition.key] = action
                        }
                    }
                }
                // A state asking for a digits slot (a card or account number) listens for digits unless told otherwise.
                if let ask = state.ask, slots[ask]?.kind == .builtin("digits"), !fields.contains(where: { $0.key == "search" }) { state.search = .digits }
                guard !state.prompt.isEmpty else { throw fail(entry.keyNode, "state '\(entry.key)' needs a 'prompt'") }
                if state.ask != nil, state.next == nil { throw fail(entry.keyNode, "state '\(entry.key)' asks for a slot and needs 'next' (where to go once it is filled)") }
                if state.next != nil, state.ask == nil { throw fail(entry.keyNode, "state '\(entry.key)': 'next' goes with 'ask'; use 'on' for other transitions") }
                states[entry.key] = state
            }
            let startName = try string(start, "start")
            guard states[startName] != nil else { throw fail(start, "start: there is no state '\(startName)'") }
            for (target, node) in targets where states[target] == nil { throw fail(node, "no state '\(target)' to go to") }
            return DialogDefinition(start: startName, states: states, handoff: policy, slots: slots)
        }

        /// `hangover: 0.5` (every case) or `{complete: 0.25, otherwise: 0.4, unfinished: 0.9}` (cases not given keep `base`'s).
        func hangovers(_ node: Node, base: TurnHangovers) throws(FlowError) -> TurnHangovers {
            func seconds(_ node: Node, _ what: String) throws(FlowError) -> Double {
                guard let value = node.float, value >= 0.1, value <= 3 else { throw fail(node, "\(what) must be 0.1 to 3 seconds") }
                return value
            }
            if node.mapping == nil {
                let value = try seconds(node, "hangover")
                return TurnHangovers(complete: value, otherwise: value, unfinished: value)
            }
            let fields = try mapping(node, "hangover")
            try check(fields, allowed: ["complete", "otherwise", "unfinished"], in: "hangover")
            var result = base
            for field in fields {
                let value = try seconds(field.value, "hangover \(field.key)")
                switch field.key {
                case "complete": result.complete = value
                case "otherwise": result.otherwise = value
                default: result.unfinished = value
                }
            }
            return result
        }

        func webhook(_ node: Node) throws(FlowError) -> WebhookCall {
            let fields = try mapping(node, "webhook")
            try check(fields, allowed: ["url", "timeout", "fallback"], in: "webhook")
            guard let urlEntry = fields.first(where: { $0.key == "url" }) else { throw fail(node, "webhook needs a 'url'") }
            let url = try string(urlEntry.value, "url")
            // `{service}/path` is checked once the flow's services are known.
            guard url.hasPrefix("{") || URL(string: url).map({ ["http", "https"].contains($0.scheme ?? "") }) == true else {
                throw fail(urlEntry.value, "webhook url must be http or https, not '\(url)'")
            }
            guard let fallback = fields.first(where: { $0.key == "fallback" }) else { throw fail(node, "webhook needs a spoken 'fallback'") }
            var call = WebhookCall(url: url, fallback: try string(fallback.value, "fallback"))
            if let timeout = fields.first(where: { $0.key == "timeout" }) {
                guard let seconds = timeout.value.float, seconds > 0, seconds <= 30 else { throw fail(timeout.value, "timeout must be 0 to 30 seconds") }
                call.timeout = seconds
            }
            return call
        }

        func search(_ node: Node) throws(FlowError) -> StateSearch {
            let text = try string(node, "search")
            switch text {
            case "domain": return .domain
            case "general": return .general
            case "digits": return .digits
            default:
                let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
                guard parts.count == 2, ["grammar", "keywords"].contains(parts[0]) else {
                    throw fail(node, "search must be domain, general, digits, grammar:FILE or keywords:FILE, not '\(text)'")
                }
                // Relative paths are relative to the flow file.
                let path = parts[1].hasPrefix("/") ? parts[1] : URL(fileURLWithPath: source).deletingLastPathComponent().appendingPathComponent(parts[1]).standardized.path
                guard FileManager.default.fileExists(atPath: path) else { throw fail(node, "search: no such file \(path)") }
                return parts[0] == "grammar" ? .grammar(path: path) : .keywords(path: path)
            }
        }

        /// A transition: a state name, or a mapping of say/go/handoff/end.
        func action(_ node: Node, intent: String, slots: [String: SlotDefinition]) throws(FlowError) -> (DialogAction, String?) {
            if let target = node.scalar?.string { return (DialogAction(goTo: target), target) }
            let fields = try mapping(node, "the action for '\(intent)'")
            try check(fields, allowed: ["say", "go", "handoff", "end", "webhook", "forget"], in: "the action for '\(intent)'")
            var action = DialogAction()
            for field in fields {
                switch field.key {
                case "say": action.say = try string(field.value, "say")
                case "go": action.goTo = try string(field.value, "go")
                case "handoff": action.handoff = try string(field.value, "handoff")
                case "webhook": action.webhook = try webhook(field.value)
                case "forget":
                    action.forget = try strings(field.value, "forget")
                    for (index, name) in action.forget.enumerated() where slots[name] == nil {
                        throw fail(field.value.sequence?[index], "forget: '\(name)' is not a slot of this flow")
                    }
                default:
                    guard let flag = field.value.bool else { throw fail(field.value, "end must be true or false") }
                    action.end = flag
                }
            }
            return (action, action.goTo)
        }
    }
}

// MARK: - Recognizers for a flow

extension PocketSphinxRecognizer {
    /// Adds every search the flow's states use: the domain language model (built or taken from the cache) and
    /// each grammar and keyword list, named as `DialogResponder.recognitionSearch` names them.
    public func prepare(for flow: FlowDefinition, domainModel: DomainModel) throws {
        for (word, phones) in domainModel.pronunciations.sorted(by: { $0.key < $1.key }) where pronunciation(of: word) == nil {
            try addWord(word, phones: phones)
        }
        try addLanguageModel(named: StateSearch.domain.searchName, file: domainModel.path)
        for state in flow.dialog?.states.values.sorted(by: { $0.name < $1.name }) ?? [] {
            switch state.search {
            case .grammar(let path) where !searchNames.contains(state.search.searchName):
                try addGrammar(named: state.search.searchName, file: path)
            case .keywords(let path) where !searchNames.contains(state.search.searchName):
                try addKeywords(named: state.search.searchName, file: path)
            case .digits where !searchNames.contains(state.search.searchName):
                try addGrammar(named: state.search.searchName, jsgf: StateSearch.digitsGrammar)
            default:
                break
            }
        }
    }
}

extension PocketSphinxConfiguration {
    /// This configuration cut down for answering calls on `flow`: the general language model only when a state listens
    /// with it, and a dictionary of just the words the flow's searches can hear (written beside the domain model). A
    /// decoder then costs a few megabytes rather than a hundred, so a server can hold one per caller speaking at once.
    /// Recognition is unchanged: a search only ever hears its own words.
    public func forCalls(on flow: FlowDefinition, domainModel: DomainModel) throws -> PocketSphinxConfiguration {
        let states = flow.dialog?.states.values.map(\.self) ?? []
        if states.contains(where: { $0.search == .general }) { return self }
        var words = try DomainModel.unigrams(arpa: domainModel.path)
        // Grammars and keyword lists: every word-like token (a few extra entries cost nothing).
        func tokens(_ text: String) -> [String] {
            text.lowercased().split(whereSeparator: { !($0.isLetter || $0 == "'") }).map(String.init)
        }
        for state in states {
            switch state.search {
            case .grammar(let path), .keywords(let path): words.formUnion(tokens(try String(contentsOfFile: path, encoding: .utf8)))
            case .digits: words.formUnion(tokens(StateSearch.digitsGrammar))
            case .domain, .general: break
            }
        }
        let text = try String(contentsOfFile: dictionary, encoding: .utf8)
        var kept = ""
        for line in text.split(separator: "\n") {
            guard let head = line.split(separator: " ", maxSplits: 1).first else { continue }
            if words.contains(String(head.split(separator: "(").first ?? head)) { kept += line + "\n" }
        }
        let path = domainModel.path + ".dict"
        if (try? String(contentsOfFile: path, encoding: .utf8)) != kept {
            try Data(kept.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        }
        var trimmed = self
        trimmed.languageModel = nil
        trimmed.dictionary = path
        return trimmed
    }
}
