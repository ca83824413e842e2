import Foundation

/// Turns a whole-log read into ``AuditReader/Progress`` calls: bytes of the segment files on
/// disk, with a segment being scanned counted in proportion to the offset its scan reached
/// (so an archived segment, scanned decompressed, still counts its size on disk).
struct ReadMeter {
    private let sizes: [Int64]
    private let total: Int64
    private let progress: AuditReader.Progress?

    init(_ segments: [AuditSegmentFormat.Segment], _ progress: AuditReader.Progress?) {
        self.progress = progress
        sizes = progress == nil ? [] : segments.map { segment in
            let attributes = try? FileManager.default.attributesOfItem(atPath: segment.url.path)
            return (attributes?[.size] as? NSNumber)?.int64Value ?? 0
        }
        total = sizes.reduce(0, +)
    }

    /// Scans segment `index`'s bytes, reporting as the scan advances.
    func scan(_ index: Int, _ bytes: Data, isNewest: Bool) -> SegmentScan {
        guard let progress else { return SegmentScan(bytes: bytes, isNewest: isNewest) }
        let before = sizes[..<index].reduce(0, +), size = sizes[index], length = Int64(max(bytes.count, 1))
        progress(before, total)
        return SegmentScan(bytes: bytes, isNewest: isNewest) { offset in
            progress(before + size * Int64(offset) / length, total)
        }
    }

    /// Segment `index` is done.
    func finished(_ index: Int) {
        progress?(sizes[...index].reduce(0, +), total)
    }
}
