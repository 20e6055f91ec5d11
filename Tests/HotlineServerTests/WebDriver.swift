import Foundation
import NIOCore
import NIOPosix

/// A W3C WebDriver client for Debian's chromedriver driving headless Chromium: enough to log in, click, type, run
/// script and take screenshots in the QA page tests.
final class Browser: Sendable {
    let driver: Process
    let base: String
    let session: String

    static let chromedriver = "/usr/bin/chromedriver"
    static var available: Bool { FileManager.default.isExecutableFile(atPath: chromedriver) && FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") }

    /// Starts chromedriver on a free port and opens a headless Chromium session.
    static func start() async throws -> Browser {
        let port = Int.random(in: 20_000...40_000)
        let driver = Process()
        driver.executableURL = URL(fileURLWithPath: chromedriver)
        driver.arguments = ["--port=\(port)"]
        driver.standardOutput = FileHandle.nullDevice
        driver.standardError = FileHandle.nullDevice
        try driver.run()
        let base = "http://127.0.0.1:\(port)"
        for _ in 0..<100 {
            if let status = try? await call(base, "GET", "/status"), (status["ready"] as? Bool) == true { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let capabilities: [String: Any] = ["capabilities": ["alwaysMatch": [
            "browserName": "chrome",
            "goog:chromeOptions": ["binary": "/usr/bin/chromium",
                                   "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000",
                                            "--autoplay-policy=no-user-gesture-required", "--mute-audio"]],
        ]]]
        do {
            let created = try await call(base, "POST", "/session", capabilities)
            guard let id = (created["value"] as? [String: Any])?["sessionId"] as? String else { throw WebDriverError(message: "no session: \(created)") }
            return Browser(driver: driver, base: base, session: id)
        } catch {
            kill(driver.processIdentifier, SIGKILL)
            throw error
        }
    }

    private init(driver: Process, base: String, session: String) {
        self.driver = driver
        self.base = base
        self.session = session
    }

    func quit() async {
        _ = try? await Self.call(base, "DELETE", "/session/\(session)")
        // chromedriver outlives SIGTERM here; Process.waitUntilExit spins in an async context: kill and poll.
        kill(driver.processIdentifier, SIGKILL)
        for _ in 0..<50 where driver.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
    }

    func go(_ url: String) async throws { _ = try await command("POST", "/url", ["url": url]) }

    var url: String { get async throws { try await command("GET", "/url") as? String ?? "" } }

    /// Runs JavaScript in the page and returns its result.
    @discardableResult
    func run(_ script: String, _ arguments: [Any] = []) async throws -> Any? { try await command("POST", "/execute/sync", ["script": script, "args": arguments]) }

    /// Runs `condition` (a JavaScript expression) until it is truthy.
    func wait(_ condition: String, timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let value = try await run("return !!(\(condition));") as? Bool, value { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw WebDriverError(message: "timed out waiting for \(condition) on \(try await url)")
    }

    func element(_ selector: String) async throws -> String {
        let found = try await command("POST", "/element", ["using": "css selector", "value": selector]) as? [String: Any]
        guard let id = found?.values.first as? String else { throw WebDriverError(message: "no element \(selector)") }
        return id
    }

    func click(_ selector: String) async throws { _ = try await command("POST", "/element/\(try await element(selector))/click", [:]) }

    /// Clicks `selector`, which submits a form or follows a link, and waits until the next page has loaded: a new
    /// document, since the old one may still show what the next check looks for (an error from the last attempt).
    func clickAndLoad(_ selector: String) async throws {
        try await run("window.hotlineLeaving = true;")
        try await click(selector)
        try await wait("!window.hotlineLeaving && document.readyState === 'complete'")
    }

    func type(_ text: String, into selector: String) async throws {
        let id = try await element(selector)
        _ = try await command("POST", "/element/\(id)/clear", [:])
        _ = try await command("POST", "/element/\(id)/value", ["text": text])
    }

    /// Saves a PNG of the window.
    func screenshot(_ path: String) async throws {
        guard let base64 = try await command("GET", "/screenshot") as? String, let data = Data(base64Encoded: base64) else {
            throw WebDriverError(message: "no screenshot")
        }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: path))
    }

    private func command(_ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> Any? {
        try await Self.call(base, method, "/session/\(session)\(path)", body)["value"]
    }

    @discardableResult
    private static func call(_ base: String, _ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> [String: Any] {
        let data = try await rawRequest(base, method, path, body: try body.map { try JSONSerialization.data(withJSONObject: $0) })
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        if let value = object["value"] as? [String: Any], let error = value["error"] as? String {
            throw WebDriverError(message: "\(method) \(path): \(error): \(value["message"] as? String ?? "")")
        }
        return path == "/status" ? (object["value"] as? [String: Any] ?? [:]) : object
    }
}

/// One HTTP/1.1 exchange over a fresh connection. chromedriver writes headers without the space after the colon,
/// which FoundationNetworking's parser rejects, so the tests speak HTTP to it directly.
private func rawRequest(_ base: String, _ method: String, _ path: String, body: Data?) async throws -> Data {
    let url = URL(string: base)!
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: url.host!, port: url.port!) { channel in
        channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
    }
    var response = ByteBuffer()
    try await channel.executeThenClose { inbound, outbound in
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(url.host!):\(url.port!)\r\nConnection: close\r\nContent-Length: \(body?.count ?? 0)\r\n"
        if body != nil { head += "Content-Type: application/json\r\n" }
        var request = ByteBuffer(string: head + "\r\n")
        if let body { request.writeBytes(body) }
        try await outbound.write(request)
        for try await var chunk in inbound {
            response.writeBuffer(&chunk)
            if isComplete(Data(response.readableBytesView)) { break }  // chromedriver keeps the connection open
        }
    }
    let text = Data(response.readableBytesView)
    guard let split = text.range(of: Data("\r\n\r\n".utf8)) else { throw WebDriverError(message: "\(method) \(path): no HTTP response") }
    let headers = String(decoding: text[..<split.lowerBound], as: UTF8.self)
    var payload = Data(text[split.upperBound...])
    if headers.lowercased().contains("transfer-encoding:chunked") || headers.lowercased().contains("transfer-encoding: chunked") {
        payload = dechunk(payload)
    }
    return payload
}

/// Whether a response is all there: its Content-Length of body after the headers, or the final chunk.
private func isComplete(_ data: Data) -> Bool {
    guard let split = data.range(of: Data("\r\n\r\n".utf8)) else { return false }
    let headers = String(decoding: data[..<split.lowerBound], as: UTF8.self).lowercased()
    for line in headers.split(separator: "\r\n") where line.hasPrefix("content-length:") {
        let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
        return data.count - split.upperBound >= length
    }
    if headers.contains("chunked") { return data.suffix(5) == Data("0\r\n\r\n".utf8) }
    return false
}

private func dechunk(_ data: Data) -> Data {
    var output = Data()
    var rest = data[...]
    while let line = rest.range(of: Data("\r\n".utf8)), let size = Int(String(decoding: rest[..<line.lowerBound], as: UTF8.self), radix: 16), size > 0 {
        let start = line.upperBound
        output += rest[start..<start + size]
        rest = rest[(start + size + 2)...]
    }
    return output
}

struct WebDriverError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
