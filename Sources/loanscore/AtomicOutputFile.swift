import Foundation
import LoanScoreFeatures

/// A file written under a temporary name in its destination folder and renamed into place by
/// ``commit()``, so readers never see a half-written output. Writes are buffered.
final class AtomicOutputFile {
    let destination: URL
    private let temporary: URL
    private let handle: FileHandle
    private var buffer = Data()
    private var committed = false

    /// - Throws: ``Failure`` (invalid data) when the folder is not writable.
    init(path: String) throws {
        destination = URL(fileURLWithPath: path)
        let folder = destination.deletingLastPathComponent()
        temporary = folder.appendingPathComponent(".\(destination.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil),
              let handle = try? FileHandle(forWritingTo: temporary)
        else { throw Failure.invalidData("\(path): cannot create the output file (does the folder exist and is it writable?)") }
        self.handle = handle
    }

    func write(_ line: String) throws {
        buffer.append(contentsOf: line.utf8)
        if buffer.count >= 1 << 16 { try flush() }
    }

    /// Writes one CSV record (fields quoted where needed) and a line end.
    func writeRecord(_ fields: [String]) throws {
        try write(fields.map(csvEscape).joined(separator: ",") + "\n")
    }

    private func flush() throws {
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, syncs and renames the file into place.
    func commit() throws {
        try flush()
        try handle.synchronize()
        try handle.close()
        // rename(2) replaces the destination atomically within one file system.
        guard rename(temporary.path, destination.path) == 0 else {
            throw Failure.internalError("\(destination.path): cannot rename the finished output into place (errno \(errno))")
        }
        committed = true
    }

    deinit {
        if !committed {
            try? handle.close()
            try? FileManager.default.removeItem(at: temporary)
        }
    }
}
