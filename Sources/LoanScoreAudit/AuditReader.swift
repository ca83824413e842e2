public import Foundation
import LoanScoreCompression

/// Reads and checks an audit log folder (see ``AuditSegmentFormat``), without changing it.
///
/// Safe to use while an ``AuditLog`` appends to the same folder: it reads what is there; a
/// record being written may show as a torn tail. Archived segments (``AuditArchiver``) are
/// read transparently, in sequence order with the live ones.
public struct AuditReader: Sendable {
    /// The folder of segment files.
    public let directory: URL
    /// The archive folder read with it (default: `archive` inside ``directory``).
    public let archive: URL

    /// - Parameter archive: the archive folder, when configured elsewhere than `directory/archive`.
    /// - Throws: ``AuditError`` (`.io`) if `directory` is not a readable folder.
    public init(directory: URL, archive: URL? = nil) throws {
        self.archive = archive ?? AuditRetention.defaultArchiveDirectory(for: directory)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw AuditError(.io, "\(directory.path): no such audit folder")
        }
        self.directory = directory
        _ = try AuditSegmentFormat.segments(in: directory)
    }

    /// The segment files, live and archived, oldest first.
    public func segments() throws -> [URL] {
        try allSegments().map(\.url)
    }

    private func allSegments() throws -> [AuditSegmentFormat.Segment] {
        try AuditSegmentFormat.allSegments(live: directory, archive: archive)
    }

    /// How far a whole-log read has come: bytes of segment files read so far, of the total
    /// (archived segments count their compressed size on disk).
    public typealias Progress = (_ bytesRead: Int64, _ bytesTotal: Int64) -> Void

    /// Calls `body` with every record, in order across all segments.
    ///
    /// A torn tail of the newest segment ends the iteration quietly (those records were never
    /// completed to anyone). Reads one segment into memory at a time.
    /// - Throws: ``AuditError``: `.io` if a segment cannot be read; `.corrupt` at the first
    ///   damaged frame (checksum, length or JSON), naming segment and byte offset; or what
    ///   `body` throws.
    /// - Parameter progress: called now and then with the bytes read (see ``Progress``).
    /// - Complexity: O(total bytes).
    public func forEachRecord(progress: Progress? = nil, _ body: (AuditRecord) throws -> Void) throws {
        let segments = try allSegments()
        let meter = ReadMeter(segments, progress)
        for (index, segment) in segments.enumerated() {
            let scan = meter.scan(index, try Self.read(segment), isNewest: index == segments.count - 1)
            let name = segment.url.lastPathComponent
            if let offset = scan.checksumFailures.first {
                throw AuditError(.corrupt, "\(name): checksum mismatch in the frame at byte \(offset)")
            }
            if let bad = scan.undecodable.first {
                throw AuditError(.corrupt, "\(name): unreadable record at byte \(bad.offset): \(bad.reason)")
            }
            if let damage = scan.damage {
                throw AuditError(.corrupt, "\(name): damaged at byte \(damage.offset): \(damage.reason)")
            }
            for entry in scan.records { try body(entry.record) }
            meter.finished(index)
        }
    }

    /// Every record, in order; see ``forEachRecord(progress:_:)``.
    public func records() throws -> [AuditRecord] {
        var all: [AuditRecord] = []
        try forEachRecord { all.append($0) }
        return all
    }

    /// Checks every frame of every segment and the sequence numbers.
    ///
    /// Unlike ``forEachRecord(progress:_:)`` it does not stop at damage: a frame with a bad checksum
    /// is counted and skipped (its length is trusted), and only an impossible length ends
    /// the scan of its segment.
    /// - Parameter progress: called now and then with the bytes read (see ``Progress``).
    /// - Throws: ``AuditError`` (`.io`) only if a segment cannot be read.
    /// - Complexity: O(total bytes).
    public func verify(progress: Progress? = nil) throws -> AuditVerifyReport {
        var report = AuditVerifyReport()
        report.liveWriter = AuditDirectoryLock.holder(of: directory)
        let segments = try allSegments()
        report.segments = segments.count
        report.archivedSegments = segments.filter(\.archived).count
        var previous: UInt64?
        let meter = ReadMeter(segments, progress)
        for (index, segment) in segments.enumerated() {
            let name = segment.url.lastPathComponent
            let scan = meter.scan(index, try Self.read(segment), isNewest: index == segments.count - 1)
            report.checksumFailures += scan.checksumFailures.map { .init(segment: name, offset: $0, problem: "checksum mismatch") }
            report.unreadableRecords += scan.undecodable.map { .init(segment: name, offset: $0.offset, problem: $0.reason) }
            if let damage = scan.damage {
                report.damagedFrames.append(.init(segment: name, offset: damage.offset, problem: damage.reason))
            }
            if let torn = scan.tornTail {
                report.tornTail = .init(segment: name, offset: torn.offset, problem: torn.reason)
            }
            if let first = scan.records.first?.record.sequence, first != segment.firstSequence {
                report.misnamedSegments.append(.init(segment: name, offset: 0, problem: "named for sequence \(segment.firstSequence) but starts at \(first)"))
            }
            for entry in scan.records {
                let sequence = entry.record.sequence
                let expected = previous.map { $0 + 1 } ?? 1
                if sequence != expected {
                    report.sequenceGaps.append(.init(segment: name, offset: entry.offset, expected: expected, found: sequence))
                }
                previous = sequence
                report.records += 1
                report.firstSequence = report.firstSequence ?? sequence
                report.lastSequence = sequence
            }
            meter.finished(index)
        }
        return report
    }

    /// The largest segment an archived file may expand to (4 GiB; segments are 64 MiB by default).
    static let maximumArchivedSegment = Int(UInt32.max)

    static func read(_ segment: AuditSegmentFormat.Segment) throws -> Data {
        let url = segment.url
        guard segment.archived else {
            do {
                return try Data(contentsOf: url, options: .mappedIfSafe)
            } catch {
                throw AuditError(.io, "\(url.path): cannot read the segment: \(error.localizedDescription)")
            }
        }
        do {
            return Data(try LZ4Frame.decompress(try AuditArchiver.readAll(url), limit: maximumArchivedSegment))
        } catch let error as CompressionError {
            throw AuditError(.corrupt, "\(url.path): the archived segment cannot be decompressed: \(error)")
        }
    }
}

