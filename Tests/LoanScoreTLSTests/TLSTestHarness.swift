import Foundation
import LoanScoreTestSupport
@testable import LoanScoreTLS
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

/// One set of certificates for the whole test run (openssl is run once), and a second set from
/// another CA for "unknown CA" tests.
let sharedCertificates = Result { try TestCertificates.make(caName: "LoanScore Test CA") }
let otherCertificates = Result { try TestCertificates.make(caName: "Some Other CA") }

func certificates() throws -> TestCertificates { try sharedCertificates.get() }

/// A server context over the shared certificates.
func makeServerContext(
    peerVerification: TLSConfiguration.PeerVerification = .none,
    handshakeTimeout: TimeAmount = TLSConfiguration.defaultHandshakeTimeout
) throws -> TLSContext {
    let certificates = try certificates()
    return try TLSContext(
        configuration: .makeServerConfiguration(
            certificateChainFile: certificates.serverCertificate,
            privateKeyFile: certificates.serverKey,
            trustRootsFile: certificates.caCertificate,
            peerVerification: peerVerification,
            handshakeTimeout: handshakeTimeout
        )
    )
}

/// A client configuration that trusts the shared CA and expects `localhost`.
func makeClientConfiguration(withCertificate: Bool = false) throws -> TLSConfiguration {
    let certificates = try certificates()
    return .makeClientConfiguration(
        trustRootsFile: certificates.caCertificate,
        serverName: "localhost",
        certificateChainFile: withCertificate ? certificates.clientCertificate : nil,
        privateKeyFile: withCertificate ? certificates.clientKey : nil
    )
}

/// Records what reaches the end of a pipeline: plaintext, user events, errors, inactivity.
/// It swallows errors so that EmbeddedChannel does not rethrow them.
final class Recorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    var received: [UInt8] = []
    var handshake: TLSHandshakeCompleted?
    var errors: [any Error] = []
    var readCount = 0
    var inactive = false

    var tlsErrors: [TLSError] { errors.compactMap { $0 as? TLSError } }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        received.append(contentsOf: buffer.readableBytesView)
        readCount += 1
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSHandshakeCompleted { handshake = event }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        errors.append(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        inactive = true
    }
}

/// A TLS server and client on two EmbeddedChannels sharing one EmbeddedEventLoop, with bytes
/// pumped between them by hand (swift-nio-ssl's BackToBackEmbeddedChannel idea).
final class BackToBack {
    let loop = EmbeddedEventLoop()
    let server: EmbeddedChannel
    let client: EmbeddedChannel
    let serverContext: TLSContext
    let clientContext: TLSContext
    let serverHandler: TLSHandler
    let clientHandler: TLSHandler
    let serverRecorder = Recorder()
    let clientRecorder = Recorder()

    init(server serverContext: TLSContext, client clientContext: TLSContext, serverName: String? = nil) throws {
        self.serverContext = serverContext
        self.clientContext = clientContext
        server = EmbeddedChannel(loop: loop)
        client = EmbeddedChannel(loop: loop)
        serverHandler = try TLSHandler(context: serverContext)
        clientHandler = try TLSHandler(context: clientContext, serverName: serverName)
        try server.pipeline.syncOperations.addHandlers([serverHandler, serverRecorder])
        try client.pipeline.syncOperations.addHandlers([clientHandler, clientRecorder])
    }

    /// Makes both channels active, which starts the handshake (the client sends its hello).
    func connect() throws {
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 4433)
        try server.connect(to: address).wait()
        try client.connect(to: address).wait()
    }

    /// Moves ciphertext both ways until neither side produces more. With `chunkSize`, each
    /// buffer is delivered in pieces of that many bytes.
    func pump(chunkSize: Int? = nil) throws {
        for _ in 0..<10_000 {
            let clientSent = try transfer(from: client, to: server, chunkSize: chunkSize)
            let serverSent = try transfer(from: server, to: client, chunkSize: chunkSize)
            if !clientSent && !serverSent { return }
        }
        preconditionFailure("the TLS peers never went quiet")
    }

    /// Connects and pumps until both sides are quiet.
    func handshake(chunkSize: Int? = nil) throws {
        try connect()
        try pump(chunkSize: chunkSize)
    }

    private func transfer(from source: EmbeddedChannel, to destination: EmbeddedChannel, chunkSize: Int?) throws -> Bool {
        var moved = false
        while var buffer = try source.readOutbound(as: ByteBuffer.self) {
            moved = true
            guard destination.isActive else { continue }  // a closed peer drops what arrives
            if let chunkSize {
                while buffer.readableBytes > 0, destination.isActive {
                    let piece = buffer.readSlice(length: min(chunkSize, buffer.readableBytes))!
                    try destination.writeInbound(piece)
                }
            } else {
                try destination.writeInbound(buffer)
            }
        }
        return moved
    }

    /// Closes what is still open and checks that both SSL objects were freed.
    func finish(sourceLocation: SourceLocation = #_sourceLocation) {
        _ = try? server.finish(acceptAlreadyClosed: true)
        _ = try? client.finish(acceptAlreadyClosed: true)
        #expect(!serverHandler.ownsConnection && !clientHandler.ownsConnection, sourceLocation: sourceLocation)
        #expect(serverContext.liveConnections.load(ordering: .relaxed) == 0, sourceLocation: sourceLocation)
        #expect(clientContext.liveConnections.load(ordering: .relaxed) == 0, sourceLocation: sourceLocation)
    }
}

extension ByteBuffer {
    init(bytes: [UInt8]) {
        self = ByteBufferAllocator().buffer(capacity: bytes.count)
        self.writeBytes(bytes)
    }
}

/// Deterministic pseudo-random bytes.
func testBytes(count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
    var state = seed
    return (0..<count).map { _ in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return UInt8(truncatingIfNeeded: state >> 56)
    }
}
