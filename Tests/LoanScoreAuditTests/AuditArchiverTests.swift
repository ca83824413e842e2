import Foundation
import LoanScoreAudit
import LoanScoreCompression
import LoanScoreTestSupport
import Testing

/// Retention: sealed segments compressed into the archive, read back transparently.
@Suite("Audit archive")
struct AuditArchiverTests {
    let folder = try! TinyBundle.temporaryDirectory().appendingPathComponent("audit")

    /// A log of 50 records over several small segments.
    func writeLog() async throws -> [URL] {
        let log = try AuditLog(directory: folder, fsync: .always, maxSegmentBytes: 2_000)
        for batch in 0..<10 { try await appendNow(log, (1...5).map { record(batch * 5 + $0) }) }
        try log.close()
        return try segmentFiles(folder)
    }

    @Test func nothingIsArchivedOrDeletedWithoutAPolicy() async throws {
        let files = try await writeLog()
        let report = try AuditArchiver(live: folder, retention: .init(archiveDirectory: folder.appendingPathComponent("archive")))
            .run(now: Date().addingTimeInterval(1e9))
        #expect(report.archived.isEmpty && report.deleted.isEmpty)
        #expect(try segmentFiles(folder) == files)
    }

    @Test func byAgeEverySealedSegmentIsArchivedAndTheLogStillReadsWhole() async throws {
        let files = try await writeLog()
        let archive = AuditRetention.defaultArchiveDirectory(for: folder)
        let report = try AuditArchiver(live: folder, retention: .init(archiveDirectory: archive, archiveAfter: .seconds(3600)))
            .run(now: Date().addingTimeInterval(7200))
        #expect(report.archived == files.dropLast().map(\.lastPathComponent), "all but the newest")
        #expect(try segmentFiles(folder) == [files.last], "the newest stays live")
        #expect(report.compressedBytes < report.archivedBytes, "\(report)")
        // verify and export read archived segments transparently, in order.
        let reader = try AuditReader(directory: folder)
        #expect(try reader.records().map(\.sequence) == Array(1...50))
        let verify = try reader.verify()
        #expect(verify.isClean && verify.archivedSegments == files.count - 1, "\(verify)")
        // The writer continues after the archived records.
        let log = try AuditLog(directory: folder, fsync: .always, maxSegmentBytes: 2_000)
        #expect(log.nextSequenceNumber == 51)
        try log.close()
    }

    @Test func bySizeTheOldestGoFirstUntilTheLiveFolderFits() async throws {
        let files = try await writeLog()
        let sizes = try files.map { try FileManager.default.attributesOfItem(atPath: $0.path)[.size] as? Int ?? 0 }
        let limit = sizes.reduce(0, +) - sizes[0] - sizes[1]  // two segments must go
        let report = try AuditArchiver(live: folder, retention: .init(
            archiveDirectory: folder.appendingPathComponent("archive"), maxLiveBytes: limit)).run()
        #expect(report.archived == files.prefix(2).map(\.lastPathComponent))
        #expect(report.liveBytes <= limit)
        #expect(try AuditReader(directory: folder).verify().isClean)
    }

    @Test func deletionOnlyWhenAskedAndOnlyOfArchivedSegments() async throws {
        let files = try await writeLog()
        let archive = folder.appendingPathComponent("archive")
        let later = Date().addingTimeInterval(86_400 * 800)
        let keep = try AuditArchiver(live: folder, retention: .init(archiveDirectory: archive, archiveAfter: .seconds(60))).run(now: later)
        #expect(keep.deleted.isEmpty && keep.archived.count == files.count - 1)
        let purge = try AuditArchiver(live: folder, retention: .init(
            archiveDirectory: archive, archiveAfter: .seconds(60), deleteAfter: .seconds(86_400 * 760))).run(now: later)
        #expect(purge.deleted.count == files.count - 1)
        #expect(try segmentFiles(folder) == [files.last], "the live segment is never deleted")
    }

    @Test func anInterruptedArchivingLeavesALogThatReadsWholeAndIsFinishedNextTime() async throws {
        let files = try await writeLog()
        let archive = folder.appendingPathComponent("archive")
        _ = try AuditArchiver(live: folder, retention: .init(archiveDirectory: archive, archiveAfter: .zero)).run()
        // Put the first live copy back, as if the run had died between rename and unlink.
        let archived = archive.appendingPathComponent(files[0].lastPathComponent + ".lz4")
        let original = Data(try LZ4Frame.decompress(Array(try Data(contentsOf: archived)), limit: 1 << 20))
        try original.write(to: files[0])
        #expect(try AuditReader(directory: folder).records().map(\.sequence) == Array(1...50), "no duplicates")
        let next = try AuditArchiver(live: folder, retention: .init(archiveDirectory: archive, archiveAfter: .zero)).run()
        #expect(next.archived == [files[0].lastPathComponent])
        #expect(!FileManager.default.fileExists(atPath: files[0].path))
    }

    @Test func theLz4CommandReadsAnArchivedSegmentByteForByte() async throws {
        let files = try await writeLog()
        let original = try Data(contentsOf: files[0])
        let archive = folder.appendingPathComponent("archive")
        _ = try AuditArchiver(live: folder, retention: .init(archiveDirectory: archive, archiveAfter: .zero)).run()
        let lz4 = "/usr/bin/lz4"
        try #require(FileManager.default.isExecutableFile(atPath: lz4), "the lz4 command is missing: apt-get install lz4")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: lz4)
        process.arguments = ["-d", "-c", archive.appendingPathComponent(files[0].lastPathComponent + ".lz4").path]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(data == original)
    }

    @Test func aDamagedArchiveIsReportedNamingTheFile() async throws {
        _ = try await writeLog()
        let archive = folder.appendingPathComponent("archive")
        let report = try AuditArchiver(live: folder, retention: .init(archiveDirectory: archive, archiveAfter: .zero)).run()
        let damaged = archive.appendingPathComponent(report.archived[1] + ".lz4")
        var bytes = try Data(contentsOf: damaged)
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: damaged)
        let error = #expect(throws: AuditError.self) { try AuditReader(directory: folder).records() }
        #expect(error?.code == .corrupt && error?.message.contains(damaged.lastPathComponent) == true, "\(String(describing: error))")
    }
}
