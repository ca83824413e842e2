import LoanScoreTLS
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Plain-words messages for the failures a person meets first: a server that cannot be
/// reached, and one that cannot be trusted. Each says what happened and what to do, without
/// the libraries' debug text (NIO's error descriptions, OpenSSL's error queue).
enum PlainMessages {
    /// Why a TCP connection to `server` could not be opened.
    static func connectFailure(_ error: any Error, server: String) -> String {
        if let failure = error as? NIOConnectionError {
            if let single = failure.connectionErrors.first { return connectFailure(single.error, server: server) }
            if let dns = failure.dnsAAAAError ?? failure.dnsAError {
                return "cannot find the host of \(server) (\(dns)); check the name, or use its IP address"
            }
            return "cannot connect to \(server): no address to try; check the host name"
        }
        if let error = error as? IOError {
            switch error.errnoCode {
            case ECONNREFUSED:
                return "cannot connect to \(server): connection refused (nothing listens there: is loanscored running, and is the port right?)"
            case ETIMEDOUT:
                return "cannot connect to \(server): no answer (timed out); check the address and any firewall between"
            case EHOSTUNREACH, ENETUNREACH:
                return "cannot connect to \(server): no route to the host; check the address and the network"
            case ECONNRESET:
                return "cannot connect to \(server): the connection was reset; is it a LoanScore port?"
            default:
                return "cannot connect to \(server): \(String(cString: strerror(error.errnoCode)))"
            }
        }
        if case ChannelError.connectTimeout(let timeout) = error {
            return "cannot connect to \(server): no answer within \(timeout.nanoseconds / 1_000_000) ms; check the address and any firewall between"
        }
        return "cannot connect to \(server): \(error)"
    }

    /// Why the TLS handshake with `server` failed, with what to do about it.
    static func tlsFailure(_ error: TLSError, server: String) -> String {
        let what = error.message.hasPrefix("handshake: ") ? String(error.message.dropFirst("handshake: ".count)) : error.message
        switch error.code {
        case .certificateVerifyFailed:
            return "\(server)'s certificate is not trusted: \(what); give the CA certificate that signed the server's "
                + "certificate (--ca FILE; TLS.caFile in the SDK), and connect by a name or address the certificate lists"
        case .peerCertificateRequired:
            return "\(server) requires a client certificate (mutual TLS): give one signed by the CA the server trusts (--cert FILE --key FILE)"
        case .unsupportedProtocolVersion:
            return "\(server) and this client share no TLS version: \(what)"
        case .noCommonCipher:
            return "\(server) and this client share no cipher suite: \(what)"
        case .noApplicationProtocol:
            return "\(server) does not speak the LoanScore protocol (ALPN loanscore/1): is it the scoring port, not the admin port?"
        case .invalidRecord:
            return "\(server) did not answer with TLS: is it the scoring port of a loanscored (the admin port is plain HTTP)?"
        case .handshakeTimeout:
            return "\(server) did not complete the TLS handshake in time; is it the scoring port of a loanscored?"
        case .closedDuringHandshake:
            return "\(server) closed the connection during the TLS handshake: a loanscored that refused this client (its log says why), "
                + "or a TCP load balancer (nginx) with no live upstream (its error log says so)"
        default:
            return "TLS with \(server) failed: \(what)"
        }
    }
}
