import Crypto
import Foundation
import LoanScoreProtocol
import NIOHTTP1

extension ServerConfiguration {
    /// The secret of the admin port (the `admin_auth` object): a bearer token, HTTP basic
    /// auth, or both, each stored as the SHA-256 of the secret (64 hex digits), never the
    /// secret itself. `printf %s "$TOKEN" | sha256sum` gives the hash.
    ///
    /// When set, the console (`/console…`), its JSON endpoints (`/stats`, `/decisions/…`,
    /// `POST /score`, `/model/card`, `/model/report.html`) and `POST /reload` answer 401
    /// without it; `/health`, `/ready`, `/metrics`, `/model` and `/drift` stay open for probes
    /// and scrapers.
    public struct AdminAuth: Codable, Sendable, Equatable {
        /// SHA-256 (hex) of the bearer token (`Authorization: Bearer TOKEN`).
        public var tokenSHA256: String?
        /// The basic-auth user name (`Authorization: Basic …`), with ``basicPasswordSHA256``.
        public var basicUser: String?
        /// SHA-256 (hex) of the basic-auth password.
        public var basicPasswordSHA256: String?

        public init(tokenSHA256: String? = nil, basicUser: String? = nil, basicPasswordSHA256: String? = nil) {
            self.tokenSHA256 = tokenSHA256
            self.basicUser = basicUser
            self.basicPasswordSHA256 = basicPasswordSHA256
        }

        enum CodingKeys: String, CodingKey {
            case tokenSHA256 = "token_sha256", basicUser = "basic_user", basicPasswordSHA256 = "basic_password_sha256"
        }

        /// Checks that at least one method is complete and every hash is 64 hex digits.
        ///
        /// - Throws: ``ConfigurationError`` naming the `admin_auth.` key.
        func validate() throws {
            for (key, value) in [("token_sha256", tokenSHA256), ("basic_password_sha256", basicPasswordSHA256)] {
                guard let value else { continue }
                // ASCII hex only: Character.isHexDigit also accepts fullwidth digits, which no hash matches.
                guard value.utf8.count == 64, value.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0 | 0x20) }) else {
                    throw ConfigurationError("admin_auth.\(key) must be a SHA-256 as 64 hex digits (printf %s SECRET | sha256sum), "
                        + "got \(value.utf8.count) characters")
                }
            }
            guard (basicUser == nil) == (basicPasswordSHA256 == nil) else {
                throw ConfigurationError("admin_auth.basic_user and admin_auth.basic_password_sha256 go together: give both or neither")
            }
            if let basicUser, basicUser.isEmpty || basicUser.contains(":") {
                throw ConfigurationError("admin_auth.basic_user must be non-empty and without ':'")
            }
            guard tokenSHA256 != nil || basicUser != nil else {
                throw ConfigurationError("admin_auth needs token_sha256, or basic_user with basic_password_sha256")
            }
        }
    }

    /// The console's settings against the admin listener's address: a console on an admin
    /// port beyond loopback must have an ``AdminAuth``.
    ///
    /// - Throws: ``ConfigurationError`` saying what to add.
    func validateConsole() throws {
        try adminAuth?.validate()
        guard console else { return }
        guard let admin else {
            throw ConfigurationError("console: the console is served on the admin port, which is off (--admin off or \"admin\": null): "
                + "give the admin port an address (127.0.0.1:9090 by default), or leave the console off")
        }
        guard adminAuth == nil else { return }
        let host = try HostPort(admin, setting: "admin").host
        guard AdminAccess.isLoopback(host) else {
            throw ConfigurationError("console: the admin port listens on \(admin), beyond loopback, and has no admin_auth: "
                + "set admin_auth.token_sha256 (or basic_user and basic_password_sha256), or bind the admin port to 127.0.0.1")
        }
    }
}

/// The admin port's access check: which requests need the secret, and whether a request's
/// `Authorization` header carries it.
struct AdminAccess: Sendable {
    private let tokenHash: [UInt8]?
    private let userHash: [UInt8]?
    private let passwordHash: [UInt8]?

    /// The realm named in `WWW-Authenticate`.
    static let realm = "loanscored admin"

    init(_ auth: ServerConfiguration.AdminAuth) {
        tokenHash = auth.tokenSHA256.flatMap(Self.bytes(hex:))
        userHash = auth.basicUser.map { Array(SHA256.hash(data: Data($0.utf8))) }
        passwordHash = auth.basicPasswordSHA256.flatMap(Self.bytes(hex:))
    }

    /// The `WWW-Authenticate` challenges a 401 carries (one per configured method).
    var challenges: [String] {
        (tokenHash == nil ? [] : ["Bearer realm=\"\(Self.realm)\""]) + (userHash == nil ? [] : ["Basic realm=\"\(Self.realm)\", charset=\"UTF-8\""])
    }

    /// Whether a request needs the secret: the console and its endpoints, and state changes.
    static func isProtected(method: HTTPMethod, path: String) -> Bool {
        if method != .GET && method != .HEAD { return true }
        return path == "/console" || path.hasPrefix("/console/") || path == "/stats" || path.hasPrefix("/decisions/")
            || path.hasPrefix("/model/")
    }

    /// Whether `headers` carry the secret. Hashes are compared in constant time (the time
    /// does not depend on where they differ).
    func accepts(_ headers: HTTPHeaders) -> Bool {
        guard let value = headers.first(name: "authorization") else { return false }
        let parts = value.split(separator: " ", maxSplits: 1)
        guard parts.count == 2 else { return false }
        let scheme = parts[0].lowercased(), credentials = parts[1].trimmingCharacters(in: .whitespaces)
        switch scheme {
        case "bearer":
            guard let tokenHash else { return false }
            return Self.equal(Array(SHA256.hash(data: Data(credentials.utf8))), tokenHash)
        case "basic":
            guard let userHash, let passwordHash, let decoded = Data(base64Encoded: credentials),
                  let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":")
            else { return false }
            let user = Array(SHA256.hash(data: Data(text[..<colon].utf8)))
            let password = Array(SHA256.hash(data: Data(text[text.index(after: colon)...].utf8)))
            // Both compared whatever the first gives (no early exit on a wrong user name).
            let userMatches = Self.equal(user, userHash), passwordMatches = Self.equal(password, passwordHash)
            return userMatches && passwordMatches
        default:
            return false
        }
    }

    /// Whether `host` (an address or `localhost`) is a loopback address: `localhost`, `::1`
    /// (bracketed or not) or a dotted IPv4 address in 127.0.0.0/8 — four decimal parts of at
    /// most 255, so that a name such as `127.evil.example` is not taken for one.
    static func isLoopback(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if bare.lowercased() == "localhost" || bare == "::1" { return true }
        let parts = bare.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "127" else { return false }
        return parts.allSatisfy { part in
            !part.isEmpty && part.count <= 3 && part.utf8.allSatisfy { (48...57).contains($0) } && Int(part).map { $0 <= 255 } == true
        }
    }

    /// Constant-time equality of two equally long digests (false for different lengths).
    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    private static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        return stride(from: 0, to: digits.count, by: 2).compactMap { UInt8(String(decoding: digits[$0...$0 + 1], as: UTF8.self), radix: 16) }
    }
}
