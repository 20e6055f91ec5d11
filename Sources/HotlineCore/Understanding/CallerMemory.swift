public import Foundation
import Synchronization

// MARK: - Caller memory

/// What the bot remembers about a caller between calls.
public struct CallerRecord: Sendable, Equatable, Codable {
    /// The caller's number, as the gateway gave it.
    public var number: String
    /// What they last called about.
    public var lastTopic: String?
    /// When they last called.
    public var lastCall: Date
    /// Calls so far.
    public var calls: Int
    /// Where the last call ended ("handed to cards", "completed").
    public var lastOutcome: String?
}

/// Links calls from the same number. Implementations must be safe to share between calls.
public protocol CallerMemory: Sendable {
    /// The record for a number, if the caller called before.
    func recall(_ number: String) -> CallerRecord?
    /// Remembers the end of a call.
    func remember(_ number: String, topic: String?, outcome: String?, at date: Date)
}

/// Caller memory in a JSON file (one process; the transcript store will hold it when several nodes share one).
public final class FileCallerMemory: CallerMemory {
    private let path: String
    private let records: Mutex<[String: CallerRecord]>
    /// How long a topic stays worth asking about. Default 7 days.
    public let topicLifetime: TimeInterval
    /// Callers remembered at most: past it, those who called longest ago are forgotten. Default 100 000.
    public let maximumCallers: Int
    /// How long a caller who does not call again is remembered. Default 90 days.
    public let retention: TimeInterval

    /// Opens (or creates on first write) the memory file.
    public init(path: String, topicLifetime: TimeInterval = 7 * 24 * 3600, maximumCallers: Int = 100_000, retention: TimeInterval = 90 * 24 * 3600) {
        self.path = path
        self.topicLifetime = topicLifetime
        self.maximumCallers = maximumCallers
        self.retention = retention
        let loaded = (try? Data(contentsOf: URL(fileURLWithPath: path))).flatMap { try? JSONDecoder.memory.decode([String: CallerRecord].self, from: $0) }
        records = Mutex(loaded ?? [:])
    }

    /// The record, with a topic too old to mention cleared.
    public func recall(_ number: String) -> CallerRecord? {
        let key = FileCallerMemory.key(number)
        guard var record = records.withLock({ $0[key] }) else { return nil }
        if Date().timeIntervalSince(record.lastCall) > topicLifetime { record.lastTopic = nil }
        return record
    }

    /// Stores the call and writes the file.
    public func remember(_ number: String, topic: String?, outcome: String?, at date: Date = Date()) {
        let key = FileCallerMemory.key(number)
        let snapshot = records.withLock { records -> [String: CallerRecord] in
            var record = records[key] ?? CallerRecord(number: key, lastTopic: nil, lastCall: date, calls: 0, lastOutcome: nil)
            record.calls += 1
            record.lastCall = date
            record.lastTopic = topic ?? record.lastTopic
            record.lastOutcome = outcome
            records[key] = record
            if records.count > maximumCallers + maximumCallers / 10 || records.count % 1_000 == 0 {
                // Forgets callers past the retention, then the longest ago until the cap holds (in batches).
                let cutoff = date.addingTimeInterval(-retention)
                records = records.filter { $0.value.lastCall >= cutoff }
                if records.count > maximumCallers {
                    records = Dictionary(uniqueKeysWithValues: records.sorted { $0.value.lastCall > $1.value.lastCall }.prefix(maximumCallers).map { ($0.key, $0.value) })
                }
            }
            return records
        }
        if let data = try? JSONEncoder.memory.encode(snapshot) {
            try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try? data.write(to: URL(fileURLWithPath: path), options: .atomic)
        }
    }

    /// Callers remembered now.
    public var count: Int { records.withLock { $0.count } }

    /// Digits only, so "+1 (555) 010-0199" and "15550100199" are one caller.
    static func key(_ number: String) -> String { String(number.filter(\.isNumber)) }
}

extension JSONEncoder {
    fileprivate static var memory: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return encoder
    }
}

extension JSONDecoder {
    fileprivate static var memory: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
