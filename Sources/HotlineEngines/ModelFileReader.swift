import Foundation
public import HotlineCore
import Yams

/// Reads a YAML model file (flow, QA rules) as a node tree, so every problem names its file, line and column.
protocol ModelFileReader {
    /// The file name used in errors.
    var source: String { get }
}

extension ModelFileReader {
    /// Parses YAML text into its root node; syntax errors carry their position.
    static func root(of text: String, source: String) throws(FlowError) -> Node {
        do {
            guard let node = try Yams.compose(yaml: text) else { throw FlowError(file: source, line: 1, column: 1, problem: "the file is empty") }
            return node
        } catch let error as FlowError {
            throw error
        } catch let error as YamlError {
            throw syntaxError(error, source: source)
        } catch {
            throw FlowError(file: source, line: 0, column: 0, problem: "not valid YAML: \(error)")
        }
    }

    /// Reads a file's text, or names why it cannot be read.
    static func text(of path: String) throws(FlowError) -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw FlowError(file: path, line: 0, column: 0, problem: FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "no such file")
        }
    }

    private static func syntaxError(_ error: YamlError, source: String) -> FlowError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _):
            return FlowError(file: source, line: mark.line, column: mark.column, problem: "YAML syntax: \(problem)")
        case .composer(_, let problem, let mark, _):
            return FlowError(file: source, line: mark.line, column: mark.column, problem: "YAML: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            return FlowError(file: source, line: context.mark.line, column: context.mark.column, problem: "\(keys) appears twice in the same mapping")
        default:
            return FlowError(file: source, line: 0, column: 0, problem: "YAML: \(error)")
        }
    }

    func fail(_ node: Node?, _ problem: String) -> FlowError {
        FlowError(file: source, line: node?.mark?.line ?? 0, column: node?.mark?.column ?? 0, problem: problem)
    }

    func mapping(_ node: Node, _ what: String) throws(FlowError) -> [(key: String, keyNode: Node, value: Node)] {
        // Duplicate keys are already rejected by the YAML composer.
        guard let mapping = node.mapping else { throw fail(node, "\(what) must be a mapping of keys to values") }
        var result: [(key: String, keyNode: Node, value: Node)] = []
        for (key, value) in mapping {
            guard let name = key.string else { throw fail(key, "\(what): keys must be text") }
            result.append((name, key, value))
        }
        return result
    }

    func string(_ node: Node, _ what: String) throws(FlowError) -> String {
        guard let scalar = node.scalar else { throw fail(node, "\(what) must be text") }
        return scalar.string
    }

    func strings(_ node: Node, _ what: String) throws(FlowError) -> [String] {
        guard let sequence = node.sequence else { throw fail(node, "\(what) must be a list") }
        var result: [String] = []
        for item in sequence {
            let value = try string(item, "each of \(what)").trimmingCharacters(in: .whitespaces)
            guard !value.isEmpty else { throw fail(item, "\(what): empty entry") }
            result.append(value)
        }
        return result
    }

    func check(_ entries: [(key: String, keyNode: Node, value: Node)], allowed: [String], in what: String) throws(FlowError) {
        for entry in entries where !allowed.contains(entry.key) {
            throw fail(entry.keyNode, "unknown key '\(entry.key)' in \(what) (expected one of: \(allowed.joined(separator: ", ")))")
        }
    }

    func number(_ node: Node, _ what: String) throws(FlowError) -> Int {
        guard let value = node.int, value > 0 else { throw fail(node, "\(what) must be a positive whole number") }
        return value
    }

    func seconds(_ node: Node, _ what: String) throws(FlowError) -> Double {
        guard let value = node.float, value >= 0 else { throw fail(node, "\(what) must be a number of seconds, 0 or more") }
        return value
    }
}
