import Atomics
public import NIOCore
import NIOConcurrencyHelpers
import NIOHTTP1
import NIOPosix

/// The admin HTTP endpoint on its own port: `/health` (the process answers), `/ready`
/// (bundle loaded, audit log writable), `/metrics` (Prometheus text) and `/model` (the
/// bundle's manifest summary, JSON), and `POST /reload` (hot reload; 200, 422 refused, 409
/// busy or 503 shutting down, with a JSON body); with the console on, the web console and its
/// JSON endpoints (``AdminConsole``), and with `admin_auth`, 401 for those and for reloads
/// without the secret (``AdminAccess``). Plain HTTP/1.1; meant for a management
/// network, but hardened like the scoring port against a client on the same host:
///
/// - at most ``ServerConfiguration/AdminLimits-swift.struct/maximumConnections`` connections;
///   further ones are closed as soon as they are accepted;
/// - an idle connection is closed after the idle timeout; a request head must be complete
///   within the header deadline once it has started, and a body within the body deadline
///   once its head has arrived (else 408);
/// - a request head (request line and every header together) beyond the header limit is
///   answered 431, a body beyond the body limit 413;
/// - every error answer says `Connection: close` and the connection is closed once it is
///   written.
///
/// Pipelined requests are answered in order, one at a time; a client that does not read its
/// answers is no longer read from.
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
        /// `GET /drift`: the HTTP status and JSON body (the drift report, or an error document);
        /// nil answers 404.
        public var drift: (@Sendable () -> (status: Int, body: String))?
        /// The web console and its JSON endpoints (`console: true`); nil: not served (404).
        var console: AdminConsole?
        /// The secret the console, its endpoints and `POST /reload` require; nil: none.
        var access: AdminAccess?

        public init(ready: @escaping @Sendable () -> (Bool, String), health: @escaping @Sendable () -> String = { "{\"status\": \"ok\"}\n" },
                    metrics: @escaping @Sendable () -> String,
                    model: @escaping @Sendable () -> String, reload: (@Sendable () async -> (status: Int, body: String))? = nil,
                    drift: (@Sendable () -> (status: Int, body: String))? = nil) {
            self.ready = ready
            self.health = health
            self.metrics = metrics
            self.model = model
            self.reload = reload
            self.drift = drift
        }
    }

    private let channel: any Channel
    private let listener: AdminListenerState

    /// Binds the admin listener.
    ///
    /// - Parameters:
    ///   - limits: the connection limit, deadlines and size limits every connection is held to.
    ///   - metrics: where refused connections and error answers are counted.
    /// - Throws: NIO's `IOError` when the address cannot be bound.
    public init(host: String, port: Int, group: any EventLoopGroup, sources: Sources,
                limits: ServerConfiguration.AdminLimits = .init(), metrics: ServerMetrics = .init()) async throws {
        let listener = AdminListenerState(sources: sources, limits: limits, metrics: metrics, isLoopback: AdminAccess.isLoopback(host))
        self.listener = listener
        // The decoder counts the request line and every header name and value as it parses
        // them, so an oversized head is refused before it is buffered whole.
        let decoderLimits = {
            var decoderLimits = NIOHTTPDecoderLimitConfiguration()
            decoderLimits.maxHeaderListSize = limits.maximumHeaderBytes
            decoderLimits.maxHeaderFieldSize = limits.maximumHeaderBytes
            return decoderLimits
        }()
        channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(HTTPResponseEncoder())
                    try sync.addHandler(AdminTrafficWatch(maximumLine: limits.maximumHeaderBytes))
                    try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(
                        leftOverBytesStrategy: .dropBytes, informationalResponseStrategy: .drop, limitConfiguration: decoderLimits)))
                    try sync.addHandler(AdminHandler(listener: listener))
                }
            }
            .bind(host: host, port: port).get()
    }

    /// The bound port (useful when binding port 0).
    public var port: Int { channel.localAddress?.port ?? 0 }

    /// Connections open now.
    public var connectionCount: Int { listener.openChannels.count }

    /// From now on `POST /reload` is answered 503 (the server is shutting down); the other
    /// endpoints keep answering, and a reload already running finishes and is answered.
    public func beginDraining() {
        listener.draining.store(true, ordering: .relaxed)
    }

    /// Stops accepting, closes connections that are not being answered, waits until
    /// `deadline` for answers in progress (a reload), answers what is still running 503 and
    /// closes every connection.
    public func shutdown(deadline: ContinuousClock.Instant) async {
        beginDraining()
        try? await channel.close()
        for connection in listener.openChannels {
            connection.pipeline.fireUserInboundEventTriggered(AdminShutdown.drain)
        }
        while !listener.openChannels.isEmpty && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        for connection in listener.openChannels {
            connection.pipeline.fireUserInboundEventTriggered(AdminShutdown.deadlinePassed)
        }
        // Each handler closes its connection once its last answer is written; give the writes
        // a moment, then close whatever is left.
        let last = ContinuousClock.now + .seconds(1)
        while !listener.openChannels.isEmpty && ContinuousClock.now < last {
            try? await Task.sleep(for: .milliseconds(10))
        }
        for connection in listener.openChannels { try? await connection.close() }
    }

    /// Stops accepting and closes every connection at once.
    public func close() async throws {
        await shutdown(deadline: .now)
    }
}

/// What every admin connection of one listener shares: its sources, limits and metrics, the
/// open connections (for the connection limit and shutdown) and whether it is draining.
final class AdminListenerState: Sendable {
    let sources: AdminServer.Sources
    let limits: ServerConfiguration.AdminLimits
    let metrics: ServerMetrics
    /// Whether the listener is bound to a loopback address (``AdminRequestOrigin`` then checks `Host`).
    let isLoopback: Bool
    /// Set once shutdown has begun: reloads are refused with 503.
    let draining = ManagedAtomic<Bool>(false)
    private let open = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])

    init(sources: AdminServer.Sources, limits: ServerConfiguration.AdminLimits, metrics: ServerMetrics, isLoopback: Bool) {
        self.sources = sources
        self.limits = limits
        self.metrics = metrics
        self.isLoopback = isLoopback
    }

    /// Registers an accepted connection; false when the listener already has its maximum.
    func admit(_ channel: any Channel) -> Bool {
        open.withLockedValue { open in
            guard open.count < limits.maximumConnections else { return false }
            open[ObjectIdentifier(channel)] = channel
            return true
        }
    }

    func remove(_ channel: any Channel) {
        _ = open.withLockedValue { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    var openChannels: [any Channel] { open.withLockedValue { Array($0.values) } }
}

/// Fired on every admin connection during shutdown.
enum AdminShutdown: Sendable {
    /// Close unless an answer is in progress, and close after that answer.
    case drain
    /// The shutdown deadline has passed: answer what is still in progress 503, and close.
    case deadlinePassed
}
