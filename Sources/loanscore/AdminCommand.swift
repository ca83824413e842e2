import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// `loanscore admin`: operations on a running `loanscored` through its admin port.
struct AdminCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin",
        abstract: "Operate a running loanscored through its admin HTTP port.",
        subcommands: [Reload.self]
    )

    struct Reload: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Reload the server's bundle and TLS certificates (the same as SIGHUP) and print the outcome.",
            discussion: """
                Connections stay open: requests in flight finish on the old model, new ones use the new one. \
                Exit codes: 0 reloaded, 3 refused (the bundle or a certificate failed its checks, or another \
                reload was in progress, or the server is shutting down; the old model keeps serving), 4 the admin port could not be reached, \
                1 it answered something else.
                """
        )

        @Option(help: "HOST:PORT of the server's admin listener.")
        var admin: String = "127.0.0.1:9090"

        @Flag(help: "Print the server's JSON answer as is.")
        var json = false

        func run() throws {
            let (host, port) = try parseServerAddress(admin, flag: "--admin")
            let (status, body) = try httpPost(host: host, port: UInt16(port), path: "/reload")
            let answer = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: String]
            if json {
                print(body.trimmingCharacters(in: .whitespacesAndNewlines))
            } else if let answer {
                let model = "\(answer["model"] ?? "?") \(answer["version"] ?? "?")"
                switch status {
                case 200: print("reloaded: now serving \(model) (was \(answer["previous_version"] ?? "?"))")
                default: printError("reload \(answer["outcome"] ?? "refused"): \(answer["message"] ?? body); still serving \(model)")
                }
                if let audit = answer["audit"] { print(audit) }
            } else {
                printError("HTTP \(status): \(body)")
            }
            switch status {
            case 200: return
            case 409, 422, 503: terminate(ExitStatus.invalidData)  // busy, refused, or shutting down
            default: throw Failure.internalError("the admin port answered HTTP \(status)")
            }
        }
    }
}

/// A minimal HTTP/1.1 POST with an empty body over a blocking socket; returns the status code
/// and the body (the server closes the connection after answering: `Connection: close`).
///
/// - Throws: ``Failure``: unreachable (exit 4) when the server cannot be reached, internal
///   error when it answers garbage.
private func httpPost(host: String, port: UInt16, path: String) throws -> (Int, String) {
    var hints = addrinfo()
    hints.ai_family = AF_UNSPEC
    #if canImport(Darwin)
    hints.ai_socktype = SOCK_STREAM
    #else
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    #endif
    var list: UnsafeMutablePointer<addrinfo>?
    let resolved = getaddrinfo(host, String(port), &hints, &list)
    guard resolved == 0, let first = list else {
        throw Failure.unreachable("cannot find the host \(host): \(String(cString: gai_strerror(resolved)))")
    }
    defer { freeaddrinfo(list) }
    var fd: Int32 = -1
    var lastError = "no address"
    // Unsafe: walks getaddrinfo's linked list, freed by the defer above after the loop.
    var entry: UnsafeMutablePointer<addrinfo>? = first
    while let info = entry {
        fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        if fd >= 0 {
            if connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { break }
            lastError = String(cString: strerror(errno))
            close(fd)
            fd = -1
        }
        entry = info.pointee.ai_next
    }
    guard fd >= 0 else {
        throw Failure.unreachable("cannot connect to the admin port \(host):\(port): \(lastError) (is loanscored running with --admin \(host):\(port)?)")
    }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 120, tv_usec: 0)  // a large bundle takes a while to load
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let hostHeader = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"  // an IPv6 address in brackets (RFC 9110 §7.2)
    let request = Array("POST \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8)
    let written = request.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    guard written == request.count else { throw Failure.internalError("cannot send to \(host):\(port): \(String(cString: strerror(errno)))") }
    var response: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count <= 0 { break }
        response += chunk[..<count]
    }
    let text = String(decoding: response, as: UTF8.self)
    let parts = text.components(separatedBy: "\r\n\r\n")
    let statusLine = parts.first?.split(separator: "\r\n").first ?? ""
    let fields = statusLine.split(separator: " ")
    guard fields.count >= 2, fields[0].hasPrefix("HTTP/"), let status = Int(fields[1]) else {
        throw Failure.internalError("\(host):\(port) did not answer HTTP (got \(response.count) bytes)")
    }
    return (status, parts.dropFirst().joined(separator: "\r\n\r\n"))
}
