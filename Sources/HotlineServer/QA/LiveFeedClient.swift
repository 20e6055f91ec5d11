public import Foundation
import HotlineCore
import NIOCore
import NIOPosix
import Synchronization

/// A viewer of the live QA feed (`GET /v1/qa/feed`) over a plain HTTP/1.1 connection, as a browser's EventSource reads
/// it: for the load generator and the tests. Each event is decoded and handed to `onEvent`; `text` keeps everything
/// received (de-chunked).
public final class LiveFeedClient: Sendable {
    private final class State: Sendable {
        let text = Mutex("")
        let live = Mutex<[String: CallRecord]>([:])

        /// Keeps the live list as a viewer's page does: a snapshot replaces it; calls start and end.
        func apply(_ event: FeedEvent) {
            live.withLock { live in
                switch event.kind {
                case .snapshot: live = Dictionary((event.calls ?? []).map { ($0.id, $0) }, uniquingKeysWith: { $1 })
                case .callStarted: if let call = event.call { live[call.id] = call }
                case .callUpdated: if let call = event.call, live[call.id] != nil { live[call.id] = call }
                case .callEnded: live[event.callId] = nil
                default: break
                }
            }
        }
    }

    private let task: Task<Void, any Error>
    private let state = State()

    /// Connects to `host:port` with the API key `key`.
    public init(host: String = "127.0.0.1", port: Int, key: String, onEvent: @escaping @Sendable (FeedEvent) -> Void = { _ in }) {
        let state = state
        task = Task {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
            try await channel.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: "GET /v1/qa/feed HTTP/1.1\r\nHost: \(host)\r\nAccept: text/event-stream\r\nAuthorization: Bearer \(key)\r\n\r\n"))
                var reader = EventStreamReader()
                for try await chunk in inbound {
                    let (text, events) = reader.consume(Array(chunk.readableBytesView))
                    if !text.isEmpty { state.text.withLock { $0 += text } }
                    for event in events {
                        state.apply(event)
                        onEvent(event)
                    }
                }
            }
        }
    }

    deinit { task.cancel() }

    /// The ids of the live calls as this viewer's page would list them, sorted.
    public var liveCalls: [String] { state.live.withLock { Array($0.keys) }.sorted() }

    /// Everything received so far.
    public var text: String { state.text.withLock { $0 } }

    /// Waits until the stream holds `marker` (up to `timeout`).
    public func wait(for marker: String, timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if text.contains(marker) { return }
            try await Task.sleep(for: .milliseconds(2))
        }
        throw FeedClientError(description: "the live feed never carried \(marker); received: \(text.suffix(2000))")
    }

    /// Closes the connection.
    public func stop() { task.cancel() }
}

public struct FeedClientError: Error, CustomStringConvertible {
    public let description: String
}

/// Turns the bytes of an HTTP response carrying Server-Sent Events into text and events: skips the head, undoes chunked
/// transfer encoding, splits lines, decodes `data:` lines.
struct EventStreamReader {
    private var buffer: [UInt8] = []
    private var inBody = false
    private var chunked = false
    private var lines = ""
    private let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    mutating func consume(_ bytes: [UInt8]) -> (text: String, events: [FeedEvent]) {
        buffer += bytes
        if !inBody {
            guard let end = find([13, 10, 13, 10]) else { return ("", []) }
            chunked = String(decoding: buffer[..<end], as: UTF8.self).lowercased().contains("transfer-encoding: chunked")
            buffer.removeFirst(end + 4)
            inBody = true
        }
        var text = ""
        if chunked {
            while let lineEnd = find([13, 10]), let size = Int(String(decoding: buffer[..<lineEnd], as: UTF8.self).split(separator: ";").first ?? "", radix: 16),
                  buffer.count >= lineEnd + 2 + size + 2
            {
                text += String(decoding: buffer[(lineEnd + 2)..<(lineEnd + 2 + size)], as: UTF8.self)
                buffer.removeFirst(lineEnd + 2 + size + 2)
            }
        } else {
            text = String(decoding: buffer, as: UTF8.self)
            buffer.removeAll()
        }
        lines += text
        var events: [FeedEvent] = []
        while let newline = lines.firstIndex(of: "\n") {
            let line = lines[..<newline]
            if line.hasPrefix("data: "), let event = try? decoder.decode(FeedEvent.self, from: Data(line.dropFirst(6).utf8)) { events.append(event) }
            lines.removeSubrange(...newline)
        }
        return (text, events)
    }

    private func find(_ pattern: [UInt8]) -> Int? {
        guard buffer.count >= pattern.count else { return nil }
        for index in 0...(buffer.count - pattern.count) where buffer[index] == pattern[0] && Array(buffer[index..<index + pattern.count]) == pattern {
            return index
        }
        return nil
    }
}
