#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LoanScoreClient
import LoanScoreServer
import LoanScoreTestSupport
import Testing

/// A real `loanscored` process started from a configuration file, as systemd would start it
/// (`$NOTIFY_SOCKET` set, so READY=1 and its STATUS line tell when and where it serves).
final class DaemonUnderTest: @unchecked Sendable {  // used from one test task at a time
    let process = Process()
    let log: URL
    let configuration: ServerConfiguration
    private let notify: NotifySocket
    /// The bound scoring and admin ports, known once ``waitUntilReady()`` returned.
    private(set) var port = 0
    private(set) var adminPort = 0

    /// Writes `configuration` into `folder` and starts `loanscored --config` on it.
    init(configuration: ServerConfiguration, folder: URL, name: String = "loanscored") throws {
        let binary = BuiltExecutable("loanscored")
        try #require(binary.exists, "build loanscored first (swift build)")
        self.configuration = configuration
        let configFile = folder.appendingPathComponent("\(name).json")
        try JSONEncoder().encode(configuration).write(to: configFile)
        notify = try NotifySocket(path: folder.appendingPathComponent("\(name).notify").path)
        log = folder.appendingPathComponent("\(name).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.executableURL = binary.url
        process.arguments = ["--config", configFile.path, "--log-level", "info"]
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = notify.address
        process.environment = environment
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
    }

    deinit { kill() }

    /// What the process has written to standard error so far.
    var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// Waits for READY=1 and reads the ports from its STATUS line.
    func waitUntilReady(timeout: Duration = .seconds(60)) async throws {
        let ready = try #require(await notify.wait(for: "READY=1", timeout: timeout), "no READY=1; log:\n\(logText)")
        let status = try #require(ready.last?.split(separator: "\n").first { $0.hasPrefix("STATUS=") }, "\(ready)")
        let ports = status.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }.filter { $0 > 1024 }
        try #require(ports.count >= 2, "ports in \(status)")
        (port, adminPort) = (ports[ports.count - 2], ports[ports.count - 1])
    }

    /// Waits for the process to exit (or `timeout`); returns its exit status, nil if still running.
    func waitForExit(timeout: Duration = .seconds(30)) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// SIGTERM, then waits for the drain; returns the exit status.
    func stop() async -> Int32? {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGTERM) }
        return await waitForExit()
    }

    /// SIGKILL, as a crash would (the process is gone at once; reaping it does not block).
    func kill() {
        if process.isRunning {
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// A tiny bundle, test certificates and a `loanscored` configuration on ports 0 in a fresh
/// folder (audit log inside it unless given), for tests that start real server processes.
struct DaemonSetup {
    let folder: URL
    let certificates: TestCertificates
    var configuration: ServerConfiguration

    init(auditDirectory: URL? = nil) throws {
        folder = try TinyBundle.temporaryDirectory()
        let bundle = folder.appendingPathComponent("bundle")
        try TinyBundle.write(to: bundle)
        certificates = try TestCertificates.make(in: folder.appendingPathComponent("certs"))
        configuration = ServerConfiguration(bundle: bundle.path, certificate: certificates.serverCertificate,
                                            privateKey: certificates.serverKey)
        configuration.listen = "127.0.0.1:0"
        configuration.admin = "127.0.0.1:0"
        configuration.auditDirectory = (auditDirectory ?? folder.appendingPathComponent("audit")).path
        configuration.workers = 2
        configuration.timeouts.drain = 5
    }

    /// A client that does not retry, so each answer is seen as the server gave it.
    func client(port: Int) throws -> LoanScoreClient {
        var configuration = LoanScoreClient.Configuration(
            host: "127.0.0.1", port: port, tls: .init(caFile: certificates.caCertificate, serverName: "localhost"), connections: 1)
        configuration.retry = .init(maximumAttempts: 1)
        return try LoanScoreClient(configuration: configuration)
    }
}
