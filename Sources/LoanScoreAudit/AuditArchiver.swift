public import Foundation
import LoanScoreCompression

#if canImport(Glibc)
import Glibc
#endif

/// How long audit segments stay in the live folder, and whether archived ones are ever deleted.
///
/// Lenders keep adverse-action records for years (Regulation B, 12 CFR 1002.12: 25 months), so
/// nothing is deleted unless ``deleteAfter`` is set. Sealed segments (every one but the newest,
/// which the server appends to) are compressed into ``archiveDirectory`` once older than
/// ``archiveAfter``, or, oldest first, while the live folder holds more than ``maxLiveBytes``.
public struct AuditRetention: Sendable, Equatable {
    /// Where archived segments go (`audit-<sequence>.log.lz4`, LZ4 frame format: `lz4 -d` reads
    /// them). Readers look there too.
    public var archiveDirectory: URL
    /// A sealed segment whose last write is older than this is archived; nil: never by age.
    public var archiveAfter: Duration?
    /// While the live folder's segments total more than this many bytes, the oldest sealed
    /// ones are archived; nil: no size bound.
    public var maxLiveBytes: Int?
    /// An archived segment whose last record is older than this is deleted; nil (the
    /// default): never.
    public var deleteAfter: Duration?

    public init(archiveDirectory: URL, archiveAfter: Duration? = nil, maxLiveBytes: Int? = nil, deleteAfter: Duration? = nil) {
        self.archiveDirectory = archiveDirectory
        self.archiveAfter = archiveAfter
        self.maxLiveBytes = maxLiveBytes
        self.deleteAfter = deleteAfter
    }

    /// The archive folder a log uses unless configured otherwise: `archive` inside it.
    public static func defaultArchiveDirectory(for live: URL) -> URL { live.appendingPathComponent("archive") }
}

/// What one ``AuditArchiver/run(now:)`` did.
public struct AuditArchiveReport: Sendable, Equatable {
    /// Segments compressed into the archive (file names, oldest first).
    public var archived: [String] = []
    /// Bytes those segments held, and their compressed size.
    public var archivedBytes = 0, compressedBytes = 0
    /// Archived segments deleted under ``AuditRetention/deleteAfter``.
    public var deleted: [String] = []
    /// The live folder's segment bytes afterwards.
    public var liveBytes = 0
}

/// Moves sealed audit segments into the archive under an ``AuditRetention`` policy.
///
/// Crash-safe at every step: a segment is compressed to a temporary file, fsynced, renamed to
/// its final name (atomic), the archive folder fsynced, and only then is the live copy
/// removed. Interrupted anywhere, the log still reads whole: at worst a segment is in both
/// places, and readers take the live copy (``AuditSegmentFormat/allSegments(live:archive:)``);
/// the next run removes it. The compressed copy is checked to decompress to the original's
/// bytes before the original goes.
public struct AuditArchiver: Sendable {
    /// The live audit folder.
    public let live: URL
    public let retention: AuditRetention

    public init(live: URL, retention: AuditRetention) {
        self.live = live
        self.retention = retention
    }

    /// Archives and deletes what the policy says is due.
    ///
    /// - Parameter now: the current time (a parameter for tests).
    /// - Throws: ``AuditError`` (`.io`) naming the file when a step fails; what was done
    ///   before it stays done, and the next run continues.
    /// - Complexity: reads and compresses each archived segment once (O(its size)).
    public func run(now: Date = Date()) throws -> AuditArchiveReport {
        var report = AuditArchiveReport()
        let archive = retention.archiveDirectory
        let segments = try AuditSegmentFormat.segments(in: live)
        var sizes = try segments.map { try Self.attributes(of: $0.url) }
        var liveBytes = sizes.reduce(0) { $0 + $1.size }
        // Every segment but the newest is sealed: the writer appends only to the newest.
        for (index, segment) in segments.enumerated().dropLast() {
            let (size, modified) = sizes[index]
            let old = retention.archiveAfter.map { now.timeIntervalSince(modified) >= Self.seconds($0) } ?? false
            let over = retention.maxLiveBytes.map { liveBytes > $0 } ?? false
            guard old || over else { continue }
            let compressed = try archiveSegment(segment.url, modified: modified, into: archive)
            liveBytes -= size
            sizes[index].size = 0
            report.archived.append(segment.url.lastPathComponent)
            report.archivedBytes += size
            report.compressedBytes += compressed
        }
        report.liveBytes = liveBytes
        if let deleteAfter = retention.deleteAfter {
            report.deleted = try deleteArchived(olderThan: Self.seconds(deleteAfter), now: now)
        }
        return report
    }

