internal import COpenSSL
internal import NIOCore
internal import Synchronization

/// One TLS connection: OpenSSL's `SSL` object between two memory BIOs. Ciphertext from the
/// network goes into the input BIO (``feed(_:)``), ciphertext to send comes out of the output
/// BIO (``drainOutput(allocator:)``), and the handshake, reads and writes run in between.
///
/// The `SSL` (and with it both BIOs, which `SSL_set_bio` hands to it) is owned by this object
/// alone and freed exactly once, in deinit. Not thread-safe: used on one event loop.
final class TLSConnection {
    /// What one SSL operation came to.
    enum Result {
        /// Done; for reads and writes, this many bytes.
        case complete(Int)
        /// Needs more ciphertext from the peer (`SSL_ERROR_WANT_READ`), or the output BIO
        /// drained (`SSL_ERROR_WANT_WRITE`); try again after the next read.
        case incomplete
        /// The peer sent close_notify (`SSL_ERROR_ZERO_RETURN`).
        case closed
        /// A fatal error; the connection is unusable.
        case failed(TLSError)
    }

    /// Keeps the SSL_CTX (and its ALPN list, read by the select callback) alive while the SSL
    /// uses it.
    let context: TLSContext
    private let ssl: OpaquePointer
    /// Borrowed from `ssl`, which owns and frees it.
    private let inputBIO: OpaquePointer
    /// Borrowed from `ssl`, which owns and frees it.
    private let outputBIO: OpaquePointer

    /// A connection for `context`'s role; a client sends `serverName` as SNI (host names only)
    /// and checks the server certificate against it.
    init(context: TLSContext, serverName: String?) throws {
        self.context = context
        ERR_clear_error()
        guard let ssl = SSL_new(context.sslContext) else {
            throw TLSError.withOpenSSLErrors(.contextCreationFailed, "SSL_new failed")
        }
        guard let inputBIO = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSError.withOpenSSLErrors(.contextCreationFailed, "BIO_new failed")
        }
        guard let outputBIO = BIO_new(BIO_s_mem()) else {
            BIO_free(inputBIO)
            SSL_free(ssl)
            throw TLSError.withOpenSSLErrors(.contextCreationFailed, "BIO_new failed")
        }
        // An empty input BIO means "no more bytes yet" (retry), not end of file.
        _ = COpenSSL_BIO_set_mem_eof_return(inputBIO, -1)
        SSL_set_bio(ssl, inputBIO, outputBIO)  // ssl now owns both BIOs.
        self.ssl = ssl
        self.inputBIO = inputBIO
        self.outputBIO = outputBIO
        // From here on deinit runs (and frees the SSL) even if init throws below.
        context.liveConnections.add(1, ordering: .relaxed)
        TLSContext.liveConnectionsTotal.add(1, ordering: .relaxed)

