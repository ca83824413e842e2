public import LoanScoreProtocol

/// Why a ``LoanScoreClient`` call failed.
///
/// Match on ``code``; ``message`` says what happened in words (naming the field, the
/// application and the server's own message where there is one).
///
/// ```swift
/// do { _ = try await client.score(batch) }
/// catch let error as LoanScoreClientError where error.code == .invalidInput { print(error.message) }
/// catch let error as LoanScoreClientError where error.code == .server(.internal) { … }
/// ```
public struct LoanScoreClientError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public enum Code: Hashable, Sendable, CustomStringConvertible {
        /// The TCP connection could not be opened (refused, unreachable, connect timeout).
        case connectFailed
        /// The TLS handshake failed, or the TLS configuration could not be loaded (a missing
        /// CA file, a certificate the server refuses, a name that does not match).
        case tlsFailed
        /// The server refused HELLO (`UNSUPPORTED_VERSION`), sent no WELCOME in time, or sent a
        /// WELCOME this client cannot use.
        case handshakeFailed
        /// The server answered with an ERROR frame whose code has no narrower case here
        /// (`INTERNAL`, `TIMEOUT`, `SHUTTING_DOWN`, a connection-fatal code, …).
        case server(ErrorCode)
        /// The server answered `BUSY` (backpressure) on every attempt.
        case busy
        /// The request's deadline passed before an answer arrived.
        case timeout
        /// The connection closed (or the server said GOODBYE) before the request was answered
        /// on every attempt, or the client was closed.
        case connectionClosed
        /// The server's schema is not the one the request was built for (the model was
        /// reloaded) on every attempt.
        case schemaMismatch
        /// The batch cannot be sent as given: empty, an unknown field name, a value of the wrong
        /// wire type, an id or text over 65,535 bytes. Nothing was sent.
        case invalidInput
        /// The batch has more applications than the server's maximum batch, or encodes to a
        /// frame above its size limits. Nothing was sent; split the batch.
        case batchTooLarge

        public var description: String {
            switch self {
            case .connectFailed: return "connect failed"
            case .tlsFailed: return "TLS failed"
            case .handshakeFailed: return "handshake failed"
            case .server(let code): return "server error \(code.name)"
            case .busy: return "busy"
            case .timeout: return "timeout"
            case .connectionClosed: return "connection closed"
            case .schemaMismatch: return "schema mismatch"
            case .invalidInput: return "invalid input"
            case .batchTooLarge: return "batch too large"
            }
        }

