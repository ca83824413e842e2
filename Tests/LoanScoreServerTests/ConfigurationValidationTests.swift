import Foundation
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

    /// The message `ServerConfiguration.load` gives for a file's text.
    func loadRefusal(_ bytes: [UInt8]) throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("loanscored-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(bytes).write(to: file)
        do {
            _ = try ServerConfiguration.load(from: file)
            return "loaded"
        } catch let error as ConfigurationError {
            return error.message.replacingOccurrences(of: file.path + ": ", with: "")
        }
    }

    /// Files that are strict JSON but not a configuration were refused as "not valid JSON"
    /// (Foundation's words for a fraction where a whole number is expected), and bytes that
    /// are not UTF-8 as U+FFFD's first byte `0xef`.
    @Test func numbersThatFitNoSettingAndNonUTF8AreNamed() throws {
        #expect(try loadRefusal(Array(#"{"drift": {"window": 1.5}}"#.utf8))
            == #"a number is not a whole number where one is expected (counts, sizes, milliseconds: e.g. "window": 1.5), or is too large"#)
        #expect(try loadRefusal(Array(#"{"drift": {"window": 1e400}}"#.utf8))
            == "line 1, column 22: the number 1e400 is beyond the range of a 64-bit float (about ±1.8e308)")
        #expect(try loadRefusal(Array(#"{"bundle": "b"#.utf8) + [0xFF] + Array(#""}"#.utf8)) == "not UTF-8 at byte offset 13; write the file as UTF-8")
    }

    /// A misspelt key was ignored and its default used; now it is refused, named by its dotted
    /// path with the keys known at its level, inside nested objects and the challenger too.
    @Test func unknownKeysAreRefusedByTheirPath() throws {
        let top = try loadRefusal(Array(#"{"bundle": "b", "consol": true}"#.utf8))
        #expect(top.hasPrefix("unknown key 'consol': no setting has that name"), "\(top)")
        #expect(top.contains("the keys at the top level: ") && top.contains("console, console_score_audited"), "\(top)")
        let nested = try loadRefusal(Array(#"{"limits": {"max_bach": 64}}"#.utf8))
        #expect(nested.hasPrefix("unknown key 'limits.max_bach'") && nested.contains("the keys there: ") && nested.contains("max_batch"),
                "\(nested)")
        let challenger = try loadRefusal(Array(#"{"challenger": {"bundle": "c", "mode": "split", "fracton": 0.2}}"#.utf8))
        #expect(challenger.hasPrefix("unknown key 'challenger.fracton'"), "\(challenger)")
        let client = try loadRefusal(Array(#"{"quotas": {"clients": {"partner-a": {"applications_per_second": 5, "burst": 9}}}}"#.utf8))
        #expect(client.hasPrefix("unknown key 'quotas.clients.partner-a.burst'"), "\(client)")
        // Known keys: client names are the file's own, and null leaves an optional setting unset.
        #expect(try loadRefusal(Array(#"{"quotas": {"clients": {"partner-a": {"applications_per_second": 5}}}, "challenger": null}"#.utf8))
            == "loaded")
        #expect(try loadRefusal(Array(#"{"challenger": {"bundle": "c", "fraction": null}, "admin_auth": {"token_sha256": null}}"#.utf8))
            == "loaded")
    }

    @Test func bothReasonCodeSettingsAreAccepted() throws {
        for setting in ReasonCodes.allCases {
            var configuration = ServerConfiguration(bundle: "b", certificate: "c.pem", privateKey: "k.pem")
            configuration.reasonCodes = setting
            try configuration.validate()
        }
    }
}
