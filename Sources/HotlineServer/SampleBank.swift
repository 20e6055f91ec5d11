import Foundation
public import HotlineCore
import Hummingbird
public import Logging
import NIOCore
import Synchronization

// MARK: - The sample bank

/// A stand-in for a bank's systems, so the demo flow answers out of the box: one demo customer with a checking and a
/// savings account, recent transactions, and transfers between the two. It is plainly a sample: it holds no real
/// data, forgets everything when the process stops, and says so in the log. A flow reaches it through its
/// `services` (`bank: sample`); point the service at a real system with the configuration.
///
/// Endpoints (POST, JSON object in, flat JSON object out, as flow webhooks expect):
/// - `/v1/balance` `{account?}` → `{account, balance}` (checking unless savings is asked for)
/// - `/v1/transactions` → `{transactions}` (the latest three, as one sentence)
/// - `/v1/transfer` `{amount, to_account, from_account?}` → `{reference, amount, to_account, from_account}`; 422
///   when the amount is missing or more than the source account holds.
public final class SampleBank: Sendable {
    /// The base URL webhooks use, `http://127.0.0.1:PORT`.
    public let url: String
    private let task: Task<Void, any Error>

    struct Ledger {
        var cents: [String: Int] = ["checking": 1_250_40, "savings": 4_800_00]
        var history: [String] = [
            "a card payment of 42 dollars and 10 cents at Fresh Market on Monday",
            "a direct deposit of 1,800 dollars on Friday",
            "a cash withdrawal of 60 dollars last Thursday",
        ]
        var nextReference = 1_001
    }

    private init(url: String, task: Task<Void, any Error>) {
        self.url = url
        self.task = task
    }

    /// Starts the sample bank on a free loopback port.
    public static func start(logger: Logger) async throws -> SampleBank {
        let ledger = Mutex(Ledger())
        let router = Router()
        router.post("v1/balance") { request, _ in
            let fields = try await Self.fields(request)
            let account = fields["account"] == "savings" ? "savings" : "checking"
            let cents = ledger.withLock { $0.cents[account] ?? 0 }
            return Self.json(["account": account, "balance": Self.spoken(cents)])
        }
        router.post("v1/transactions") { _, _ in
            let latest = ledger.withLock { Array($0.history.prefix(3)) }
            return Self.json(["transactions": latest.joined(separator: ", ")])
        }
        router.post("v1/transfer") { request, _ in
            let fields = try await Self.fields(request)
            guard let amount = fields["amount"].flatMap(Double.init), amount > 0 else {
                return Self.json(["error": "no amount to transfer"], status: .unprocessableContent)
            }
            let destination = fields["to_account"] == "checking" ? "checking" : "savings"
            let source = fields["from_account"].flatMap { $0 == destination ? nil : $0 } ?? (destination == "savings" ? "checking" : "savings")
            let cents = Int((amount * 100).rounded())
            let outcome: [String: String]? = ledger.withLock { ledger in
                guard (ledger.cents[source] ?? 0) >= cents else { return nil }
                ledger.cents[source, default: 0] -= cents
                ledger.cents[destination, default: 0] += cents
                let reference = "T \(ledger.nextReference)"
                ledger.nextReference += 1
                ledger.history.insert("a transfer of \(Self.spoken(cents)) from \(source) to \(destination) just now", at: 0)
                return ["reference": reference, "amount": Self.plain(cents), "to_account": destination, "from_account": source]
            }
            guard let outcome else { return Self.json(["error": "not enough money in \(source)"], status: .unprocessableContent) }
            return Self.json(outcome)
        }
        let port = AsyncStream.makeStream(of: Int.self)
        var quiet = logger
        quiet.logLevel = .critical  // the sample's own server says nothing unless it fails outright
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "hotline-sample-bank"),
                              onServerRunning: { channel in
                                  port.continuation.yield(channel.localAddress?.port ?? 0)
                                  port.continuation.finish()
                              }, logger: quiet)
        let task = Task { try await app.run() }
        var bound = 0
        for await value in port.stream {
            bound = value
            break
        }
        guard bound > 0 else {
            task.cancel()
            throw SampleBankError(description: "the sample bank could not listen on loopback")
        }
        let url = "http://127.0.0.1:\(bound)"
        logger.notice("the SAMPLE bank answers the flow's webhooks (demo accounts, nothing real); point the flow's services at your own systems",
                      metadata: ["url": "\(url)"])
        return SampleBank(url: url, task: task)
    }

    /// Stops it.
    public func stop() async {
        task.cancel()
        _ = await task.result
    }

    struct SampleBankError: Error, CustomStringConvertible {
        var description: String
    }

    private static func fields(_ request: Request) async throws -> [String: String] {
        let body = try await request.body.collect(upTo: 64 * 1024)
        guard body.readableBytes > 0 else { return [:] }
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any] else {
            throw HTTPError(.badRequest, message: "the body is not a JSON object")
        }
        return object.compactMapValues { $0 as? String ?? ($0 as? NSNumber)?.stringValue }
    }

    private static func json(_ fields: [String: String], status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// "1,250 dollars and 40 cents".
    static func spoken(_ cents: Int) -> String {
        let formatter = NumberFormatter()
        formatter.numberStyle = .decimal
        formatter.locale = Locale(identifier: "en_US")
        let dollars = formatter.string(from: NSNumber(value: cents / 100)) ?? "\(cents / 100)"
        return cents % 100 == 0 ? "\(dollars) dollars" : "\(dollars) dollars and \(cents % 100) cents"
    }

    /// "1250.40", or "1250" for whole dollars.
    static func plain(_ cents: Int) -> String { cents % 100 == 0 ? "\(cents / 100)" : String(format: "%d.%02d", cents / 100, cents % 100) }
}

// MARK: - A flow's services

extension SampleBank {
    /// `dialog` with its webhook services bound: `overrides` (from the configuration or the command line) first, then
    /// the flow's own `services`; a service that is `sample` is the sample bank, started here (and returned, to stop).
    public static func bind(_ dialog: DialogDefinition, overrides: [String: String], logger: Logger) async throws -> (DialogDefinition, SampleBank?) {
        var urls = dialog.services.merging(overrides) { $1 }
        var bank: SampleBank?
        for (name, url) in urls.sorted(by: { $0.key < $1.key }) where url == "sample" {
            if bank == nil { bank = try await SampleBank.start(logger: logger) }
            urls[name] = bank?.url
        }
        return (dialog.binding(services: urls), bank)
    }
}
