import LoanScoreProtocol
import LoanScoreTLS
import Logging
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// The limits the client's frame decoder enforces, shared between the decoder and the
/// connection handler so that WELCOME's limits apply from the next frame on. Confined to the
/// channel's event loop.
final class ReceiveLimits {
    var limits = ProtocolLimits.default
}

/// ``FrameDecoder`` with limits that the connection handler can raise or lower after WELCOME
/// (a `ByteToMessageHandler` owns its decoder, so the handler cannot reach it otherwise).
struct ClientFrameDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = Frame
    var decoder = FrameDecoder()
    let shared: ReceiveLimits

    mutating func decode(buffer: inout ByteBuffer) throws -> Frame? {
        decoder.limits = shared.limits
        return try decoder.decode(buffer: &buffer)
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> Frame? {
        try decode(buffer: &buffer)
    }
}

/// One client connection's protocol state, after TLS and framing: sends HELLO when the TLS
/// handshake is done, waits for WELCOME, then pipelines SCORE_REQUEST frames, matching
/// answers by request id in whatever order they come.
///
/// - Requests beyond the in-flight limit wait here, in order, until an answer frees a slot.
/// - Each request has a deadline; when it passes the caller gets `timeout`. A request that
///   was already sent still counts against the in-flight limit until the server answers it.
/// - ERROR with a request id fails that request; ERROR with request id 0, a frame this side
///   cannot decode, and the connection closing fail every request (with retryable errors).
/// - GOODBYE from the server: requests not yet sent fail at once (retryable, so they go to
///   another connection), those in flight are still answered, then the connection closes.
///
/// Confined to its channel's event loop; other threads reach it through `NIOLoopBound`.
final class ClientConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Frame
    typealias OutboundOut = ByteBuffer

    private enum State {
        /// Waiting for the TLS handshake, then for WELCOME.
        case handshaking
        /// WELCOME received; requests flow.
        case ready
        /// The client is closing: no new requests; GOODBYE goes out once the queue is empty.
        case draining(goodbyeSent: Bool)
        /// The channel is gone.
        case closed
    }

    private struct Request {
        var promise: EventLoopPromise<ByteBuffer>
        var timeout: Scheduled<Void>?
        /// The encoded frame while it waits for an in-flight slot; nil once sent.
        var frame: ByteBuffer?
    }

    let receiveLimits = ReceiveLimits()
    private let clientName: String
    private let configuredMaximumInFlight: Int?
    private let welcomeTimeout: TimeAmount
    private let welcomePromise: EventLoopPromise<Welcome>
    private let becameUnusable: @Sendable () -> Void
    /// Called once when a ready connection closes without GOODBYE or a close of this side's.
    private let dropped: @Sendable (LoanScoreClientError) -> Void
    private let logger: Logger

    private var state = State.handshaking
    private var context: ChannelHandlerContext?
    private var maximumInFlight = 0
    private var serverSaidGoodbye = false
    /// Why the connection failed, reported to everything still waiting when it closes.
    private var failure: LoanScoreClientError?
    private var welcomeTimeoutTask: Scheduled<Void>?

    /// Requests by id, sent or waiting.
    private var requests: [UInt64: Request] = [:]
    /// Ids waiting for an in-flight slot, oldest first (from `queueHead` on). Ids no longer in
    /// `requests` (expired, cancelled) are skipped.
    private var queue: [UInt64] = []
    private var queueHead = 0
    /// Requests sent and not yet answered, including those whose caller gave up.
    private var inFlight = 0
    /// Sent requests whose caller gave up (deadline, cancellation): their answers are dropped.
    private var abandoned: Set<UInt64> = []
    private var closePromises: [EventLoopPromise<Void>] = []
    /// `HOST:PORT`, for messages.
    private let server: String

    init(
        clientName: String, server: String, maximumInFlight: Int?, welcomeTimeout: TimeAmount, welcomePromise: EventLoopPromise<Welcome>,
        logger: Logger, becameUnusable: @escaping @Sendable () -> Void,
        dropped: @escaping @Sendable (LoanScoreClientError) -> Void = { _ in }
    ) {
        self.dropped = dropped
        self.clientName = clientName
        self.server = server
        self.configuredMaximumInFlight = maximumInFlight
        self.welcomeTimeout = welcomeTimeout
        self.welcomePromise = welcomePromise
        self.logger = logger
        self.becameUnusable = becameUnusable
    }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let loop = context.eventLoop.assumeIsolated()
        welcomeTimeoutTask = loop.scheduleTask(in: welcomeTimeout) {
            guard case .handshaking = self.state else { return }
            self.fail(LoanScoreClientError(.handshakeFailed, "no WELCOME within \(self.welcomeTimeout) of connecting"))
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is TLSHandshakeCompleted, case .handshaking = state {
            // Version 2 adds results scored by a model version other than the response's (a challenger's).
            send(Hello(clientName: clientName, minimumVersion: ProtocolVersion.minimum, maximumVersion: ProtocolVersion.maximum),
                 requestID: 0)
            context.flush()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case let error as TLSError:
            fail(LoanScoreClientError(.tlsFailed, PlainMessages.tlsFailure(error, server: server)))
        case let error as ProtocolError:
            // The server's bytes cannot be trusted any more: report it and close (PROTOCOL.md §2.5).
            send(ErrorMessage(error), requestID: 0)
            context.flush()
            fail(LoanScoreClientError(.connectionClosed, "the server sent a frame this client refuses: \(error)"))
        case let error as LoanScoreClientError:
            fail(error)
        case let error as IOError where error.errnoCode == ECONNRESET:
            fail(LoanScoreClientError(.connectionClosed, "\(server) reset the connection: the server stopped or restarted, "
                + "or it is at its connection limit (max_connections_per_address; its log says so, and fewer connections help)"))
        case let error as IOError:
            fail(LoanScoreClientError(.connectionClosed, "the connection to \(server) failed: \(String(cString: strerror(error.errnoCode)))"))
        default:
            fail(LoanScoreClientError(.connectionClosed, "the connection to \(server) failed: \(error)"))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .ready = state, !serverSaidGoodbye {
            dropped(failure ?? LoanScoreClientError(.connectionClosed, "\(server) closed the connection"))
        }
        state = .closed
        becameUnusable()
        welcomeTimeoutTask?.cancel()
        let failure = self.failure ?? LoanScoreClientError(.connectionClosed, "\(server) closed the connection")
        welcomePromise.fail(failure)
        let waiting = requests
        requests.removeAll()
        queue.removeAll()
        queueHead = 0
        for (_, request) in waiting {
            request.timeout?.cancel()
            var error = failure
            if request.frame == nil {  // sent, and no answer: the server may have scored it
                error.answerLost = true
                error.message += "; the request was sent and its answer lost (it may have been scored)"
            }
            request.promise.fail(error)
        }
        for promise in closePromises { promise.succeed() }
        closePromises.removeAll()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        var payload = frame.payload
        do {
            switch frame.type {
            case .welcome:
                guard case .handshaking = state else { throw unexpected(frame) }
                try receiveWelcome(try Welcome.decode(from: &payload))
            case .scoreResponse:
                guard frame.requestID != 0 else { throw unexpected(frame) }
                complete(frame.requestID, with: .success(payload))
            case .error:
                let error = try ErrorMessage.decode(from: &payload)
                receiveError(error, requestID: frame.requestID)
            case .ping:
                send(Pong(payload: payload), requestID: frame.requestID)
                context.flush()
            case .pong:
                break
            case .goodbye:
                let goodbye = try Goodbye.decode(from: &payload)
                receiveGoodbye(goodbye)
            default:
                throw unexpected(frame)
            }
        } catch let error as ProtocolError {
            errorCaught(context: context, error: error)
        } catch {
            errorCaught(context: context, error: error)
        }
    }

    // MARK: - Requests (called on the event loop)

    /// Registers a request and sends it now, or when an in-flight slot frees.
    func submit(id: UInt64, frame: ByteBuffer, deadline: NIODeadline, promise: EventLoopPromise<ByteBuffer>) {
        guard case .ready = state, !serverSaidGoodbye, context != nil else {
            promise.fail(LoanScoreClientError.notSentByClosingConnection("the connection is closing; the request was not sent"))
            return
        }
        let loop = context!.eventLoop.assumeIsolated()
        let timeout = loop.scheduleTask(deadline: deadline) { self.expire(id) }
        requests[id] = Request(promise: promise, timeout: timeout, frame: frame)
        queue.append(id)
        pump()
    }

    /// The caller gave up on request `id` (its task was cancelled).
    func cancel(_ id: UInt64) {
        abandon(id, LoanScoreClientError(.timeout, "the request was cancelled"))
    }

    /// Closes gracefully: sends GOODBYE once every waiting request has been sent, and closes
    /// the channel once every request in flight has been answered.
    func close(promise: EventLoopPromise<Void>) {
        closePromises.append(promise)
        switch state {
        case .closed:
            promise.succeed()
        case .handshaking:
            state = .draining(goodbyeSent: false)
            context?.close(promise: nil)
        case .ready:
            state = .draining(goodbyeSent: false)
            becameUnusable()
            pump()
        case .draining:
            break
        }
    }

    // MARK: - Private

    private func receiveWelcome(_ welcome: Welcome) throws {
        guard (ProtocolVersion.minimum...ProtocolVersion.maximum).contains(welcome.protocolVersion) else {
            fail(LoanScoreClientError(.handshakeFailed, "the server chose protocol version \(welcome.protocolVersion); this client speaks "
                + "\(ProtocolVersion.minimum)...\(ProtocolVersion.maximum)"))
            return
        }
        welcomeTimeoutTask?.cancel()
        receiveLimits.limits = welcome.limits
        let serverMaximum = welcome.limits.maximumInFlight
        if let configured = configuredMaximumInFlight, configured > 0 {
            maximumInFlight = serverMaximum > 0 ? min(configured, serverMaximum) : configured
        } else {
            maximumInFlight = serverMaximum
        }
        state = .ready
        logger.debug(
            "loanscore.client connected",
            metadata: ["model": "\(welcome.modelName) \(welcome.modelVersion)", "fields": "\(welcome.schema.fields.count)"])
        welcomePromise.succeed(welcome)
    }

    private func receiveError(_ error: ErrorMessage, requestID: UInt64) {
        if requestID == 0 || error.code.isConnectionFatal {
            // About the connection: the server closes it; everything pending is retried elsewhere.
            if case .handshaking = state {
                fail(LoanScoreClientError(.handshakeFailed, "the server refused the handshake: \(error.code.name): \(error.message)"))
            } else {
                fail(LoanScoreClientError(.connectionClosed, "the server closed the connection: \(error.code.name): \(error.message)"))
            }
            if requestID != 0 { complete(requestID, with: .failure(LoanScoreClientError.fromServer(error))) }
            return
        }
        complete(requestID, with: .failure(LoanScoreClientError.fromServer(error)))
    }

    private func receiveGoodbye(_ goodbye: Goodbye) {
        serverSaidGoodbye = true
        becameUnusable()
        logger.debug("loanscore.client server said goodbye", metadata: ["reason": "\(goodbye.reason)"])
        let reason = goodbye.reason.isEmpty ? "" : " (\(goodbye.reason))"
        while queueHead < queue.count {
            let id = queue[queueHead]
            queueHead += 1
            if let request = requests.removeValue(forKey: id) {
                request.timeout?.cancel()
                request.promise.fail(LoanScoreClientError.notSentByClosingConnection("the server said GOODBYE\(reason); the request was not sent"))
            }
        }
        queue.removeAll()
        queueHead = 0
        if case .handshaking = state {
            fail(LoanScoreClientError(.handshakeFailed, "the server said GOODBYE during the handshake\(reason)"))
        }
        closeIfIdle()
    }

    /// Sends waiting requests while in-flight slots are free; then GOODBYE and close when draining.
    private func pump() {
        guard let context else { return }
        var wrote = false
        while queueHead < queue.count, maximumInFlight == 0 || inFlight < maximumInFlight {
            let id = queue[queueHead]
            queueHead += 1
            guard var request = requests[id], let frame = request.frame else { continue }
            request.frame = nil
            requests[id] = request
            inFlight += 1
            context.write(wrapOutboundOut(frame), promise: nil)
            wrote = true
        }
        if queueHead == queue.count {
            queue.removeAll(keepingCapacity: true)
            queueHead = 0
        } else if queueHead > 1024, queueHead * 2 > queue.count {
            queue.removeFirst(queueHead)
            queueHead = 0
        }
        if case .draining(goodbyeSent: false) = state, queue.isEmpty {
            state = .draining(goodbyeSent: true)
            send(Goodbye(reason: "client closing"), requestID: 0)
            wrote = true
        }
        if wrote { context.flush() }
        closeIfIdle()
    }

    private func closeIfIdle() {
        guard inFlight == 0, queue.count == queueHead else { return }
        let done: Bool
        switch state {
        case .draining(goodbyeSent: true): done = true
        case .ready, .draining(goodbyeSent: false): done = serverSaidGoodbye
        case .handshaking, .closed: done = false
        }
        if done { context?.close(promise: nil) }
    }

    /// Completes request `id` with the server's answer.
    private func complete(_ id: UInt64, with result: Result<ByteBuffer, LoanScoreClientError>) {
        if let request = requests.removeValue(forKey: id) {
            if request.frame == nil { inFlight -= 1 }  // it was sent
            request.timeout?.cancel()
            switch result {
            case .success(let payload): request.promise.succeed(payload)
            case .failure(let error): request.promise.fail(error)
            }
        } else if abandoned.remove(id) != nil {
            inFlight -= 1
        } else {
            logger.debug("loanscore.client answer for an unknown request id", metadata: ["request": "\(id)"])
            return
        }
        pump()
    }

    private func expire(_ id: UInt64) {
        abandon(id, LoanScoreClientError(.timeout, "no answer before the request's deadline"))
    }

    private func abandon(_ id: UInt64, _ error: LoanScoreClientError) {
        guard let request = requests.removeValue(forKey: id) else { return }
        request.timeout?.cancel()
        if request.frame == nil { abandoned.insert(id) }  // sent: the answer still comes, and still counts
        request.promise.fail(error)
    }

    /// Fails the connection: everything waiting gets `error` when the channel closes.
    private func fail(_ error: LoanScoreClientError) {
        if failure == nil { failure = error }
        becameUnusable()
        welcomePromise.fail(error)
        context?.close(promise: nil)
    }

    private func send<Message: ProtocolMessage>(_ message: Message, requestID: UInt64) {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: 64)
        do {
            try FrameEncoder(compression: .never).encode(message, requestID: requestID, into: &buffer)
            context.write(wrapOutboundOut(buffer), promise: nil)
        } catch {
            logger.debug("loanscore.client cannot encode \(Message.messageType)", metadata: ["error": "\(error)"])
        }
    }

    private func unexpected(_ frame: Frame) -> ProtocolError {
        ProtocolError(.malformedFrame, "unexpected \(frame.type) frame from the server", requestID: frame.requestID)
    }
}
