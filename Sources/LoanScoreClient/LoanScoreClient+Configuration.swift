public import Logging
public import LoanScoreTLS
public import LoanScoreProtocol

extension LoanScoreClient {
    /// Where and how a ``LoanScoreClient`` connects, and how it treats each request.
    ///
    /// Only the address and the CA file are usually needed:
    ///
    /// ```swift
    /// var configuration = LoanScoreClient.Configuration(host: "scoring.internal", port: 7443,
    ///                                                   tls: .init(caFile: "/etc/loanscore/ca.pem"))
    /// configuration.connections = 4
    /// ```
    ///
    /// A fleet of servers is several ``endpoints`` (``init(endpoints:tls:connections:maximumInFlightPerConnection:compressionThreshold:deadline:retry:connectTimeout:clientName:logger:)``):
    /// the pool spreads its connections over them and fails over between them (``Failover``).
    public struct Configuration: Sendable {
        /// The servers the pool connects to, at least one; connections are spread over them
        /// and a request goes elsewhere when one fails (``Failover``). All of them must serve
        /// the same model and schema.
        public var endpoints: [HostPort]
        /// The first endpoint's host name or IP address; setting it changes the first endpoint.
        public var host: String {
            get { endpoints.first?.host ?? "" }
            set { if endpoints.isEmpty { endpoints = [HostPort(host: newValue, port: 0)] } else { endpoints[0].host = newValue } }
        }
        /// The first endpoint's TCP port; setting it changes the first endpoint.
        public var port: Int {
            get { endpoints.first?.port ?? 0 }
            set { if endpoints.isEmpty { endpoints = [HostPort(host: "", port: newValue)] } else { endpoints[0].port = newValue } }
        }
        /// Every endpoint as `HOST:PORT` (brackets around an IPv6 address), comma-separated, as
        /// messages name the server(s).
        public var server: String { endpoints.map(\.description).joined(separator: ", ") }
        /// How long an endpoint that failed stays out of use, and whether a request whose
        /// connection dropped before its answer is sent again. See ``Failover``.
        public var failover = Failover()
        /// Trust roots, the client certificate for mutual TLS, and the expected server name.
        public var tls: TLS
        /// How many connections the pool opens (each pipelines many requests). Default 1.
        public var connections: Int
        /// The most requests in flight on one connection; more wait in the client until an
        /// answer frees a slot. `nil` (the default) uses WELCOME's maximum in flight (no bound
        /// when the server announces 0).
        public var maximumInFlightPerConnection: Int?
        /// SCORE_REQUEST payloads of at least this many bytes are sent LZ4-compressed when that
        /// makes them smaller; `nil` never compresses. Default 4096.
        public var compressionThreshold: Int?
        /// How long one ``LoanScoreClient/score(_:)-([ApplicationInput])`` call (or one with a
        /// ``LoanScoreProtocol/ScoreRequest``) may take, retries and backoff
        /// included, before it fails with ``LoanScoreClientError/Code-swift.enum/timeout``.
        /// Default 10 s.
        public var deadline: Duration
        /// Whether each SCORE_REQUEST carries the time left before ``deadline`` (PROTOCOL.md
        /// §5.4), so that a server that cannot start it in time answers DEADLINE_EXCEEDED
        /// instead of scoring an answer nobody waits for. Default true; set false for a server
        /// older than the deadline field, which refuses it as MALFORMED_FRAME.
        public var sendsDeadline: Bool = true
        /// Which failures are retried, how often, and how long to wait in between.
        public var retry: RetryPolicy
        /// What ``LoanScoreClient/score(_:)-([ApplicationInput])`` does with a key that names no
        /// field of the served schema: refuse the batch (``UnknownFieldPolicy/reject``, the
        /// default) or leave the value out (``UnknownFieldPolicy/ignore``), counting it in
        /// ``ScoredBatch/ignoredFields``. `.ignore` lets a client keep sending the fields of an
        /// older schema through a reload that drops one of them.
        public var unknownFields: UnknownFieldPolicy = .reject
        /// How long opening a connection may take: TCP connect, and then again TLS handshake
        /// plus HELLO/WELCOME. Default 5 s.
        public var connectTimeout: Duration
        /// The client name sent in HELLO, for the server's logs.
        public var clientName: String
        /// Where the client logs connection events and retries (at debug and notice levels).
        /// Default: nowhere.
        public var logger: Logger

