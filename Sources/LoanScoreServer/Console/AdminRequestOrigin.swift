import NIOHTTP1

/// Refuses the admin requests that a web page on another origin can make a browser send:
/// cross-site request forgery (a page that POSTs `/reload` or `/score` to 127.0.0.1) and DNS
/// rebinding (a page whose host name is made to resolve to 127.0.0.1, reading the console's
/// JSON as its own origin). The console's own pages pass: their requests are same-origin and
/// name the admin port in `Host`.
///
/// Checked for the requests ``AdminAccess/isProtected(method:path:)`` names (the console, its
/// endpoints, every state change) whether or not `admin_auth` is set: a browser attaches
/// cached basic-auth credentials to a forged request too. `/health`, `/ready`, `/metrics`,
/// `/model` and `/drift` are not checked: probes and scrapers send whatever `Host` they were
/// configured with. Rules (OWASP CSRF Prevention Cheat Sheet: Fetch Metadata, then the
/// standard headers; DNS rebinding: verify the `Host` header):
///
/// 1. `Sec-Fetch-Site`, when present, must be `same-origin` or `none` (typed by the user);
/// 2. `Origin`, when present, must be `http://` + the request's `Host`;
/// 3. on an admin listener bound to loopback, `Host` (when present) must name a loopback
///    address or `localhost`.
enum AdminRequestOrigin {
    /// Why the request is refused (one sentence saying what to do), or nil to serve it.
    ///
    /// - Parameters:
    ///   - headers: the request's headers.
    ///   - listenerIsLoopback: whether the admin listener is bound to a loopback address.
    static func refusal(_ headers: HTTPHeaders, listenerIsLoopback: Bool) -> String? {
        if let site = headers.first(name: "sec-fetch-site")?.lowercased(), site != "same-origin", site != "none" {
            return "a request from another site (Sec-Fetch-Site: \(site)) is refused: open the console from the admin port itself"
        }
        let host = headers.first(name: "host")
        if let origin = headers.first(name: "origin") {
            guard let host, origin.lowercased() == "http://" + host.lowercased() else {
                return "a request from another origin (Origin: \(origin.prefix(200))) is refused: the console's own pages "
                    + "come from http://\(host?.prefix(200) ?? "the admin address")"
            }
        }
        if listenerIsLoopback, let host, !AdminAccess.isLoopback(Self.hostName(host)) {
            return "Host '\(host.prefix(200))' is not a loopback name: this admin port listens on loopback and answers "
                + "requests addressed to 127.0.0.1, localhost or [::1] only"
        }
        return nil
    }

    /// The host of a `Host` header value: without its port, brackets kept for IPv6.
    static func hostName(_ value: String) -> String {
        if value.hasPrefix("["), let close = value.firstIndex(of: "]") { return String(value[...close]) }
        return String(value.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
    }
}
