internal import COpenSSL

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#elseif canImport(Darwin)
internal import Darwin
#endif

extension TLSContext {
    /// When the certificate this context presents stops being valid (its `notAfter`), in
    /// seconds since the Unix epoch; nil when the context has no certificate (a client
    /// without one) or its date cannot be read.
    ///
    /// Read from the loaded leaf certificate (`SSL_CTX_get0_certificate`,
    /// `X509_get0_notAfter`, `ASN1_TIME_to_tm`), so it is the date of what is actually served.
    public var certificateNotAfter: Double? {
        // The certificate belongs to the SSL_CTX (get0: no reference taken); it lives as long as self.
        guard let certificate = SSL_CTX_get0_certificate(sslContext), let notAfter = X509_get0_notAfter(certificate) else {
            return nil
        }
        var time = tm()
        ERR_clear_error()
        guard ASN1_TIME_to_tm(notAfter, &time) == 1 else {
            ERR_clear_error()
            return nil
        }
        // ASN1_TIME_to_tm gives UTC fields; timegm reads them as UTC.
        return Double(timegm(&time))
    }
}
