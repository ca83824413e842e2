internal import COpenSSL

extension TLSPolicy {
    /// Checks the policy against the OpenSSL this process runs on, without reading any file:
    /// the same checks ``TLSContext/init(configuration:)`` makes.
    ///
    /// - Throws: ``TLSError`` ``TLSError/Code-swift.struct/invalidConfiguration`` naming the
    ///   setting (`tls.ciphers`, `tls.ciphersuites`) and its value, for example
    ///   `tls.ciphers: no cipher in "FOO" is known to OpenSSL`.
    public func validate() throws(TLSError) {
        ERR_clear_error()
        guard let method = TLS_method(), let scratch = SSL_CTX_new(method) else {
            throw TLSError.withOpenSSLErrors(.contextCreationFailed, "SSL_CTX_new failed")
        }
        defer { SSL_CTX_free(scratch) }
        try apply(to: scratch)
    }

    /// The OpenSSL constant for ``minimumVersion``.
    var openSSLMinimumVersion: Int32 {
        switch minimumVersion {
        case .tls12: TLS1_2_VERSION
        case .tls13: TLS1_3_VERSION
        }
    }

    /// Sets the minimum version, the TLS 1.2 cipher list and the TLS 1.3 suites on `sslContext`.
    ///
    /// OpenSSL's own errors are kept in ``TLSError/openSSLErrors``; the message is ours.
    func apply(to sslContext: OpaquePointer) throws(TLSError) {
        ERR_clear_error()
        guard COpenSSL_SSL_CTX_set_min_proto_version(sslContext, openSSLMinimumVersion) == 1 else {
            throw TLSError.withOpenSSLErrors(
                .invalidConfiguration, "\(Setting.minimumVersion.rawValue): OpenSSL refused TLS \(minimumVersion)")
        }

        let ciphersName = Setting.ciphers.rawValue
        guard !ciphers.isEmpty else {
            throw TLSError(.invalidConfiguration, "\(ciphersName) must not be empty (it lists the TLS 1.2 cipher suites)")
        }
        guard SSL_CTX_set_cipher_list(sslContext, ciphers) == 1 else {
            throw TLSError.withOpenSSLErrors(.invalidConfiguration, "\(ciphersName): no cipher in \"\(ciphers)\" is known to OpenSSL")
        }

        let suitesName = Setting.ciphersuites.rawValue
        if ciphersuites.isEmpty && minimumVersion == .tls13 {
            throw TLSError(
                .invalidConfiguration,
                "\(suitesName) is empty, which turns TLS 1.3 off, but \(Setting.minimumVersion.rawValue) is 1.3")
        }
        // OpenSSL skips names it does not know; we refuse them, naming each.
        for name in ciphersuites.split(separator: ":", omittingEmptySubsequences: false) where !ciphersuites.isEmpty {
            guard Self.isKnownTLS13Suite(String(name)) else {
                throw TLSError(
                    .invalidConfiguration,
                    "\(suitesName): \"\(name)\" in \"\(ciphersuites)\" is not a TLS 1.3 cipher suite known to OpenSSL")
            }
        }
        guard SSL_CTX_set_ciphersuites(sslContext, ciphersuites) == 1 else {
            throw TLSError.withOpenSSLErrors(.invalidConfiguration, "\(suitesName): OpenSSL refused \"\(ciphersuites)\"")
        }
        // Without suites a server would still choose TLS 1.3 and then fail every handshake
        // that offers it: cap the version instead.
        if ciphersuites.isEmpty {
            guard COpenSSL_SSL_CTX_set_max_proto_version(sslContext, TLS1_2_VERSION) == 1 else {
                throw TLSError.withOpenSSLErrors(.invalidConfiguration, "\(suitesName): cannot turn TLS 1.3 off")
            }
        }
        ERR_clear_error()
    }

    /// Whether OpenSSL selects exactly one TLS 1.3 suite for `name` alone.
    private static func isKnownTLS13Suite(_ name: String) -> Bool {
        guard !name.isEmpty, let method = TLS_method(), let scratch = SSL_CTX_new(method) else { return false }
        defer { SSL_CTX_free(scratch) }
        guard SSL_CTX_set_ciphersuites(scratch, name) == 1 else {
            ERR_clear_error()
            return false
        }
        return tls13SuiteCount(scratch) == 1
    }

    /// How many TLS 1.3 suites `sslContext` would offer.
    private static func tls13SuiteCount(_ sslContext: OpaquePointer) -> Int {
        // The stack belongs to the SSL_CTX and lives as long as it; we only read it here.
        guard let stack = SSL_CTX_get_ciphers(sslContext) else { return 0 }
        var count = 0
        for index in 0..<COpenSSL_sk_SSL_CIPHER_num(stack) {
            // SSL_CIPHER_get_version returns a static string ("TLSv1.3" for TLS 1.3 suites).
            if let cipher = COpenSSL_sk_SSL_CIPHER_value(stack, index), let version = SSL_CIPHER_get_version(cipher),
                String(cString: version) == "TLSv1.3"
            {
                count += 1
            }
        }
        return count
    }
}
