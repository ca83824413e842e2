public import Foundation

/// A private CA with a server certificate (for `127.0.0.1` and `localhost`) and a client
/// certificate, made by the real `openssl` command in a folder (the same steps as
/// `scripts/make-certs.sh`). Keys are EC P-256 (or RSA 2048, see ``KeyAlgorithm``), unencrypted PEM.
///
/// ```swift
/// let certificates = try TestCertificates.make()
/// defer { try? FileManager.default.removeItem(at: certificates.directory) }
/// let server = TLSConfiguration.makeServerConfiguration(
///     certificateChainFile: certificates.serverCertificate, privateKeyFile: certificates.serverKey)
/// ```
public struct TestCertificates: Sendable {
    /// The kind of every key in a set.
    public enum KeyAlgorithm: Sendable {
        /// EC P-256 (what `scripts/make-certs.sh` makes): ECDHE-ECDSA suites only.
        case ecP256
        /// RSA 2048, with keyUsage digitalSignature and keyEncipherment on the leaf
        /// certificates, so that a server can negotiate ECDHE-RSA suites and, when its policy
        /// allows them, static-RSA ones (tests of the TLS policy need both).
        case rsa2048
    }

    /// The folder holding the files; the caller removes it.
    public let directory: URL

    /// `ca.pem`: the CA certificate (the trust root for both sides).
    public var caCertificate: String { path("ca.pem") }
    /// `ca.key`: the CA's private key.
    public var caKey: String { path("ca.key") }
    /// `server.pem`: subject `/O=LoanScore/CN=localhost`, subjectAltName IP:127.0.0.1 and
    /// DNS:localhost, extended key usage serverAuth.
    public var serverCertificate: String { path("server.pem") }
    /// `server.key`: the server certificate's key.
    public var serverKey: String { path("server.key") }
    /// `client.pem`: subject `/O=LoanScore/CN=loanscore-test-client`, extended key usage clientAuth.
    public var clientCertificate: String { path("client.pem") }
    /// `client.key`: the client certificate's key.
    public var clientKey: String { path("client.key") }

    /// The client certificate's subject as OpenSSL prints it on one line.
    public static let clientSubject = "/O=LoanScore/CN=loanscore-test-client"
    /// The server certificate's subject as OpenSSL prints it on one line.
    public static let serverSubject = "/O=LoanScore/CN=localhost"

    /// The path of a file in ``directory``.
    public func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// Makes a CA, a server and a client certificate.
    ///
    /// - Parameters:
    ///   - directory: Where to write them (created if needed); a fresh temporary folder if nil.
    ///   - caName: The CA's common name (make two sets with different names for "unknown CA" tests).
    ///   - validityDays: How long the certificates are valid.
    ///   - keyAlgorithm: The kind of every key; EC P-256 by default.
    /// - Throws: ``CertificateGenerationError`` when `openssl` is not on `PATH` or a step fails,
    ///   with the command and what it printed.
    public static func make(
        in directory: URL? = nil, caName: String = "LoanScore Test CA", validityDays: Int = 2,
        keyAlgorithm: KeyAlgorithm = .ecP256
    ) throws -> TestCertificates {
        let openssl = try OpenSSLCommand.locate()
        let directory = try directory ?? TinyBundle.temporaryDirectory()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let certificates = TestCertificates(directory: directory)
        let days = String(validityDays)
        // Static-RSA key exchange encrypts to the certificate's key: it needs keyEncipherment.
        let leafKeyUsage = keyAlgorithm == .rsa2048 ? "digitalSignature, keyEncipherment" : "digitalSignature"

        // A config file of our own, so the system's openssl.cnf cannot add or change extensions.
        try """
        [req]
        distinguished_name = dn
        prompt = no
        [dn]
        CN = \(caName)
        [ca]
        basicConstraints = critical, CA:TRUE
        keyUsage = critical, keyCertSign, cRLSign
        subjectKeyIdentifier = hash
        """.write(toFile: certificates.path("ca.cnf"), atomically: true, encoding: .utf8)
        try """
        basicConstraints = critical, CA:FALSE
        keyUsage = critical, \(leafKeyUsage)
        extendedKeyUsage = serverAuth
        subjectAltName = IP:127.0.0.1, DNS:localhost
        authorityKeyIdentifier = keyid
        """.write(toFile: certificates.path("server.ext"), atomically: true, encoding: .utf8)
        try """
        basicConstraints = critical, CA:FALSE
        keyUsage = critical, \(leafKeyUsage)
        extendedKeyUsage = clientAuth
        authorityKeyIdentifier = keyid
        """.write(toFile: certificates.path("client.ext"), atomically: true, encoding: .utf8)

        func run(_ arguments: [String]) throws { try runOpenSSL(openssl, arguments, in: directory) }
        let newKey = switch keyAlgorithm {
        case .ecP256: ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out"]
        case .rsa2048: ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"]
        }

        try run(newKey + ["ca.key"])
        try run(["req", "-x509", "-new", "-config", "ca.cnf", "-extensions", "ca", "-key", "ca.key",
                 "-days", days, "-sha256", "-out", "ca.pem"])
        for (name, subject) in [("server", serverSubject), ("client", clientSubject)] {
            try run(newKey + ["\(name).key"])
            try run(["req", "-new", "-config", "ca.cnf", "-key", "\(name).key", "-subj", subject,
                     "-out", "\(name).csr"])
            try run(["x509", "-req", "-in", "\(name).csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                     "-CAcreateserial", "-CAserial", "ca.srl", "-days", days, "-sha256",
                     "-extfile", "\(name).ext", "-out", "\(name).pem"])
        }
        return certificates
    }

    /// Issues one more client certificate from this CA (for tests with several client
    /// identities, such as per-client quotas).
    ///
    /// - Parameters:
    ///   - name: the files' stem: `NAME.pem` and `NAME.key` in ``directory``.
    ///   - subject: the subject in OpenSSL's one-line form, e.g. `/O=LoanScore/CN=second-client`
    ///     (the server sees it exactly so).
    /// - Returns: the certificate and key paths.
    /// - Throws: ``CertificateGenerationError`` when a step of `openssl` fails.
    public func makeClientCertificate(name: String, subject: String) throws -> (certificate: String, key: String) {
        let openssl = try OpenSSLCommand.locate()
        func run(_ arguments: [String]) throws { try Self.runOpenSSL(openssl, arguments, in: directory) }
        try run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "\(name).key"])
        try run(["req", "-new", "-config", "ca.cnf", "-key", "\(name).key", "-subj", subject, "-out", "\(name).csr"])
        try run(["x509", "-req", "-in", "\(name).csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAserial", "ca.srl",
                 "-days", "2", "-sha256", "-extfile", "client.ext", "-out", "\(name).pem"])
        return (path("\(name).pem"), path("\(name).key"))
    }

    private static func runOpenSSL(_ openssl: URL, _ arguments: [String], in directory: URL) throws {
        let process = Process()
        process.executableURL = openssl
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let printed = output.fileHandleForReading.readDataToEndOfFile()  // before wait: no pipe deadlock
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CertificateGenerationError(
                "`openssl \(arguments.joined(separator: " "))` failed with status \(process.terminationStatus) in \(directory.path): "
                    + String(decoding: printed, as: UTF8.self)
            )
        }
    }
}

/// Making test certificates failed; the message says which step and why.
public struct CertificateGenerationError: Error, CustomStringConvertible {
    /// What failed.
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { "CertificateGenerationError: \(message)" }
}
