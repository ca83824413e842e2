import Atomics
import Foundation
import LoanScoreAudit
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreProtocol
import LoanScoreTLS
import LoanScoreWorkerPool
import Logging
import NIOCore
import Prometheus

/// One client connection: the HELLO/WELCOME handshake, pipelined scoring requests, PING,
/// GOODBYE, errors and backpressure. Runs on the connection's event loop; scoring runs on the
/// worker pool and comes back here through `eventLoop.execute`. What to do at each event is
/// decided by ``ConnectionStateMachine`` (the connection's policy); this handler does it.
///
/// Admission runs before the columns are decoded: the connection's state and in-flight
/// limit, the request's deadline, the client's quota, the server-wide in-flight limit and the
/// worker queue (``AdmissionControl``), all from the header and the first bytes of the payload.
///
/// Backpressure: a request beyond the connection's or the server's in-flight limit, or one the
/// worker queue cannot take, is answered BUSY at once (never queued without bound); while the
/// channel is not writable (the client is not reading its responses) the handler stops
/// asking the socket for more data.
final class ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = Frame
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let server: ServerState
    private var logger: Logger
    private let encoder: FrameEncoder
    private var policy: ConnectionStateMachine
    private var client = "unknown"
    /// Whose quota the connection's requests use: the certificate subject, else the source address.
    private var quotaClient = "unknown"
    private var helloTimeout: Scheduled<Void>?
    /// The protocol version HELLO negotiated (1 until then; requests come only after it).
    private var protocolVersion: UInt8 = ProtocolVersion.minimum
    private let progress: FrameProgress
    private var frameWatch: RepeatedTask?
    /// Numbers connections in this process, for the log's `connection` key.
    private static let connectionNumbers = ManagedAtomic<UInt64>(0)
    /// Where responses are LZ4-compressed before they replace the plain payload (reused).
    private var compressionScratch = ByteBuffer()

    init(server: ServerState, progress: FrameProgress, logger: Logger) {
        self.server = server
        self.progress = progress
        self.logger = logger
        policy = ConnectionStateMachine(maximumInFlight: server.configuration.limits.maximumInFlightPerConnection)
        encoder = FrameEncoder(compression: .whenSmaller(threshold: 4096), limits: server.protocolLimits)
    }

    func channelActive(context: ChannelHandlerContext) {
        client = context.remoteAddress?.description ?? "unknown"
        quotaClient = context.remoteAddress?.ipAddress ?? client
        logger[metadataKey: "peer"] = "\(client)"
        logger[metadataKey: "connection"] = "\(Self.connectionNumbers.wrappingIncrementThenLoad(ordering: .relaxed))"
        if let refusal = server.register(context.channel) {
            logger.warning("connection refused: \(refusal)")
            server.metrics.error(code: "CONNECTION_LIMIT")
            policy.closed()
            context.close(promise: nil)
            return
        }
        let channel = context.channel
        helloTimeout = context.eventLoop.scheduleTask(in: .milliseconds(Int64(server.configuration.timeouts.handshake * 1000))) {
            channel.pipeline.fireUserInboundEventTriggered(HelloTimedOut())
        }
        // Slow clients: a started frame must be complete within the frame deadline.
        let deadline = TimeAmount.milliseconds(Int64(server.configuration.timeouts.frame * 1000))
        let period = TimeAmount.milliseconds(max(10, min(1000, Int64(server.configuration.timeouts.frame * 250))))
        frameWatch = context.eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
            channel.pipeline.fireUserInboundEventTriggered(CheckFrameDeadline(deadline: deadline))
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        helloTimeout?.cancel()
        frameWatch?.cancel()
        server.unregister(context.channel)
        policy.closed()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let handshake = event as? TLSHandshakeCompleted {
            if let subject = handshake.peerSubject {
                client = LogText.escaped(subject)
                quotaClient = subject
            }
            logger[metadataKey: "client"] = "\(client)"
        } else if let check = event as? CheckFrameDeadline {
            if let started = progress.startedAt, NIODeadline.now() - started > check.deadline {
                fail(context: context, ProtocolError(.timeout, "a frame was started but not completed within \(server.configuration.timeouts.frame) s"))
            }
        } else if event is HelloTimedOut, policy.state == .awaitingHello {
            fail(context: context, ProtocolError(.timeout, "no HELLO within \(server.configuration.timeouts.handshake) s"))
        } else if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .all {
            // Nothing read or written for the idle timeout: free the slot (after answers in flight).
            let action = policy.idle()
            if action != .none { logger.debug("closing idle connection") }
            perform(action, context: context, reason: "idle for \(server.configuration.timeouts.idle) s")
        } else if event is ServerShuttingDown {
            perform(policy.shutdown(), context: context, reason: "server shutting down")
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        progress.consumed(FrameHeader.size + Int(frame.header.payloadLength))
        guard policy.state != .closed else { return }
        server.metrics.frame(frame.type, received: true)
        switch frame.type {
        case .hello: hello(context: context, frame)
        case .scoreRequest: scoreRequest(context: context, frame)
        default: otherFrame(context: context, frame)
        }
    }

    /// PING, GOODBYE, PONG, ERROR and frames in the wrong direction.
    private func otherFrame(context: ChannelHandlerContext, _ frame: Frame) {
        switch policy.frameReceived() {
        case .ignore: return
        case .handshakeRequired: return handshakeRequired(context: context)
        case .process: break
        }
        switch frame.type {
        case .ping:
            var payload = frame.payload
            do {
                send(context: context, try Ping.decode(from: &payload).pong, requestID: frame.requestID)
            } catch {
                fail(context: context, error)
            }
        case .goodbye:
            var payload = frame.payload
            do {
                let goodbye = try Goodbye.decode(from: &payload)
                logger.debug("client said goodbye", metadata: ["reason": "\(LogText.escaped(goodbye.reason))"])
            } catch {
                return fail(context: context, error)
            }
            perform(policy.goodbyeReceived(), context: context, reason: "")
        case .pong:
            break
        case .error:
            // A client reporting a problem with our frames: log it; a fatal one ends the connection.
            var payload = frame.payload
            let message = try? ErrorMessage.decode(from: &payload)
            logger.notice("client sent ERROR \(message.map { "\($0.code.name): \(LogText.escaped($0.message))" } ?? "(undecodable)")")
            if message?.code.isConnectionFatal ?? true { close(context: context) }
        default:
            // WELCOME and SCORE_RESPONSE travel server → client only (PROTOCOL.md §4).
            fail(context: context, ProtocolError(.malformedFrame, "\(frame.type) travels from server to client only"))
        }
    }

    private func hello(context: ChannelHandlerContext, _ frame: Frame) {
        switch policy.helloReceived() {
        case .ignore: return
        case .helloTwice: return fail(context: context, ProtocolError(.handshakeRequired, "HELLO sent twice"))
        case .negotiate: break
        }
        var payload = frame.payload
        do {
            let hello = try Hello.decode(from: &payload)
            guard let version = hello.negotiatedVersion() else {
                return fail(context: context, ProtocolError(.unsupportedVersion,
                    "client speaks versions \(hello.minimumVersion)...\(hello.maximumVersion); server speaks "
                        + "\(ProtocolVersion.minimum)...\(ProtocolVersion.maximum)"))
            }
            protocolVersion = version
            helloTimeout?.cancel()
            policy.handshakeCompleted()
            let generation = server.generation
            // The version this connection was welcomed with (a request names its own in its response).
            logger[metadataKey: "model_version"] = "\(generation.modelVersion)"
            logger.debug("handshake complete", metadata: ["client_name": "\(LogText.escaped(hello.clientName))"])
            var welcome = generation.welcome
            welcome.protocolVersion = version
            send(context: context, welcome, requestID: frame.requestID)
        } catch {
            fail(context: context, error)
        }
    }

    private func scoreRequest(context: ChannelHandlerContext, _ frame: Frame) {
        let requestID = frame.requestID
        switch policy.scoreRequestReceived(shuttingDown: server.shuttingDown.load(ordering: .relaxed), auditAvailable: server.audit.isAvailable) {
        case .ignore: return
        case .handshakeRequired: return handshakeRequired(context: context)
        case .refuse(.shuttingDown, _):
            return sendError(context: context, .shuttingDown, "the server is shutting down; reconnect elsewhere", requestID: requestID)
        case .refuse(.unavailable, _):
            return sendError(context: context, .unavailable,
                             "the server cannot record decisions now (audit log unavailable); send the request to another server",
                             requestID: requestID)
        case .refuse(let code, let reason):
            let applications = ScoreRequestPrefix(peeking: frame.payload, flags: frame.header.flags)?.count ?? 0
            if let reason { server.metrics.busy(reason: reason, applications: applications) }
            return sendError(context: context, code, reason?.message ?? code.name, requestID: requestID)
        case .admit: break
        }
        let received = AdmissionControl.now
        // Admission before any decoding work: the count is at a fixed offset (an unreadable
        // prefix falls through to the full decode, which names the error).
        let prefix = ScoreRequestPrefix(peeking: frame.payload, flags: frame.header.flags)
        if prefix?.deadline == 0 {
            return sendError(context: context, .deadlineExceeded, "the request's deadline (0 µs) had passed on arrival; not scored", requestID: requestID)
        }
        // The instant after which the request is answered DEADLINE_EXCEEDED instead of scored.
        let deadline = prefix?.deadline.map { received + UInt64($0) * 1_000 }
        let count = prefix.map { min($0.count, server.protocolLimits.maximumBatch) } ?? 1
        if let wait = server.quotas.take(count, client: quotaClient, now: received) {
            server.metrics.quotaRejected(client: quotaClient, applications: count)
            server.metrics.error(code: ErrorCode.quotaExceeded.name)
            let limit = server.quotas.limit(for: quotaClient)
            return send(context: context, ErrorMessage.quotaExceeded(
                retryAfterMilliseconds: Int((wait + 999_999) / 1_000_000),
                detail: "\(quotaClient) is over its quota of \(limit.map { "\(Int($0.rate))" } ?? "?") applications/s"), requestID: requestID)
        }
        if let reason = admit(applications: count, now: received) {
            server.quotas.refund(count, client: quotaClient)
            server.metrics.busy(reason: reason, applications: count)
            return sendError(context: context, .busy, reason.message, requestID: requestID)
        }
        var payload = frame.payload
        if frame.header.flags.contains(.deadline), payload.readInteger(as: UInt32.self) == nil {
            withdraw(applications: count)
            return fail(context: context, ProtocolError(.malformedFrame, "SCORE_REQUEST payload ends inside its deadline", requestID: requestID))
        }
        // One generation per request, from decoding to the audit record. A request built from
        // the WELCOME of a generation a reload has replaced (another schema hash) is answered
        // SCHEMA_MISMATCH, and the client reconnects for the new WELCOME (PROTOCOL.md §7).
        let generation = server.generation
        let workspace = server.workspaces.take()
        do {
            try workspace.columns.decode(from: &payload, schema: generation.wireSchema, maximumBatch: server.protocolLimits.maximumBatch)
        } catch {
            server.workspaces.give(workspace)  // a failed decode leaves the buffers ready for the next
            withdraw(applications: count)
            if error.isConnectionFatal { return fail(context: context, error) }
            return sendError(context: context, error.code, error.message, requestID: requestID)
        }
        let loop = context.eventLoop
        let handler = NIOLoopBound(self, eventLoop: loop)
        let bound = NIOLoopBound(context, eventLoop: loop)
        let job = ScoringJob(server: server, generation: generation, workspace: workspace, requestID: requestID, client: client,
                             protocolVersion: protocolVersion, admittedApplications: count, enqueuedAt: received, deadline: deadline) { workspace, error in
            loop.execute {
                handler.value.complete(context: bound.value, requestID: requestID, workspace, error, received: received)
            }
        }
        guard server.pool.trySubmit(job.run) else {
            server.workspaces.give(workspace)
            withdraw(applications: count)
            server.metrics.busy(reason: .queueFull, applications: count)
            return sendError(context: context, .busy, BusyReason.queueFull.message, requestID: requestID)
        }
        server.metrics.queueDepth.set(to: Double(server.pool.queueDepth))
    }

    /// Reserves a server-wide slot and queue room for a request of `applications` (the
    /// connection's own limit was checked by the policy); returns the first limit that refuses
    /// (nothing reserved).
    private func admit(applications: Int, now: UInt64) -> BusyReason? {
        guard server.reserveInFlight() else { return .serverInFlight }
        if let reason = server.admission.admit(applications: applications, now: now) {
            server.releaseInFlight()
            return reason
        }
        policy.admitted()
        return nil
    }

    /// Undoes ``admit(applications:now:)`` for a request that never reached a worker.
    private func withdraw(applications: Int) {
        server.admission.withdraw(applications: applications)
        server.releaseInFlight()
        policy.requestWithdrawn()
    }

    /// Back on the event loop with a finished request (its decisions already durable).
    private func complete(context: ChannelHandlerContext, requestID: UInt64, _ workspace: RequestWorkspace, _ error: ProtocolError?,
                          received: UInt64) {
        let action = policy.requestCompleted()
        server.releaseInFlight()
        server.metrics.latency.recordNanoseconds(Int64(clamping: AdmissionControl.now &- received))
        server.metrics.queueDepth.set(to: Double(server.pool.queueDepth))  // back to 0 once the server is idle
        defer { server.workspaces.give(workspace) }  // after its response payload is copied out
        guard action != .drop, context.channel.isActive else { return }
        if let error {
            sendError(context: context, error.code, error.message, requestID: requestID)
        } else {
            sendResponse(context: context, payload: workspace.response, requestID: requestID)
        }
        if action == .respondAndClose { return closeChannel(context: context) }
        resumeReadingIfPossible(context: context)
    }

    // MARK: - Backpressure

    func read(context: ChannelHandlerContext) {
        if policy.readRequested(writable: context.channel.isWritable) { context.read() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        resumeReadingIfPossible(context: context)
        context.fireChannelWritabilityChanged()
    }

    private func resumeReadingIfPossible(context: ChannelHandlerContext) {
        if policy.mayResumeReading(writable: context.channel.isWritable) { context.read() }
    }

    // MARK: - Errors and writing

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context: context, error)
    }

    private func handshakeRequired(context: ChannelHandlerContext) {
        fail(context: context, ProtocolError(.handshakeRequired, "the first frame must be HELLO"))
    }

    /// Sends a connection-level ERROR when the error is a protocol error, then closes.
    private func fail(context: ChannelHandlerContext, _ error: any Error) {
        guard policy.fail() else { return }
        if let error = error as? ProtocolError {
            logger.info("closing connection: \(error)", metadata: ["code": "\(error.code.name)"])
            sendError(context: context, error.code, error.message, requestID: 0)
        } else {
            logger.info("closing connection: \(error)", metadata: ["code": "TRANSPORT"])
            server.metrics.error(code: "TRANSPORT")
        }
        closeChannel(context: context)
    }

    /// Closes at once (the policy has decided so).
    private func close(context: ChannelHandlerContext) {
        policy.closed()
        closeChannel(context: context)
    }

    private func closeChannel(context: ChannelHandlerContext) {
        helloTimeout?.cancel()
        frameWatch?.cancel()
        context.close(promise: nil)
    }

    /// Does what the policy decided when the connection winds down.
    private func perform(_ action: ConnectionStateMachine.CloseAction, context: ChannelHandlerContext, reason: String) {
        switch action {
        case .none, .wait: return
        case .close: closeChannel(context: context)
        case .sendGoodbye: send(context: context, Goodbye(reason: reason), requestID: 0)
        case .sendGoodbyeAndClose:
            send(context: context, Goodbye(reason: reason), requestID: 0)
            closeChannel(context: context)
        }
    }

    private func sendError(context: ChannelHandlerContext, _ code: ErrorCode, _ message: String, requestID: UInt64) {
        server.metrics.error(code: code.name)
        if requestID != 0 {
            logger.debug("request answered ERROR: \(LogText.escaped(message))",
                         metadata: ["request_id": "\(requestID)", "code": "\(code.name)"])
        }
        send(context: context, ErrorMessage(code: code, message: message), requestID: requestID)
    }

    /// Frames a SCORE_RESPONSE payload a worker wrote.
    private func sendResponse(context: ChannelHandlerContext, payload: ByteBuffer, requestID: UInt64) {
        send(context: context, type: .scoreResponse, requestID: requestID, capacity: FrameHeader.size + payload.readableBytes) {
            $0.writeImmutableBuffer(payload)
        }
    }

    private func send<Message: ProtocolMessage>(context: ChannelHandlerContext, _ message: Message, requestID: UInt64) {
        send(context: context, type: Message.messageType, requestID: requestID, capacity: 256) { message.encode(into: &$0) }
    }

    /// Writes one frame whose payload `write` appends; LZ4 (when the encoder's policy says so)
    /// goes through the connection's reused scratch buffer.
    private func send(context: ChannelHandlerContext, type: MessageType, requestID: UInt64, capacity: Int,
                      payload write: (inout ByteBuffer) -> Void) {
        var buffer = context.channel.allocator.buffer(capacity: capacity)
        do {
            try encoder.encode(type: type, requestID: requestID, into: &buffer, scratch: &compressionScratch, payload: write)
        } catch {
            // A response the client's limits would refuse: say so instead.
            logger.error("cannot encode \(type): \(error)")
            buffer.clear()
            try? encoder.encode(ErrorMessage(code: .internal, message: "response too large: \(error.message)"), requestID: requestID, into: &buffer)
        }
        if compressionScratch.capacity > 1 << 20 { compressionScratch = ByteBuffer() }  // keep no outsized buffer
        server.metrics.frame(type, received: false)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }
}

@available(*, unavailable)
extension ConnectionHandler: Sendable {}

/// Fired periodically to check the frame deadline (``FrameProgress``).
struct CheckFrameDeadline: Sendable {
    var deadline: TimeAmount
}

/// Fired on a connection whose HELLO did not arrive in time.
struct HelloTimedOut: Sendable {}

/// Fired on every connection when the server begins a graceful shutdown.
struct ServerShuttingDown: Sendable {}
