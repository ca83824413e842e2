import Atomics
import Foundation
import LoanScoreFeatures
import NIOCore
import NIOHTTP1

/// Watches the raw bytes of an admin connection before the HTTP decoder sees them:
///
/// - tells ``AdminHandler`` that bytes have arrived, so the header deadline starts with a
///   request's first byte (a head trickled one byte at a time never completes);
/// - checks each request line: one without an HTTP/1.x version (`GET /`, HTTP/0.9) is
///   refused at once with a single 400. The decoder would take it for the start of a head
///   and wait for headers that never come.
///
/// It follows request boundaries line by line: a head ends at its empty line, and the next
/// request line follows unless the head announced a body (`Content-Length` other than 0, or
/// `Transfer-Encoding`); after a body the checks stop for the connection (no admin endpoint
/// takes one), and the decoder's own checks and the header deadline remain.
final class AdminTrafficWatch: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private enum Scan { case requestLine, headers(bodyAnnounced: Bool), off }

    private var scan = Scan.requestLine
    /// The current line so far (without its LF).
    private var line: [UInt8] = []
    private var refused = false
    private let maximumLine: Int

    init(maximumLine: Int) {
        self.maximumLine = maximumLine
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        context.fireUserInboundEventTriggered(AdminBytesArrived())
        var buffer = unwrapInboundIn(data)
        guard let accepted = refusedLineStart(buffer.readableBytesView) else {
            return context.fireChannelRead(data)
        }
        // The requests before the refused line are served; then one 400.
        refused = true
        if accepted > 0, let before = buffer.readSlice(length: accepted) {
            context.fireChannelRead(wrapInboundOut(before))
        }
        context.fireErrorCaught(HTTPParserError.invalidVersion)
    }

    /// Where (in `bytes`) the request line that ends without ` HTTP/1.x` starts; nil when
    /// there is none.
    private func refusedLineStart(_ bytes: ByteBufferView) -> Int? {
        var lineStart = 0
        for (offset, byte) in bytes.enumerated() {
            if case .off = scan { return nil }
            guard byte == UInt8(ascii: "\n") else {
                line.append(byte)
                if line.count > maximumLine { scan = .off }  // the decoder answers 431
                continue
            }
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            defer {
                line.removeAll(keepingCapacity: true)
                lineStart = offset + 1
            }
            switch scan {
            case .requestLine:
                if line.isEmpty { continue }  // empty lines before a request line are allowed (RFC 9112 §2.2)
                let words = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
                guard words.count == 3, words[2].starts(with: Array("HTTP/1.".utf8)) else { return lineStart }
                scan = .headers(bodyAnnounced: false)
            case .headers(let bodyAnnounced):
                if line.isEmpty {
                    scan = bodyAnnounced ? .off : .requestLine
                } else if Self.announcesBody(line) {
                    scan = .headers(bodyAnnounced: true)
                }
            case .off:
                return nil
            }
        }
        return nil
    }

    /// `Transfer-Encoding: …` or `Content-Length: n` with n other than 0.
    private static func announcesBody(_ line: [UInt8]) -> Bool {
        let text = String(decoding: line.prefix(64), as: UTF8.self).lowercased()
        if text.hasPrefix("transfer-encoding:") { return true }
        guard text.hasPrefix("content-length:") else { return false }
        return text.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces) != "0"
    }
}

@available(*, unavailable)
extension AdminTrafficWatch: Sendable {}

/// Bytes arrived on an admin connection (fired by ``AdminTrafficWatch``).
struct AdminBytesArrived: Sendable {}

