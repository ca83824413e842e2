#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LoanScoreTestSupport
import Testing

/// The README's exit-code table, held by every executable, with messages a person can act on
/// (no library debug text): 2 usage, 3 invalid data, 4 the server could not be reached or trusted.
@Suite("exit codes and plain messages", .serialized)
struct ExitCodeTests {
    let folder = try! TinyBundle.temporaryDirectory()
    var bundle: String { folder.appendingPathComponent("bundle").path }

    init() throws {
        try TinyBundle.write(to: folder.appendingPathComponent("bundle"))
    }

    static func run(_ name: String, _ arguments: [String]) throws -> BuiltExecutable.Run {
        let executable = BuiltExecutable(name)
        try #require(executable.exists, "\(name) not built at \(executable.url.path); run swift build")
        return try executable.run(arguments)
    }

    /// A TCP socket bound to a free port of 127.0.0.1 (the caller closes it), and the port.
    static func boundSocket() -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        // Unsafe: the sockaddr_in is passed as the generic sockaddr for bind and getsockname only.
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// A port nothing listens on: bound, then closed.
    static func closedPort() throws -> Int {
        let (fd, port) = boundSocket()
        close(fd)
        return port
    }

    static let noDebugText = ["SingleConnectionFailure", "errno:", "LoanScoreClientError(", "TLSError(", "error:0A", "bind(descriptor"]

    func expectPlain(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for fragment in Self.noDebugText {
            #expect(!text.contains(fragment), "debug text '\(fragment)' in: \(text)", sourceLocation: sourceLocation)
        }
    }

    @Test func aServerThatIsNotThereIsExit4InPlainWords() throws {
        let port = try Self.closedPort()
        let input = folder.appendingPathComponent("in.csv")
        try "amount,income,home,records,term\n500,1000,rent,no,12\n".write(to: input, atomically: true, encoding: .utf8)
        let certificates = try TestCertificates.make(in: folder.appendingPathComponent("certs"))
        let score = try Self.run("loanscore", ["score", "--server", "127.0.0.1:\(port)", "--ca", certificates.caCertificate,
                                                "--input", input.path, "--output", folder.appendingPathComponent("out.csv").path])
        #expect(score.status == 4, "\(score.stderr)")
        #expect(score.stderr.contains("cannot connect to 127.0.0.1:\(port): connection refused (nothing listens there"), "\(score.stderr)")
        expectPlain(score.stderr)
        let reload = try Self.run("loanscore", ["admin", "reload", "--admin", "127.0.0.1:\(port)"])
        #expect(reload.status == 4, "\(reload.stderr)")
        #expect(reload.stderr.contains("cannot connect to the admin port 127.0.0.1:\(port)"), "\(reload.stderr)")
        let bad = try Self.run("loanscore", ["admin", "reload", "--admin", "localhost"])
        #expect(bad.status == 2 && bad.stderr.contains("--admin must be HOST:PORT: 'localhost' has no port"), "\(bad.stderr)")
    }

    @Test func theLoadGeneratorSharesTheTable() throws {
        let port = try Self.closedPort()
        let input = folder.appendingPathComponent("load.csv")
        try "amount,income,home,records,term\n500,1000,rent,no,12\n".write(to: input, atomically: true, encoding: .utf8)
        let refused = try Self.run("loanscore-load", ["--server", "127.0.0.1:\(port)", "--input", input.path, "--duration", "1"])
        #expect(refused.status == 4, "\(refused.stderr)")
        #expect(refused.stderr.contains("connection refused (nothing listens there"), "\(refused.stderr)")
        expectPlain(refused.stderr)
        let usage = try Self.run("loanscore-load", ["--server", "nowhere", "--input", input.path])
        #expect(usage.status == 2 && usage.stderr.contains("--server must be HOST:PORT: 'nowhere' has no port"), "\(usage.stderr)")
    }

    @Test func loanscoredUsageErrorsExit2NotArgumentParsers64() throws {
        let unknown = try Self.run("loanscored", ["--no-such-flag"])
        #expect(unknown.status == 2, "\(unknown.stderr)")
        let missing = try Self.run("loanscored", ["--listen", "127.0.0.1:0"])
        #expect(missing.status == 2, "\(missing.stderr)")
        #expect(missing.stderr.contains("bundle is required: give --bundle or 'bundle' in the configuration file"), "\(missing.stderr)")
    }

    @Test func aConfigurationFileIsReadStrictlyAndMayLeaveOutWhatFlagsGive() throws {
        let config = folder.appendingPathComponent("loanscored.json")
        try "{\n  \"listen\": \"127.0.0.1:0\",\n  \"workers\": 1,\n}\n".write(to: config, atomically: true, encoding: .utf8)
        let trailing = try Self.run("loanscored", ["--config", config.path, "--bundle", bundle])
        #expect(trailing.status == 2)
        #expect(trailing.stderr.contains("\(config.path): line 4, column 1: trailing comma before '}'"), "\(trailing.stderr)")
        try "{\"workers\": 1, \"workers\": 2}".write(to: config, atomically: true, encoding: .utf8)
        let duplicate = try Self.run("loanscored", ["--config", config.path])
        #expect(duplicate.stderr.contains(#"line 1, column 16: duplicate key "workers" (first at line 1, column 2)"#), "\(duplicate.stderr)")
        try #"{"audit_fsync": "sometimes"}"#.write(to: config, atomically: true, encoding: .utf8)
        let choice = try Self.run("loanscored", ["--config", config.path])
        #expect(choice.status == 2 && choice.stderr.contains("audit_fsync must be group, always or never, got 'sometimes'"), "\(choice.stderr)")
        try #"{"limits": {"max_batch": "many"}}"#.write(to: config, atomically: true, encoding: .utf8)
        let type = try Self.run("loanscored", ["--config", config.path])
        #expect(type.status == 2 && type.stderr.contains("limits.max_batch: expected a number"), "\(type.stderr)")
        try #"{"timeouts": {"idle": "a while"}}"#.write(to: config, atomically: true, encoding: .utf8)
        let duration = try Self.run("loanscored", ["--config", config.path])
        #expect(duration.stderr.contains("timeouts.idle must be a duration such as 90s, 30m, 12h or 7d"), "\(duration.stderr)")
        for run in [trailing, duplicate, choice, type, duration] { expectPlain(run.stderr) }
    }

