import LoanScoreProtocol
import LoanScoreTLS
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// One open, handshaken connection of the pool: its channel, WELCOME, and the handler that
/// pipelines its requests. Thread-safe: the handler is only touched on the channel's loop.
final class Connection: Sendable {
    let channel: any Channel
    let welcome: Welcome
    private let handler: NIOLoopBound<ClientConnectionHandler>
    private let encoder: FrameEncoder
    /// False once the connection is closing or closed, or the server said GOODBYE.
    private let state: Shared

    /// What the handler and the pool share.
    final class Shared: Sendable {
        let usable = Atomic<Bool>(true)
        let nextRequestID = Atomic<UInt64>(1)
    }

    /// Whether requests carry the time left before their deadline (``LoanScoreClient/Configuration/sendsDeadline``).
    private let sendsDeadline: Bool

    private init(channel: any Channel, welcome: Welcome, handler: NIOLoopBound<ClientConnectionHandler>, encoder: FrameEncoder, state: Shared,
                 sendsDeadline: Bool) {
        self.sendsDeadline = sendsDeadline
        self.channel = channel
        self.welcome = welcome
        self.handler = handler
        self.encoder = encoder
        self.state = state
    }

    /// Whether new requests may be sent on this connection.
    var isUsable: Bool { state.usable.load(ordering: .acquiring) && channel.isActive }

    /// Opens a connection to `endpoint`: TCP, TLS, HELLO, WELCOME. `dropped` is called once if
    /// the open connection later closes without GOODBYE or a close of this side's.
    ///
    /// - Throws: ``LoanScoreClientError`` `connectFailed`, `tlsFailed`, `handshakeFailed` or
    ///   `connectionClosed`, with ``LoanScoreClientError/endpointFailed`` set.
    static func connect(
        to endpoint: HostPort, configuration: LoanScoreClient.Configuration, tlsContext: TLSContext, group: any EventLoopGroup,
        dropped: @escaping @Sendable (LoanScoreClientError) -> Void
    ) async throws(LoanScoreClientError) -> Connection {
        do {
            return try await open(endpoint, configuration: configuration, tlsContext: tlsContext, group: group, dropped: dropped)
        } catch {
            var error = error
            error.endpointFailed = true
            throw error
        }
    }

