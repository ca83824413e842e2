#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LoanScoreAudit
import LoanScoreClient
import LoanScoreProtocol
import LoanScoreServer
import LoanScoreTestSupport
import Testing

/// How an operator runs the audit log: one writer per folder, failures that show, recovery.
/// Real `loanscored` processes, real files, a real (small) tmpfs for the full disk.
@Suite("audit log operations", .serialized)
struct AuditOperationsTests {
    static func loanscore(_ arguments: [String]) async throws -> BuiltExecutable.Run {
        try await BuiltExecutable("loanscore").runOffThePool(arguments)
    }

    /// Scores `batch`; the client error it failed with, or nil when it was answered.
    static func failure(of client: LoanScoreClient, scoring batch: [ApplicationInput]) async -> LoanScoreClientError? {
        do {
            _ = try await client.score(batch)
            return nil
        } catch {
            return error
        }
    }

    /// Scores `count` applications named `prefix-N` in one request.
    static func batch(_ prefix: String, _ count: Int) -> [ApplicationInput] {
        (0..<count).map { ScoringLoad.application(id: "\(prefix)-\($0)", seed: $0) }
    }

    @Test func aSecondServerOnTheSameAuditFolderIsRefusedWithTheHoldersPID() async throws {
        let setup = try DaemonSetup()
        defer { try? FileManager.default.removeItem(at: setup.folder) }
        let first = try DaemonUnderTest(configuration: setup.configuration, folder: setup.folder, name: "first")
        try await first.waitUntilReady()
        let client = try setup.client(port: first.port)
        for round in 0..<5 { _ = try await client.score(Self.batch("r\(round)", 20)) }

        // The second server (other ports, same folder) refuses to start: exit 3, naming the
        // folder and the first server's PID.
        let second = try DaemonUnderTest(configuration: setup.configuration, folder: setup.folder, name: "second")
        let status = await second.waitForExit(timeout: .seconds(30))
        #expect(status == 3, "exit \(String(describing: status)); log:\n\(second.logText)")
        #expect(second.logText.contains("in use by process \(first.process.processIdentifier)"), "\(second.logText)")
        #expect(second.logText.contains(setup.configuration.auditDirectory), "\(second.logText)")
        #expect(first.process.isRunning)

        // Readers take no lock: verify and export read the folder the live server writes.
        for round in 5..<8 { _ = try await client.score(Self.batch("r\(round)", 20)) }
        let verify = try await Self.loanscore(["audit", "verify", "--dir", setup.configuration.auditDirectory])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        #expect(verify.stdout.contains("written now by process \(first.process.processIdentifier)"), "\(verify.stdout)")
        let exported = setup.folder.appendingPathComponent("live.jsonl")
        let export = try await Self.loanscore(["audit", "export", "--dir", setup.configuration.auditDirectory, "--output", exported.path])
        #expect(export.status == 0, "\(export.stderr)")
        #expect(export.stdout.contains("Exported 160 audit record(s)"), "\(export.stdout)")
        await client.close()

        // The lock dies with its holder, even under kill -9: a new server starts at once.
        first.kill()
        let third = try DaemonUnderTest(configuration: setup.configuration, folder: setup.folder, name: "third")
        try await third.waitUntilReady()
        #expect(await third.stop() == 0, "log:\n\(third.logText)")
        let after = try await Self.loanscore(["audit", "verify", "--dir", setup.configuration.auditDirectory])
        #expect(after.status == 0 && after.stdout.contains("160 record(s)"), "\(after.stdout)\(after.stderr)")
    }

