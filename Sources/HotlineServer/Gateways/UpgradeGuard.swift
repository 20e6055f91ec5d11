import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import HummingbirdWebSocket
import NIOCore
import NIOHTTP1

// MARK: - WebSocket credentials before the upgrade

/// Answers a WebSocket upgrade whose credentials are refused with a plain 401 or 403, before the upgrade is attempted,
/// and a first request whose head cannot be parsed (a `Content-Length` that is not a number) with a 400 at once.
///
/// Hummingbird answers every failed upgrade with a bare 400, so a gateway with a wrong key could not tell a typo in its
/// URL from a rejected key; and a head the HTTP parser rejects was left unanswered. This handler sits just before NIO's
/// upgrade handler and looks at the connection's first request head only: it refuses there, or passes the head on and
/// removes itself, so the request is upgraded (or not) exactly as before and nothing of it stays in a WebSocket's
/// pipeline. (NIO reads later requests on a connection only once it has decided not to upgrade.)
final class UpgradeGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// Why an upgrade is refused.
    struct Refusal: Sendable, Equatable {
        var status: HTTPResponseStatus
        var message: String
    }

    private let check: @Sendable (_ path: String, _ query: String?, _ headers: HTTPHeaders) -> Refusal?
    private var refusing = false

    init(check: @escaping @Sendable (_ path: String, _ query: String?, _ headers: HTTPHeaders) -> Refusal?) {
        self.check = check
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if refusing { return }  // the rest of a refused request
        guard case .head(let head) = unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        if head.headers["upgrade"].contains(where: { $0.lowercased() == "websocket" }) {
            let parts = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
            if let refusal = check(String(parts[0]), parts.count > 1 ? String(parts[1]) : nil, head.headers) {
                refusing = true
                refuse(refusal, version: head.version, context: context)
                return
            }
        }
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !refusing, let parse = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        refusing = true
        refuse(Refusal(status: .badRequest, message: "the request could not be read: \(parse)"), version: .http1_1, context: context)
    }

    private func refuse(_ refusal: Refusal, version: HTTPVersion, context: ChannelHandlerContext) {
        let json = (try? JSONSerialization.data(withJSONObject: ["error": ["message": refusal.message]])) ?? Data()
        let body = context.channel.allocator.buffer(bytes: json)
        var headers = HTTPHeaders([("Content-Type", "application/json"), ("Content-Length", "\(body.readableBytes)"), ("Connection", "close")])
        if refusal.status == .unauthorized { headers.add(name: "WWW-Authenticate", value: "Bearer realm=\"hotline\"") }
        if refusal.status == .serviceUnavailable { headers.add(name: "Retry-After", value: "5") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: refusal.status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}

/// The HTTP server with WebSocket upgrades, each upgrade request's credentials checked first by an ``UpgradeGuard``.
struct GuardedUpgradeChannel: ServerChildChannel {
    let inner: HTTP1WebSocketUpgradeChannel
    let check: @Sendable (String, String?, HTTPHeaders) -> UpgradeGuard.Refusal?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<HTTP1WebSocketUpgradeChannel.Value> {
        inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let pipeline = channel.pipeline.syncOperations
            let upgrader = try pipeline.handler(type: NIOTypedHTTPServerUpgradeHandler<HTTP1WebSocketUpgradeChannel.UpgradeResult>.self)
            try pipeline.addHandler(UpgradeGuard(check: check), position: .before(upgrader))
            return value
        }
    }

    func handle(value: HTTP1WebSocketUpgradeChannel.Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

extension HotlineServer {
    /// The HTTP server builder: HTTP/1 with WebSocket upgrades for the gateways, credentials checked before upgrading.
    func httpServer() -> HTTPServerBuilder {
        let responder = makeWebSocketRouter().buildResponder()
        let configuration = HTTP1WebSocketUpgradeChannel.Configuration(ws: .init(maxFrameSize: 1 << 20))
        return HTTPServerBuilder { httpResponder in
            GuardedUpgradeChannel(inner: HTTP1WebSocketUpgradeChannel(responder: httpResponder, webSocketResponder: responder,
                                                                      configuration: configuration),
                                  check: { path, query, headers in upgradeRefusal(path: path, query: query, headers: headers) })
        }
    }

    /// Past capacity, a new call is refused before it starts: 503 with Retry-After, which a gateway takes as "try
    /// another node" (or its fallback).
    func overloadRefusal() -> UpgradeGuard.Refusal? {
        guard let overload = host.overload else { return nil }
        CallHost.refused.increment()
        logger.warning("call refused", metadata: ["reason": "\(overload)"])
        return .init(status: .serviceUnavailable, message: overload)
    }

    /// Whether a WebSocket upgrade to `path` must be refused for its credentials, and how. Twilio may send its key in its
    /// first message, so missing credentials pass there; the other gateways need them (unless anonymous callers have
    /// the gateway role). Paths that are not gateways are left to the router.
    func upgradeRefusal(path: String, query: String?, headers: HTTPHeaders) -> UpgradeGuard.Refusal? {
        let gatewayPaths = ["/v1/gateways/twilio", "/v1/gateways/audio-fork", "/v1/gateways/jambonz", "/v1/gateways/vosk", "/"]
        guard gatewayPaths.contains(path) else { return nil }
        let secret = AccessControl.secret(authorization: headers.first(name: "authorization"), apiKeyHeader: headers.first(name: "x-api-key"),
                                          query: query)
        guard let secret else {
            if path == "/v1/gateways/twilio" || access.identify(secret: nil)?.has(.gateway) == true { return overloadRefusal() }
            Self.authFailures.increment()
            return .init(status: .unauthorized, message: "credentials are required")
        }
        guard let identity = access.identify(secret: secret) else {
            Self.authFailures.increment()
            logger.warning("refused: wrong credentials", metadata: ["path": "\(path)"])
            return .init(status: .unauthorized, message: "the credentials are not valid")
        }
        guard identity.has(.gateway) else {
            Self.authFailures.increment()
            return .init(status: .forbidden, message: "key '\(identity.name)' lacks the gateway role")
        }
        return overloadRefusal()
    }
}
