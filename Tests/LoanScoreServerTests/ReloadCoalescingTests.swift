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
        let daemon = try DaemonUnderTest(configuration: configuration, folder: folder)
        try await daemon.waitUntilReady()
        let process = daemon.process, adminPort = daemon.adminPort
        func logText() -> String { daemon.logText }
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
        #expect(await daemon.stop() == 0, "log:\n\(logText())")
    }
}
