import Atomics
import Foundation
import LoanScoreProtocol
import LoanScoreTLS
import Logging
import NIOCore
import NIOPosix

/// The scoring listener: accepts TCP connections, wraps each in TLS (system OpenSSL), frames
/// with ``FrameDecoder`` and serves it with a ``ConnectionHandler``.
final class ScoringServer: Sendable {
    private let channel: any Channel
    private let state: ServerState
    private let logger: Logger

    /// Binds the listener.
    ///
    /// - Throws: NIO's `IOError` when the address cannot be bound.
    init(state: ServerState, group: any EventLoopGroup, logger: Logger) async throws {
        self.state = state
        self.logger = logger
        let address = try HostPort(state.configuration.listen, setting: "listen")
        let limits = state.protocolLimits
        // The decoder refuses oversized frames from their header; this is only a backstop.
        let idle = TimeAmount.milliseconds(Int64(state.configuration.timeouts.idle * 1000))
        let maximumBuffered = FrameHeader.size + limits.maximumFramePayload + 64 * 1024
        channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)  // IPPROTO_TCP: at SOL_SOCKET, option 1 is SO_DEBUG
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 256 * 1024, high: 1024 * 1024))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    // The current generation's context: after a reload, new connections get the new certificates.
                    try sync.addHandler(TLSHandler(context: state.generation.tls))
                    let progress = FrameProgress()
                    try sync.addHandler(FrameProgressHandler(progress: progress))
                    try sync.addHandler(ByteToMessageHandler(FrameDecoder(limits: limits), maximumBufferSize: maximumBuffered))
                    try sync.addHandler(IdleStateHandler(allTimeout: idle))
                    try sync.addHandler(ConnectionHandler(server: state, progress: progress, logger: logger))
                }
            }
            .bind(host: address.host, port: address.port).get()
    }

    /// The bound port (useful when binding port 0).
    var port: Int { channel.localAddress?.port ?? 0 }

    /// Graceful shutdown: stop accepting, send GOODBYE on every connection, let in-flight work
    /// finish (at most `drain`), then close what is left.
    func shutdown(drain: Duration) async {
        state.shuttingDown.store(true, ordering: .relaxed)
        try? await channel.close()
        for connection in state.openChannels {
            connection.pipeline.fireUserInboundEventTriggered(ServerShuttingDown())
        }
        let deadline = ContinuousClock.now + drain
        while state.inFlightCount > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        if state.inFlightCount > 0 {
            logger.warning("drain deadline passed with \(state.inFlightCount) request(s) in flight")
        }
        for connection in state.openChannels { try? await connection.close() }
    }
}
