import LoanScoreServer
import Testing

/// `ServerConfiguration.validate()` refuses settings a file or flag can get wrong, naming the
/// setting and the value.
@Suite("Server configuration validation")
struct ConfigurationValidationTests {
    static let cases: [(String, @Sendable (inout ServerConfiguration) -> Void, String)] = [
        ("bundle", { $0.bundle = "" }, "bundle is required: give --bundle or 'bundle' in the configuration file"),
        ("key", { $0.privateKey = "" }, "private_key is required: give --key or 'private_key' in the configuration file"),
        ("workers", { $0.workers = -1 }, "workers must be 0 (one per core) or more"),
        ("listen", { $0.listen = "localhost" }, "listen must be HOST:PORT: 'localhost' has no port: write HOST:PORT, e.g. 127.0.0.1:7443"),
        ("batch limit", { $0.limits.maximumBatch = 0 }, "limits.max_batch must be positive, got 0"),
        ("tls ciphers", { $0.tls.ciphers = "FOO" }, #"tls.ciphers: no cipher in "FOO" is known to OpenSSL"#),
        ("tls ciphersuites", { $0.tls.ciphersuites = "TLS_AES_128_GCM_SHA256:TLS_FOO" },
         #"tls.ciphersuites: "TLS_FOO" in "TLS_AES_128_GCM_SHA256:TLS_FOO" is not a TLS 1.3 cipher suite known to OpenSSL"#),
        ("tls min version", { $0.tls.minimumVersion = "1.1" }, #"tls.min_version must be "1.2" or "1.3", got "1.1""#),
        ("admin connections", { $0.adminLimits.maximumConnections = 0 }, "admin_limits.max_connections must be positive, got 0"),
        ("admin header deadline", { $0.adminLimits.headerTimeout = -1 },
         "admin_limits.header_timeout must be a positive number of seconds, got -1.0"),
    ]

    @Test(arguments: cases.indices)
    func refusesABadSetting(index: Int) {
        let (_, edit, message) = Self.cases[index]
        var configuration = ServerConfiguration(bundle: "b", certificate: "c.pem", privateKey: "k.pem")
        #expect(throws: Never.self) { try configuration.validate() }
        edit(&configuration)
        #expect {
            try configuration.validate()
        } throws: { error in
            (error as? ConfigurationError)?.message == message
        }
    }

    @Test func bothReasonCodeSettingsAreAccepted() throws {
        for setting in ReasonCodes.allCases {
            var configuration = ServerConfiguration(bundle: "b", certificate: "c.pem", privateKey: "k.pem")
            configuration.reasonCodes = setting
            try configuration.validate()
        }
    }
}