        switch context.configuration.role {
        case .server:
            SSL_set_accept_state(ssl)
        case .client:
            SSL_set_connect_state(ssl)
            if let serverName, !serverName.isEmpty {
                try setExpectedServerName(serverName)
            }
        }
    }

    deinit {
        SSL_free(ssl)
        context.liveConnections.subtract(1, ordering: .relaxed)
        TLSContext.liveConnectionsTotal.subtract(1, ordering: .relaxed)
    }

    /// SNI for host names, and the name (or IP address) the certificate must carry when the
    /// server is verified.
    private func setExpectedServerName(_ name: String) throws {
        let isIPAddress = Self.isIPAddress(name)
        ERR_clear_error()
        if !isIPAddress {
            // RFC 6066: SNI carries host names only, never literal addresses.
            guard COpenSSL_SSL_set_tlsext_host_name(ssl, name) == 1 else {
                throw TLSError.withOpenSSLErrors(.invalidConfiguration, "\"\(name)\" cannot be sent as SNI")
            }
        }
        guard context.configuration.peerVerification != .none else { return }
        let accepted: Int32
        if isIPAddress {
            accepted = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name)
        } else {
            accepted = SSL_set1_host(ssl, name)
        }
        guard accepted == 1 else {
            throw TLSError.withOpenSSLErrors(.invalidConfiguration, "\"\(name)\" is not a valid server name")
        }
    }

    private static func isIPAddress(_ name: String) -> Bool {
        if name.contains(":") { return true }  // IPv6 literal; host names have no colon.
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
    }

    // MARK: - Ciphertext in and out

    /// Hands all readable bytes of `buffer` to OpenSSL, consuming them.
    func feed(_ buffer: inout ByteBuffer) {
        while buffer.readableBytes > 0 {
            let written = buffer.withUnsafeReadableBytes { bytes -> Int in
                // A memory BIO copies at most Int32.max bytes per call; pass no more than the
                // readable bytes the closure was given.
                let count = min(bytes.count, Int(Int32.max))
                guard let base = bytes.baseAddress, count > 0 else { return 0 }
                return Int(BIO_write(inputBIO, base, Int32(count)))
            }
            // A memory BIO only fails when out of memory; stop rather than spin.
            guard written > 0 else { return }
            buffer.moveReaderIndex(forwardBy: written)
        }
    }

    /// Takes all ciphertext OpenSSL has produced, or nil if there is none.
    func drainOutput(allocator: ByteBufferAllocator) -> ByteBuffer? {
        let pending = BIO_ctrl_pending(outputBIO)
        guard pending > 0 else { return nil }
        var buffer = allocator.buffer(capacity: pending)
        while true {
            let wanted = min(Int(BIO_ctrl_pending(outputBIO)), Int(Int32.max))
            guard wanted > 0 else { break }
            let read = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: wanted) { bytes -> Int in
                // The closure's buffer has at least `wanted` writable bytes; read no more.
                guard let base = bytes.baseAddress else { return 0 }
                return max(0, Int(BIO_read(outputBIO, base, Int32(min(wanted, bytes.count)))))
            }
            guard read > 0 else { break }
        }
        return buffer.readableBytes > 0 ? buffer : nil
    }

    // MARK: - SSL operations

    /// Advances the handshake as far as the bytes fed so far allow.
    func doHandshake() -> Result {
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        return interpret(result, operation: "handshake")
    }

    /// Decrypts application data into `buffer`, at most one record (16 KiB) at a time.
    func read(into buffer: inout ByteBuffer) -> Result {
        var returnCode: Int32 = 0
        ERR_clear_error()
        _ = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 16_384) { bytes -> Int in
            // SSL_read writes at most `count` bytes into the writable region it is given.
            guard let base = bytes.baseAddress else { return 0 }
            returnCode = SSL_read(ssl, base, Int32(min(bytes.count, Int(Int32.max))))
            return max(0, Int(returnCode))
        }
        return interpret(returnCode, operation: "read")
    }

    /// Encrypts as much of `buffer` as OpenSSL takes in one call, consuming what it took.
    func write(_ buffer: inout ByteBuffer) -> Result {
        var returnCode: Int32 = 0
        ERR_clear_error()
        buffer.withUnsafeReadableBytes { bytes in
            // SSL_write reads at most `count` bytes from the readable region it is given.
            guard let base = bytes.baseAddress, bytes.count > 0 else { return }
            returnCode = SSL_write(ssl, base, Int32(min(bytes.count, Int(Int32.max))))
        }
        let result = interpret(returnCode, operation: "write")
        if case .complete(let count) = result { buffer.moveReaderIndex(forwardBy: count) }
        return result
    }

    /// Queues close_notify (one-way shutdown: the peer's reply is not awaited).
    func shutdown() {
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    private func interpret(_ returnCode: Int32, operation: String) -> Result {
        if returnCode > 0 { return .complete(Int(returnCode)) }
        let error = SSL_get_error(ssl, returnCode)
        switch error {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .incomplete
        case SSL_ERROR_ZERO_RETURN:
            return .closed
        default:
            return .failed(makeError(operation: operation, sslError: error))
        }
    }

    /// Turns a failed operation into a typed error, draining OpenSSL's error queue.
    private func makeError(operation: String, sslError: Int32) -> TLSError {
        let stack = drainOpenSSLErrorQueue()
        // OpenSSL records a verify result even under SSL_VERIFY_NONE; it only explains the
        // failure when verification was asked for.
        let verifyResult = SSL_get_verify_result(ssl)
        if context.configuration.peerVerification != .none, verifyResult != Int(X509_V_OK) {
            let reason = X509_verify_cert_error_string(verifyResult).map { String(cString: $0) } ?? "error \(verifyResult)"
            return TLSError(.certificateVerifyFailed, "\(operation): peer certificate rejected: \(reason)", openSSLErrors: stack)
        }
        let reasons = stack.map { COpenSSL_ERR_GET_REASON(UInt($0.code)) }
        let code: TLSError.Code
        let what: String
        if reasons.contains(SSL_R_CERTIFICATE_VERIFY_FAILED) {
            (code, what) = (.certificateVerifyFailed, "peer certificate rejected")
        } else if reasons.contains(where: { $0 == SSL_R_NO_APPLICATION_PROTOCOL || $0 == SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL }) {
            (code, what) = (.noApplicationProtocol, "no common ALPN protocol (we speak \(context.configuration.applicationProtocols))")
        } else if reasons.contains(where: {
            $0 == SSL_R_UNSUPPORTED_PROTOCOL || $0 == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION || $0 == SSL_R_NO_PROTOCOLS_AVAILABLE
        }) {
            let accepted = context.configuration.policy.minimumVersion == .tls13 ? "TLS 1.3" : "TLS 1.2 or 1.3"
            (code, what) = (.unsupportedProtocolVersion, "no common protocol version (\(accepted) required)")
        } else if reasons.contains(SSL_R_NO_SHARED_CIPHER) {
            (code, what) = (.noCommonCipher, "the client offered no cipher suite that tls.ciphers or tls.ciphersuites allows")
        } else if operation == "handshake", context.configuration.role == .client,
            reasons.contains(SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE),
            // No suite chosen yet: the server refused our hello, not (say) a missing client
            // certificate later on.
            SSL_get_pending_cipher(ssl) == nil, SSL_get_current_cipher(ssl) == nil
        {
            (code, what) = (.noCommonCipher, "the server refused the handshake (handshake_failure alert), most likely because it accepts none of the cipher suites we offer (tls.ciphers, tls.ciphersuites)")
        } else if reasons.contains(where: {
            $0 == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE || $0 == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED
        }) {
            (code, what) = (.peerCertificateRequired, "a client certificate is required")
        } else if reasons.contains(where: {
            $0 == SSL_R_WRONG_VERSION_NUMBER || $0 == SSL_R_HTTP_REQUEST || $0 == SSL_R_HTTPS_PROXY_REQUEST
                || $0 == SSL_R_PACKET_LENGTH_TOO_LONG || $0 == SSL_R_UNKNOWN_PROTOCOL
        }) {
            (code, what) = (.invalidRecord, "the peer did not speak TLS")
        } else if operation == "handshake" {
            (code, what) = (.handshakeFailed, "handshake failed")
        } else {
            (code, what) = (.connectionFailed, "\(operation) failed")
        }
        let detail = stack.last.map { ": \($0.text)" } ?? (sslError == SSL_ERROR_SYSCALL ? ": unexpected end of stream" : "")
        return TLSError(code, "\(operation): \(what)\(detail)", openSSLErrors: stack)
    }

    // MARK: - After the handshake

    /// The ALPN protocol agreed on, if any.
    var negotiatedApplicationProtocol: String? {
        var data: UnsafePointer<UInt8>? = nil
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        // `data` points at `length` bytes owned by the SSL object; copied at once.
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// The protocol version, e.g. `TLSv1.3`.
    var protocolVersion: String {
        SSL_get_version(ssl).map { String(cString: $0) } ?? "unknown"
    }

    /// The peer certificate's subject as one line (`/O=LoanScore/CN=client`), if it sent one.
    var peerSubject: String? {
        guard let certificate = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(certificate) }
        // The name belongs to the certificate; X509_NAME_oneline with no buffer allocates the
        // string, which is copied and freed here.
        guard let name = X509_get_subject_name(certificate), let line = X509_NAME_oneline(name, nil, 0) else {
            return nil
        }
        defer { COpenSSL_OPENSSL_free(line) }
        return String(cString: line)
    }
}