    private func archiveSegment(_ url: URL, modified: Date, into archive: URL) throws -> Int {
        let name = url.lastPathComponent
        let target = archive.appendingPathComponent(name + AuditSegmentFormat.archivedSuffix)
        do {
            try FileManager.default.createDirectory(at: archive, withIntermediateDirectories: true)
        } catch {
            throw AuditError(.io, "\(archive.path): cannot create the audit archive folder: \(error.localizedDescription)")
        }
        let original = try Self.readAll(url)
        if FileManager.default.fileExists(atPath: target.path) {
            // An earlier run was interrupted after the rename: the copy is whole; check it.
            let existing = try Self.readAll(target)
            guard (try? LZ4Frame.decompress(existing, limit: original.count)) == original else {
                throw AuditError(.corrupt, "\(target.path): an archived copy of \(name) exists but does not match it; move one aside")
            }
            try Self.remove(url, syncing: live)
            return existing.count
        }
        let compressed: [UInt8]
        do {
            compressed = try LZ4Frame.compress(original)
            guard try LZ4Frame.decompress(compressed, limit: original.count) == original else {
                throw AuditError(.io, "\(name): the compressed copy does not decompress to the segment")
            }
        } catch let error as AuditError {
            throw error
        } catch {
            throw AuditError(.io, "\(name): cannot compress the segment: \(error)")
        }
        let temporary = archive.appendingPathComponent(".\(name).lz4.partial")
        try Self.writeDurably(compressed, to: temporary, modified: modified)
        guard rename(temporary.path, target.path) == 0 else {
            throw AuditError(.io, "\(target.path): cannot move the archived copy into place", errno: errno)
        }
        try SegmentFile.syncDirectory(archive)
        try Self.remove(url, syncing: live)
        return compressed.count
    }

    private func deleteArchived(olderThan seconds: Double, now: Date) throws -> [String] {
        let archive = retention.archiveDirectory
        guard FileManager.default.fileExists(atPath: archive.path) else { return [] }
        var deleted: [String] = []
        for segment in try AuditSegmentFormat.allSegments(live: live, archive: archive) where segment.archived {
            // An archived file keeps its segment's last-write time (set when archived).
            let (_, modified) = try Self.attributes(of: segment.url)
            guard now.timeIntervalSince(modified) >= seconds else { continue }
            try Self.remove(segment.url, syncing: archive)
            deleted.append(segment.url.lastPathComponent)
        }
        return deleted
    }

    // MARK: - Files

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    private static func attributes(of url: URL) throws -> (size: Int, modified: Date) {
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
            return ((attributes[.size] as? Int) ?? 0, (attributes[.modificationDate] as? Date) ?? Date())
        } catch {
            throw AuditError(.io, "\(url.path): cannot read the file's size and time: \(error.localizedDescription)")
        }
    }

    static func readAll(_ url: URL) throws -> [UInt8] {
        do {
            return Array(try Data(contentsOf: url))
        } catch {
            throw AuditError(.io, "\(url.path): cannot read: \(error.localizedDescription)")
        }
    }

    /// Writes `bytes` to a new file, sets its modification time, and fsyncs it.
    private static func writeDurably(_ bytes: [UInt8], to url: URL, modified: Date) throws {
        let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw AuditError(.io, "\(url.path): cannot create the archived copy", errno: errno) }
        defer { close(fd) }
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { raw in
                // Local use of the array's storage for one write(2), bounded by its count.
                write(fd, raw.baseAddress.map { $0 + written }, raw.count - written)
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw AuditError(.io, "\(url.path): write failed after \(written) of \(bytes.count) bytes", errno: errno)
            }
            written += result
        }
        let seconds = modified.timeIntervalSince1970
        var times = [timespec(tv_sec: time_t(seconds), tv_nsec: 0), timespec(tv_sec: time_t(seconds), tv_nsec: 0)]
        _ = futimens(fd, &times)  // best effort: a failure only makes deletion later
        guard fsync(fd) == 0 else { throw AuditError(.io, "\(url.path): fsync failed", errno: errno) }
    }

    private static func remove(_ url: URL, syncing directory: URL) throws {
        guard unlink(url.path) == 0 else { throw AuditError(.io, "\(url.path): cannot remove", errno: errno) }
        try SegmentFile.syncDirectory(directory)
    }
}
