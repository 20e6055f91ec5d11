import NIOCore
import NIOPosix
import Synchronization

/// A TCP proxy on loopback in front of a server (the tests' PostgreSQL), whose plug can be pulled: ``cut()`` closes
/// every connection through it and refuses new ones (each is closed as soon as it is accepted), as a database that was
/// stopped; ``restore()`` lets connections through again. Other tests sharing the database are not disturbed.
public final class TCPProxy: Sendable {
    /// The port clients connect to.
    public let port: Int
    private let server: any Channel
    private let state: Mutex<(up: Bool, open: [ObjectIdentifier: any Channel])>

    private init(server: any Channel) {
        self.server = server
        port = server.localAddress?.port ?? 0
        state = Mutex((true, [:]))
    }

    /// Listens on an ephemeral loopback port, forwarding to `host:port`.
    public static func start(to host: String, port targetPort: Int) async throws -> TCPProxy {
        let shared = SharedState()
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.autoRead, value: true)
            .childChannelInitializer { inbound in
                guard shared.admit(inbound) else { return inbound.close() }
                return ClientBootstrap(group: inbound.eventLoop).connect(host: host, port: targetPort).flatMap { outbound in
                    shared.track(outbound)
                    inbound.closeFuture.whenComplete { _ in outbound.close(promise: nil) }
                    outbound.closeFuture.whenComplete { _ in inbound.close(promise: nil) }
                    return outbound.pipeline.addHandler(Relay(to: inbound)).flatMap { inbound.pipeline.addHandler(Relay(to: outbound)) }
                }.flatMapError { error in
                    inbound.close()
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let proxy = TCPProxy(server: server)
        shared.proxy.withLock { $0 = proxy }
        return proxy
    }

    /// Pulls the plug: every connection through the proxy is closed, and new ones are refused until ``restore()``.
    public func cut() {
        let open = state.withLock { state in
            state.up = false
            defer { state.open = [:] }
            return Array(state.open.values)
        }
        for channel in open { channel.close(promise: nil) }
    }

    /// Lets connections through again.
    public func restore() { state.withLock { $0.up = true } }

    /// Stops listening and closes every connection.
    public func stop() {
        cut()
        server.close(promise: nil)
    }

    fileprivate func admit(_ channel: any Channel) -> Bool {
        state.withLock { state in
            guard state.up else { return false }
            state.open[ObjectIdentifier(channel)] = channel
            channel.closeFuture.whenComplete { [weak self] _ in self?.state.withLock { $0.open[ObjectIdentifier(channel)] = nil } }
            return true
        }
    }

    /// The proxy before it exists (the initializer runs on accept, after `start` has returned).
    private final class SharedState: Sendable {
        let proxy = Mutex<TCPProxy?>(nil)
        func admit(_ channel: any Channel) -> Bool { proxy.withLock { $0 }?.admit(channel) ?? false }
        func track(_ channel: any Channel) { _ = admit(channel) }
    }
}

/// Copies what one side reads to the other side.
private final class Relay: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    private let peer: any Channel

    init(to peer: any Channel) { self.peer = peer }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        peer.writeAndFlush(unwrapInboundIn(data), promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
