internal import COpenSSL
internal import Synchronization

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#elseif canImport(Darwin)
internal import Darwin
#endif

/// A loaded TLS configuration: OpenSSL's `SSL_CTX` with the certificate, key and trust roots read
/// from their files. Make one per configuration and share it across connections; each
/// ``TLSHandler`` made from it keeps it alive.
///
/// Loading fails with a ``TLSError`` that names the file or setting: ``TLSError/Code-swift.struct/fileNotFound``,
/// ``TLSError/Code-swift.struct/invalidPEM``, ``TLSError/Code-swift.struct/keyMismatch`` or
/// ``TLSError/Code-swift.struct/invalidConfiguration`` (also for a ``TLSPolicy`` OpenSSL refuses).
// @unchecked Sendable: the SSL_CTX is configured completely in init and never changed after;
// OpenSSL allows SSL_new on one SSL_CTX from many threads at once.
public final class TLSContext: @unchecked Sendable {
    /// The configuration this context was loaded from.
    public let configuration: TLSConfiguration

    /// The `SSL_CTX`, owned by this object alone and freed in deinit.
    let sslContext: OpaquePointer
    /// The server's ALPN list in wire format, read by the ALPN select callback. Allocated in
    /// init, freed in deinit; every SSL made from this context holds a strong reference to the
    /// context, so it outlives all callbacks.
    fileprivate let alpnWireFormat: UnsafeMutableBufferPointer<UInt8>?
    /// How many SSL objects made from this context are alive (tests check each is freed).
    let liveConnections = Atomic<Int>(0)
    /// How many SSL objects made from any context are alive in this process.
    static let liveConnectionsTotal = Atomic<Int>(0)

    /// How many TLS connections (`SSL` objects, each with its buffers and BIOs) are alive in
    /// this process, from every context: a server's memory check compares it with its open
    /// connections (after the last connection closes it is zero).
    public static var liveConnectionsInProcess: Int { liveConnectionsTotal.load(ordering: .relaxed) }

