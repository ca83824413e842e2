#if canImport(Glibc)
import Glibc
#endif
import Foundation
@testable import LoanScoreServer
import LoanScoreTestSupport
import NIOConcurrencyHelpers
import Testing

/// SIGHUPs that arrive while a reload runs are coalesced into one more reload.
@Suite("Reload coalescing", .serialized)
struct ReloadCoalescingTests {
    /// Fifty triggers during one slow reload: exactly two reloads, never overlapping.
    @Test func aBurstDuringAReloadCausesOneMoreReload() async throws {
        let (triggers, trigger) = AsyncStream.makeStream(of: Void.self)
        let counts = NIOLockedValueBox((reloads: 0, running: 0, overlapped: false))
        let first = AsyncStream.makeStream(of: Void.self)
        let coalescer = Task {
            await ReloadCoalescer.run(triggers: triggers) {
                let isFirst = counts.withLockedValue { counts in
                    counts.reloads += 1
                    counts.running += 1
                    if counts.running > 1 { counts.overlapped = true }
                    return counts.reloads == 1
                }
                if isFirst { first.continuation.yield() }
                try? await Task.sleep(for: .milliseconds(300))
                counts.withLockedValue { $0.running -= 1 }
            }
        }
        trigger.yield()
        var started = first.stream.makeAsyncIterator()
        _ = await started.next()  // the first reload is running
        for _ in 0..<50 { trigger.yield() }
        trigger.finish()
        await coalescer.value
        let final = counts.withLockedValue { $0 }
        #expect(final.reloads == 2, "\(final.reloads) reloads")
        #expect(!final.overlapped)
    }

    /// The real daemon: a burst of 50 SIGHUPs costs at most a few reloads, all done promptly.
    @Test func aSIGHUPBurstToLoanscoredIsCoalesced() async throws {
        let daemon = DaemonProcessTests.binaries.appendingPathComponent("loanscored")
        try #require(FileManager.default.isExecutableFile(atPath: daemon.path), "build loanscored first")
        let folder = try TinyBundle.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        // Each reload hashes a 96 MB file: it takes a noticeable time, as with a real bundle,
        // so signals arrive while one runs.
        let bundle = folder.appendingPathComponent("bundle")
        try writeSlowBundle(to: bundle)
        let certificates = try TestCertificates.make(in: folder.appendingPathComponent("certs"))
        var configuration = ServerConfiguration(bundle: bundle.path, certificate: certificates.serverCertificate,
                                                privateKey: certificates.serverKey)
        configuration.listen = "127.0.0.1:0"
        configuration.admin = "127.0.0.1:0"
        configuration.auditDirectory = folder.appendingPathComponent("audit").path
        configuration.workers = 1
        let configFile = folder.appendingPathComponent("loanscored.json")
        try JSONEncoder().encode(configuration).write(to: configFile)
        let notify = try NotifySocket(path: folder.appendingPathComponent("notify").path)
        let process = Process()
        process.executableURL = daemon
        process.arguments = ["--config", configFile.path, "--log-level", "info"]
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = notify.address
        process.environment = environment
        let log = folder.appendingPathComponent("loanscored.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        func logText() -> String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

        let ready = try #require(await notify.wait(for: "READY=1", timeout: .seconds(60)), "no READY=1; log:\n\(logText())")
        let status = try #require(ready.last?.split(separator: "\n").first { $0.hasPrefix("STATUS=") })
        let adminPort = try #require(status.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }.last)
        func reloads() async throws -> Int {
            let metrics = try await httpGet(port: adminPort, path: "/metrics")
            let line = metrics.split(separator: "\n").first { $0.hasPrefix("loanscore_reload_total{outcome=\"success\"}") }
            return line.flatMap { $0.split(separator: " ").last }.flatMap { Int($0) } ?? 0
        }
        let before = try await reloads()
        let burst = ContinuousClock.now
        for _ in 0..<50 {  // 2 ms apart: the kernel does not merge them into one pending signal
            kill(process.processIdentifier, SIGHUP)
            usleep(2000)
        }
        // Settled: the count stops moving.
        var count = try await reloads()
        var settledAt = ContinuousClock.now
        while ContinuousClock.now - settledAt < .seconds(1) && ContinuousClock.now - burst < .seconds(15) {
            try await Task.sleep(for: .milliseconds(100))
            let now = try await reloads()
            if now != count { count = now; settledAt = ContinuousClock.now }
        }
        let settled = settledAt - burst
        print("50 SIGHUPs: \(count - before) reloads, the last done within \(settled)")
        #expect(count - before >= 1 && count - before <= 3, "\(count - before) reloads after 50 SIGHUPs; log:\n\(logText())")
        #expect(settled < .seconds(3), "reloads went on for \(settled) after the burst")
        #expect(process.isRunning)
        #expect(!logText().contains("refused"), "the padded bundle reloads: \(logText())")
        kill(process.processIdentifier, SIGTERM)
        while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }  // the drain, without blocking a pool thread
        #expect(process.terminationStatus == 0)
    }
}
