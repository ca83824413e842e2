/// An error from LoanScoreTLS: a configuration that cannot be loaded, or a TLS connection that
/// failed.
///
/// Match on ``code``; equality compares the code only. ``message`` says what failed in words
/// (naming the file, for files), and ``openSSLErrors`` keeps OpenSSL's own error stack as it
/// stood when the failure was seen, oldest entry first.
///
/// ```swift
/// do { _ = try TLSContext(configuration: configuration) }
/// catch let error as TLSError where error.code == .fileNotFound { … }
/// ```
public struct TLSError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is. New codes may be added; don't switch exhaustively.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidConfiguration = "invalid configuration"
            case fileNotFound = "file not found"
            case invalidPEM = "invalid PEM"
            case keyMismatch = "private key does not match certificate"
            case contextCreationFailed = "context creation failed"
            case handshakeFailed = "handshake failed"
            case certificateVerifyFailed = "certificate verify failed"
            case peerCertificateRequired = "peer certificate required"
            case noApplicationProtocol = "no application protocol"
            case unsupportedProtocolVersion = "unsupported protocol version"
            case noCommonCipher = "no common cipher suite"
            case invalidRecord = "not a TLS record"
            case handshakeTimeout = "handshake timeout"
            case closedDuringHandshake = "connection closed during handshake"
            case connectionFailed = "connection failed"
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The configuration is inconsistent (a server without a certificate, an empty ALPN
        /// protocol name, peer verification without trust roots …).
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// A certificate, key or trust-roots file does not exist or cannot be read.
        public static let fileNotFound = Code(.fileNotFound)
        /// A file exists but does not hold what PEM says it should.
        public static let invalidPEM = Code(.invalidPEM)
        /// The private key does not belong to the certificate.
        public static let keyMismatch = Code(.keyMismatch)
        /// OpenSSL could not create an `SSL_CTX` or `SSL` object.
        public static let contextCreationFailed = Code(.contextCreationFailed)
        /// The handshake failed for a reason no narrower code describes (for example an alert
        /// from the peer).
        public static let handshakeFailed = Code(.handshakeFailed)
        /// The peer's certificate did not verify: unknown CA, expired, or a name that does not
        /// match the expected server name.
        public static let certificateVerifyFailed = Code(.certificateVerifyFailed)
        /// Mutual TLS is required and the peer sent no certificate.
        public static let peerCertificateRequired = Code(.peerCertificateRequired)
        /// ALPN found no protocol both sides speak.
        public static let noApplicationProtocol = Code(.noApplicationProtocol)
        /// The peer offered only protocol versions this side refuses (below TLS 1.2, or below
        /// the ``TLSPolicy/minimumVersion``).
        public static let unsupportedProtocolVersion = Code(.unsupportedProtocolVersion)
        /// The two sides' cipher suites have none in common: a server saw only suites its
        /// ``TLSPolicy`` refuses (static RSA, CBC, SHA-1 MACs …), or a client's server answered
        /// its hello with a handshake_failure alert before choosing a suite (which a server
        /// also does for a few other reasons, such as having no usable certificate).
        public static let noCommonCipher = Code(.noCommonCipher)
        /// The peer sent bytes that are not a TLS record (plain text, HTTP, garbage).
        public static let invalidRecord = Code(.invalidRecord)
        /// The handshake did not finish within the configured timeout.
        public static let handshakeTimeout = Code(.handshakeTimeout)
        /// The transport closed before the handshake finished.
        public static let closedDuringHandshake = Code(.closedDuringHandshake)
        /// Reading or writing application data failed after the handshake.
        public static let connectionFailed = Code(.connectionFailed)

        public var description: String { base.rawValue }
    }

    /// One entry of OpenSSL's per-thread error queue.
    public struct OpenSSLError: Hashable, Sendable, CustomStringConvertible {
        /// The packed OpenSSL error code (`ERR_get_error_all`).
        public var code: UInt
        /// The library's reason text, e.g. `error:0A000086:SSL routines::certificate verify failed`.
        public var text: String
        /// Extra data OpenSSL attached to the entry, if any.
        public var data: String?
        /// Where in OpenSSL the error was raised.
        public var file: String
        /// The line in ``file``.
        public var line: Int

        public var description: String {
            let extra = data.map { " (\($0))" } ?? ""
            return "\(text)\(extra) [\(file):\(line)]"
        }
    }

    /// What kind of failure this is.
    public let code: Code
    /// What failed, in words; for files it names the file.
    public let message: String
    /// OpenSSL's error stack at the time of the failure, oldest first; often empty.
    public let openSSLErrors: [OpenSSLError]
    /// The LoanScoreTLS source location that raised the error (`#fileID:#line`).
    public let location: String

    init(_ code: Code, _ message: String, openSSLErrors: [OpenSSLError] = [], fileID: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.openSSLErrors = openSSLErrors
        self.location = "\(fileID):\(line)"
    }

    public static func == (lhs: TLSError, rhs: TLSError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    public var description: String {
        var text = "TLSError(\(code)): \(message)"
        if !openSSLErrors.isEmpty {
            text += " — OpenSSL: " + openSSLErrors.map(\.description).joined(separator: "; ")
        }
        return text
    }
}
