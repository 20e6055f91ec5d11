import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// `hotline serve` as a user runs it: a config file, the REST API with real engines, metrics, SIGTERM.
@Suite(.serialized) struct ServeCommandTests {
    static let admin = "admin-key-0123456789abcdef"
    static let gateway = "gateway-key-0123456789abcd"

    struct Server {
        let process: Process
        let port: Int

        func request(_ method: String, _ path: String, key: String? = ServeCommandTests.gateway, body: Data? = nil,
                     contentType: String = "application/json") async throws -> (Int, Data, [AnyHashable: Any]) {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
            request.httpMethod = method
            request.httpBody = body
            request.timeoutInterval = 120
            request.setValue(contentType, forHTTPHeaderField: "Content-Type")
            if let key { request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization") }
            let (data, response) = try await URLSession.shared.data(for: request)
            let http = response as! HTTPURLResponse
            return (http.statusCode, data, http.allHeaderFields)
        }

        func json(_ data: Data) throws -> [String: Any] { try JSONSerialization.jsonObject(with: data) as! [String: Any] }
    }

    /// Starts `hotline serve` with a config file and waits for its ports file.
    static func start() async throws -> Server {
        let directory = try CLI.temporaryDirectory()
        let config = directory + "/hotline.yaml"
        try """
            http:
              port: 0
            audiosocket:
              enabled: false
            auth:
              keys:
                - name: ops
                  key: \(admin)
                  roles: [admin]
                - name: ivr
                  key_env: TEST_GATEWAY_KEY
                  roles: [gateway]
            calls:
              recognizers: 1
              shutdown_grace: 2
              continuation_window: 0.8
              answer_during_hangover: true
            transcription:
              synchronous_seconds: 5
            store:
              url: sqlite:\(directory)/calls.sqlite
            log:
              level: warning
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.executable)
        process.arguments = ["serve", "--config", config, "--ports-file", directory + "/ports.json"]
        process.environment = ProcessInfo.processInfo.environment.merging(["TEST_GATEWAY_KEY": gateway]) { $1 }
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        var port: Int?
        for _ in 0..<600 where port == nil && process.isRunning {
            if let data = FileManager.default.contents(atPath: directory + "/ports.json"),
               let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] { port = object["http"] as? Int }
            try await Task.sleep(for: .milliseconds(100))
        }
        guard let port else {
            process.terminate()
            throw CLIFailure(description: "hotline serve did not start")
        }
        return Server(process: process, port: port)
    }

    @Test func restAPI() async throws {
        let server = try await Self.start()
        do {
            try await exercise(server)
        } catch {
            server.process.terminate()
            throw error
        }
        // SIGTERM: a graceful exit with status 0.
        server.process.terminate()
        for _ in 0..<300 where server.process.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!server.process.isRunning, "hotline serve exits on SIGTERM")
        if !server.process.isRunning { #expect(server.process.terminationStatus == 0) }
    }

    func exercise(_ server: Server) async throws {
        do {
            // Transcribe a short upload in the request.
            let wav = try Data(contentsOf: URL(fileURLWithPath: CLI.data + "/librivox/sense_and_sensibility_01_austen_64kb-0880.wav"))
            let (status, data, _) = try await server.request("POST", "/v1/transcriptions?name=sentence.wav", body: wav, contentType: "audio/wav")
            #expect(status == 200)
            let transcript = try server.json(data)
            #expect(transcript["schema"] as? String == "hotline.transcript/1")
            let text = ((transcript["utterances"] as? [[String: Any]]) ?? []).compactMap { $0["text"] as? String }.joined(separator: " ")
            #expect(text.contains("marriage") || text.contains("daughter") || text.split(separator: " ").count > 5, "\(text)")

            // A long upload (over transcription.synchronous_seconds) becomes a job.
            let tenSeconds = try Data(contentsOf: URL(fileURLWithPath: CLI.data + "/goforward.raw"))
            let (jobStatus, jobData, headers) = try await server.request("POST", "/v1/transcriptions?name=long.raw",
                                                                         body: tenSeconds + tenSeconds + tenSeconds, contentType: "application/octet-stream")
            #expect(jobStatus == 202)
            let location = headers["Location"] as? String ?? ""
            #expect(location.hasPrefix("/v1/transcriptions/"))
            var job = try server.json(jobData)
            for _ in 0..<200 where job["status"] as? String != "done" && job["status"] as? String != "failed" {
                try await Task.sleep(for: .milliseconds(100))
                job = try server.json(try await server.request("GET", location).1)
            }
            #expect(job["status"] as? String == "done", "\(job)")

            // Not audio: a clear 422.
            let (badStatus, badData, _) = try await server.request("POST", "/v1/transcriptions?name=notes.wav", body: Data("hello".utf8))
            #expect(badStatus == 422)
            #expect(String(decoding: badData, as: UTF8.self).contains("notes.wav"))

            // A PBX pushes recorded calls: a short one is answered once stored, a long one (over synchronous_seconds) is
            // a job, the same recording again is found by its content, and what is not audio is named.
            let short = try Data(contentsOf: URL(fileURLWithPath: CLI.data + "/cards/001.wav"))
            let (shortStatus, shortData, shortHeaders) = try await server.request("POST", "/v1/qa/recordings?name=001.wav&agent=Rob&queue=cards",
                                                                                  body: short, contentType: "audio/wav")
            #expect(shortStatus == 201, "\(String(decoding: shortData, as: UTF8.self))")
            let shortImport = try server.json(shortData)
            let shortId = shortImport["callId"] as? String ?? ""
            #expect(shortId.hasPrefix("rec-") && shortImport["status"] as? String == "done" && shortImport["agent"] as? String == "Rob")
            #expect(shortHeaders["Location"] as? String == "/v1/qa/calls/\(shortId)")
            let (againStatus, againData, _) = try await server.request("POST", "/v1/qa/recordings?name=copy.wav", body: short, contentType: "audio/wav")
            let again = try server.json(againData)
            #expect(againStatus == 200 && again["already"] as? Bool == true && again["callId"] as? String == shortId)
            let rude = try Data(contentsOf: URL(fileURLWithPath: QAImportTests.fixtures + "/rude-agent.wav"))
            let (longStatus, longData, longHeaders) = try await server.request("POST", "/v1/qa/recordings?name=rude.wav&agent=Rob&started_at=2026-11-20T09:30:00Z",
                                                                               body: rude, contentType: "audio/wav")
            #expect(longStatus == 202, "\(String(decoding: longData, as: UTF8.self))")
            let following = longHeaders["Location"] as? String ?? ""
            #expect(following.hasPrefix("/v1/qa/recordings/rec-"))
            var pushed = try server.json(longData)
            for _ in 0..<600 where pushed["status"] as? String == "running" {
                try await Task.sleep(for: .milliseconds(100))
                pushed = try server.json(try await server.request("GET", following).1)
            }
            #expect(pushed["status"] as? String == "done", "\(pushed)")
            #expect((pushed["findings"] as? [String] ?? []).contains("agent_rude"), "\(pushed)")
            let (listStatus, listData, _) = try await server.request("GET", "/v1/qa/calls?agent=Rob&order=risk", key: Self.admin)
            #expect(listStatus == 200)
            let list = try server.json(listData)
            let listed = (list["calls"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            #expect(listed == [pushed["callId"] as? String ?? "", shortId], "the rude call first: \(listed)")
            let (notAudio, notAudioData, _) = try await server.request("POST", "/v1/qa/recordings?name=notes.wav", body: Data("hello".utf8))
            #expect(notAudio == 422 && String(decoding: notAudioData, as: UTF8.self).contains("notes.wav"))

            // Synthesis returns a WAV.
            let (sayStatus, audio, _) = try await server.request("POST", "/v1/synthesize",
                                                                 body: Data(#"{"text":"Your card is blocked.","sample_rate":8000}"#.utf8))
            #expect(sayStatus == 200)
            #expect(audio.prefix(4) == Data("RIFF".utf8))
            #expect(audio.count > 8_000)

            // Chat runs the bank flow.
            let (chatStatus, chatData, _) = try await server.request("POST", "/v1/chat", body: Data(#"{"text":"I lost my debit card"}"#.utf8))
            #expect(chatStatus == 200)
            let chat = try server.json(chatData)
            #expect(chat["intent"] as? String == "lost_card")
            let session = chat["session"] as? String ?? ""
            let (_, nextData, _) = try await server.request("POST", "/v1/chat", body: Data(#"{"session":"\#(session)","text":"I want to talk to a person"}"#.utf8))
            let next = try server.json(nextData)
            #expect(next["ended"] as? Bool == true)
            #expect((next["handoff"] as? [String: Any])?["queue"] != nil)

            // Metrics: admin only, Prometheus text.
            #expect(try await server.request("GET", "/metrics").0 == 403)
            let (metricsStatus, metrics, _) = try await server.request("GET", "/metrics", key: Self.admin)
            #expect(metricsStatus == 200)
            let exposition = String(decoding: metrics, as: UTF8.self)
            #expect(exposition.contains("hotline_recognizers 1"))
            for metric in ["hotline_store_available 1", "hotline_store_queue_depth 0", "hotline_store_write_failures_total 0",
                           "hotline_store_dropped_writes_total 0"] {
                #expect(exposition.contains(metric), "store metrics are there from the start: \(metric)")
            }
        }
    }
}

struct CLIFailure: Error, CustomStringConvertible {
    let description: String
}
