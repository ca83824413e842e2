#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LoanScoreAudit
import LoanScoreTestSupport
import Testing

/// One writer per audit folder (the cross-process case runs real `loanscored` processes in
/// LoanScoreServerTests' "audit log operations").
@Suite("Audit folder lock")
struct AuditDirectoryLockTests {
    let folder = try! TinyBundle.temporaryDirectory().appendingPathComponent("audit")

    @Test func aSecondLockOnTheFolderIsRefusedNamingTheHolder() throws {
        let lock = try AuditDirectoryLock(directory: folder)
        #expect(AuditDirectoryLock.holder(of: folder) == getpid())
        // flock belongs to the open file, so a second open in the same process conflicts too.
        let error = #expect(throws: AuditError.self) { try AuditDirectoryLock(directory: folder) }
        #expect(error?.code == .locked)
        #expect(error?.message.contains("in use by process \(getpid())") == true, "\(String(describing: error))")
        #expect(error?.message.contains("--audit-dir") == true)
        lock.release()
        #expect(AuditDirectoryLock.holder(of: folder) == nil, "a released lock has no holder, though .lock stays")
        let again = try AuditDirectoryLock(directory: folder)
        again.release()
    }

    @Test func aFolderWithoutALockFileHasNoHolder() throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        #expect(AuditDirectoryLock.holder(of: folder) == nil)
    }

    @Test func theLockFileIsNotASegment() async throws {
        let lock = try AuditDirectoryLock(directory: folder)
        defer { lock.release() }
        let log = try AuditLog(directory: folder, fsync: .always)
        try await log.append([record(1)])
        try log.close()
        #expect(try AuditReader(directory: folder).segments().map(\.lastPathComponent) == ["audit-0000000000000001.log"])
    }

    @Test func verifyTreatsALiveWritersUnfinishedTailAsAWriteInProgress() async throws {
        let log = try AuditLog(directory: folder, fsync: .always)
        try await log.append([record(1), record(2)])
        try log.close()
        // Half a frame at the end, as a reader may see while the server writes.
        let segment = try #require(try segmentFiles(folder).last)
        let handle = try FileHandle(forWritingTo: segment)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0, 0, 1, 0, 9, 9]))
        try handle.close()
        let offline = try AuditReader(directory: folder).verify()
        #expect(offline.tornTail != nil && !offline.isClean && offline.liveWriter == nil)

        let lock = try AuditDirectoryLock(directory: folder)
        defer { lock.release() }
        let live = try AuditReader(directory: folder).verify()
        #expect(live.liveWriter == getpid())
        #expect(live.tornTail != nil && live.isClean, "an unfinished tail is no problem while its writer runs")
        #expect(live.records == 2)
    }
}