/// What ``AuditReader/verify()`` found. ``isClean`` is true when nothing is wrong.
public struct AuditVerifyReport: Codable, Sendable, Equatable {
    /// A place in a segment.
    public struct Location: Codable, Sendable, Equatable {
        /// The segment's file name.
        public var segment: String
        /// Byte offset of the frame in the segment.
        public var offset: Int
        /// What is wrong there.
        public var problem: String

        public init(segment: String, offset: Int, problem: String) {
            self.segment = segment
            self.offset = offset
            self.problem = problem
        }
    }

    /// A record whose sequence number is not one more than the previous record's.
    public struct Gap: Codable, Sendable, Equatable {
        public var segment: String
        /// Byte offset of the record that broke the sequence.
        public var offset: Int
        public var expected: UInt64
        public var found: UInt64

        public init(segment: String, offset: Int, expected: UInt64, found: UInt64) {
            self.segment = segment
            self.offset = offset
            self.expected = expected
            self.found = found
        }
    }

    /// Readable records.
    public var records = 0
    /// Segment files (live and archived).
    public var segments = 0
    /// Of which archived (compressed, in the archive folder).
    public var archivedSegments = 0
    public var firstSequence: UInt64?
    public var lastSequence: UInt64?
    /// Whole frames whose stored checksum does not match their payload.
    public var checksumFailures: [Location] = []
    /// Frames whose checksum matches but whose payload is not a record.
    public var unreadableRecords: [Location] = []
    /// Frames with impossible lengths (the rest of that segment could not be read).
    public var damagedFrames: [Location] = []
    /// Breaks in the sequence 1, 2, 3, ...
    public var sequenceGaps: [Gap] = []
    /// Segments whose name disagrees with their first record.
    public var misnamedSegments: [Location] = []
    /// An incomplete last write in the newest segment (opening the log cuts it).
    public var tornTail: Location?
    /// The process id of the server writing the folder now (it holds the folder's
    /// ``AuditDirectoryLock``), or nil when none does. While one writes, the newest segment's
    /// unfinished last frame is a write in progress, not damage.
    public var liveWriter: Int32?

    /// True when no problem of any kind was found (a live writer's unfinished tail is none).
    public var isClean: Bool {
        checksumFailures.isEmpty && unreadableRecords.isEmpty && damagedFrames.isEmpty
            && sequenceGaps.isEmpty && misnamedSegments.isEmpty && (tornTail == nil || liveWriter != nil)
    }

    enum CodingKeys: String, CodingKey {
        case records, segments, archivedSegments = "archived_segments", firstSequence = "first_sequence", lastSequence = "last_sequence"
        case checksumFailures = "checksum_failures", unreadableRecords = "unreadable_records"
        case damagedFrames = "damaged_frames", sequenceGaps = "sequence_gaps"
        case misnamedSegments = "misnamed_segments", tornTail = "torn_tail", liveWriter = "live_writer"
    }
}
