#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LoanScoreAudit
import LoanScoreClient
import LoanScoreServer
import LoanScoreTestSupport
import Testing

/// Power-cut behaviour of the real `loanscored`: killed with SIGKILL under load, every
/// decision a client received is in the audit log; a torn last record is cut at the next
/// start, with a log line, and the log verifies clean.
@Suite("loanscored crash safety", .serialized)
struct CrashSafetyTests {
    final class Daemon {
        let process = Process()
        let log: URL
        init(configFile: URL, folder: URL, name: String, notify: NotifySocket) throws {
            process.executableURL = DaemonProcessTests.binaries.appendingPathComponent("loanscored")
            process.arguments = ["--config", configFile.path, "--log-level", "info"]
            var environment = ProcessInfo.processInfo.environment
            environment["NOTIFY_SOCKET"] = notify.address
            process.environment = environment
            log = folder.appendingPathComponent("\(name).log")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            process.standardError = try FileHandle(forWritingTo: log)
            try process.run()
        }
        var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
        deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
    }

    @Test func everyAnsweredDecisionSurvivesSIGKILLAndATornTailIsCutAtStartup() async throws {
        let folder = try TinyBundle.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        try TinyBundle.write(to: folder.appendingPathComponent("bundle"))
        let certificates = try TestCertificates.make(in: folder.appendingPathComponent("certs"))
        var configuration = ServerConfiguration(bundle: folder.appendingPathComponent("bundle").path,
                                                certificate: certificates.serverCertificate, privateKey: certificates.serverKey)
        configuration.listen = "127.0.0.1:0"
        configuration.admin = nil
        configuration.auditDirectory = folder.appendingPathComponent("audit").path
        configuration.workers = 2
        let configFile = folder.appendingPathComponent("loanscored.json")
        try JSONEncoder().encode(configuration).write(to: configFile)
        let notify = try NotifySocket(path: folder.appendingPathComponent("notify").path)

        // Run under load, then pull the plug.
        let first = try Daemon(configFile: configFile, folder: folder, name: "first", notify: notify)
        let ready = try #require(await notify.wait(for: "READY=1", timeout: .seconds(60)), "no READY=1; log:\n\(first.logText)")
        let status = try #require(ready.last?.split(separator: "\n").first { $0.hasPrefix("STATUS=") })
        let port = try #require(status.split(separator: "127.0.0.1:").dropFirst().first.flatMap { Int($0.prefix { $0.isNumber }) })
        let client = try LoanScoreClient(configuration: .init(
            host: "127.0.0.1", port: port, tls: .init(caFile: certificates.caCertificate, serverName: "localhost"),
            connections: 4, retry: .none))
        let load = ScoringLoad(client: client, tasks: 8)
        await load.waitForAnswers(200)
        #expect(first.process.isRunning, "loanscored died under load; its log:\n\(first.logText)")
        kill(first.process.processIdentifier, SIGKILL)
        first.process.waitUntilExit()
        await load.stop()
        await client.close()
        #expect(first.process.terminationReason == .uncaughtSignal)

        // Every application the client got an answer for is in the audit log.
        let audit = URL(fileURLWithPath: configuration.auditDirectory)
        let audited = Set(try AuditReader(directory: audit).records().map(\.applicationID))
        let answered = load.answers.flatMap { $0.batch.map(\.id) }
        #expect(answered.count >= 200, "client failures: \(load.failures.prefix(3)); loanscored's log:\n\(first.logText)")
        #expect(answered.allSatisfy(audited.contains), "answered but not audited: \(answered.filter { !audited.contains($0) }.prefix(5))")

        // A power cut in the middle of a write: half a frame at the end of the newest segment.
        let newest = try #require(try AuditReader(directory: audit).segments().last)
        let handle = try FileHandle(forWritingTo: newest)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0, 0, 1, 0, 0xDE, 0xAD, 0xBE, 0xEF, 0x7B, 0x22]))
        try handle.close()
        let torn = try await DaemonProcessTests.loanscore(["audit", "verify", "--dir", audit.path])
        #expect(torn.status == 3, "verify reports the torn tail: \(torn.stdout)")

        // The next start cuts it, says so, and the log verifies clean; nothing answered is lost.
        let second = try Daemon(configFile: configFile, folder: folder, name: "second", notify: notify)
        _ = try #require(await notify.wait(for: "READY=1", timeout: .seconds(60)), "no READY=1; log:\n\(second.logText)")
        #expect(second.logText.contains("audit log recovered at startup"), "log:\n\(second.logText)")
        kill(second.process.processIdentifier, SIGTERM)
        while second.process.isRunning { try await Task.sleep(for: .milliseconds(20)) }  // the drain, without blocking a pool thread
        #expect(second.process.terminationStatus == 0)
        let verify = try await DaemonProcessTests.loanscore(["audit", "verify", "--dir", audit.path])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        let after = Set(try AuditReader(directory: audit).records().map(\.applicationID))
        #expect(answered.allSatisfy(after.contains))
        print("SIGKILL under load: \(answered.count) answered applications, all audited; torn tail cut at restart")
    }
}