        /// The most connections ``connections(for:atLeast:)`` suggests, whatever the fleet's size.
        public static let maximumSuggestedConnections = 16

        /// A pool size for a fleet: one connection per distinct endpoint, at least `minimum`, at
        /// most ``maximumSuggestedConnections`` (a long list of servers must not open a
        /// connection each, all failing over onto the few that are up). An endpoint given twice
        /// counts once. What `loanscore score --server` and `loanscore-stream` use.
        public static func connections(for endpoints: [HostPort], atLeast minimum: Int = 1) -> Int {
            min(maximumSuggestedConnections, max(minimum, Set(endpoints).count))
        }

        /// A configuration for one server, with the defaults above.
        public init(
            host: String,
            port: Int,
            tls: TLS,
            connections: Int = 1,
            maximumInFlightPerConnection: Int? = nil,
            compressionThreshold: Int? = 4096,
            deadline: Duration = .seconds(10),
            retry: RetryPolicy = RetryPolicy(),
            connectTimeout: Duration = .seconds(5),
            clientName: String = "loanscore-client/1.0",
            logger: Logger = Logger(label: "loanscore.client", factory: { _ in SwiftLogNoOpLogHandler() })
        ) {
            self.init(
                endpoints: [HostPort(host: host, port: port)], tls: tls, connections: connections,
                maximumInFlightPerConnection: maximumInFlightPerConnection, compressionThreshold: compressionThreshold,
                deadline: deadline, retry: retry, connectTimeout: connectTimeout, clientName: clientName, logger: logger)
        }

        /// A configuration for a fleet: the pool's ``connections`` are spread over `endpoints`
        /// (give at least as many connections as endpoints to use them all at once), with the
        /// defaults above. ``LoanScoreClient/init(configuration:eventLoopGroup:)`` refuses an
        /// empty list.
        public init(
            endpoints: [HostPort],
            tls: TLS,
            connections: Int = 1,
            maximumInFlightPerConnection: Int? = nil,
            compressionThreshold: Int? = 4096,
            deadline: Duration = .seconds(10),
            retry: RetryPolicy = RetryPolicy(),
            connectTimeout: Duration = .seconds(5),
            clientName: String = "loanscore-client/1.0",
            logger: Logger = Logger(label: "loanscore.client", factory: { _ in SwiftLogNoOpLogHandler() })
        ) {
            self.endpoints = endpoints
            self.tls = tls
            self.connections = connections
            self.maximumInFlightPerConnection = maximumInFlightPerConnection
            self.compressionThreshold = compressionThreshold
            self.deadline = deadline
            self.retry = retry
            self.connectTimeout = connectTimeout
            self.clientName = clientName
            self.logger = logger
        }
    }

    /// How the pool treats an endpoint that fails, and a request whose answer was lost
    /// (``Configuration/failover``).
    ///
    /// An endpoint whose connection cannot be opened (refused, unreachable, TLS or handshake
    /// failure) or whose open connection drops is marked *down*: no new connection goes to it
    /// for a back-off period, drawn uniformly from [d/2, d] with
    /// d = min(``maximumDownTime``, ``initialDownTime`` × 2^(n−1)) after its *n*-th failure
    /// in a row (a successful connection resets n). Each change is logged at notice level.
    /// While every endpoint is down, the one whose period ends first is still tried, so a
    /// lone server that restarts is reached as soon as it listens again.
    ///
    /// A failed attempt is sent to another endpoint (under ``Configuration/retry``, within
    /// ``Configuration/deadline``) only when no answer was received for it: the connection
    /// was refused or failed its TLS handshake, or dropped before the answer came. A definite
    /// answer is never sent elsewhere, except the retryable ones of
    /// ``LoanScoreClientError/isRetryable`` (`BUSY`, and the server's own refusals such as
    /// `SHUTTING_DOWN`), which say the request was not scored.
    ///
    /// ## At least once, at most once
    ///
    /// A request whose connection dropped after it was sent may have been scored, and
    /// audited, by a server that died before its answer left. Sent again (the default,
    /// ``resendsUnansweredRequests`` true), it is scored *at least once*: the audit logs may
    /// hold both attempts, with the same application ids, model version and PD (scoring is
    /// deterministic). A caller that must not have a second audit record sets
    /// ``resendsUnansweredRequests`` to false: the call then fails with
    /// ``LoanScoreClientError/Code-swift.enum/connectionClosed`` and
    /// ``LoanScoreClientError/answerLost`` true, and the application was scored *at most
    /// once* (look it up in the audit log before sending it again); the server's `TIMEOUT` and
    /// `INTERNAL` answers, after which the request may have been scored too, are then not
    /// retried either. PROTOCOL.md §2.1 says the same for any client.
    public struct Failover: Sendable, Hashable {
        /// How long an endpoint stays down after its first failure in a row. Default 250 ms.
        public var initialDownTime: Duration
        /// The longest an endpoint stays down, however often it failed. Default 30 s.
        public var maximumDownTime: Duration
        /// Whether a request whose connection dropped after it was sent, with no answer, is
        /// sent again (at least once; the default) or fails (at most once; `TIMEOUT` and
        /// `INTERNAL` answers are then not retried either).
        public var resendsUnansweredRequests: Bool

