import Foundation
import LoanScoreClient
import LoanScoreProtocol
import LoanScoreTLS
import LoanScoreTestSupport
import NIOCore
import NIOPosix
import Synchronization

/// The certificates every test shares (made once with the openssl command).
let sharedCertificates = Result { try TestCertificates.make(caName: "LoanScore Client Test CA") }
func certificates() throws -> TestCertificates { try sharedCertificates.get() }

/// The served schema of the fake server: the vectors' four fields.
let testSchema = WireSchema(fields: [
    WireField(name: "Seniority", type: .number),
    WireField(name: "Home", type: .string),
    WireField(name: "Income", type: .number),
    WireField(name: "Records", type: .bool),
])

/// One SCORE_REQUEST as the fake server saw it.
struct ReceivedRequest: Sendable {
    /// 1-based accept order of the connection it came on.
    var connection: Int
    var requestID: UInt64
    var request: ScoreRequest
    /// 1-based order among all requests the server received.
    var sequence: Int
    /// Whether the frame came LZ4-compressed.
    var compressed = false
    /// The request's deadline (µs), kept apart so that `request` compares with what the test built.
    var deadline: UInt32?
}

/// What the fake server sends back.
enum Outgoing: Sendable {
    /// A SCORE_RESPONSE for `requestID` whose results name each application (risk level =
    /// application id, PD = its position / 100), so a test sees which request it answers.
    case answer(ReceivedRequest)
    /// The same answer, sent after `delay`.
    case answerLater(ReceivedRequest, delay: TimeAmount)
    case error(requestID: UInt64, ErrorCode, String)
    case goodbye(String)
    /// GOODBYE sent after `delay` (requests the client queued meanwhile were never sent).
    case goodbyeLater(String, delay: TimeAmount)
    /// Closes the connection the request came on.
    case close
}

/// The answer the fake server gives to `received`: scored results that echo the ids.
func echoResponse(_ received: ReceivedRequest) -> ScoreResponse {
    ScoreResponse(
        modelVersion: "1.0.0",
        results: received.request.applicationIDs.enumerated().map { index, id in
            .scored(ScoredApplication(pd: Double(index) / 100, riskLevel: id, decision: .review, confidence: 0.5, reasons: ["R1"]))
        })
}

/// What the fake server recorded.
struct ServerLog: Sendable {
    var connections = 0
    var helloNames: [String] = []
    var requests: [ReceivedRequest] = []
    var goodbyes = 0
    var peerSubjects: [String?] = []
    /// SCORE_REQUESTs received and not yet answered, now and at most.
    var unanswered = 0
    var maximumUnanswered = 0
}

/// A LoanScore server stand-in on 127.0.0.1: TLS, framing, HELLO/WELCOME, and a test-supplied
/// behaviour for each SCORE_REQUEST (answer now, later, out of order, with an error, or close).
final class FakeServer: Sendable {
    typealias Behavior = @Sendable (ReceivedRequest) -> [Outgoing]

    let group: MultiThreadedEventLoopGroup
    let channel: any Channel
    let log: Locked<ServerLog>
    let port: Int

    private init(group: MultiThreadedEventLoopGroup, channel: any Channel, log: Locked<ServerLog>) {
        self.group = group
        self.channel = channel
        self.log = log
        self.port = channel.localAddress!.port!
    }

    /// Starts a server; `behavior` decides what each SCORE_REQUEST gets, `policy` which TLS
    /// versions and suites it accepts.
    static func start(
        limits: ProtocolLimits = .default, mutualTLS: Bool = false, policy: TLSPolicy = .intermediate,
        behavior: @escaping Behavior = { [.answer($0)] }
    ) async throws -> FakeServer {
        let certificates = try certificates()
        let context = try TLSContext(
            configuration: .makeServerConfiguration(
                certificateChainFile: certificates.serverCertificate, privateKeyFile: certificates.serverKey,
                trustRootsFile: certificates.caCertificate, peerVerification: mutualTLS ? .required : .none, policy: policy))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let log = Locked(ServerLog())
        let state = SharedState(log: log, limits: limits, behavior: behavior)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let number = state.log.withLock { log in
                        log.connections += 1
                        return log.connections
                    }
                    try channel.pipeline.syncOperations.addHandler(TLSHandler(context: context))
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(limits: limits)))
                    try channel.pipeline.syncOperations.addHandler(FakeServerHandler(connection: number, state: state))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return FakeServer(group: group, channel: channel, log: log)
    }

    /// A client configuration for this server, trusting the test CA.
    func clientConfiguration(withCertificate: Bool = false) throws -> LoanScoreClient.Configuration {
        let certificates = try certificates()
        return LoanScoreClient.Configuration(
            host: "127.0.0.1", port: port,
            tls: .init(
                caFile: certificates.caCertificate,
                certificateFile: withCertificate ? certificates.clientCertificate : nil,
                privateKeyFile: withCertificate ? certificates.clientKey : nil),
            deadline: .seconds(5), connectTimeout: .seconds(5), clientName: "client-tests/1")
    }

    func stop() async throws {
        try await channel.close()
        try await group.shutdownGracefully()
    }

    /// Sends frames from outside the server's event loop: to every open connection's handler.
    final class SharedState: Sendable {
        let log: Locked<ServerLog>
        let limits: ProtocolLimits
        let behavior: Behavior
        /// Open connections by number, to send deferred answers on the right channel.
        let channels = Mutex<[Int: any Channel]>([:])

        init(log: Locked<ServerLog>, limits: ProtocolLimits, behavior: @escaping Behavior) {
            self.log = log
            self.limits = limits
            self.behavior = behavior
        }
    }
}

