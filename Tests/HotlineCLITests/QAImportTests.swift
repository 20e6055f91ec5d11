import Foundation
import HotlineCore
import HotlineTestSupport
import Testing

/// `hotline qa import` on the scripted agent calls of Tests/Fixtures/agent-calls (two voices, 8 kHz μ-law stereo).
@Suite(.serialized) struct QAImportTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fixtures/agent-calls").standardized.path

    /// calls.tsv: file → the rules it was written to break.
    static func labels() throws -> [String: Set<String>] {
        let rows = try String(contentsOfFile: fixtures + "/calls.tsv", encoding: .utf8).split(separator: "\n").dropFirst()
        var result: [String: Set<String>] = [:]
        for row in rows {
            let fields = row.split(separator: "\t", omittingEmptySubsequences: false)
            result[String(fields[0])] = Set(fields[1].split(separator: " ").map(String.init))
        }
        return result
    }

    struct Line: Decodable {
        var file: String
        var call_id: String?
        var agent: String?
        var score: Int?
        var findings: [String]?
        var already: Bool?
        var error: String?
    }

    static func lines(_ stdout: String) throws -> [Line] {
        try stdout.split(separator: "\n").map { try JSONDecoder().decode(Line.self, from: Data($0.utf8)) }
    }

    @Test func agentsCallsAreScoredByTheRulesTheyBreakAndImportedOnce() async throws {
        let directory = try CLI.temporaryDirectory()
        let store = "sqlite:\(directory)/calls.sqlite"
        let corrupt = directory + "/corrupt.wav"
        try Data("RIFF....WAVEfmt garbage".utf8).write(to: URL(fileURLWithPath: corrupt))
        let result = try await CLI.run(["qa", "import", "--json", "--agent", "Sarah", "--store", store, Self.fixtures, corrupt])
        #expect(result.status == 1, "a file that cannot be read fails the run: \(result.stderr)")
        #expect(result.stderr.contains("error: \(corrupt): "), "the bad file is named: \(result.stderr)")
        #expect(result.stderr.contains("4 imported") && result.stderr.contains("1 failed"))
        let lines = try Self.lines(result.stdout)
        #expect(lines.count == 5)
        #expect(lines.first { $0.file == corrupt }?.error != nil)

        let labels = try Self.labels()
        #expect(labels.count == 4)
        var clean: [Int] = []
        var breaking: [Int] = []
        for (file, broken) in labels {
            let line = try #require(lines.first { $0.file.hasSuffix("/" + file) }, "\(file) imported")
            let score = try #require(line.score)
            let findings = Set(line.findings ?? [])
            #expect(line.agent == "Sarah" && line.call_id?.hasPrefix("rec-") == true)
            // Each rule fires on the call written to break it, and no rule on a call that follows them all.
            #expect(findings == broken, "\(file): \(findings.sorted()) against \(broken.sorted())")
            if broken.isEmpty { clean.append(score) } else { breaking.append(score) }
        }
        #expect(clean.count == 2 && breaking.count == 2)
        #expect(clean.min()! > breaking.max()!, "every rule-breaking call scores below every clean one: \(clean) \(breaking)")

        // The call holds both speakers' lines and the recording.
        let id = try #require(lines.first { $0.file.hasSuffix("/clean-card.wav") }?.call_id)
        let show = try await CLI.run(["qa", "show", "--store", store, id])
        #expect(show.status == 0, "\(show.stderr)")
        #expect(show.stdout.contains("(recording,") && show.stdout.contains("completed"))
        #expect(show.stdout.contains(" agent ") && show.stdout.contains(" caller "))
        #expect(show.stdout.contains("agent: Sarah"))

        // The same recordings again: nothing new, nothing decoded.
        let again = try await CLI.run(["qa", "import", "--json", "--store", store, Self.fixtures])
        #expect(again.status == 0, "\(again.stderr)")
        let second = try Self.lines(again.stdout)
        #expect(second.count == 4 && second.allSatisfy { $0.already == true })
        #expect(Set(second.compactMap(\.call_id)) == Set(lines.compactMap(\.call_id)))
        let list = try await CLI.run(["qa", "list", "--store", store, "--agent", "Sarah"])
        #expect(list.status == 0 && list.stdout.components(separatedBy: "rec-").count - 1 == 4, "\(list.stdout)")
    }

    @Test func metadataNamesTheAgentQueueAndStartAndAMonoRecordingIsNotJudgedBySpeaker() async throws {
        let directory = try CLI.temporaryDirectory()
        let store = "sqlite:\(directory)/calls.sqlite"
        let csv = directory + "/calls.csv"
        try "file,agent,queue,caller,started_at\nrude-agent.wav,Rob,billing,+15550123,2026-11-20T09:30:00Z\n"
            .write(toFile: csv, atomically: true, encoding: .utf8)
        // A mono recording (one of pocketsphinx-testdata's): one speaker, `mixed`.
        let result = try await CLI.run(["qa", "import", "--json", "--metadata", csv, "--store", store, Self.fixtures + "/rude-agent.wav",
                                        CLI.data + "/cards/001.wav"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = try Self.lines(result.stdout)
        let rude = try #require(lines.first { $0.file.hasSuffix("rude-agent.wav") })
        #expect(rude.agent == "Rob")
        let mono = try #require(lines.first { $0.file.hasSuffix("001.wav") })
        #expect(mono.agent == nil && mono.findings == [] && mono.score == 100, "no speaker-scoped rule judges a mixed recording")
        let show = try await CLI.run(["qa", "show", "--store", store, try #require(rude.call_id)])
        #expect(show.stdout.contains("2026-11-20T09:30:00") && show.stdout.contains("+15550123") && show.stdout.contains("billing"), "\(show.stdout)")
        let monoShow = try await CLI.run(["qa", "show", "--store", store, try #require(mono.call_id)])
        #expect(monoShow.stdout.contains(" mixed "), "\(monoShow.stdout)")

        try "file,agent,team\nx.wav,a,b\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let bad = try await CLI.run(["qa", "import", "--metadata", csv, "--store", store, Self.fixtures])
        #expect(bad.status != 0 && bad.stderr.contains("calls.csv:1: unknown column 'team'"), "\(bad.stderr)")
    }
}
