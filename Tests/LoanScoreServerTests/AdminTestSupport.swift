#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LoanScoreServer
import LoanScoreTestSupport
import NIOConcurrencyHelpers
import NIOPosix

/// A blocking TCP socket to 127.0.0.1 that writes raw bytes (garbage, partial heads, missing
/// bodies) and reads what the server answers until it closes the connection.
final class RawSocket: @unchecked Sendable {  // used from one test task at a time
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        // Unsafe: passes the sockaddr_in as the generic sockaddr for the duration of connect.
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw HarnessError("connect to port \(port): \(message)")
        }
    }

    deinit { close(fd) }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw HarnessError("send: \(String(cString: strerror(errno)))") }
            sent += count
        }
    }

    /// Sends as much of `text` as the socket takes without blocking; returns the bytes sent.
    func sendWithoutBlocking(_ text: String) -> Int {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
            }
            guard count > 0 else { break }
            sent += count
        }
        return sent
    }

    /// What arrives within `timeout`, and whether the server closed the connection (EOF or
    /// reset) by then. Stops early at the close, or once `until` appears in the text. The
    /// blocking reads run on a Dispatch thread: blocking the cooperative pool (two threads on
    /// a two-core machine) would hold up the server's own tasks, such as a reload.
    func read(timeout: Duration, until: String? = nil) async -> (text: String, closed: Bool) {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: self.blockingRead(timeout: timeout, until: until))
            }
        }
    }

    private func blockingRead(timeout: Duration, until: String?) -> (text: String, closed: Bool) {
        let deadline = ContinuousClock.now + timeout
        var received: [UInt8] = []
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return (String(decoding: received, as: UTF8.self), false) }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(max(1, left / .milliseconds(1)))) == 1 else { continue }
            var buffer = [UInt8](repeating: 0, count: 65536)
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return (String(decoding: received, as: UTF8.self), true) }
            received += buffer[..<count]
            if let until, String(decoding: received, as: UTF8.self).contains(until) {
                return (String(decoding: received, as: UTF8.self), false)
            }
        }
    }
}

/// An ``AdminServer`` on 127.0.0.1 port 0 with scripted sources; counts reloads.
struct AdminHarness {
    let server: AdminServer
    let reloads: NIOLockedValueBox<Int>
    /// How many times `/metrics` was computed.
    let scrapes: NIOLockedValueBox<Int>

    /// - Parameter reloadTime: how long each `POST /reload` takes before answering 200.
    /// - Parameter metricsBytes: the size of the `/metrics` text.
    static func start(reloadTime: Duration = .zero, metricsBytes: Int = 16, _ edit: (inout ServerConfiguration.AdminLimits) -> Void = { _ in }) async throws
        -> AdminHarness {
        var limits = ServerConfiguration.AdminLimits()
        limits.idleTimeout = 5
        limits.headerTimeout = 5
        limits.bodyTimeout = 5
        edit(&limits)
        let reloads = NIOLockedValueBox(0), scrapes = NIOLockedValueBox(0)
        let metrics = String(repeating: "#\n", count: max(1, metricsBytes / 2))
        let sources = AdminServer.Sources(
            ready: { (true, "ready") }, health: { "ok\n" }, metrics: { scrapes.withLockedValue { $0 += 1 }; return metrics }, model: { "{}\n" },
            reload: {
                reloads.withLockedValue { $0 += 1 }
                try? await Task.sleep(for: reloadTime)
                return (200, #"{"outcome":"reloaded"}"# + "\n")
            })
        let server = try await AdminServer(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton,
                                           sources: sources, limits: limits)
        return AdminHarness(server: server, reloads: reloads, scrapes: scrapes)
    }

    func connect() throws -> RawSocket { try RawSocket(port: server.port) }

    /// Waits until the server has `count` connections open (accepts are asynchronous).
    func waitForConnections(_ count: Int, timeout: Duration = .seconds(5)) async {
        let deadline = ContinuousClock.now + timeout
        while server.connectionCount != count && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}

/// The status lines (`HTTP/1.1 400 Bad Request`, …) in a stream of answers.
func statusLines(_ text: String) -> [String] {
    text.components(separatedBy: .newlines).filter { $0.hasPrefix("HTTP/1.") }
}

/// The tiny bundle with a listed 96 MB file of padding, which every load hashes: loading it
/// (and so a reload) takes a noticeable time, as a real bundle's does.
func writeSlowBundle(to bundle: URL) throws {
    var failure: (any Error)?
    try TinyBundle.write(to: bundle) { manifest in
        do {
            let padding = bundle.appendingPathComponent("padding.bin")
            try Data(count: 96 << 20).write(to: padding)
            var files = manifest["files"] as? [String: String] ?? [:]
            files["padding.bin"] = try sha256(of: padding)
            manifest["files"] = files
        } catch {
            failure = error
        }
    }
    if let failure { throw failure }
}

/// The file's sha256 in hex (by `sha256sum`: this test target does not link a hash library).
func sha256(of file: URL) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    process.arguments = [file.path]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0, let hash = String(decoding: output, as: UTF8.self).split(separator: " ").first else {
        throw HarnessError("sha256sum \(file.path) failed")
    }
    return String(hash)
}
