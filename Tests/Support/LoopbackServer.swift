import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A small HTTP server on loopback standing in for a bank's systems behind a flow's webhooks: every request is
/// answered with `body` (or never answered when `body` is nil, like a hung server). Requests are kept, in order.
public final class LoopbackServer: @unchecked Sendable {
    public let port: UInt16
    private let socket: Int32
    private let body: String?
    private let lock = NSLock()
    private var received: [String] = []
    private var closed = false

    public init(body: String?) throws {
        self.body = body
        let listener = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } }
        listen(listener, 16)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        socket = listener
        port = UInt16(bigEndian: address.sin_port)
        Thread { [self] in serve() }.start()
    }

    /// Every request so far (head and body), oldest first.
    public var requests: [String] { lock.withLock { received } }
    /// The latest request, or "".
    public var lastRequest: String { requests.last ?? "" }

    private func serve() {
        while true {
            let client = accept(socket, nil, nil)
            guard client >= 0, !lock.withLock({ closed }) else { return }
            Thread { [self] in answer(client) }.start()
        }
    }

    private func answer(_ client: Int32) {
        // Read the head, then as much body as Content-Length says (they may come in separate reads).
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(client, &buffer, buffer.count)
            if count <= 0 { break }
            bytes += buffer.prefix(count)
            let text = String(decoding: bytes, as: UTF8.self)
            guard let headEnd = text.range(of: "\r\n\r\n") else { continue }
            let length = text.components(separatedBy: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
            if text[headEnd.upperBound...].utf8.count >= length { break }
        }
        lock.withLock { received.append(String(decoding: bytes, as: UTF8.self)) }
        guard let body else {
            sleep(10)  // a server that never answers
            close(client)
            return
        }
        let response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        _ = response.withCString { write(client, $0, strlen($0)) }
        close(client)
    }

    deinit {
        lock.withLock { closed = true }
        shutdown(socket, Int32(SHUT_RDWR))
        close(socket)
    }
}
