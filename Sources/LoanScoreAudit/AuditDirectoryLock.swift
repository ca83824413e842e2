public import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The exclusive claim of one writer on an audit log folder: `flock(2)` on the folder's
/// `.lock` file, which also records the holder's process id.
///
/// Two writers appending to one folder would number their records independently and leave
/// gaps and duplicates (`loanscore audit verify` reports both). `loanscored` takes this lock
/// before it opens the log and holds it for its lifetime; a second server on the same folder
/// is refused with the holder's PID. The kernel releases the lock when the holder exits, even
/// after `kill -9`, so a stale `.lock` file never blocks a restart.
///
/// Readers (``AuditReader``) take no lock; ``holder(of:)`` tells them whether a live writer is
/// appending, so that the newest segment's unfinished tail is not reported as damage.
public final class AuditDirectoryLock: @unchecked Sendable {
    // @unchecked: immutable after init; the descriptor is only closed by `release()`/deinit.

    /// The lock file's name inside the audit folder.
    public static let fileName = ".lock"

    /// The audit folder.
    public let directory: URL
    private var descriptor: Int32

    /// Takes the folder's lock without waiting, creating the folder and `.lock` if needed, and
    /// writes this process's id into `.lock`.
    ///
    /// - Throws: ``AuditError``: `.locked` (with the holder's PID in the message) if another
    ///   process holds it; `.io` if the folder or the lock file cannot be created or locked.
    public init(directory: URL) throws {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw AuditError(.io, "\(directory.path): cannot create the audit folder: \(error.localizedDescription)")
        }
        let path = directory.appendingPathComponent(Self.fileName).path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw AuditError(.io, "\(path): cannot open the audit folder's lock file", errno: errno) }
        // A reader's probe (``holder(of:)``) holds a shared lock for microseconds: retry a few
        // times over ~50 ms before calling the folder taken.
        var attempts = 0
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            attempts += 1
            if code == EINTR || (code == EWOULDBLOCK && attempts < 5) {
                usleep(10_000)
                continue
            }
            close(fd)
            guard code == EWOULDBLOCK else {
                throw AuditError(.io, "\(path): cannot lock the audit folder", errno: code)
            }
            let who = Self.readHolder(path: path).map { "process \($0)" } ?? "another process"
            throw AuditError(.locked, """
                \(directory.path): the audit log is in use by \(who) (lock file \(path)); \
                one server writes one audit folder: stop that server or give this one another --audit-dir
                """)
        }
        // Record who holds it, for the message a second writer gets and for readers.
        let text = Array("\(getpid())\n".utf8)
        let written = text.withUnsafeBytes { raw in
            // Local use of the array's storage for one pwrite(2); `raw.count` bounds it.
            ftruncate(fd, 0) == 0 ? pwrite(fd, raw.baseAddress, raw.count, 0) : -1
        }
        guard written == text.count else {
            let code = errno
            close(fd)
            throw AuditError(.io, "\(path): cannot write the lock holder's process id", errno: code)
        }
        descriptor = fd
    }

    deinit { release() }

    /// Releases the lock (idempotent). The `.lock` file stays; its PID is then stale, which is
    /// harmless: only the kernel's lock counts.
    public func release() {
        if descriptor >= 0 {
            close(descriptor)  // closing the only descriptor of the open file releases flock
            descriptor = -1
        }
    }

    /// The process id of the live writer holding `directory`'s lock, or nil when no process
    /// holds it (or the folder has no `.lock` file).
    ///
    /// Probes with a shared, non-blocking `flock` that it releases at once; never blocks a writer
    /// for longer than that probe.
    public static func holder(of directory: URL) -> Int32? {
        let path = directory.appendingPathComponent(fileName).path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return nil
        }
        return readHolder(path: path) ?? 0
    }

    private static func readHolder(path: String) -> Int32? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