    @Test func aBoundPortIsAUsageErrorInPlainWords() throws {
        let (listener, port) = Self.boundSocket()
        defer { close(listener) }
        listen(listener, 1)
        let certificates = try TestCertificates.make(in: folder.appendingPathComponent("certs"))
        let run = try Self.run("loanscored", ["--bundle", bundle, "--cert", certificates.serverCertificate, "--key", certificates.serverKey,
                                               "--listen", "127.0.0.1:\(port)", "--admin", "off",
                                               "--audit-dir", folder.appendingPathComponent("audit").path])
        #expect(run.status == 2, "\(run.stderr)")
        #expect(run.stderr.contains("cannot listen on 127.0.0.1:\(port) (listen (--listen)): the address is already in use"), "\(run.stderr)")
        expectPlain(run.stderr)
    }

    @Test func aDuplicateFieldInAnApplicationIsRefusedNotScoredWithEither() throws {
        let run = try Self.run("loanscore", ["predict", "--bundle", bundle, "--application",
                                              #"{"amount": 500, "income": 1000, "amount": 90000, "home": "rent", "records": "no", "term": 12}"#])
        #expect(run.status == 3, "\(run.stderr)")
        #expect(run.stderr.contains(#"--application: not valid JSON: line 1, column 33: duplicate key "amount""#), "\(run.stderr)")
        let trailing = try Self.run("loanscore", ["predict", "--bundle", bundle, "--application", #"{"amount": 500,}"#])
        #expect(trailing.status == 3 && trailing.stderr.contains("trailing comma before '}'"), "\(trailing.stderr)")
    }

    @Test func aBundleWhoseVersionHoldsAControlCharacterIsRefused() throws {
        let forged = folder.appendingPathComponent("forged")
        try TinyBundle.write(to: forged) { manifest in
            var model = manifest["model"] as? [String: Any] ?? [:]
            model["version"] = "1\n2026-12-03T00:00:00 critical forged line"
            manifest["model"] = model
        }
        let run = try Self.run("loanscore", ["bundle", "inspect", forged.path])
        #expect(run.status == 3, "\(run.stderr)")
        #expect(run.stderr.contains("model.version contains the control character U+A"), "\(run.stderr)")
    }
}

extension ExitCodeTests {
    /// Starts `loanscored` on a free port and waits until it accepts connections.
    func startServer(_ arguments: [String]) async throws -> (Process, Int) {
        let port = try Self.closedPort()
        let process = Process()
        process.executableURL = BuiltExecutable("loanscored").url
        process.arguments = arguments + ["--listen", "127.0.0.1:\(port)", "--admin", "off",
                                         "--audit-dir", folder.appendingPathComponent("audit-\(port)").path]
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline && process.isRunning {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            // Unsafe: the sockaddr_in is passed as the generic sockaddr for connect only.
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            close(fd)
            if connected == 0 { return (process, port) }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.terminate()
        Issue.record("loanscored did not listen on \(port) (exit \(process.isRunning ? "none" : "\(process.terminationStatus)"))")
        throw CancellationError()
    }

    @Test func aConfigurationWithoutTheBundleRunsWhenFlagsGiveIt_andAnUntrustedServerIsExit4WithWhatToDo() async throws {
        let served = try TestCertificates.make(in: folder.appendingPathComponent("served"))
        let other = try TestCertificates.make(in: folder.appendingPathComponent("other"))
        let config = folder.appendingPathComponent("partial.json")
        try #"{"workers": 1, "reason_codes": "none", "timeouts": {"drain": "2s"}}"#.write(to: config, atomically: true, encoding: .utf8)
        let (server, port) = try await startServer(["--config", config.path, "--bundle", bundle,
                                                    "--cert", served.serverCertificate, "--key", served.serverKey])
        defer { server.terminate() }
        let input = folder.appendingPathComponent("in.csv")
        try "amount,income,home,records,term\n500,1000,rent,no,12\n".write(to: input, atomically: true, encoding: .utf8)
        let output = folder.appendingPathComponent("out.csv").path
        let trusted = try await BuiltExecutable("loanscore").runOffThePool( ["score", "--server", "127.0.0.1:\(port)", "--ca", served.caCertificate,
                                                  "--input", input.path, "--output", output])
        #expect(trusted.status == 0, "\(trusted.stderr)")
        let untrusted = try await BuiltExecutable("loanscore").runOffThePool( ["score", "--server", "127.0.0.1:\(port)", "--ca", other.caCertificate,
                                                    "--input", input.path, "--output", output])
        #expect(untrusted.status == 4, "\(untrusted.stderr)")
        #expect(untrusted.stderr.contains("127.0.0.1:\(port)'s certificate is not trusted"), "\(untrusted.stderr)")
        #expect(untrusted.stderr.contains("give the CA certificate that signed the server's certificate (--ca FILE"), "\(untrusted.stderr)")
        expectPlain(untrusted.stderr)
    }
}
