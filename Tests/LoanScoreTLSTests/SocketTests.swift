import Foundation
import LoanScoreTestSupport
@testable import LoanScoreTLS
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// Echoes plaintext back; it sits after the server's TLSHandler.
private final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }
}

/// Collects `expected` bytes on the client, then fulfils the promise.
private final class Collector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let expected: Int
    private let received: EventLoopPromise<[UInt8]>
    private let handshake: EventLoopPromise<TLSHandshakeCompleted>
    private var bytes: [UInt8] = []

    init(expected: Int, received: EventLoopPromise<[UInt8]>, handshake: EventLoopPromise<TLSHandshakeCompleted>) {
        self.expected = expected
        self.received = received
        self.handshake = handshake
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSHandshakeCompleted { handshake.succeed(event) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        bytes += unwrapInboundIn(data).readableBytesView
        if bytes.count >= expected { received.succeed(bytes) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        handshake.fail(error)
        received.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        handshake.fail(ChannelError.eof)
        received.fail(ChannelError.eof)
    }
}

/// A TLS echo server on 127.0.0.1 with an OS-chosen port.
private func startEchoServer(group: MultiThreadedEventLoopGroup, context: TLSContext) async throws -> any Channel {
    try await ServerBootstrap(group: group)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(TLSHandler(context: context))
                try channel.pipeline.syncOperations.addHandler(EchoHandler())
            }
        }
        .bind(host: "127.0.0.1", port: 0)
        .get()
}

@Suite("TLS over real TCP on 127.0.0.1")
struct SocketTests {
    @Test("a NIOPosix client and server (mutual TLS) echo 256 KiB")
    func echoOverTCP() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let serverContext = try makeServerContext(peerVerification: .required)
        let clientContext = try TLSContext(configuration: makeClientConfiguration(withCertificate: true))
        let server = try await startEchoServer(group: group, context: serverContext)
        let port = try #require(server.localAddress?.port)

        let payload = testBytes(count: 256 * 1024, seed: 11)
        let loop = group.next()
        let received = loop.makePromise(of: [UInt8].self)
        let handshake = loop.makePromise(of: TLSHandshakeCompleted.self)
        let client = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(TLSHandler(context: clientContext, serverName: "localhost"))
                    try channel.pipeline.syncOperations.addHandler(
                        Collector(expected: payload.count, received: received, handshake: handshake)
                    )
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()

        try await client.writeAndFlush(ByteBuffer(bytes: payload))
        let event = try await handshake.futureResult.get()
        #expect(event.alpn == "loanscore/1")
        #expect(event.version == "TLSv1.3")
        #expect(event.peerSubject == TestCertificates.serverSubject)
        let echoed = try await received.futureResult.get()
        #expect(echoed == payload)

        try await client.close()
        try await server.close()
        try await group.shutdownGracefully()
        // Every SSL object was freed once its channel went away.
        #expect(clientContext.liveConnections.load(ordering: .relaxed) == 0)
        #expect(serverContext.liveConnections.load(ordering: .relaxed) == 0)
    }

    @Test("the real `openssl s_client` completes a handshake with ALPN loanscore/1")
    func opensslClient() async throws {
        let certificates = try certificates()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let serverContext = try makeServerContext()
        let server = try await startEchoServer(group: group, context: serverContext)
        let port = try #require(server.localAddress?.port)

        let output = try await OpenSSLCommand.run(
            [
                "s_client", "-connect", "127.0.0.1:\(port)", "-alpn", "loanscore/1",
                "-CAfile", certificates.caCertificate, "-servername", "localhost", "-verify_return_error",
            ],
            input: "Q\n",
            timeout: 20
        )
        #expect(output.contains("ALPN protocol: loanscore/1"), "\(output)")
        #expect(output.contains("Verify return code: 0 (ok)"), "\(output)")
        #expect(output.contains("TLSv1.3"), "\(output)")

        try await server.close()
        try await group.shutdownGracefully()
        #expect(serverContext.liveConnections.load(ordering: .relaxed) == 0)
    }
}