        /// A stable upper-case name for reports and metrics (`BUSY`, `TIMEOUT`, the wire
        /// name for ``server(_:)`` codes).
        public var name: String {
            switch self {
            case .connectFailed: return "CONNECT_FAILED"
            case .tlsFailed: return "TLS_FAILED"
            case .handshakeFailed: return "HANDSHAKE_FAILED"
            case .server(let code): return code.name
            case .busy: return "BUSY"
            case .timeout: return "TIMEOUT"
            case .connectionClosed: return "CONNECTION_CLOSED"
            case .schemaMismatch: return "SCHEMA_MISMATCH"
            case .invalidInput: return "INVALID_INPUT"
            case .batchTooLarge: return "BATCH_TOO_LARGE"
            }
        }
    }

    /// What kind of failure this is.
    public var code: Code
    /// What happened, in words.
    public var message: String
    /// The schema field at fault, for ``Code-swift.enum/invalidInput``.
    public var field: String?
    /// The 0-based index in the batch of the application at fault, for
    /// ``Code-swift.enum/invalidInput``.
    public var applicationIndex: Int?
    /// How many attempts were made (1 when the request was not retried, 0 when nothing was sent).
    public var attempts: Int
    /// For the server's QUOTA_EXCEEDED: how long until the same request would be within the
    /// client's quota (the client waits at least this long before retrying it).
    public var retryAfter: Duration?
    /// For a SCHEMA_MISMATCH answer: the schema the refused request was laid out for, so that
    /// the retry loop re-lays a batch out once per schema it meets.
    var staleSchema: SchemaHash?
    /// True when the request was sent and its connection dropped before the answer came: the
    /// server may have scored (and audited) it. See ``LoanScoreClient/Failover``.
    public var answerLost = false
    /// When every endpoint of the configuration was down: each endpoint and its last failure,
    /// in the configuration's order (also named in ``message``). Empty otherwise.
    public var endpointFailures: [EndpointFailure] = []
    /// Whether the server may have scored (and audited) the request although the call failed:
    /// its answer was lost, or the server answered `TIMEOUT` or `INTERNAL` (PROTOCOL.md §7).
    /// Such failures are not retried under at-most-once (``LoanScoreClient/Failover``).
    var mayHaveBeenScored: Bool {
        answerLost || code == .server(.timeout) || code == .server(.internal)
    }
    /// True when opening a connection to one endpoint failed (refused, TLS, handshake): the
    /// request was not sent, so another endpoint may be tried.
    var endpointFailed = false
    /// True when the request was refused before anything was sent because its connection was
    /// closing: retired by this client (after a SCHEMA_MISMATCH, or when replaced) or told
    /// GOODBYE by the server. Nothing was scored, and the connection, not the server, failed
    /// it, so the client sends it on another connection at once, without using up an attempt.
    var closingBeforeSent = false

    /// `connectionClosed` for a request its closing connection never sent (``closingBeforeSent`` set).
    static func notSentByClosingConnection(_ message: String) -> LoanScoreClientError {
        var error = LoanScoreClientError(.connectionClosed, message)
        error.closingBeforeSent = true
        return error
    }

    /// One endpoint and why it was last marked down (``endpointFailures``).
    public struct EndpointFailure: Sendable, Hashable, CustomStringConvertible {
        /// The endpoint, `HOST:PORT`.
        public var endpoint: String
        /// Its last failure, in words.
        public var failure: String

        /// An endpoint's failure.
        public init(endpoint: String, failure: String) {
            self.endpoint = endpoint
            self.failure = failure
        }

        /// The failure, prefixed with the endpoint unless the failure already names it.
        public var description: String { failure.contains(endpoint) ? failure : "\(endpoint): \(failure)" }
    }

    /// Creates an error.
    public init(_ code: Code, _ message: String, field: String? = nil, applicationIndex: Int? = nil, attempts: Int = 0) {
        self.code = code
        self.message = message
        self.field = field
        self.applicationIndex = applicationIndex
        self.attempts = attempts
    }

    /// Whether sending the same batch again may succeed: `BUSY`, a dropped or refused
    /// connection, a schema change, and the server's `SHUTTING_DOWN`, `TIMEOUT`, `INTERNAL` and
    /// `UNAVAILABLE` (its audit log failed; another connection of the pool may reach another server)
    /// (scoring is idempotent, so a repeat is harmless); `QUOTA_EXCEEDED` after its ``retryAfter``
    /// hint. `DEADLINE_EXCEEDED` is not retried: the
    /// call's deadline, which the request carried, has passed. The client retries these itself under
    /// its ``LoanScoreClient/RetryPolicy``.
    public var isRetryable: Bool {
        switch code {
        case .busy, .connectionClosed, .connectFailed, .schemaMismatch: return true
        case .server(let code):
            return code == .shuttingDown || code == .timeout || code == .internal || code == .unavailable || code == .quotaExceeded
        case .tlsFailed, .handshakeFailed, .timeout, .invalidInput, .batchTooLarge: return false
        }
    }

    public var description: String {
        "LoanScoreClientError(\(code)): \(message)" + (attempts > 1 ? " (after \(attempts) attempts)" : "")
    }

    /// The client error for an ERROR frame the server sent about a request.
    static func fromServer(_ error: ErrorMessage) -> LoanScoreClientError {
        switch error.code {
        case .busy: return LoanScoreClientError(.busy, "server is busy: \(error.message)")
        case .schemaMismatch: return LoanScoreClientError(.schemaMismatch, "server refused the schema: \(error.message)")
        case .batchTooLarge: return LoanScoreClientError(.batchTooLarge, "server refused the batch size: \(error.message)")
        case .quotaExceeded:
            var failure = LoanScoreClientError(.server(error.code), "\(error.code.name): \(error.message)")
            failure.retryAfter = error.retryAfter
            return failure
        default: return LoanScoreClientError(.server(error.code), "\(error.code.name): \(error.message)")
        }
    }
}
