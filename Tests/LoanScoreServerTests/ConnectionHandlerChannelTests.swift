import Foundation
import LoanScoreAudit
import LoanScoreProtocol
@testable import LoanScoreServer
import LoanScoreTestSupport
import LoanScoreTLS
import LoanScoreWorkerPool
import Logging
import NIOCore
import NIOEmbedded
import Testing

/// ConnectionHandler in an in-memory channel (NIOAsyncTestingChannel): frames in, bytes out,
/// with a worker pool whose one thread the test holds, so that requests stay in flight for as
/// long as the test needs.
@Suite("connection handler in a testing channel", .serialized)
struct ConnectionHandlerChannelTests {
    /// A server state over the tiny bundle, a held single-worker pool, and a channel.
    final class Fixture: @unchecked Sendable {  // used from one test task
        let channel: NIOAsyncTestingChannel
        let state: ServerState
        let welcome: Welcome
        let gate = DispatchSemaphore(value: 0)

        init(_ edit: (inout ServerConfiguration) -> Void = { _ in }) async throws {
            let folder = try TinyBundle.temporaryDirectory()
            let bundle = folder.appendingPathComponent("bundle")
            try TinyBundle.write(to: bundle)
            let certificates = try TestCertificates.make(in: folder.appendingPathComponent("certs"))
            var configuration = ServerConfiguration(bundle: bundle.path, certificate: certificates.serverCertificate,
                                                    privateKey: certificates.serverKey)
            configuration.auditDirectory = folder.appendingPathComponent("audit").path
            configuration.workers = 1
            edit(&configuration)
            let limits = ServerState.protocolLimits(configuration)
            let metrics = ServerMetrics()
            let generation = try ModelGeneration.load(configuration, limits: limits, registry: metrics.registry)
            let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
            let audit = try AuditSink(configuration: .init(directory: URL(fileURLWithPath: configuration.auditDirectory), fsync: .never), retention: nil,
                                      metrics: metrics, logger: logger)
            let pool = WorkerPool(threads: 1)
            state = ServerState(generation: generation, pool: pool, audit: audit, metrics: metrics, configuration: configuration)
            welcome = generation.welcome
            // The one worker waits for the test: requests submitted meanwhile stay queued.
            let gate = self.gate
            _ = pool.trySubmit { gate.wait() }
            let channel = NIOAsyncTestingChannel()
            self.channel = channel
            let state = self.state
            // Made on the channel's loop: the handler is not Sendable.
            try await channel.testingEventLoop.executeInContext {
                try channel.pipeline.syncOperations.addHandler(ConnectionHandler(server: state, progress: FrameProgress(), logger: logger))
            }
            try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).get()
        }

        func release() { gate.signal() }

        func send<Message: ProtocolMessage>(_ message: Message, id: UInt64) async throws {
            var payload = ByteBuffer()
            message.encode(into: &payload)
            let header = FrameHeader(type: Message.messageType, flags: message.frameFlags, requestID: id,
                                     payloadLength: UInt32(payload.readableBytes), uncompressedLength: UInt32(payload.readableBytes))
            try await channel.writeInbound(Frame(header: header, payload: payload))
        }

        func sendRaw(type: MessageType, payload: ByteBuffer, id: UInt64) async throws {
            let header = FrameHeader(type: type, requestID: id, payloadLength: UInt32(payload.readableBytes),
                                     uncompressedLength: UInt32(payload.readableBytes))
            try await channel.writeInbound(Frame(header: header, payload: payload))
        }

        /// The next frame the handler wrote, waiting up to `timeout` for a worker's answer.
        func nextFrame(timeout: Duration = .seconds(10)) async throws -> (type: MessageType, id: UInt64, error: ErrorCode?) {
            let end = ContinuousClock.now + timeout
            while ContinuousClock.now < end {
                await channel.testingEventLoop.run()
                if var buffer = try await channel.readOutbound(as: ByteBuffer.self) {
                    let type = try #require(buffer.getInteger(at: buffer.readerIndex + 5, as: UInt8.self))
                    let id = try #require(buffer.getInteger(at: buffer.readerIndex + 8, as: UInt64.self))
                    buffer.moveReaderIndex(forwardBy: FrameHeader.size)
                    let code = MessageType(rawValue: type) == .error ? buffer.readInteger(as: UInt16.self).map(ErrorCode.init(rawValue:)) : nil
                    return (MessageType(rawValue: type), id, code)
                }
                try await Task.sleep(for: .milliseconds(5))
            }
            throw HarnessError("no frame within \(timeout)")
        }