/// One admin connection: the connection limit, the idle, header and body deadlines, the body
/// size limit, routing, and answers. The request head's size is limited by the HTTP decoder
/// (its parser error becomes 431 here).
///
/// Every answer of status 400 or more says `Connection: close`, and the connection is closed
/// once it is written; after the first error nothing more is read or answered, so a request
/// line the parser refuses gets exactly one 400.
///
/// While an answer is in progress (a reload runs off the event loop), or the client does not
/// read its answers (the channel is not writable), the handler stops reading; requests
/// already decoded wait in order and are answered after it.
final class AdminHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        /// Waiting for a request head; `started` once its first byte has arrived.
        case awaitingHead(started: Bool)
        /// The head has arrived; its body (if any) is being read.
        case readingBody(HTTPRequestHead, received: Int)
        /// An answer is being computed off the event loop.
        case answering(HTTPRequestHead)
        case closing
    }

    private enum Deadline: Sendable { case idle, header, body }

    /// A deadline that passed, fired through the pipeline by the scheduled task.
    private struct DeadlinePassed: Sendable { var deadline: Deadline }

    private let listener: AdminListenerState
    private var state = State.awaitingHead(started: false)
    private var timer: Scheduled<Void>?
    private var queued: [HTTPServerRequestPart] = []
    private var readPending = false
    /// A malformed request that came after requests still being answered: answered (and the
    /// connection closed) once they are.
    private var deferredParserError: HTTPParserError?
    /// Set during shutdown: the answer in progress is the connection's last.
    private var closeAfterAnswer = false
    /// The body of the request being read (at most `max_body_bytes`), for `POST /score`.
    private var body: [UInt8] = []

    init(listener: AdminListenerState) {
        self.listener = listener
    }

    private var limits: ServerConfiguration.AdminLimits { listener.limits }

    // MARK: - Connection lifecycle

    func channelActive(context: ChannelHandlerContext) {
        guard listener.admit(context.channel) else {
            state = .closing
            listener.metrics.adminConnectionRefused()
            context.close(promise: nil)
            return
        }
        arm(.idle, context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        state = .closing
        listener.remove(context.channel)
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is AdminBytesArrived {
            if case .awaitingHead(started: false) = state {
                state = .awaitingHead(started: true)
                arm(.header, context: context)
            }
        } else if let passed = event as? DeadlinePassed {
            deadlinePassed(passed.deadline, context: context)
        } else if let shutdown = event as? AdminShutdown {
            switch (shutdown, state) {
            case (_, .closing): break
            case (.drain, .answering): closeAfterAnswer = true
            case (.deadlinePassed, .answering(let head)):
                answer(context: context, version: head.version, status: .serviceUnavailable,
                       body: head.uri.hasPrefix("/reload") ? "the server is shutting down; the reload's outcome is in the server's log\n"
                           : "the server is shutting down\n")
            default: close(context: context)
            }
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    private func deadlinePassed(_ deadline: Deadline, context: ChannelHandlerContext) {
        switch (deadline, state) {
        case (.idle, .awaitingHead(started: false)):
            close(context: context)  // an idle keep-alive connection: nothing to answer
        case (.header, .awaitingHead(started: true)):
            answer(context: context, version: .http1_1, status: .requestTimeout,
                   body: "the request head was not complete within \(limits.headerTimeout) s\n")
        case (.body, .readingBody(let head, _)):
            answer(context: context, version: head.version, status: .requestTimeout,
                   body: "the request body was not complete within \(limits.bodyTimeout) s\n")
        default:
            break  // a deadline of a state already left
        }
    }

    /// Starts the deadline of the state just entered (one at a time: each state has one).
    private func arm(_ deadline: Deadline, context: ChannelHandlerContext) {
        timer?.cancel()
        let seconds = switch deadline {
        case .idle: limits.idleTimeout
        case .header: limits.headerTimeout
        case .body: limits.bodyTimeout
        }
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: .nanoseconds(Int64(seconds * 1e9))) {
            channel.pipeline.fireUserInboundEventTriggered(DeadlinePassed(deadline: deadline))
        }
    }

    // MARK: - Requests

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .closing = state { return }
        // Pipelined requests wait behind an answer in progress, and while the client is not
        // reading (answers are never buffered without bound); reads stop meanwhile.
        if canAnswer(context) && queued.isEmpty {
            handle(part, context: context)
        } else {
            queued.append(part)
        }
    }

    private func handle(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch (part, state) {
        case (.head(let head), .awaitingHead):
            if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > limits.maximumBodyBytes {
                return answer(context: context, version: head.version, status: .payloadTooLarge,
                              body: "the body may be at most \(limits.maximumBodyBytes) bytes\n")
            }
            state = .readingBody(head, received: 0)
            body.removeAll(keepingCapacity: false)
            arm(.body, context: context)
        case (.body(let buffer), .readingBody(let head, let received)):
            let total = received + buffer.readableBytes
            guard total <= limits.maximumBodyBytes else {
                return answer(context: context, version: head.version, status: .payloadTooLarge,
                              body: "the body may be at most \(limits.maximumBodyBytes) bytes\n")
            }
            body.append(contentsOf: buffer.readableBytesView)
            state = .readingBody(head, received: total)
        case (.end, .readingBody(let head, _)):
            timer?.cancel()
            route(head, context: context)
        default:
            // The decoder only produces head, body…, end; anything else is a bug: end the connection.
            close(context: context)
        }
    }

    /// Headers of a 401 or 403: never cached, never sniffed (the console's answers carry more).
    private static let refusalHeaders = [("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")]

    private func route(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let sources = listener.sources
        let path = head.uri.split(separator: "?", omittingEmptySubsequences: false).first.map(String.init) ?? head.uri
        let isProtected = AdminAccess.isProtected(method: head.method, path: path)
        if isProtected, let refusal = AdminRequestOrigin.refusal(head.headers, listenerIsLoopback: listener.isLoopback) {
            return answer(context: context, version: head.version, status: .forbidden, type: "application/json",
                          body: #"{"code":"forbidden_origin","error":"# + JSONText.quoted(refusal) + "}\n", headers: Self.refusalHeaders)
        }
        if let access = sources.access, isProtected, !access.accepts(head.headers) {
            return answer(context: context, version: head.version, status: .unauthorized, type: "application/json",
                          body: #"{"code":"unauthorized","error":"this endpoint needs the admin secret: Authorization: Bearer TOKEN or basic auth (admin_auth)"}"# + "\n",
                          headers: access.challenges.map { ("WWW-Authenticate", $0) } + Self.refusalHeaders)
        }
        if let console = sources.console, AdminConsole.handles(method: head.method, path: path) {
            return consoleRequest(console, head: head, path: path, context: context)
        }
        switch (head.method, path) {
        case (.GET, "/health"):
            answer(context: context, version: head.version, status: .ok, type: "application/json", body: sources.health(),
                   keepAlive: head.isKeepAlive)
        case (.GET, "/ready"):
            let (ready, reason) = sources.ready()
            answer(context: context, version: head.version, status: ready ? .ok : .serviceUnavailable, body: reason + "\n",
                   keepAlive: head.isKeepAlive)
        case (.GET, "/metrics"):
            answer(context: context, version: head.version, status: .ok, type: "text/plain; version=0.0.4; charset=utf-8",
                   body: sources.metrics(), keepAlive: head.isKeepAlive)
        case (.GET, "/model"):
            answer(context: context, version: head.version, status: .ok, type: "application/json", body: sources.model(),
                   keepAlive: head.isKeepAlive)
        case (.GET, "/drift"):
            guard let drift = sources.drift else {
                return answer(context: context, version: head.version, status: .notFound, type: "application/json",
                              body: #"{"code":"disabled","error":"drift tracking is off on this server (drift.enabled)"}"# + "\n",
                              keepAlive: head.isKeepAlive)
            }
            let (status, body) = drift()
            answer(context: context, version: head.version, status: HTTPResponseStatus(statusCode: status), type: "application/json",
                   body: body, keepAlive: head.isKeepAlive)
        case (.POST, "/reload"):
            guard let reload = sources.reload else {
                return answer(context: context, version: head.version, status: .notFound, body: "reload is not enabled here\n")
            }
            guard !listener.draining.load(ordering: .relaxed) else {
                return answer(context: context, version: head.version, status: .serviceUnavailable, type: "application/json",
                              body: #"{"message":"the server is shutting down","outcome":"shutting_down"}"# + "\n")
            }
            // The reload loads files off the event loop; answer when it is done.
            state = .answering(head)
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.makeFutureWithTask(reload).whenSuccess { result in
                let (handler, context) = bound.value
                handler.reloadFinished(result, context: context)
            }
        case (.GET, _):
            answer(context: context, version: head.version, status: .notFound,
                   body: "not found: \(path) (try /health, /ready, /metrics, /model, /drift)\n")
        default:
            answer(context: context, version: head.version, status: .methodNotAllowed,
                   body: "only GET (and POST /reload, or POST /score with the console on) is served\n")
        }
    }

    /// Answers a console request off the event loop (a lookup reads the audit log, a score
    /// runs the model), like a reload; requests behind it wait.
    private func consoleRequest(_ console: AdminConsole, head: HTTPRequestHead, path: String, context: ChannelHandlerContext) {
        var query: [String: String] = [:]
        if let components = URLComponents(string: head.uri) {
            for item in components.queryItems ?? [] { query[item.name] = item.value ?? "" }
        }
        let request = ConsoleRequest(method: head.method, path: path, query: query, body: body)
        body = []
        state = .answering(head)
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.makeFutureWithTask { await console.answer(request) }.whenSuccess { result in
            let (handler, context) = bound.value
            handler.consoleFinished(result, context: context)
        }
    }

    private func consoleFinished(_ result: ConsoleAnswer, context: ChannelHandlerContext) {
        guard case .answering(let head) = state else { return }
        var headers = AdminConsole.hardeningHeaders
        if result.type.hasPrefix("text/html"), head.uri.hasPrefix("/model/report.html") {
            headers[0] = ("Content-Security-Policy", AdminConsole.reportPolicy)
        }
        answer(context: context, version: head.version, status: HTTPResponseStatus(statusCode: result.status), type: result.type,
               body: result.body, keepAlive: head.isKeepAlive && !closeAfterAnswer, headers: headers)
        resume(context: context)
    }

    private func reloadFinished(_ result: (status: Int, body: String), context: ChannelHandlerContext) {
        guard case .answering(let head) = state else { return }  // already answered 503 at the shutdown deadline, or closed
        answer(context: context, version: head.version, status: HTTPResponseStatus(statusCode: result.status),
               type: "application/json", body: result.body, keepAlive: head.isKeepAlive && !closeAfterAnswer)
        resume(context: context)
    }

    /// Whether requests are answered now: not while an answer is computed, nor while the
    /// client is not reading its answers (the channel is not writable).
    private func canAnswer(_ context: ChannelHandlerContext) -> Bool {
        switch state {
        case .answering, .closing: false
        default: context.channel.isWritable
        }
    }

    /// Answers the requests that waited, in order (the next reload, if any, waits again),
    /// then reads again if a read was held back.
    private func resume(context: ChannelHandlerContext) {
        while canAnswer(context), !queued.isEmpty {
            handle(queued.removeFirst(), context: context)
        }
        if let parserError = deferredParserError, canAnswer(context), queued.isEmpty {
            deferredParserError = nil
            return answer(parserError, context: context)
        }
        if readPending, canAnswer(context) {
            readPending = false
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        resume(context: context)
        context.fireChannelWritabilityChanged()
    }

    // MARK: - Reading and answering

    func read(context: ChannelHandlerContext) {
        if canAnswer(context) {
            context.read()
        } else {
            readPending = true
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else { return close(context: context) }
        // The requests before the bad one are answered first: one computed off the event loop
        // (a reload, a console request) or waiting behind it would otherwise lose its answer.
        guard canAnswer(context), queued.isEmpty else {
            deferredParserError = deferredParserError ?? parserError
            return
        }
        answer(parserError, context: context)
    }

    /// The 431 or 400 of a request the decoder refused; the connection closes after it.
    private func answer(_ parserError: HTTPParserError, context: ChannelHandlerContext) {
        if parserError == .headerOverflow {
            answer(context: context, version: .http1_1, status: .requestHeaderFieldsTooLarge,
                   body: "the request line and headers may be at most \(limits.maximumHeaderBytes) bytes together\n")
        } else {
            answer(context: context, version: .http1_1, status: .badRequest, body: "bad request: \(parserError)\n")
        }
    }

    /// Writes one answer. An error status (400 or more), or `keepAlive` false, says
    /// `Connection: close` and closes the connection once written; else the connection
    /// waits for its next request.
    private func answer(context: ChannelHandlerContext, version: HTTPVersion, status: HTTPResponseStatus,
                        type: String = "text/plain; charset=utf-8", body: String, keepAlive: Bool = false,
                        headers extra: [(String, String)] = []) {
        if case .closing = state { return }
        let keepAlive = keepAlive && status.code < 400
        if status.code >= 400 { listener.metrics.adminError(status: Int(status.code)) }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        for (name, value) in extra { headers.add(name: name, value: value) }
        if !keepAlive {
            headers.add(name: "Connection", value: "close")
        } else if version == .http1_0 {
            headers.add(name: "Connection", value: "keep-alive")
        }
        let reply = version.major == 1 ? version : .http1_1
        // The next state first: writing may call back into this handler (writability changes
        // during the flush), and that must see the state after this answer.
        let channel = context.channel
        if keepAlive {
            state = .awaitingHead(started: false)
            arm(.idle, context: context)
        } else {
            state = .closing
            // A client that does not read never lets the write complete: close anyway.
            timer?.cancel()
            timer = context.eventLoop.scheduleTask(in: .nanoseconds(Int64(limits.headerTimeout * 1e9))) {
                channel.close(promise: nil)
            }
        }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: reply, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            written.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    private func close(context: ChannelHandlerContext) {
        state = .closing
        timer?.cancel()
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension AdminHandler: Sendable {}
