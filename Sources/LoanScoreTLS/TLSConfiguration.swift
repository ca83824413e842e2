public import NIOCore

/// How a ``TLSContext`` is set up: the role, the certificate and key files, the trust roots,
/// peer verification, ALPN, the handshake timeout and the protocol policy.
///
/// LoanScore speaks TLS 1.2 and TLS 1.3 only, with renegotiation and compression off; those are
/// not configurable. Which of the two versions and which cipher suites are accepted is the
/// ``policy`` (Mozilla "intermediate" by default). Build one with ``makeServerConfiguration(certificateChainFile:privateKeyFile:trustRootsFile:peerVerification:applicationProtocols:handshakeTimeout:)``
/// or ``makeClientConfiguration(trustRootsFile:serverName:certificateChainFile:privateKeyFile:peerVerification:applicationProtocols:handshakeTimeout:)``,
/// then load it with ``TLSContext/init(configuration:)``. All files are PEM.
public struct TLSConfiguration: Sendable, Hashable {
    /// Which side of the handshake a context is for.
    public enum Role: Sendable, Hashable {
        /// Accepts connections and presents ``TLSConfiguration/certificateChainFile``.
        case server
        /// Opens connections, sends SNI and verifies the server's certificate.
        case client
    }

    /// Whether the peer's certificate is asked for and checked.
    public enum PeerVerification: Sendable, Hashable {
        /// No check. A server asks for no client certificate; a client accepts any server
        /// certificate (tests and demos only).
        case none
        /// A server asks for a client certificate and verifies it if one is sent, but accepts a
        /// client without one. For a client this is the same as ``required``.
        case optional
        /// The peer must present a certificate that verifies against
        /// ``TLSConfiguration/trustRootsFile``. On a server this is mutual TLS.
        case required
    }

    /// The ALPN protocols LoanScore speaks: `["loanscore/1"]`.
    public static let defaultApplicationProtocols = ["loanscore/1"]
    /// Ten seconds.
    public static let defaultHandshakeTimeout = TimeAmount.seconds(10)

    /// Which side of the handshake this is for.
    public var role: Role
    /// The certificate, then any intermediates (required for a server; a client's for mutual TLS).
    public var certificateChainFile: String?
    /// The private key of the first certificate in ``certificateChainFile``.
    public var privateKeyFile: String?
    /// The CA certificates peers are verified against. A client without one uses the system's
    /// default trust store; a server that verifies clients needs one.
    public var trustRootsFile: String?
    /// Whether the peer's certificate is asked for and checked.
    public var peerVerification: PeerVerification
    /// ALPN protocol names in order of preference. A client offers them; a server picks the first
    /// of its own the client offers and refuses a client that offers ALPN without any of them
    /// (a client that offers no ALPN at all is accepted). Empty turns ALPN off.
    public var applicationProtocols: [String]
    /// For a client: the name sent as SNI and checked against the server certificate's
    /// subjectAltName (DNS name or IP address). `nil` skips both; the chain is still verified.
    /// Ignored by a server.
    public var serverName: String?
    /// How long a handshake may take before the channel is closed with
    /// ``TLSError/Code-swift.struct/handshakeTimeout``.
    public var handshakeTimeout: TimeAmount
    /// The minimum protocol version and the cipher suites accepted (offered, for a client).
    /// Default ``TLSPolicy/intermediate``.
    public var policy: TLSPolicy

    // Test-only knobs (reached through `@testable import`): they let a test play a legacy peer.
    /// Overrides the highest protocol version (an OpenSSL `*_VERSION` constant such as 0x0302).
    var maximumProtocolVersionOverride: Int32? = nil
    /// Overrides the lowest protocol version.
    var minimumProtocolVersionOverride: Int32? = nil
    /// Replaces the policy's TLS 1.2 cipher list (for example `DEFAULT@SECLEVEL=0`).
    var cipherListOverride: String? = nil

    /// A configuration with every field given.
    public init(
        role: Role,
        certificateChainFile: String? = nil,
        privateKeyFile: String? = nil,
        trustRootsFile: String? = nil,
        peerVerification: PeerVerification,
        applicationProtocols: [String] = TLSConfiguration.defaultApplicationProtocols,
        serverName: String? = nil,
        handshakeTimeout: TimeAmount = TLSConfiguration.defaultHandshakeTimeout,
        policy: TLSPolicy = .intermediate
    ) {
        self.role = role
        self.certificateChainFile = certificateChainFile
        self.privateKeyFile = privateKeyFile
        self.trustRootsFile = trustRootsFile
        self.peerVerification = peerVerification
        self.applicationProtocols = applicationProtocols
        self.serverName = serverName
        self.handshakeTimeout = handshakeTimeout
        self.policy = policy
    }