        /// A failover policy; the defaults are 250 ms to 30 s down, unanswered requests sent again.
        public init(initialDownTime: Duration = .milliseconds(250), maximumDownTime: Duration = .seconds(30),
                    resendsUnansweredRequests: Bool = true) {
            self.initialDownTime = initialDownTime
            self.maximumDownTime = maximumDownTime
            self.resendsUnansweredRequests = resendsUnansweredRequests
        }

        /// How long an endpoint stays down after `failures` failures in a row (1-based):
        /// uniform in [d/2, d] with d = min(``maximumDownTime``, ``initialDownTime`` × 2^(failures−1)).
        ///
        /// - Complexity: O(1).
        public func downTime(after failures: Int) -> Duration {
            RetryPolicy(initialBackoff: initialDownTime, maximumBackoff: maximumDownTime).backoff(after: failures)
        }
    }

    /// What to do with an application's value for a field the served schema does not have
    /// (``Configuration/unknownFields``).
    ///
    /// The served schema is the WELCOME's of the connection a batch goes on; it changes when
    /// the server reloads a bundle with another schema. Under `.ignore`, a batch answered
    /// SCHEMA_MISMATCH after such a reload is laid out again for the new WELCOME, leaving out
    /// the fields the new schema dropped, and sent again, so callers that send a superset of
    /// the fields never fail on a schema change. Fields the new schema adds and the batch
    /// lacks are sent missing either way (the server answers an application *invalid* if such
    /// a field is required).
    public enum UnknownFieldPolicy: Sendable, Hashable {
        /// Fail the call with ``LoanScoreClientError/Code-swift.enum/invalidInput``, naming the
        /// first application and field (nothing is sent). The default.
        case reject
        /// Leave such values out of the request and report them in ``ScoredBatch/ignoredFields``
        /// and ``ScoredBatch/ignoredValues``.
        case ignore
    }

    /// The TLS side of a ``Configuration``. LoanScore always speaks TLS (ALPN `loanscore/1`).
    public struct TLS: Sendable, Hashable {
        /// The CA certificate(s) (PEM) the server's certificate must chain to; `nil` uses the
        /// system's trust store.
        public var caFile: String?
        /// The client certificate chain (PEM), for servers that require mutual TLS.
        public var certificateFile: String?
        /// The client certificate's private key (PEM); goes with ``certificateFile``.
        public var privateKeyFile: String?
        /// The name sent as SNI and checked against the server certificate (DNS name or IP
        /// address); `nil` uses ``Configuration/host``.
        public var serverName: String?
        /// How long the TLS handshake may take. Default 10 s.
        public var handshakeTimeout: Duration
        /// The lowest protocol version and the cipher suites offered. Default
        /// ``LoanScoreTLS/TLSPolicy/intermediate`` (TLS 1.2 with ECDHE and AES-GCM or
        /// ChaCha20-Poly1305, and TLS 1.3); ``LoanScoreTLS/TLSPolicy/modern`` is TLS 1.3 only. A
        /// server that accepts none of them fails the connection with
        /// ``LoanScoreClientError/Code-swift.enum/tlsFailed``.
        public var policy: TLSPolicy

