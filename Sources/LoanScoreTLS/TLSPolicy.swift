/// Which protocol versions and cipher suites a ``TLSContext`` accepts, on either side.
///
/// The default, ``intermediate``, is Mozilla's "intermediate" server-side TLS configuration
/// without its DHE suites (LoanScore ships no Diffie-Hellman parameters): TLS 1.2 with ECDHE key
/// exchange and AES-GCM or ChaCha20-Poly1305 only — so no static-RSA key exchange (no forward
/// secrecy), no CBC and no SHA-1 MACs — and TLS 1.3 with its three standard suites. TLS 1.1 and
/// older are never spoken, whatever the policy says. ``modern`` is TLS 1.3 only.
///
/// The strings use OpenSSL's syntax (`openssl ciphers -v 'LIST'` shows what one selects).
/// ``TLSContext/init(configuration:)`` applies the policy with `SSL_CTX_set_min_proto_version`,
/// `SSL_CTX_set_cipher_list` and `SSL_CTX_set_ciphersuites`, and ``validate()`` checks one
/// without loading any file.
public struct TLSPolicy: Sendable, Hashable {
    /// The lowest protocol version accepted.
    public enum MinimumVersion: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// TLS 1.2 and TLS 1.3 (the default).
        case tls12 = "1.2"
        /// TLS 1.3 only ("modern").
        case tls13 = "1.3"

        /// `1.2` or `1.3`, as written in a configuration file.
        public var description: String { rawValue }
    }

    /// The names of the settings, as errors and configuration files spell them.
    public enum Setting: String, Sendable {
        /// ``TLSPolicy/ciphers``.
        case ciphers = "tls.ciphers"
        /// ``TLSPolicy/ciphersuites``.
        case ciphersuites = "tls.ciphersuites"
        /// ``TLSPolicy/minimumVersion``.
        case minimumVersion = "tls.min_version"
    }

    /// Mozilla intermediate's TLS 1.2 suites without DHE, in Mozilla's order.
    public static let intermediateCiphers = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    /// The TLS 1.3 suites of Mozilla's intermediate and modern configurations.
    public static let intermediateCiphersuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

    /// TLS 1.2 (ECDHE with AES-GCM or ChaCha20-Poly1305) and TLS 1.3: the default.
    public static let intermediate = TLSPolicy()
    /// TLS 1.3 only.
    public static let modern = TLSPolicy(minimumVersion: .tls13)

    /// The lowest protocol version accepted.
    public var minimumVersion: MinimumVersion
    /// The TLS 1.2 cipher list, in OpenSSL's cipher-list syntax (`SSL_CTX_set_cipher_list`).
    /// Names OpenSSL does not know are ignored, but a list that selects nothing is refused.
    public var ciphers: String
    /// The TLS 1.3 cipher suites, colon-separated IANA names (`SSL_CTX_set_ciphersuites`).
    /// Every name must be a TLS 1.3 suite OpenSSL knows; empty turns TLS 1.3 off (the highest
    /// version becomes TLS 1.2; refused together with ``MinimumVersion/tls13``).
    public var ciphersuites: String

    /// A policy; every part defaults to ``intermediate``'s.
    public init(
        minimumVersion: MinimumVersion = .tls12,
        ciphers: String = TLSPolicy.intermediateCiphers,
        ciphersuites: String = TLSPolicy.intermediateCiphersuites
    ) {
        self.minimumVersion = minimumVersion
        self.ciphers = ciphers
        self.ciphersuites = ciphersuites
    }

    /// A policy whose minimum version is given as text, as in a configuration file.
    ///
    /// - Parameter minimumVersion: `"1.2"` or `"1.3"`.
    /// - Throws: ``TLSError`` ``TLSError/Code-swift.struct/invalidConfiguration`` naming
    ///   `tls.min_version` and the value for anything else. The strings are checked by
    ///   ``validate()``, not here.
    public init(minimumVersion: String, ciphers: String, ciphersuites: String) throws(TLSError) {
        guard let version = MinimumVersion(rawValue: minimumVersion) else {
            throw TLSError(
                .invalidConfiguration,
                "\(Setting.minimumVersion.rawValue) must be \"1.2\" or \"1.3\", got \"\(minimumVersion)\""
            )
        }
        self.init(minimumVersion: version, ciphers: ciphers, ciphersuites: ciphersuites)
    }
}