    /// A server configuration.
    ///
    /// - Parameters:
    ///   - certificateChainFile: The server certificate, then any intermediates.
    ///   - privateKeyFile: The server certificate's key.
    ///   - trustRootsFile: The CA that signs client certificates; needed for mutual TLS.
    ///   - peerVerification: `.required` for mutual TLS; `.none` (the default) asks for no
    ///     client certificate.
    ///   - applicationProtocols: The ALPN protocols accepted.
    ///   - handshakeTimeout: How long a client may take to finish the handshake.
    ///   - policy: The minimum version and cipher suites accepted; Mozilla intermediate by default.
    public static func makeServerConfiguration(
        certificateChainFile: String,
        privateKeyFile: String,
        trustRootsFile: String? = nil,
        peerVerification: PeerVerification = .none,
        applicationProtocols: [String] = TLSConfiguration.defaultApplicationProtocols,
        handshakeTimeout: TimeAmount = TLSConfiguration.defaultHandshakeTimeout,
        policy: TLSPolicy = .intermediate
    ) -> TLSConfiguration {
        TLSConfiguration(
            role: .server,
            certificateChainFile: certificateChainFile,
            privateKeyFile: privateKeyFile,
            trustRootsFile: trustRootsFile,
            peerVerification: peerVerification,
            applicationProtocols: applicationProtocols,
            handshakeTimeout: handshakeTimeout,
            policy: policy
        )
    }

    /// A client configuration that verifies the server by default.
    ///
    /// - Parameters:
    ///   - trustRootsFile: The CA that signed the server certificate; `nil` uses the system's
    ///     trust store.
    ///   - serverName: The host name or IP address expected in the server certificate, also
    ///     sent as SNI when it is a host name.
    ///   - certificateChainFile: The client certificate, for mutual TLS.
    ///   - privateKeyFile: The client certificate's key, for mutual TLS.
    ///   - peerVerification: `.required` (the default) verifies the server certificate.
    ///   - applicationProtocols: The ALPN protocols offered.
    ///   - handshakeTimeout: How long the server may take to finish the handshake.
    ///   - policy: The minimum version and cipher suites offered; Mozilla intermediate by default.
    public static func makeClientConfiguration(
        trustRootsFile: String? = nil,
        serverName: String? = nil,
        certificateChainFile: String? = nil,
        privateKeyFile: String? = nil,
        peerVerification: PeerVerification = .required,
        applicationProtocols: [String] = TLSConfiguration.defaultApplicationProtocols,
        handshakeTimeout: TimeAmount = TLSConfiguration.defaultHandshakeTimeout,
        policy: TLSPolicy = .intermediate
    ) -> TLSConfiguration {
        TLSConfiguration(
            role: .client,
            certificateChainFile: certificateChainFile,
            privateKeyFile: privateKeyFile,
            trustRootsFile: trustRootsFile,
            peerVerification: peerVerification,
            applicationProtocols: applicationProtocols,
            serverName: serverName,
            handshakeTimeout: handshakeTimeout,
            policy: policy
        )
    }
}

extension TLSConfiguration {
    /// Checks what can be checked without touching files or OpenSSL.
    func validate() throws(TLSError) {
        if role == .server && (certificateChainFile == nil || privateKeyFile == nil) {
            throw TLSError(.invalidConfiguration, "a server needs certificateChainFile and privateKeyFile")
        }
        if (certificateChainFile == nil) != (privateKeyFile == nil) {
            throw TLSError(.invalidConfiguration, "certificateChainFile and privateKeyFile go together")
        }
        if role == .server && peerVerification != .none && trustRootsFile == nil {
            throw TLSError(.invalidConfiguration, "a server that verifies client certificates needs trustRootsFile")
        }
        for name in applicationProtocols where name.utf8.isEmpty || name.utf8.count > 255 {
            throw TLSError(.invalidConfiguration, "ALPN protocol names must be 1 to 255 bytes long, not \"\(name)\"")
        }
        if handshakeTimeout <= .zero {
            throw TLSError(.invalidConfiguration, "handshakeTimeout must be positive")
        }
    }

    /// The ALPN list in wire format: each name preceded by its length in one byte.
    var applicationProtocolsWireFormat: [UInt8] {
        var bytes: [UInt8] = []
        for name in applicationProtocols {
            bytes.append(UInt8(name.utf8.count))
            bytes.append(contentsOf: name.utf8)
        }
        return bytes
    }
}
