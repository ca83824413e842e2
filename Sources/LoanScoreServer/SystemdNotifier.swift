#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// systemd's readiness protocol (`sd_notify(3)`) without libsystemd: one datagram of
/// newline-separated `KEY=VALUE` assignments sent to the unix datagram socket named by
/// `$NOTIFY_SOCKET` (a path, or an abstract-namespace name when it starts with `@`).
///
/// `loanscored` sends `READY=1` once the bundle is loaded and both listeners are bound,
/// `RELOADING=1` … `READY=1` around a reload, and `STOPPING=1` when a graceful shutdown
/// begins, each with a `STATUS=` line that `systemctl status` shows.
public struct SystemdNotifier: Sendable {
    /// The socket address as `$NOTIFY_SOCKET` spells it.
    public let socketPath: String

    public init(socketPath: String) {
        self.socketPath = socketPath
    }

    /// The notifier of `$NOTIFY_SOCKET`, or nil when the process was not started by systemd
    /// with `Type=notify` (the variable is unset or empty).
    public static var fromEnvironment: SystemdNotifier? {
        guard let path = ProcessInfo.processInfo.environment["NOTIFY_SOCKET"], !path.isEmpty else { return nil }
        return SystemdNotifier(socketPath: path)
    }

    /// `RELOADING=1` wants the monotonic clock in microseconds (systemd checks it with
    /// `Type=notify-reload`; harmless otherwise).
    public static var monotonicMicroseconds: UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
    }

    /// Sends one notification, e.g. `["READY=1", "STATUS=serving tiny 1.0"]`.
    ///
    /// - Throws: ``NotifyError`` when the address is unusable or the datagram cannot be sent.
    public func notify(_ assignments: [String]) throws(NotifyError) {
        var path = Array(socketPath.utf8)
        guard path.first == UInt8(ascii: "/") || path.first == UInt8(ascii: "@") else {
            throw NotifyError("NOTIFY_SOCKET '\(socketPath)' is neither an absolute path nor an abstract name (@…)")
        }
        let abstract = path.first == UInt8(ascii: "@")
        if abstract { path[0] = 0 }  // Linux abstract namespace: a leading NUL, no terminator.
        var address = sockaddr_un()
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        // A filesystem path needs room for its NUL terminator; an abstract name does not.
        guard path.count + (abstract ? 0 : 1) <= capacity else {
            throw NotifyError("NOTIFY_SOCKET '\(socketPath)' is longer than a unix socket address allows")
        }
        address.sun_family = sa_family_t(AF_UNIX)
        // Unsafe: copies `path` into the fixed-size C array `sun_path` (bounds checked above;
        // the rest of the array stays zero, which terminates a filesystem path).
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)! + path.count + (abstract ? 0 : 1))

        #if canImport(Darwin)
        let fd = socket(AF_UNIX, SOCK_DGRAM, 0)
        #else
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #endif
        guard fd >= 0 else { throw NotifyError("socket(AF_UNIX, SOCK_DGRAM): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let message = Array(assignments.joined(separator: "\n").utf8)
        // Unsafe: `message` and `address` are borrowed only for the duration of the sendto call;
        // the sockaddr_un is passed as the generic sockaddr the C API takes, with its real length.
        let sent = message.withUnsafeBytes { bytes in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                    sendto(fd, bytes.baseAddress, bytes.count, 0, socketAddress, length)
                }
            }
        }
        guard sent == message.count else {
            throw NotifyError("sendto \(socketPath): \(sent < 0 ? String(cString: strerror(errno)) : "short write")")
        }
    }
}

/// A notification that could not be delivered.
public struct NotifyError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