        /// TLS settings; all files are PEM.
        public init(
            caFile: String?, certificateFile: String? = nil, privateKeyFile: String? = nil, serverName: String? = nil,
            handshakeTimeout: Duration = .seconds(10), policy: TLSPolicy = .intermediate
        ) {
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.privateKeyFile = privateKeyFile
            self.serverName = serverName
            self.handshakeTimeout = handshakeTimeout
            self.policy = policy
        }

        /// The LoanScoreTLS client configuration for connecting to `host`.
        public func makeTLSConfiguration(host: String) -> TLSConfiguration {
            TLSConfiguration.makeClientConfiguration(
                trustRootsFile: caFile, serverName: serverName ?? host, certificateChainFile: certificateFile,
                privateKeyFile: privateKeyFile, handshakeTimeout: handshakeTimeout.timeAmount, policy: policy)
        }
    }

    /// When and how a failed request is sent again. Scoring is idempotent, so a repeat is
    /// harmless; only failures where ``LoanScoreClientError/isRetryable`` is true are retried
    /// (`BUSY`, dropped or refused connections, a schema change, the server's `SHUTTING_DOWN`,
    /// `TIMEOUT` and `INTERNAL`), always within the request's deadline.
    ///
    /// The wait before attempt *n* + 1 is drawn uniformly from [d/2, d] where
    /// d = min(``maximumBackoff``, ``initialBackoff`` × 2^(n−1)) ("equal jitter"), so
    /// clients that were refused together do not come back together, and a server that keeps
    /// answering errors is asked less and less often (never more than once per
    /// ``maximumBackoff``/2 once the cap is reached): with the defaults, the waits are at least
    /// 5, 10, 20, 40 … ms up to 0.5 s. Each call starts again from ``initialBackoff``: a
    /// success resets the schedule.
    ///
    /// A SCHEMA_MISMATCH answer (the server reloaded a bundle with another schema) is not an
    /// error of the server's: the batch is laid out again for the new WELCOME and sent at once,
    /// once per schema the call meets, without counting as an attempt here (so even
    /// ``none`` lays a batch out again after a schema change). A second SCHEMA_MISMATCH for a
    /// schema already met counts, and backs off, like any other retryable error.
    public struct RetryPolicy: Sendable, Hashable {
        /// Attempts in all, the first included; 1 disables retries. Default 3.
        public var maximumAttempts: Int
        /// The backoff before the first retry. Default 10 ms.
        public var initialBackoff: Duration
        /// The largest backoff. Default 1 s.
        public var maximumBackoff: Duration

        /// A policy; the defaults are 3 attempts, 10 ms to 1 s.
        public init(maximumAttempts: Int = 3, initialBackoff: Duration = .milliseconds(10), maximumBackoff: Duration = .seconds(1)) {
            self.maximumAttempts = maximumAttempts
            self.initialBackoff = initialBackoff
            self.maximumBackoff = maximumBackoff
        }

        /// No retries: every failure is reported at once.
        public static let none = RetryPolicy(maximumAttempts: 1)

        /// The wait after failed attempt `attempt` (1-based; also the wait after `attempt`
        /// consecutive failures, for a caller that backs off its own loop by this schedule):
        /// uniform in [d/2, d] with d = min(``maximumBackoff``, ``initialBackoff`` × 2^(attempt−1)).
        ///
        /// - Complexity: O(1).
        public func backoff(after attempt: Int) -> Duration {
            let initial = initialBackoff.nanoseconds
            let ceiling = max(initial, maximumBackoff.nanoseconds)
            let exponent = min(max(attempt - 1, 0), 40)
            let (scaled, overflow) = initial.multipliedReportingOverflow(by: Int64(1) << exponent)
            let cap = overflow ? ceiling : min(ceiling, scaled)
            guard cap > 1 else { return .nanoseconds(max(cap, 0)) }
            return .nanoseconds(Int64.random(in: (cap / 2)...cap))
        }
    }
}

extension Duration {
    /// The duration in whole nanoseconds (saturating).
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return scaled.addingReportingOverflow(attoseconds / 1_000_000_000).overflow ? .max : scaled + attoseconds / 1_000_000_000
    }
}
