#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LoanScoreServer
import LoanScoreTestSupport
import Testing

/// A unix datagram socket standing in for systemd's notification socket.
final class NotifySocket: @unchecked Sendable {  // used from one test task at a time
    let fd: Int32
    /// The value to put in `$NOTIFY_SOCKET`.
    let address: String

    /// Binds a socket at `path`, or in the abstract namespace when `abstract` (then
    /// ``address`` starts with `@`).
    init(path: String, abstract: Bool = false) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: \(String(cString: strerror(errno)))") }
        var bytes = Array(path.utf8)
        if abstract { bytes.insert(0, at: 0) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw HarnessError("path too long: \(path)")
        }
        // Unsafe: copies the (checked) path into the fixed-size sun_path array.
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)! + bytes.count + (abstract ? 0 : 1))
        // Unsafe: passes the sockaddr_un as the generic sockaddr for the duration of bind.
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else {
            close(fd)
            throw HarnessError("bind \(path): \(String(cString: strerror(errno)))")
        }
        self.fd = fd
        self.address = abstract ? "@" + path : path
    }

    deinit { close(fd) }

    /// The next datagram, or nil when none arrives within `timeout`.
    func receive(timeout: Duration = .seconds(10)) -> String? {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(timeout / .milliseconds(1))
        guard poll(&poller, 1, milliseconds) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count >= 0 else { return nil }
        return String(decoding: buffer[..<count], as: UTF8.self)
    }

    /// Datagrams until one contains `assignment` (e.g. `READY=1`); nil after `timeout`.
    ///
    /// Polls without blocking and sleeps between polls: a blocking wait would hold one of
    /// Swift concurrency's cooperative threads (two on a 2-core machine) for as long as a
    /// daemon takes to start, stalling every other test of the run.
    func wait(for assignment: String, timeout: Duration = .seconds(30)) async -> [String]? {
        let deadline = ContinuousClock.now + timeout
        var seen: [String] = []
        while ContinuousClock.now < deadline {
            guard let message = receive(timeout: .zero) else {
                try? await Task.sleep(for: .milliseconds(10))
                continue
            }
            seen.append(message)
            if message.split(separator: "\n").contains(Substring(assignment)) { return seen }
        }
        return nil
    }
}

@Suite("systemd notifications")
struct SystemdNotifierTests {
    @Test func sendsReadyToAFilesystemSocket() throws {
        let folder = try TinyBundle.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let socket = try NotifySocket(path: folder.appendingPathComponent("notify").path)
        try SystemdNotifier(socketPath: socket.address).notify(["READY=1", "STATUS=serving tiny test-1"])
        #expect(socket.receive() == "READY=1\nSTATUS=serving tiny test-1")
    }

    @Test func sendsToAnAbstractSocket() throws {
        let socket = try NotifySocket(path: "loanscore-test-\(UUID().uuidString)", abstract: true)
        #expect(socket.address.hasPrefix("@"))
        try SystemdNotifier(socketPath: socket.address).notify(["STOPPING=1"])
        #expect(socket.receive() == "STOPPING=1")
    }

    @Test func refusesAnAddressThatIsNeitherAPathNorAbstract() {
        #expect(throws: NotifyError.self) { try SystemdNotifier(socketPath: "relative/notify").notify(["READY=1"]) }
        #expect(throws: NotifyError.self) {
            try SystemdNotifier(socketPath: "/" + String(repeating: "x", count: 200)).notify(["READY=1"])
        }
    }
}
