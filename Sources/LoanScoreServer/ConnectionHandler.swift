import Atomics
import Foundation
import LoanScoreAudit
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreProtocol
import LoanScoreTLS
import LoanScoreWorkerPool
import Logging
import Metrics
import NIOCore

/// One client connection: the HELLO/WELCOME handshake, pipelined scoring requests, PING,
/// GOODBYE, errors and backpressure. Runs on the connection's event loop; scoring runs on the
/// worker pool and comes back here through `eventLoop.execute`.
///
/// Backpressure: a request beyond the connection's or the server's in-flight limit, or one the
/// worker queue cannot take, is answered BUSY at once (never queued without bound); while the
/// channel is not writable (the client is not reading its responses) the handler stops
/// asking the socket for more data.
final class ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = Frame
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State { case awaitingHello, ready, closing }

    private let server: ServerState
    private var logger: Logger
    private let encoder: FrameEncoder
    private var state = State.awaitingHello
    private var inFlight = 0
    private var readPending = false
    private var goodbyeReceived = false
    private var client = "unknown"
    /// Whose quota the connection's requests use: the certificate subject, else the source address.
    private var quotaClient = "unknown"
    private var helloTimeout: Scheduled<Void>?
    private let progress: FrameProgress
    private var frameWatch: RepeatedTask?
    /// Where responses are LZ4-compressed before they replace the plain payload (reused).
    private var compressionScratch = ByteBuffer()

    init(server: ServerState, progress: FrameProgress, logger: Logger) {
        self.server = server
        self.progress = progress
        self.logger = logger
        encoder = FrameEncoder(compression: .whenSmaller(threshold: 4096), limits: server.protocolLimits)
    }

    func channelActive(context: ChannelHandlerContext) {
        client = context.remoteAddress?.description ?? "unknown"
        quotaClient = context.remoteAddress?.ipAddress ?? client
        logger[metadataKey: "peer"] = "\(client)"
        if let refusal = server.register(context.channel) {
            logger.warning("connection refused: \(refusal)")
            server.metrics.error(code: "CONNECTION_LIMIT")
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
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let handshake = event as? TLSHandshakeCompleted {
            if let subject = handshake.peerSubject {
                client = subject
                quotaClient = subject
            }
            logger[metadataKey: "client"] = "\(client)"
        } else if let check = event as? CheckFrameDeadline {
            if let started = progress.startedAt, NIODeadline.now() - started > check.deadline {
                fail(context: context, ProtocolError(.timeout, "a frame was started but not completed within \(server.configuration.timeouts.frame) s"))
            }
        } else if event is HelloTimedOut, state == .awaitingHello {
            fail(context: context, ProtocolError(.timeout, "no HELLO within \(server.configuration.timeouts.handshake) s"))
        } else if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .all {
            // Nothing read or written for the idle timeout: free the slot (after answers in flight).
            if inFlight == 0 {
                logger.debug("closing idle connection")
                sendGoodbye(context: context, reason: "idle for \(server.configuration.timeouts.idle) s")
            }
        } else if event is ServerShuttingDown {
            sendGoodbye(context: context, reason: "server shutting down")
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        progress.consumed(FrameHeader.size + Int(frame.header.payloadLength))
        guard state != .closing else { return }
        server.metrics.frame(type: frame.type.description, outcome: "received")
        switch frame.type {
        case .hello: hello(context: context, frame)
        case .scoreRequest: scoreRequest(context: context, frame)
        case .ping:
            var payload = frame.payload
            guard state == .ready else { return handshakeRequired(context: context) }
            do {
                send(context: context, try Ping.decode(from: &payload).pong, requestID: frame.requestID)
            } catch {
                fail(context: context, error)
            }
        case .goodbye:
            guard state == .ready else { return handshakeRequired(context: context) }
            var payload = frame.payload
            do {
                let goodbye = try Goodbye.decode(from: &payload)
                logger.debug("client said goodbye", metadata: ["reason": "\(goodbye.reason)"])
            } catch {
                return fail(context: context, error)
            }
            goodbyeReceived = true
            if inFlight == 0 { close(context: context) }
        case .pong:
            guard state == .ready else { return handshakeRequired(context: context) }
        case .error:
            // A client reporting a problem with our frames: log it; a fatal one ends the connection.
            var payload = frame.payload
            let message = try? ErrorMessage.decode(from: &payload)
            logger.notice("client sent ERROR \(message.map { "\($0.code.name): \($0.message)" } ?? "(undecodable)")")
            if message?.code.isConnectionFatal ?? true { close(context: context) }
        default:
            // WELCOME and SCORE_RESPONSE travel server → client only (PROTOCOL.md §4).
            guard state == .ready else { return handshakeRequired(context: context) }
            fail(context: context, ProtocolError(.malformedFrame, "\(frame.type) travels from server to client only"))
        }
    }

    private func hello(context: ChannelHandlerContext, _ frame: Frame) {
        guard state == .awaitingHello else {
            return fail(context: context, ProtocolError(.handshakeRequired, "HELLO sent twice"))
        }
        var payload = frame.payload
        do {
            let hello = try Hello.decode(from: &payload)
            guard hello.supports(FrameHeader.currentVersion) else {
                return fail(context: context, ProtocolError(.unsupportedVersion,
                    "client speaks versions \(hello.minimumVersion)...\(hello.maximumVersion); server speaks \(FrameHeader.currentVersion)"))
            }
            helloTimeout?.cancel()
            state = .ready
            logger.debug("handshake complete", metadata: ["client_name": "\(hello.clientName)"])
            send(context: context, server.generation.welcome, requestID: frame.requestID)
        } catch {
            fail(context: context, error)
        }
    }

    private func scoreRequest(context: ChannelHandlerContext, _ frame: Frame) {
        guard state == .ready else { return handshakeRequired(context: context) }
        let requestID = frame.requestID
        if goodbyeReceived || server.shuttingDown.load(ordering: .relaxed) {
            return sendError(context: context, .shuttingDown, "the server is shutting down; reconnect elsewhere", requestID: requestID)
        }
        guard server.audit.isAvailable else {
            // Nothing can be recorded, so nothing is scored: a fast "no" the client routes around.
            return sendError(context: context, .unavailable,
                             "the server cannot record decisions now (audit log unavailable); send the request to another server",
                             requestID: requestID)
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
                             admittedApplications: count, enqueuedAt: received, deadline: deadline) { workspace, error in
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
        server.metrics.queueDepth.record(server.pool.queueDepth)
    }

    /// Reserves a per-connection slot, a server-wide slot and queue room for a request of
    /// `applications`, in that order; returns the first limit that refuses (nothing reserved).
    private func admit(applications: Int, now: UInt64) -> BusyReason? {
        guard inFlight < server.configuration.limits.maximumInFlightPerConnection else { return .connectionInFlight }
        guard server.reserveInFlight() else { return .serverInFlight }
        if let reason = server.admission.admit(applications: applications, now: now) {
            server.releaseInFlight()
            return reason
        }
        inFlight += 1
        return nil
    }

    /// Undoes ``admit(applications:now:)`` for a request that never reached a worker.
    private func withdraw(applications: Int) {
        server.admission.withdraw(applications: applications)
        server.releaseInFlight()
        inFlight -= 1
    }

    /// Back on the event loop with a finished request (its decisions already durable).
    private func complete(context: ChannelHandlerContext, requestID: UInt64, _ workspace: RequestWorkspace, _ error: ProtocolError?,
                          received: UInt64) {
        inFlight -= 1
        server.releaseInFlight()
        server.metrics.latency.recordNanoseconds(Int64(clamping: AdmissionControl.now &- received))
        server.metrics.queueDepth.record(server.pool.queueDepth)  // back to 0 once the server is idle
        defer { server.workspaces.give(workspace) }  // after its response payload is copied out
        guard context.channel.isActive else { return }
        if let error {
            sendError(context: context, error.code, error.message, requestID: requestID)
        } else {
            sendResponse(context: context, payload: workspace.response, requestID: requestID)
        }
        if goodbyeReceived && inFlight == 0 { close(context: context) }
        resumeReadingIfPossible(context: context)
    }

    // MARK: - Backpressure

    func read(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            context.read()
        } else {
            readPending = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        resumeReadingIfPossible(context: context)
        context.fireChannelWritabilityChanged()
    }

    private func resumeReadingIfPossible(context: ChannelHandlerContext) {
        if readPending && context.channel.isWritable {
            readPending = false
            context.read()
        }
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
        guard state != .closing else { return }
        if let error = error as? ProtocolError {
            logger.info("closing connection: \(error)")
            sendError(context: context, error.code, error.message, requestID: 0)
        } else {
            logger.info("closing connection: \(error)")
            server.metrics.error(code: "TRANSPORT")
        }
        close(context: context)
    }

    private func close(context: ChannelHandlerContext) {
        state = .closing
        helloTimeout?.cancel()
        frameWatch?.cancel()
        context.close(promise: nil)
    }

    private func sendGoodbye(context: ChannelHandlerContext, reason: String) {
        guard state == .ready else { return close(context: context) }
        send(context: context, Goodbye(reason: reason), requestID: 0)
        goodbyeReceived = true
        if inFlight == 0 { close(context: context) }
    }

    private func sendError(context: ChannelHandlerContext, _ code: ErrorCode, _ message: String, requestID: UInt64) {
        server.metrics.error(code: code.name)
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
        server.metrics.frame(type: type.description, outcome: "sent")
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
