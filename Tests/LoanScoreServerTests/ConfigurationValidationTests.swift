import LoanScoreServer
import Testing

/// `ServerConfiguration.validate()` refuses settings a file or flag can get wrong, naming the
/// setting and the value.
@Suite("Server configuration validation")
struct ConfigurationValidationTests {
    static let cases: [(String, @Sendable (inout ServerConfiguration) -> Void, String)] = [
        ("reason codes", { $0.reasonCodes = "some" }, "reason_codes must be all or none, got 'some'"),
        ("audit fsync", { $0.auditFsync = "sometimes" }, "audit_fsync must be group, always or never, got 'sometimes'"),
        ("workers", { $0.workers = -1 }, "workers must be 0 (one per core) or more"),
        ("listen", { $0.listen = "localhost" }, "listen must be HOST:PORT, got 'localhost'"),
        ("batch limit", { $0.limits.maximumBatch = 0 }, "limits.max_batch must be positive, got 0"),
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
        for setting in ["all", "none"] {
            var configuration = ServerConfiguration(bundle: "b", certificate: "c.pem", privateKey: "k.pem")
            configuration.reasonCodes = setting
            try configuration.validate()
        }
    }
}