    @Test(.enabled(if: Tmpfs.mountingIsPermitted, "mounting a tmpfs needs root (CAP_SYS_ADMIN); run the suite as root to test a full disk"))
    func aFullDiskIsVisibleAnsweredUnavailableAndRecoveredByFreeingSpaceThenReloading() async throws {
        let folder = try TinyBundle.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let disk = try Tmpfs(at: folder.appendingPathComponent("audit-disk"), size: "1m")
        defer { disk.unmount() }
        var setup = try DaemonSetup(auditDirectory: disk.directory.appendingPathComponent("audit"))
        setup.configuration.auditFsync = .group
        defer { try? FileManager.default.removeItem(at: setup.folder) }
        let daemon = try DaemonUnderTest(configuration: setup.configuration, folder: setup.folder)
        try await daemon.waitUntilReady()
        let client = try setup.client(port: daemon.port)
        let admin = daemon.adminPort

        // Fill the disk: about 2,500 records fit in 1 MiB.
        var answered: [String] = []
        var firstFailure: LoanScoreClientError?
        var round = 0
        while firstFailure == nil && round < 200 {
            let batch = Self.batch("fill\(round)", 100)
            round += 1
            firstFailure = await Self.failure(of: client, scoring: batch)
            if firstFailure == nil { answered += batch.map(\.id) }
        }
        let failure = try #require(firstFailure, "the 1 MiB disk never filled after \(answered.count) applications")
        #expect(failure.code == .server(.unavailable), "\(failure)")
        #expect(failure.message.contains("No space left on device"), "\(failure.message)")

        // Visible: refused fast, not ready, degraded, the gauge at 0, one critical line.
        let refused = await Self.failure(of: client, scoring: Self.batch("refused", 10))
        #expect(refused?.code == .server(.unavailable), "\(String(describing: refused))")
        let ready = try await httpGet(port: admin, path: "/ready")
        #expect(ready.hasPrefix("HTTP/1.0 503") || ready.hasPrefix("HTTP/1.1 503"), "\(ready)")
        #expect(ready.contains("audit log unavailable") && ready.contains("No space left on device"), "\(ready)")
        let health = try await httpGet(port: admin, path: "/health")
        #expect(health.contains(" 200 ") && health.contains("\"status\" : \"degraded\""), "\(health)")
        #expect(try await httpGet(port: admin, path: "/metrics").contains("loanscore_audit_available 0"))
        let critical = daemon.logText.split(separator: "\n").filter { $0.contains("critical") && $0.contains("audit log unavailable") }
        #expect(critical.count == 1, "\(daemon.logText)")

        // Recover as the runbook says: free space (here: grow the tmpfs), then reload.
        try disk.resize("8m")
        let reload = try await Self.loanscore(["admin", "reload", "--admin", "127.0.0.1:\(admin)"])
        #expect(reload.status == 0, "\(reload.stdout)\(reload.stderr)")
        #expect(reload.stdout.contains("audit log available again"), "\(reload.stdout)")
        let readyAgain = try await httpGet(port: admin, path: "/ready")
        #expect(readyAgain.contains(" 200 "), "\(readyAgain)")
        #expect(try await httpGet(port: admin, path: "/health").contains("\"status\" : \"ok\""))
        #expect(try await httpGet(port: admin, path: "/metrics").contains("loanscore_audit_available 1"))
        var afterRecovery = 0
        for round in 0..<10 {
            let batch = Self.batch("after\(round)", 100)
            _ = try await client.score(batch)
            answered += batch.map(\.id)
            afterRecovery += batch.count
        }
        await client.close()
        #expect(await daemon.stop() == 0, "log:\n\(daemon.logText)")

        // Afterwards the log verifies, and every decision a client received is in it.
        let verify = try await Self.loanscore(["audit", "verify", "--dir", setup.configuration.auditDirectory])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        let audited = Set(try AuditReader(directory: URL(fileURLWithPath: setup.configuration.auditDirectory)).records().map(\.applicationID))
        #expect(answered.allSatisfy(audited.contains), "answered, not audited: \(answered.filter { !audited.contains($0) }.prefix(5))")
        print("full disk: \(answered.count - afterRecovery) answered before the 1 MiB tmpfs filled, then UNAVAILABLE; "
              + "\(afterRecovery) after freeing space and reloading; \(audited.count) distinct applications in the log, verify clean")
    }
}

/// A small tmpfs mounted for one test (root only), to fill a disk on purpose.
struct Tmpfs {
    let directory: URL

    /// Whether this process may mount one (probed once with a real mount).
    static let mountingIsPermitted: Bool = {
        guard geteuid() == 0, let probe = try? TinyBundle.temporaryDirectory() else { return false }
        defer { try? FileManager.default.removeItem(at: probe) }
        guard let disk = try? Tmpfs(at: probe.appendingPathComponent("probe"), size: "64k") else { return false }
        disk.unmount()
        return true
    }()

