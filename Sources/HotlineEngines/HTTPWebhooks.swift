public import HotlineCore
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

// MARK: - Webhooks over HTTP

/// Calls flow webhooks with URLSession: POST JSON, a flat JSON object back, the flow's timeout.
public struct HTTPWebhooks: WebhookFetching {
    /// Makes a client.
    public init() {}

    /// Why a webhook gave nothing usable.
    public struct Failure: Error, CustomStringConvertible {
        /// What happened.
        public var description: String
    }

    /// POSTs the payload and returns the reply's fields (numbers and booleans as text).
    public func fetch(_ call: WebhookCall, payload: [String: String]) async throws -> [String: String] {
        guard let url = URL(string: call.url) else { throw Failure(description: "\(call.url): not a URL") }
        var request = URLRequest(url: url, timeoutInterval: call.timeout)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = try JSONEncoder().encode(payload)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = call.timeout
        configuration.timeoutIntervalForResource = call.timeout
        let session = URLSession(configuration: configuration)
        defer { session.finishTasksAndInvalidate() }
        let (data, response): (Data, URLResponse)
        do {
            (data, response) = try await session.data(for: request)
        } catch {
            throw Failure(description: "\(call.url): \(error.localizedDescription)")
        }
        guard let http = response as? HTTPURLResponse, (200..<300).contains(http.statusCode) else {
            throw Failure(description: "\(call.url): HTTP \((response as? HTTPURLResponse)?.statusCode ?? 0)")
        }
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw Failure(description: "\(call.url): the answer is not a JSON object")
        }
        return object.compactMapValues { value in
            switch value {
            case let text as String: text
            case let number as NSNumber: number.stringValue
            default: nil
            }
        }
    }
}