    /// Loads a configuration.
    ///
    /// - Parameter configuration: What to load; its files are read now, not per connection.
    /// - Throws: ``TLSError`` naming the file or setting at fault.
    public init(configuration: TLSConfiguration) throws {
        try configuration.validate()
        ERR_clear_error()
        guard let method = TLS_method(), let sslContext = SSL_CTX_new(method) else {
            throw TLSError.withOpenSSLErrors(.contextCreationFailed, "SSL_CTX_new failed")
        }
        self.configuration = configuration
        self.sslContext = sslContext

        // From here on deinit frees sslContext if init throws, so alpnWireFormat must be set
        // before anything can throw.
        let wire = configuration.applicationProtocolsWireFormat
        if configuration.role == .server && !wire.isEmpty {
            // Exactly wire.count bytes, all initialised from `wire`; freed in deinit.
            let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: wire.count)
            _ = buffer.initialize(from: wire)
            self.alpnWireFormat = buffer
        } else {
            self.alpnWireFormat = nil
        }
        try configure()
    }

    deinit {
        SSL_CTX_free(sslContext)
        alpnWireFormat?.deallocate()
    }

    /// Applies the protocol policy and loads the files.
    private func configure() throws {
        let configuration = self.configuration

        // TLS 1.2 and 1.3 only, as the policy narrows them; no renegotiation, no compression.
        try configuration.policy.apply(to: sslContext)
        if let minimum = configuration.minimumProtocolVersionOverride {
            guard COpenSSL_SSL_CTX_set_min_proto_version(sslContext, minimum) == 1 else {
                throw TLSError.withOpenSSLErrors(.contextCreationFailed, "cannot set the minimum TLS version")
            }
        }
        if let maximum = configuration.maximumProtocolVersionOverride {
            guard COpenSSL_SSL_CTX_set_max_proto_version(sslContext, maximum) == 1 else {
                throw TLSError.withOpenSSLErrors(.contextCreationFailed, "cannot set the maximum TLS version")
            }
        }
        // No SSL_OP_CIPHER_SERVER_PREFERENCE: as in Mozilla's intermediate configuration, every
        // suite the policy allows is strong, so the client picks (ChaCha20 on CPUs without AES
        // instructions, AES-GCM elsewhere).
        _ = COpenSSL_SSL_CTX_set_options(
            sslContext, COpenSSL_SSL_OP_NO_RENEGOTIATION() | COpenSSL_SSL_OP_NO_COMPRESSION()
        )
        // SSL_write may return after writing part of a large buffer, and may be retried with the
        // rest from another address (ByteBuffer storage can move). RELEASE_BUFFERS: an SSL frees
        // its record buffers (about 34 KiB) whenever they are empty, so an idle or stalled
        // connection costs a few KiB instead of 40 (a storm of 1,000 stalled connections holds
        // about 34 MB less).
        _ = COpenSSL_SSL_CTX_set_mode(
            sslContext, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS)
        )
        if let ciphers = configuration.cipherListOverride {
            guard SSL_CTX_set_cipher_list(sslContext, ciphers) == 1 else {
                throw TLSError.withOpenSSLErrors(.invalidConfiguration, "cipher list \"\(ciphers)\" rejected")
            }
        }

        if let chain = configuration.certificateChainFile, let key = configuration.privateKeyFile {
            try loadCertificateChain(chain)
            try loadPrivateKey(key, certificateFile: chain)
        }
        try configureVerification()
        try configureALPN()

        // Needed for session resumption when client certificates are requested; any fixed
        // value will do.
        let sessionContext = Array("loanscore".utf8)
        // OpenSSL copies exactly `count` bytes (at most SSL_MAX_SID_CTX_LENGTH, 32) from the array.
        _ = sessionContext.withUnsafeBufferPointer { bytes in
            SSL_CTX_set_session_id_context(sslContext, bytes.baseAddress, UInt32(bytes.count))
        }
    }

    private func loadCertificateChain(_ path: String) throws {
        try Self.checkReadable(path, what: "certificate chain")
        ERR_clear_error()
        guard SSL_CTX_use_certificate_chain_file(sslContext, path) == 1 else {
            throw TLSError.withOpenSSLErrors(.invalidPEM, "\(path): not a PEM certificate chain")
        }
    }

    private func loadPrivateKey(_ path: String, certificateFile: String) throws {
        try Self.checkReadable(path, what: "private key")
        ERR_clear_error()
        // Read the key on its own first, so that a bad file and a key for another certificate
        // get different errors.
        guard let bio = BIO_new_file(path, "r") else {
            throw TLSError.withOpenSSLErrors(.fileNotFound, "\(path): cannot open the private key")
        }
        defer { BIO_free(bio) }
        guard let key = PEM_read_bio_PrivateKey(bio, nil, nil, nil) else {
            throw TLSError.withOpenSSLErrors(.invalidPEM, "\(path): not a PEM private key (or it is encrypted)")
        }
        defer { EVP_PKEY_free(key) }  // SSL_CTX_use_PrivateKey takes its own reference.
        guard SSL_CTX_use_PrivateKey(sslContext, key) == 1, SSL_CTX_check_private_key(sslContext) == 1 else {
            throw TLSError.withOpenSSLErrors(
                .keyMismatch, "\(path): the private key does not match the certificate in \(certificateFile)"
            )
        }
    }

    private func configureVerification() throws {
        let configuration = self.configuration
        if let roots = configuration.trustRootsFile {
            try Self.checkReadable(roots, what: "trust roots")
            ERR_clear_error()
            guard SSL_CTX_load_verify_locations(sslContext, roots, nil) == 1 else {
                throw TLSError.withOpenSSLErrors(.invalidPEM, "\(roots): no PEM CA certificates in the trust roots")
            }
        } else if configuration.role == .client && configuration.peerVerification != .none {
            ERR_clear_error()
            guard SSL_CTX_set_default_verify_paths(sslContext) == 1 else {
                throw TLSError.withOpenSSLErrors(.contextCreationFailed, "cannot load the system trust store")
            }
        }

        let mode: Int32
        switch (configuration.role, configuration.peerVerification) {
        case (_, .none): mode = SSL_VERIFY_NONE
        case (.server, .optional): mode = SSL_VERIFY_PEER
        case (.server, .required): mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
        case (.client, _): mode = SSL_VERIFY_PEER
        }
        SSL_CTX_set_verify(sslContext, mode, nil)

        // Tell clients which CA we accept, so they pick the right certificate.
        if configuration.role == .server, configuration.peerVerification != .none, let roots = configuration.trustRootsFile {
            ERR_clear_error()
            if let names = SSL_load_client_CA_file(roots) {
                SSL_CTX_set_client_CA_list(sslContext, names)  // takes ownership of `names`
            } else {
                ERR_clear_error()  // only a hint to the client; verification still works.
            }
        }
    }

    private func configureALPN() throws {
        switch configuration.role {
        case .client:
            let wire = configuration.applicationProtocolsWireFormat
            guard !wire.isEmpty else { return }
            ERR_clear_error()
            // Note: SSL_CTX_set_alpn_protos returns 0 on success.
            let result = wire.withUnsafeBufferPointer { bytes in
                SSL_CTX_set_alpn_protos(sslContext, bytes.baseAddress, UInt32(bytes.count))
            }
            guard result == 0 else {
                throw TLSError.withOpenSSLErrors(.invalidConfiguration, "cannot set the ALPN protocols")
            }
        case .server:
            guard alpnWireFormat != nil else { return }
            SSL_CTX_set_alpn_select_cb(sslContext, alpnSelectCallback, Unmanaged.passUnretained(self).toOpaque())
        }
    }

    /// Fails with `fileNotFound` unless `path` names a readable file.
    private static func checkReadable(_ path: String, what: String) throws {
        guard access(path, F_OK) == 0 else {
            throw TLSError(.fileNotFound, "\(path): \(what) file not found")
        }
        guard access(path, R_OK) == 0 else {
            throw TLSError(.fileNotFound, "\(path): \(what) file is not readable")
        }
    }
}