    init(at directory: URL, size: String) throws {
        self.directory = directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Self.mount(["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", directory.path])
    }

    /// Changes the size in place (`mount -o remount,size=…`): the files stay.
    func resize(_ size: String) throws {
        try Self.mount(["-o", "remount,size=\(size)", directory.path])
    }

    func unmount() {
        _ = try? Self.run("/bin/umount", ["-l", directory.path])
    }

    private static func mount(_ arguments: [String]) throws {
        let status = try run("/bin/mount", arguments)
        guard status == 0 else { throw HarnessError("mount \(arguments.joined(separator: " ")) exited \(status)") }
    }

    private static func run(_ path: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}

extension AuditOperationsTests {
    @Test func aRunningServerArchivesSealedSegmentsAndTheLogReadsWholeAcrossBoth() async throws {
        var setup = try DaemonSetup()
        defer { try? FileManager.default.removeItem(at: setup.folder) }
        setup.configuration.audit.maxSegmentBytes = 8192
        setup.configuration.audit.maxLiveBytes = 20_000
        setup.configuration.audit.archiveAfter = nil
        setup.configuration.audit.checkInterval = ConfigurationDuration(seconds: 0.2)
        let daemon = try DaemonUnderTest(configuration: setup.configuration, folder: setup.folder)
        try await daemon.waitUntilReady()
        let client = try setup.client(port: daemon.port)
        var answered: [String] = []
        for round in 0..<20 {
            let batch = Self.batch("arch\(round)", 25)
            _ = try await client.score(batch)
            answered += batch.map(\.id)
        }
        await client.close()
        // The archiver runs every 0.2 s: wait until the live folder is back under its bound.
        let deadline = ContinuousClock.now + .seconds(20)
        var metrics = ""
        var archivedCount = 0.0
        repeat {
            try await Task.sleep(for: .milliseconds(200))
            metrics = try await httpGet(port: daemon.adminPort, path: "/metrics")
            archivedCount = metrics.split(separator: "\n").first { $0.hasPrefix("loanscore_audit_archived_segments_total ") }
                .flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
        } while archivedCount == 0 && ContinuousClock.now < deadline
        #expect(archivedCount > 0, "\(metrics)")
        let health = try await httpGet(port: daemon.adminPort, path: "/health")
        #expect(health.contains("\"live_bytes\"") && health.contains("\"free_bytes\""), "\(health)")
        #expect(await daemon.stop() == 0, "log:\n\(daemon.logText)")
        #expect(daemon.logText.contains("audit archive: "), "\(daemon.logText)")

        let archive = URL(fileURLWithPath: setup.configuration.auditDirectory).appendingPathComponent("archive")
        let archived = try FileManager.default.contentsOfDirectory(atPath: archive.path).filter { $0.hasSuffix(".log.lz4") }
        #expect(!archived.isEmpty)
        let verify = try await Self.loanscore(["audit", "verify", "--dir", setup.configuration.auditDirectory])
        #expect(verify.status == 0 && verify.stdout.contains("archived)"), "\(verify.stdout)\(verify.stderr)")
        let exported = setup.folder.appendingPathComponent("all.csv")
        let export = try await Self.loanscore(["audit", "export", "--dir", setup.configuration.auditDirectory, "--output", exported.path])
        #expect(export.stdout.contains("Exported \(answered.count) audit record(s)"), "\(export.stdout)\(export.stderr)")
        let audited = try AuditReader(directory: URL(fileURLWithPath: setup.configuration.auditDirectory)).records()
        #expect(audited.map(\.applicationID) == answered, "in order, across archived and live segments")
        let bytes = try FileManager.default.contentsOfDirectory(at: URL(fileURLWithPath: setup.configuration.auditDirectory),
                                                                 includingPropertiesForKeys: nil)
            .filter { $0.lastPathComponent.hasPrefix("audit-") }
            .reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: $1.path)[.size] as? Int) ?? 0) }
        print("archiving: \(answered.count) records, \(archived.count) segments archived, \(bytes) bytes left live")
    }
}
