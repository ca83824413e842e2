import Crypto
public import Foundation

/// The on-disk format of audit segments.
///
/// A log is a folder of segment files named `audit-<first sequence, 16 decimal digits>.log`
/// (e.g. `audit-0000000000000001.log`). A segment is a sequence of frames and nothing else:
///
/// ```
/// +----------------+---------------------------+------------------------------+
/// | length: u32 BE | checksum: 8 bytes         | payload: `length` bytes      |
/// |                | SHA-256(payload)[0..<8]   | the record as compact JSON   |
/// +----------------+---------------------------+------------------------------+
/// ```
///
/// Lengths are 1 ... ``maxPayload``. Records are in sequence order within and across
/// segments; a segment's name is the sequence of its first record.
public enum AuditSegmentFormat {
    /// Bytes before each payload: 4 (length) + 8 (checksum).
    public static let headerSize = 12
    /// The largest payload a frame may declare (1 MiB); a record is a few hundred bytes.
    public static let maxPayload = 1 << 20

    /// The file name of the segment whose first record has `firstSequence`.
    public static func segmentName(firstSequence: UInt64) -> String {
        let digits = String(firstSequence)
        return "audit-" + String(repeating: "0", count: max(0, 16 - digits.count)) + digits + ".log"
    }

    /// The first sequence encoded in a segment's name, or `nil` for any other file name.
    public static func firstSequence(ofSegmentNamed name: String) -> UInt64? {
        guard name.hasPrefix("audit-"), name.hasSuffix(".log") else { return nil }
        let digits = name.dropFirst(6).dropLast(4)
        guard digits.count == 16, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return UInt64(digits)
    }

    /// The suffix an archived (LZ4-frame compressed) segment adds to its name:
    /// `audit-0000000000000001.log.lz4` (see ``AuditArchiver``).
    public static let archivedSuffix = ".lz4"

    /// One segment of a log, live or archived.
    public struct Segment: Sendable, Equatable {
        /// The file.
        public var url: URL
        /// The sequence number of its first record (from its name).
        public var firstSequence: UInt64
        /// Whether it is an archived, LZ4-compressed copy.
        public var archived: Bool
    }

    /// Every segment of a log, oldest first: the live folder's, and the archive folder's
    /// (when it exists) that are not also live. A segment in both places (an archiving
    /// interrupted between writing the copy and removing the original) is read from the live
    /// folder.
    /// - Throws: ``AuditError`` (`.io`) if a folder cannot be listed.
    public static func allSegments(live: URL, archive: URL?) throws -> [Segment] {
        var bySequence: [UInt64: Segment] = [:]
        if let archive, FileManager.default.fileExists(atPath: archive.path) {
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: archive.path)
            } catch {
                throw AuditError(.io, "\(archive.path): cannot list the audit archive: \(error.localizedDescription)")
            }
            for name in names where name.hasSuffix(archivedSuffix) {
                guard let first = firstSequence(ofSegmentNamed: String(name.dropLast(archivedSuffix.count))) else { continue }
                bySequence[first] = Segment(url: archive.appendingPathComponent(name), firstSequence: first, archived: true)
            }
        }
        for (url, first) in try segments(in: live) {
            bySequence[first] = Segment(url: url, firstSequence: first, archived: false)
        }
        return bySequence.values.sorted { $0.firstSequence < $1.firstSequence }
    }

    /// The segment files in `directory`, oldest first.
    /// - Throws: ``AuditError`` (`.io`) if the folder cannot be listed.
    public static func segments(in directory: URL) throws -> [(url: URL, firstSequence: UInt64)] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw AuditError(.io, "\(directory.path): cannot list the audit folder: \(error.localizedDescription)")
        }
        return names.compactMap { name in
            firstSequence(ofSegmentNamed: name).map { (directory.appendingPathComponent(name), $0) }
        }.sorted { $0.firstSequence < $1.firstSequence }
    }

    /// The first 8 bytes of SHA-256 of `payload` (no array: compared or written in place).
    static func checksum(_ payload: some DataProtocol) -> some Sequence<UInt8> {
        SHA256.hash(data: payload).prefix(8)
    }

    /// Appends the frame of `record`, numbered `sequence`, to `buffer`: the payload is written
    /// in place after a 12-byte gap that its length and checksum then fill (no array per record).
    /// `time` remembers the last time written, for the next record of the batch.
    ///
    /// - Throws: ``AuditError`` (`.encoding`) if the record cannot be encoded or its payload is
    ///   over ``maxPayload``; `buffer` is then as it was.
    static func appendFrame(for record: AuditRecord, sequence: UInt64, time: inout AuditRecord.TimeText,
                            to buffer: inout [UInt8]) throws {
        let start = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: headerSize))
        do {
            try record.appendJSON(sequence: sequence, time: &time, to: &buffer)
        } catch {
            buffer.removeSubrange(start...)
            throw error
        }
        let length = buffer.count - start - headerSize
        guard length <= maxPayload else {
            buffer.removeSubrange(start...)
            throw AuditError(.encoding, "record \(sequence) is \(length) bytes, over the \(maxPayload)-byte limit")
        }
        // The gap left above: buffer[start ..< start + 12], filled with checked subscripts.
        buffer[start] = UInt8(truncatingIfNeeded: length >> 24)
        buffer[start + 1] = UInt8(truncatingIfNeeded: length >> 16)
        buffer[start + 2] = UInt8(truncatingIfNeeded: length >> 8)
        buffer[start + 3] = UInt8(truncatingIfNeeded: length)
        for (i, byte) in checksum(buffer[(start + headerSize)...]).enumerated() { buffer[start + 4 + i] = byte }
    }
}

