import Foundation
import LoanScoreProtocol
import LoanScoreServer
import LoanScoreTLS
import LoanScoreTestSupport
import Logging
import NIOCore
import NIOPosix

/// A server on 127.0.0.1 port 0 serving the hand-computed tiny bundle over real TLS, with its
/// own temporary folder (bundle, certificates, audit log).
struct ServerHarness {
    let folder: URL
    let certificates: TestCertificates
    let server: RunningServer

    static func start(_ edit: (inout ServerConfiguration) -> Void = { _ in }) async throws -> ServerHarness {
        try await start { configuration, _ in edit(&configuration) }
    }

    /// As ``start(_:)``, with the certificates at hand (e.g. to require client certificates).
    static func start(_ edit: (inout ServerConfiguration, TestCertificates) -> Void) async throws -> ServerHarness {
        let folder = try TinyBundle.temporaryDirectory()
        let bundle = folder.appendingPathComponent("bundle")
        try TinyBundle.write(to: bundle)
        let certificates = try TestCertificates.make(in: folder.appendingPathComponent("certs"))
        var configuration = ServerConfiguration(bundle: bundle.path, certificate: certificates.serverCertificate,
                                                privateKey: certificates.serverKey)
        configuration.listen = "127.0.0.1:0"
        configuration.admin = nil
        configuration.auditDirectory = folder.appendingPathComponent("audit").path
        configuration.workers = 2
        edit(&configuration, certificates)
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let server = try await RunningServer.start(configuration: configuration, logger: logger)
        return ServerHarness(folder: folder, certificates: certificates, server: server)
    }

    var auditDirectory: URL { folder.appendingPathComponent("audit") }

    func connect(clientCertificate: Bool = false) async throws -> RawConnection {
        try await RawConnection.connect(port: server.port, certificates: certificates, clientCertificate: clientCertificate)
    }

    /// A connection that has completed HELLO/WELCOME, presenting `identity` (certificate and
    /// key files) when given.
    func handshaken(identity: (certificate: String, key: String)? = nil) async throws -> (RawConnection, Welcome) {
        let connection = try await RawConnection.connect(port: server.port, certificates: certificates,
                                                         clientCertificate: identity?.certificate, clientKey: identity?.key)
        try await connection.send(Hello(clientName: "tests"), id: 0)
        let frame = try await connection.expectFrame()
        guard frame.type == .welcome else { throw HarnessError("expected WELCOME, got \(frame.type)") }
        var payload = frame.payload
        return (connection, try Welcome.decode(from: &payload))
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A raw protocol connection over real TLS: sends frames or arbitrary bytes, and yields the
/// frames the server sends back (nil once the server has closed the connection).
final class RawConnection: @unchecked Sendable {  // used from one test task at a time
    let channel: any Channel
    private var iterator: AsyncStream<Frame>.AsyncIterator
    private let group: MultiThreadedEventLoopGroup

    private init(channel: any Channel, stream: AsyncStream<Frame>, group: MultiThreadedEventLoopGroup) {
        self.channel = channel
        self.iterator = stream.makeAsyncIterator()
        self.group = group
    }

    deinit {
        channel.close(promise: nil)
        group.shutdownGracefully { _ in }
    }

    static func connect(port: Int, certificates: TestCertificates, clientCertificate: Bool) async throws -> RawConnection {
        try await connect(port: port, certificates: certificates, clientCertificate: clientCertificate ? certificates.clientCertificate : nil,
                          clientKey: clientCertificate ? certificates.clientKey : nil)
    }

    static func connect(port: Int, certificates: TestCertificates, clientCertificate: String?, clientKey: String?) async throws -> RawConnection {
        let tls = try TLSContext(configuration: .makeClientConfiguration(
            trustRootsFile: certificates.caCertificate, serverName: "localhost",
            certificateChainFile: clientCertificate, privateKeyFile: clientKey))
        let (stream, continuation) = AsyncStream.makeStream(of: Frame.self)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(TLSHandler(context: tls))
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(limits: ProtocolLimits(
                        maximumFramePayload: 64 << 20, maximumUncompressedPayload: 64 << 20))))
                    try channel.pipeline.syncOperations.addHandler(Collector(continuation: continuation))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawConnection(channel: channel, stream: stream, group: group)
    }

    func send<Message: ProtocolMessage>(_ message: Message, id: UInt64, compression: FrameEncoder.Compression = .never) async throws {
        var buffer = ByteBuffer()
        try FrameEncoder(compression: compression, limits: ProtocolLimits(maximumFramePayload: 64 << 20,
            maximumUncompressedPayload: 64 << 20, maximumBatch: 1 << 20)).encode(message, requestID: id, into: &buffer)
        try await sendBytes(buffer)
    }

    func sendBytes(_ buffer: ByteBuffer) async throws {
        try await channel.writeAndFlush(buffer)
    }

    /// The next frame, or nil when the connection closed or nothing came within the timeout.
    func next(timeout: Duration = .seconds(10)) async -> Frame? {
        let box = IteratorBox(iterator)
        let frame = await withTaskGroup(of: Frame?.self) { group in
            group.addTask { await box.next() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        iterator = box.iterator
        return frame
    }

    func expectFrame(timeout: Duration = .seconds(10)) async throws -> Frame {
        guard let frame = await next(timeout: timeout) else { throw HarnessError("no frame (connection closed or timed out)") }
        return frame
    }

    /// Waits for the server to close the connection.
    func waitForClose(timeout: Duration = .seconds(10)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while channel.isActive && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return !channel.isActive
    }
}

private final class IteratorBox: @unchecked Sendable {  // touched by one child task, then read after the group ends
    var iterator: AsyncStream<Frame>.AsyncIterator
    init(_ iterator: AsyncStream<Frame>.AsyncIterator) { self.iterator = iterator }
    func next() async -> Frame? { await iterator.next() }
}

private final class Collector: ChannelInboundHandler {
    typealias InboundIn = Frame
    let continuation: AsyncStream<Frame>.Continuation

    init(continuation: AsyncStream<Frame>.Continuation) {
        self.continuation = continuation
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        continuation.yield(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// A header of our own making (for hostile frames).
func rawHeader(magic: UInt32 = FrameHeader.magic, version: UInt8 = 1, type: UInt8, flags: UInt16 = 0, id: UInt64 = 1,
               length: UInt32, uncompressed: UInt32? = nil) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeInteger(magic)
    buffer.writeInteger(version)
    buffer.writeInteger(type)
    buffer.writeInteger(flags)
    buffer.writeInteger(id)
    buffer.writeInteger(length)
    buffer.writeInteger(uncompressed ?? length)
    return buffer
}

extension Frame {
    /// The ERROR message of an ERROR frame.
    var error: ErrorMessage? {
        guard type == .error else { return nil }
        var payload = self.payload
        return try? ErrorMessage.decode(from: &payload)
    }

    var response: ScoreResponse? {
        guard type == .scoreResponse else { return nil }
        var payload = self.payload
        return try? ScoreResponse.decode(from: &payload)
    }
}

/// A request for the tiny bundle: (amount, income, home, records, term) per application.
func tinyRequest(_ welcome: Welcome, _ rows: [(String, Double?, Double?, String?, String?, Double?)]) throws -> ScoreRequest {
    try ScoreRequest(schemaHash: welcome.schema.hash, applicationIDs: rows.map(\.0), columns: [
        Column(numbers: rows.map(\.1)), Column(numbers: rows.map(\.2)), Column(strings: rows.map(\.3)),
        Column(strings: rows.map(\.4)), Column(numbers: rows.map(\.5)),
    ])
}
