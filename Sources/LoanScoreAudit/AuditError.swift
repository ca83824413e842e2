#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the audit log could not do what was asked.
///
/// A struct (not a public enum) so that codes can be added later; match on ``code``.
public struct AuditError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// A system call failed (open, write, fsync, rename, ...); ``AuditError/errno`` says why.
        public static let io = Code("io")
        /// The log was closed, or failed earlier, and takes no more appends.
        public static let closed = Code("closed")
        /// A record could not be encoded (for example a non-finite PD) or is too large.
        public static let encoding = Code("encoding")
        /// Another process holds the audit folder's writer lock (``AuditDirectoryLock``).
        public static let locked = Code("locked")
        /// Stored data is damaged somewhere other than a torn tail; see the message.
        public static let corrupt = Code("corrupt")
    }

    public var code: Code
    /// What failed, naming the file and, for damage, the byte offset.
    public var message: String
    /// The `errno` of a failed system call, for ``Code/io``.
    public var errno: Int32?

    public init(_ code: Code, _ message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    public var description: String {
        if let errno { return "\(message): \(String(cString: strerror(errno))) (errno \(errno))" }
        return message
    }
}