/// What a scan of one segment found.
struct SegmentScan {
    /// Every readable record with the byte offset of its frame.
    var records: [(offset: Int, record: AuditRecord)] = []
    /// Offsets of whole frames whose checksum did not match (skipped; scanning went on).
    var checksumFailures: [Int] = []
    /// Offsets of frames whose checksum matched but whose JSON is not a record (skipped).
    var undecodable: [(offset: Int, reason: String)] = []
    /// Damage the scan could not get past (a bad length field), other than a torn tail.
    var damage: (offset: Int, reason: String)?
    /// Where an incomplete last write begins, in the newest segment only.
    var tornTail: (offset: Int, reason: String)?
    /// The end of the last whole frame: what remains after cutting a torn tail.
    var validEnd = 0
}

extension SegmentScan {
    /// Scans a segment's bytes frame by frame.
    ///
    /// A torn tail (only looked for when `isNewest`, since older segments were fsynced whole
    /// before the next was created) is: fewer than 12 bytes left, a frame that runs past the
    /// end of the file, a last frame whose checksum fails, or nothing but zero bytes from the
    /// frame on (a file extended by the file system during a crash). Anything else that is
    /// wrong is damage: a checksum failure with more frames after it is skipped and counted;
    /// an impossible length stops the scan of that segment.
    ///
    /// `progress`, when given, is called every few thousand frames with the offset reached.
    ///
    /// - Complexity: O(n) in the segment's size (one SHA-256 pass and one JSON decode per frame).
    init(bytes: Data, isNewest: Bool, progress: ((Int) -> Void)? = nil) {
        var frames = 0
        let decoder = JSONDecoder()
        let end = bytes.count
        let base = bytes.startIndex
        var offset = 0
        func allZero(from start: Int) -> Bool {
            bytes[(base + start)...].allSatisfy { $0 == 0 }
        }
        while offset < end {
            let remaining = end - offset
            guard remaining >= AuditSegmentFormat.headerSize else {
                let reason = "\(remaining) bytes at the end are too few for a frame header"
                if isNewest { tornTail = (offset, reason) } else { damage = (offset, reason) }
                break
            }
            let length = bytes[(base + offset)..<(base + offset + 4)].reduce(0) { $0 << 8 | Int($1) }
            let frameEnd = offset + AuditSegmentFormat.headerSize + length
            if length == 0 || length > AuditSegmentFormat.maxPayload || frameEnd > end {
                let reason = frameEnd > end
                    ? "a frame of \(length) bytes runs past the end of the file (\(remaining - AuditSegmentFormat.headerSize) bytes left)"
                    : "invalid frame length \(length)"
                if isNewest && (frameEnd > end || allZero(from: offset)) {
                    tornTail = (offset, allZero(from: offset) ? "\(remaining) zero bytes at the end" : reason)
                } else {
                    damage = (offset, reason)
                }
                break
            }
            let stored = bytes[(base + offset + 4)..<(base + offset + 12)]
            let payload = bytes[(base + offset + 12)..<(base + frameEnd)]
            if !stored.elementsEqual(AuditSegmentFormat.checksum(payload)) {
                if isNewest && frameEnd == end {
                    tornTail = (offset, "the last frame's checksum does not match (incomplete write)")
                    break
                }
                checksumFailures.append(offset)
            } else {
                do {
                    records.append((offset, try decoder.decode(AuditRecord.self, from: payload)))
                } catch {
                    undecodable.append((offset, "checksum matches but the payload is not a record: \(error)"))
                }
            }
            offset = frameEnd
            validEnd = frameEnd
            frames += 1
            if frames % 4096 == 0 { progress?(offset) }
        }
    }
}
