/// The user inbound event a ``TLSHandler`` fires once its handshake has finished, before any
/// application data is passed on.
///
/// Handlers after the ``TLSHandler`` see it in `userInboundEventTriggered(context:event:)`:
///
/// ```swift
/// if let done = event as? TLSHandshakeCompleted { logger.info("TLS up", metadata: ["alpn": "\(done.alpn ?? "-")"]) }
/// ```
public struct TLSHandshakeCompleted: Sendable, Hashable {
    /// The ALPN protocol both sides agreed on (`loanscore/1`), or nil when the client offered
    /// no ALPN.
    public var alpn: String?
    /// The subject of the peer's certificate as one line (`/O=LoanScore/CN=client`): on a
    /// server, the client certificate's (nil unless mutual TLS is on and the client sent one);
    /// on a client, the server's.
    public var peerSubject: String?
    /// The protocol version: `TLSv1.3` or `TLSv1.2`.
    public var version: String

    /// An event with the given values.
    public init(alpn: String?, peerSubject: String?, version: String) {
        self.alpn = alpn
        self.peerSubject = peerSubject
        self.version = version
    }
}