        func request(_ rows: Int) throws -> ScoreRequest {
            try tinyRequest(welcome, (0..<rows).map { ("C\($0)", 500, 1000, "rent", "no", 12) })
        }

        func finish() async {
            release()
            _ = try? await channel.finish()
            state.pool.shutdown()
        }
    }

    @Test func aRequestBeforeHelloIsHandshakeRequiredAndCloses() async throws {
        let fixture = try await Fixture()
        try await fixture.send(try fixture.request(1), id: 5)
        let answer = try await fixture.nextFrame()
        #expect(answer.type == .error && answer.error == .handshakeRequired && answer.id == 0)
        try await fixture.channel.closeFuture.get()
        await fixture.finish()
    }

    @Test func admissionRefusesBeforeTheColumnsAreDecoded() async throws {
        let fixture = try await Fixture { $0.limits.maximumInFlightPerConnection = 1 }
        try await fixture.send(Hello(clientName: "t"), id: 0)
        #expect(try await fixture.nextFrame().type == .welcome)
        try await fixture.send(try fixture.request(3), id: 1)  // admitted; queued behind the held worker
        // A request whose columns are garbage: decoding it would be MALFORMED_FRAME and close
        // the connection. The connection is at its in-flight limit, so it is refused first.
        var garbage = ByteBuffer(bytes: fixture.welcome.schema.hash.bytes)
        garbage.writeInteger(UInt32(3))
        garbage.writeBytes([0xFF, 0xFF, 0xFF])
        try await fixture.sendRaw(type: .scoreRequest, payload: garbage, id: 2)
        let refused = try await fixture.nextFrame()
        #expect(refused.id == 2 && refused.error == .busy)
        #expect(fixture.channel.isActive)
        fixture.release()
        let answered = try await fixture.nextFrame()
        #expect(answered.id == 1 && answered.type == .scoreResponse)
        await fixture.finish()
    }

    @Test func aDeadlineOfZeroAndAnEmptyQuotaAreRefusedWithoutScoring() async throws {
        let fixture = try await Fixture {
            $0.quotas.applicationsPerSecond = 1
            $0.quotas.burstApplications = 2
        }
        try await fixture.send(Hello(clientName: "t"), id: 0)
        #expect(try await fixture.nextFrame().type == .welcome)
        var expired = try fixture.request(1)
        expired.deadline = 0
        try await fixture.send(expired, id: 1)
        #expect(try await fixture.nextFrame().error == .deadlineExceeded)
        try await fixture.send(try fixture.request(2), id: 2)  // takes the burst
        try await fixture.send(try fixture.request(2), id: 3)
        let overQuota = try await fixture.nextFrame()
        #expect(overQuota.id == 3 && overQuota.error == .quotaExceeded)
        fixture.release()
        #expect(try await fixture.nextFrame().id == 2)
        await fixture.finish()
    }

    @Test func goodbyeRefusesNewRequestsAndClosesAfterTheLastAnswer() async throws {
        let fixture = try await Fixture()
        try await fixture.send(Hello(clientName: "t"), id: 0)
        #expect(try await fixture.nextFrame().type == .welcome)
        try await fixture.send(try fixture.request(2), id: 1)
        try await fixture.send(Goodbye(reason: "done"), id: 0)
        #expect(fixture.channel.isActive, "the request in flight is still answered")
        try await fixture.send(try fixture.request(2), id: 2)
        let refused = try await fixture.nextFrame()
        #expect(refused.id == 2 && refused.error == .shuttingDown)
        fixture.release()
        let answered = try await fixture.nextFrame()
        #expect(answered.id == 1 && answered.type == .scoreResponse)
        try await fixture.channel.closeFuture.get()
        await fixture.finish()
    }
}
