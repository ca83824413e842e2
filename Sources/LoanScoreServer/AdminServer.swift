public import NIOCore
import NIOHTTP1
import NIOPosix
import Foundation

/// The admin HTTP endpoint on its own port: `/health` (the process answers), `/ready`
/// (bundle loaded, audit log writable), `/metrics` (Prometheus text) and `/model` (the
/// bundle's manifest summary, JSON), and `POST /reload` (hot reload; 200, 422 refused or 409
/// busy, with a JSON body). Plain HTTP/1.1; meant for a management network.
public final class AdminServer: Sendable {
    /// What the endpoints report; closures are called on an event loop and must be quick.
    public struct Sources: Sendable {
        public var ready: @Sendable () -> (Bool, String)
        /// `/health`: a JSON document (always 200 while the process answers).
        public var health: @Sendable () -> String
        public var metrics: @Sendable () -> String
        public var model: @Sendable () -> String
        /// `POST /reload`: the HTTP status and JSON body; nil answers 404.
        public var reload: (@Sendable () async -> (status: Int, body: String))?

        public init(ready: @escaping @Sendable () -> (Bool, String), health: @escaping @Sendable () -> String = { "{\"status\": \"ok\"}\n" },
                    metrics: @escaping @Sendable () -> String,
                    model: @escaping @Sendable () -> String, reload: (@Sendable () async -> (status: Int, body: String))? = nil) {
            self.ready = ready
            self.health = health
            self.metrics = metrics
            self.model = model
            self.reload = reload
        }
    }

    private let channel: any Channel

    /// Binds the admin listener.
    ///
    /// - Throws: NIO's `IOError` when the address cannot be bound.
    public init(host: String, port: Int, group: any EventLoopGroup, sources: Sources) async throws {
        channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(sources: sources))
                }
            }
            .bind(host: host, port: port).get()
    }

    /// The bound port (useful when binding port 0).
    public var port: Int { channel.localAddress?.port ?? 0 }

    public func close() async throws {
        try await channel.close()
    }
}

private final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let sources: AdminServer.Sources
    private var head: HTTPRequestHead?

    init(sources: AdminServer.Sources) {
        self.sources = sources
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            respond(context: context, head: head)
        }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let path = head.uri.split(separator: "?").first.map(String.init) ?? head.uri
        var status = HTTPResponseStatus.ok
        var body: String
        var type = "text/plain; charset=utf-8"
        switch (head.method, path) {
        case (.GET, "/health"):
            body = sources.health()
            type = "application/json"
        case (.GET, "/ready"):
            let (ready, reason) = sources.ready()
            status = ready ? .ok : .serviceUnavailable
            body = reason + "\n"
        case (.GET, "/metrics"):
            body = sources.metrics()
            type = "text/plain; version=0.0.4; charset=utf-8"
        case (.GET, "/model"):
            body = sources.model()
            type = "application/json"
        case (.POST, "/reload") where sources.reload != nil:
            // The reload loads files off the event loop; answer when it is done.
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.eventLoop.makeFutureWithTask(sources.reload!).whenSuccess { answer in
                Self.write(context: bound.value, head: head, status: HTTPResponseStatus(statusCode: answer.status),
                           type: "application/json", body: answer.body)
            }
            return
        case (.GET, _):
            status = .notFound
            body = "not found: \(path) (try /health, /ready, /metrics, /model)\n"
        default:
            status = .methodNotAllowed
            body = "only GET (and POST /reload) is served\n"
        }
        Self.write(context: context, head: head, status: status, type: type, body: body)
    }

    private static func write(context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, type: String,
                              body: String) {
        guard context.channel.isActive else { return }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        let done = context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
