/// A TCP endpoint written `HOST:PORT`, or `[IPv6]:PORT`: the one parser of every address
/// setting and flag (the server's `listen` and `admin`, the CLI's and the load generator's
/// `--server`, the admin `--admin`).
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    /// A name or an address literal, without brackets.
    public var host: String
    /// 0...65535 (0 only where binding lets the system choose).
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT` or `[IPv6]:PORT`.
    ///
    /// - Parameter allowPortZero: true for listeners (port 0 lets the system choose).
    /// - Throws: ``HostPortError`` saying what is wrong with `text`.
    public init(parsing text: String, allowPortZero: Bool = false) throws(HostPortError) {
        let lowest = allowPortZero ? 0 : 1
        guard let colon = text.lastIndex(of: ":") else {
            throw HostPortError("'\(text)' has no port: write HOST:PORT, e.g. 127.0.0.1:7443")
        }
        let portText = text[text.index(after: colon)...]
        guard let port = Int(portText), (lowest...65_535).contains(port) else {
            throw HostPortError("'\(text)': the port must be a number in \(lowest)...65535, got '\(portText)'")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
        } else if host.contains(":") {
            throw HostPortError("'\(text)': write an IPv6 address in brackets, e.g. [::1]:7443")
        }
        guard !host.isEmpty, !host.contains(where: { $0.isWhitespace }) else {
            throw HostPortError("'\(text)' has no host: write HOST:PORT, e.g. 127.0.0.1:7443")
        }
        self.host = host
        self.port = port
    }

    /// `host:port`, with brackets around an IPv6 address.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Why a `HOST:PORT` text could not be parsed.
public struct HostPortError: Error, Sendable, CustomStringConvertible {
    /// What is wrong, quoting the text.
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