/// The server's ALPN choice: the first of our protocols the client offers. A client that offers
/// ALPN without any of them gets a fatal no_application_protocol alert; one that offers no ALPN
/// never reaches this callback.
///
/// `arg` is the TLSContext, unretained: every SSL made from the context holds a strong reference
/// to it (TLSConnection.context), so it is alive whenever OpenSSL calls back during a handshake.
private let alpnSelectCallback:
    @convention(c) (
        OpaquePointer?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, UnsafeMutablePointer<UInt8>?,
        UnsafePointer<UInt8>?, UInt32, UnsafeMutableRawPointer?
    ) -> Int32 = { _, out, outLength, offered, offeredLength, arg in
        guard let out, let outLength, let offered, let arg else { return SSL_TLSEXT_ERR_ALERT_FATAL }
        let context = Unmanaged<TLSContext>.fromOpaque(arg).takeUnretainedValue()
        guard let ours = context.alpnWireFormat, let oursBase = ours.baseAddress else {
            return SSL_TLSEXT_ERR_ALERT_FATAL
        }
        // SSL_select_next_proto reads `ours.count` bytes of our list and `offeredLength` bytes of
        // the client's (both length-prefixed lists, checked by OpenSSL), and points `selected`
        // into one of them; OpenSSL copies the selection before either goes away.
        var selected: UnsafeMutablePointer<UInt8>? = nil
        var selectedLength: UInt8 = 0
        let result = SSL_select_next_proto(
            &selected, &selectedLength, oursBase, UInt32(ours.count), offered, offeredLength
        )
        guard result == OPENSSL_NPN_NEGOTIATED, let selected else { return SSL_TLSEXT_ERR_ALERT_FATAL }
        out.pointee = UnsafePointer(selected)
        outLength.pointee = selectedLength
        return SSL_TLSEXT_ERR_OK
    }
