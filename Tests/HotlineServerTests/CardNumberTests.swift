import Foundation
import HotlineCore
import HotlineEngines
import HotlineServer
import HotlineStore
import HotlineTestSupport
import Synchronization
import Testing

/// A caller reads a card number aloud at the bank bot's greeting (natural voices, through the 8 kHz μ-law telephone
/// channel, into `hotline serve` with the bank flow): whatever the recognizer made of it, no run of digits longer than
/// the last four is readable in the store, on the live feed or in the log, and the call has a sensitive_data finding.
@Suite(.serialized) struct CardNumberTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fixtures/cards").standardized.path

    /// The reading as the caller's phone sends it: 8 kHz μ-law through the channel, as 20 ms linear frames.
    static func frames(_ name: String) throws -> [[UInt8]] {
        let reader = try SndFileAudioDecoder().open(.file(path: "\(fixtures)/\(name).wav"))
        let samples = try reader.readAll()
        let phone = TelephoneChannel.decode(TelephoneChannel.encode(samples, from: reader.info.sampleRate), to: 8_000)
        let bytes = CallAudioFormat.linear8k.encode([Float](repeating: 0, count: 4_000) + phone + [Float](repeating: 0, count: 8_000))
        let size = CallAudioFormat.linear8k.bytes(forSeconds: 0.02)
        return stride(from: 0, to: bytes.count, by: size).map { Array(bytes[$0..<min($0 + size, bytes.count)]) }
    }

    /// The most digits readable in a row: digit words and written digits, whatever lies between them that is not a word.
    static func readableDigits(_ text: String) -> Int {
        let names: Set<String> = ["zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
        var longest = 0
        var run = 0
        for word in TextNormalizer.words(text) {
            if !word.isEmpty, word.allSatisfy(\.isNumber) { run += word.count } else if names.contains(word) { run += 1 } else { run = 0 }
            longest = max(longest, run)
        }
        return longest
    }

    /// The most digit words in a row.
    static func readableSpokenDigits(_ text: String) -> Int {
        let names: Set<String> = ["zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
        var longest = 0
        var run = 0
        for word in TextNormalizer.words(text) {
            run = names.contains(word) ? run + 1 : 0
            longest = max(longest, run)
        }
        return longest
    }

    @Test(arguments: ["hibari-heart", "festival-ked"]) func spokenCardNumberIsNeverReadable(voice: String) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hotline-cards-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let node = try await ServeNode.start("cards", directory: directory, logLevel: "debug",
                                             store: #"{url: "sqlite:\#(directory)/calls.sqlite", node: cards}"#)
        defer { if node.process.isRunning { kill(node.process.processIdentifier, SIGKILL) } }
        let shown = Mutex<[String]>([])
        let feed = LiveFeedClient(port: node.http, key: ServeNode.key) { event in
            guard let line = event.utterance else { return }
            shown.withLock { $0 += [line.text, line.words.map(\.word).joined(separator: " ")] }
        }
        try await feed.wait(for: ": connected")
        let call = OpenCall(port: node.audioSocket, speakAtOnce: false, frames: try Self.frames(voice))
        try await feed.wait(for: #""speaker":"bot""#)  // the greeting
        try await Task.sleep(for: .seconds(4))
        call.speak()
        try await node.until("the caller's line on the feed", timeout: .seconds(60)) { feed.text.contains(#""speaker":"caller""#) }
        try await Task.sleep(for: .seconds(3))
        try await call.end()

        let store = try SQLiteTranscriptStore(path: "\(directory)/calls.sqlite")
        var detail: CallDetail?
        try await node.until("the call stored as ended") {
            detail = try await store.detail(of: call.id)
            return detail.map { $0.call.status != .live } ?? false
        }
        let stored = try #require(detail)
        let caller = stored.utterances.filter { $0.speaker == "caller" }
        #expect(!caller.isEmpty)
        #expect(stored.findings.contains { $0.rule == "sensitive_data" }, "the reading raised sensitive_data: \(caller.map(\.text))")
        #expect(caller.contains { $0.text.contains("*") }, "the number was masked: \(caller.map(\.text))")
        var texts = stored.utterances.flatMap { [$0.text, $0.words.map(\.word).joined(separator: " "), $0.search ?? ""] }
        texts += stored.events.map(\.detail) + stored.findings.map(\.message) + [stored.call.handoffSummary ?? ""] + stored.call.errors
        for text in texts { #expect(Self.readableDigits(text) <= 4, "stored: \(text)") }
        for text in shown.withLock({ $0 }) { #expect(Self.readableDigits(text) <= 4, "on the feed: \(text)") }
        try await node.stop()
        let log = try String(contentsOfFile: node.log, encoding: .utf8)
        #expect(!log.contains(ServeNode.key), "no key is logged, not even at debug")
        // Spoken digits, or 8 written ones in a row outside call ids (addresses, ports and times are not numbers read out).
        let uuid = #/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/#
        for line in log.split(separator: "\n") {
            let text = String(line.drop { $0 != " " }).replacing(uuid, with: "id")
            #expect(Self.readableSpokenDigits(text) <= 4 && text.firstMatch(of: #/[0-9]{8,}/#) == nil, "logged: \(line)")
        }
        try await store.close()
    }
}