/// The fake server's per-connection handler.
final class FakeServerHandler: ChannelInboundHandler {
    typealias InboundIn = Frame
    typealias OutboundOut = ByteBuffer

    let connection: Int
    let state: FakeServer.SharedState
    private var peerSubject: String?

    init(connection: Int, state: FakeServer.SharedState) {
        self.connection = connection
        self.state = state
    }

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        state.channels.withLock { $0[connection] = channel }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.channels.withLock { _ = $0.removeValue(forKey: connection) }
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let done = event as? TLSHandshakeCompleted { peerSubject = done.peerSubject }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        var payload = frame.payload
        do {
            switch frame.type {
            case .hello:
                let hello = try Hello.decode(from: &payload)
                let subject = peerSubject
                state.log.withLock {
                    $0.helloNames.append(hello.clientName)
                    $0.peerSubjects.append(subject)
                }
                let welcome = Welcome(modelName: "fake-model", modelVersion: "1.0.0", schema: testSchema, limits: state.limits)
                write(welcome, requestID: frame.requestID, context: context)
            case .scoreRequest:
                var request = try ScoreRequest.decode(from: &payload, schema: testSchema, maximumBatch: state.limits.maximumBatch, flags: frame.header.flags)
                let deadline = request.deadline
                request.deadline = nil
                let received = state.log.withLock { log in
                    let received = ReceivedRequest(
                        connection: connection, requestID: frame.requestID, request: request, sequence: log.requests.count + 1,
                        compressed: frame.header.isCompressed, deadline: deadline)
                    log.requests.append(received)
                    log.unanswered += 1
                    log.maximumUnanswered = max(log.maximumUnanswered, log.unanswered)
                    return received
                }
                for outgoing in state.behavior(received) { perform(outgoing) }
            case .goodbye:
                state.log.withLock { $0.goodbyes += 1 }
                context.close(promise: nil)
            case .ping:
                write(Pong(payload: payload), requestID: frame.requestID, context: context)
            default:
                break
            }
        } catch {
            write(ErrorMessage(error), requestID: frame.requestID, context: context)
        }
    }

    /// Sends `outgoing` on the channel of the connection it concerns (possibly another one).
    private func perform(_ outgoing: Outgoing) {
        let target: Int
        switch outgoing {
        case .answer(let received), .answerLater(let received, _): target = received.connection
        case .error, .goodbye, .goodbyeLater, .close: target = connection
        }
        guard let channel = state.channels.withLock({ $0[target] }) else { return }
        var buffer = ByteBuffer()
        let encoder = FrameEncoder(compression: .never, limits: .init(maximumFramePayload: 1 << 30, maximumUncompressedPayload: 1 << 30))
        switch outgoing {
        case .answer(let received):
            try! encoder.encode(echoResponse(received), requestID: received.requestID, into: &buffer)
            state.log.withLock { $0.unanswered -= 1 }
        case .answerLater(let received, let delay):
            let state = self.state
            channel.eventLoop.scheduleTask(in: delay) {
                var buffer = ByteBuffer()
                try! encoder.encode(echoResponse(received), requestID: received.requestID, into: &buffer)
                state.log.withLock { $0.unanswered -= 1 }
                channel.writeAndFlush(buffer, promise: nil)
            }
            return
        case .error(let requestID, let code, let message):
            state.log.withLock { $0.unanswered -= 1 }
            try! encoder.encode(ErrorMessage(code: code, message: message), requestID: requestID, into: &buffer)
        case .goodbye(let reason):
            try! encoder.encode(Goodbye(reason: reason), requestID: 0, into: &buffer)
        case .goodbyeLater(let reason, let delay):
            channel.eventLoop.scheduleTask(in: delay) {
                var buffer = ByteBuffer()
                try! encoder.encode(Goodbye(reason: reason), requestID: 0, into: &buffer)
                channel.writeAndFlush(buffer, promise: nil)
            }
            return
        case .close:
            channel.close(promise: nil)
            return
        }
        channel.writeAndFlush(buffer, promise: nil)
    }

    private func write<Message: ProtocolMessage>(_ message: Message, requestID: UInt64, context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 256)
        try! FrameEncoder(compression: .never).encode(message, requestID: requestID, into: &buffer)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }
}

/// An application of the test schema with a few values.
func application(_ id: String, seniority: Double? = 9, home: String? = "rent", income: Double? = 130.5, records: Bool? = false)
    -> ApplicationInput
{
    var values: [String: WireValue] = [:]
    if let seniority { values["Seniority"] = .number(seniority) }
    if let home { values["Home"] = .text(home) }
    if let income { values["Income"] = .number(income) }
    if let records { values["Records"] = .bool(records) }
    return ApplicationInput(id: id, values: values)
}

/// Collects requests until `count` have arrived, then answers them all in reverse order.
final class ReverseAfter: Sendable {
    let count: Int
    let held = Mutex<[ReceivedRequest]>([])
    init(_ count: Int) { self.count = count }

    func behavior(_ received: ReceivedRequest) -> [Outgoing] {
        held.withLock { held in
            held.append(received)
            guard held.count == count else { return [] }
            return held.reversed().map { .answer($0) }
        }
    }
}

/// A value behind a lock, shareable by reference (a `Mutex` cannot be copied into two owners).
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<Result>(_ body: (inout Value) -> Result) -> Result {
        mutex.withLock { body(&$0) }
    }
}