    private static func open(
        _ endpoint: HostPort, configuration: LoanScoreClient.Configuration, tlsContext: TLSContext, group: any EventLoopGroup,
        dropped: @escaping @Sendable (LoanScoreClientError) -> Void
    ) async throws(LoanScoreClientError) -> Connection {
        let loop = group.next()
        let welcomePromise = loop.makePromise(of: Welcome.self)
        let handlerPromise = loop.makePromise(of: NIOLoopBound<ClientConnectionHandler>.self)
        let shared = Shared()
        let serverName = configuration.tls.serverName ?? endpoint.host
        let server = endpoint.description
        let connectTimeout = configuration.connectTimeout.timeAmount
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)  // IPPROTO_TCP: at SOL_SOCKET, option 1 is SO_DEBUG
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = ClientConnectionHandler(
                        clientName: configuration.clientName, server: server, maximumInFlight: configuration.maximumInFlightPerConnection,
                        welcomeTimeout: connectTimeout, welcomePromise: welcomePromise, logger: configuration.logger,
                        becameUnusable: { shared.usable.store(false, ordering: .releasing) }, dropped: dropped)
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(TLSHandler(context: tlsContext, serverName: serverName))
                    try pipeline.addHandler(ByteToMessageHandler(ClientFrameDecoder(shared: handler.receiveLimits)))
                    try pipeline.addHandler(handler)
                    handlerPromise.succeed(NIOLoopBound(handler, eventLoop: channel.eventLoop))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: endpoint.host, port: endpoint.port).get()
        } catch {
            let failure: LoanScoreClientError
            switch error {
            case let error as TLSError:
                failure = LoanScoreClientError(.tlsFailed, PlainMessages.tlsFailure(error, server: server))
            default:
                failure = LoanScoreClientError(.connectFailed, PlainMessages.connectFailure(error, server: server))
            }
            welcomePromise.fail(failure)
            handlerPromise.fail(failure)
            throw failure
        }
        do {
            let handler = try await handlerPromise.futureResult.get()
            let welcome = try await welcomePromise.futureResult.get()
            var encoder = FrameEncoder(compression: .never, limits: welcome.limits)
            if let threshold = configuration.compressionThreshold { encoder.compression = .whenSmaller(threshold: threshold) }
            configuration.logger.debug(
                "loanscore.client connection ready",
                metadata: ["server": "\(server)", "model": "\(welcome.modelName) \(welcome.modelVersion)"])
            return Connection(channel: channel, welcome: welcome, handler: handler, encoder: encoder, state: shared,
                              sendsDeadline: configuration.sendsDeadline)
        } catch {
            channel.close(promise: nil)
            throw error as? LoanScoreClientError ?? LoanScoreClientError(.handshakeFailed, "\(error)")
        }
    }

    /// Sends one batch and waits for its answer.
    ///
    /// - Throws: ``LoanScoreClientError``: `batchTooLarge` when the frame is above the server's
    ///   limits (nothing sent), `timeout` at the deadline, the server's error, or
    ///   `connectionClosed`.
    func send(_ request: ScoreRequest, deadline: NIODeadline) async throws(LoanScoreClientError) -> ScoreResponse {
        let (id, answer) = try start(request, deadline: deadline)
        let loop = channel.eventLoop, handler = self.handler
        var payload: ByteBuffer
        do {
            payload = try await withTaskCancellationHandler {
                try await answer.get()
            } onCancel: {
                loop.execute { handler.value.cancel(id) }
            }
        } catch {
            throw error as? LoanScoreClientError ?? LoanScoreClientError(.connectionClosed, "\(error)")
        }
        return try response(from: &payload, count: request.count)
    }

    /// Sends one batch; the future, completed on this connection's event loop, holds its
    /// answer. Called on that loop, the request goes straight to the handler (no hop).
    ///
    /// - Returns: A future failed with ``LoanScoreClientError`` as ``send(_:deadline:)`` throws.
    func submit(_ request: ScoreRequest, deadline: NIODeadline) -> EventLoopFuture<ScoreResponse> {
        let answer: EventLoopFuture<ByteBuffer>
        do {
            answer = try start(request, deadline: deadline).answer
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return answer.flatMapErrorThrowing { error in
            throw error as? LoanScoreClientError ?? LoanScoreClientError(.connectionClosed, "\(error)")
        }.flatMapThrowing { payload in
            var payload = payload
            return try self.response(from: &payload, count: request.count)
        }
    }

    /// Encodes `request` under a new request id and hands it to the handler; the future holds
    /// the SCORE_RESPONSE payload.
    ///
    /// - Throws: `batchTooLarge` when the frame is above the server's limits (nothing sent).
    private func start(_ request: ScoreRequest, deadline: NIODeadline) throws(LoanScoreClientError)
        -> (id: UInt64, answer: EventLoopFuture<ByteBuffer>) {
        let id = state.nextRequestID.wrappingAdd(1, ordering: .relaxed).oldValue
        var frame = channel.allocator.buffer(capacity: FrameHeader.size + 64 + request.count * 16)
        var request = request
        if sendsDeadline { request.deadline = Connection.budget(until: deadline) }
        do {
            try encoder.encode(request, requestID: id, into: &frame)
        } catch {
            throw LoanScoreClientError(
                .batchTooLarge, "the batch of \(request.count) applications does not fit the server's frame limits: \(error.message)")
        }
        let loop = channel.eventLoop
        let promise = loop.makePromise(of: ByteBuffer.self)
        let handler = self.handler
        if loop.inEventLoop {
            handler.value.submit(id: id, frame: frame, deadline: deadline, promise: promise)
        } else {
            let encoded = frame
            loop.execute { handler.value.submit(id: id, frame: encoded, deadline: deadline, promise: promise) }
        }
        return (id, promise.futureResult)
    }

    /// Decodes a SCORE_RESPONSE payload for a request of `count` applications; a payload that
    /// cannot be decoded, or answers another number of applications, closes the connection.
    ///
    /// - Throws: ``LoanScoreClientError`` `server(.malformedFrame)`.
    private func response(from payload: inout ByteBuffer, count: Int) throws(LoanScoreClientError) -> ScoreResponse {
        let response: ScoreResponse
        do {
            response = try ScoreResponse.decode(from: &payload, maximumBatch: max(welcome.limits.maximumBatch, count),
                                                protocolVersion: welcome.protocolVersion)
        } catch {
            close()
            throw LoanScoreClientError(.server(.malformedFrame), "the server's SCORE_RESPONSE cannot be decoded: \(error)")
        }
        guard response.results.count == count else {
            close()
            throw LoanScoreClientError(
                .server(.malformedFrame), "the server answered \(response.results.count) results for \(count) applications")
        }
        return response
    }

    /// Starts a graceful close; the returned future completes when the channel is closed.
    @discardableResult
    func close() -> EventLoopFuture<Void> {
        state.usable.store(false, ordering: .releasing)
        let promise = channel.eventLoop.makePromise(of: Void.self)
        let handler = self.handler
        channel.eventLoop.execute { handler.value.close(promise: promise) }
        return promise.futureResult
    }
}

extension Duration {
    /// The same span as a NIO `TimeAmount`.
    var timeAmount: TimeAmount { .nanoseconds(nanoseconds) }
}

extension Connection {
    /// The time left until `deadline` in whole microseconds, as a SCORE_REQUEST deadline
    /// (0 when it has passed; at most `UInt32.max`, about 71 minutes). Computed when the request
    /// is encoded; time it then waits in this client for a free slot is not subtracted.
    static func budget(until deadline: NIODeadline, now: NIODeadline = .now()) -> UInt32 {
        guard deadline > now else { return 0 }
        return UInt32(clamping: (deadline - now).nanoseconds / 1_000)
    }
}
