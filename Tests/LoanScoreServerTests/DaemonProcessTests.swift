#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LoanScoreAudit
import LoanScoreClient
import LoanScoreServer
import LoanScoreTestSupport
import NIOCore
import NIOPosix
import Testing

/// Runs the real `loanscored` binary as systemd would (`$NOTIFY_SOCKET` set): readiness,
/// reload through `loanscore admin reload` and SIGHUP, then SIGTERM under load.
@Suite("loanscored process", .serialized)
struct DaemonProcessTests {
    /// The executables beside the test bundle in the build folder (SwiftPM builds them because
    /// this target depends on their targets).
    static let binaries = BuiltExecutable.buildFolder

    static func loanscore(_ arguments: [String]) async throws -> BuiltExecutable.Run {
        try await BuiltExecutable("loanscore").runOffThePool(arguments)
    }

    @Test func readyReloadAndDrainUnderSIGTERMAsSystemdSeesThem() async throws {
        let daemon = Self.binaries.appendingPathComponent("loanscored")
        try #require(FileManager.default.isExecutableFile(atPath: daemon.path), "build loanscored first")
        let folder = try TinyBundle.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let version1 = folder.appendingPathComponent("bundle-1"), version2 = folder.appendingPathComponent("bundle-2")
        let broken = folder.appendingPathComponent("bundle-broken")
        try TinyBundle.write(to: version1)
        try TinyBundle.writeVersion2(to: version2)
        try TinyBundle.write(to: broken) { $0["format_version"] = 99 }
        let current = folder.appendingPathComponent("current")
        try ReloadTests.point(current, at: version1)
        let certificates = try TestCertificates.make(in: folder.appendingPathComponent("certs"))
        var configuration = ServerConfiguration(bundle: current.path, certificate: certificates.serverCertificate,
                                                privateKey: certificates.serverKey)
        configuration.listen = "127.0.0.1:0"
        configuration.admin = "127.0.0.1:0"
        configuration.auditDirectory = folder.appendingPathComponent("audit").path
        configuration.workers = 2
        configuration.timeouts.drain = 5
        let configFile = folder.appendingPathComponent("loanscored.json")
        try JSONEncoder().encode(configuration).write(to: configFile)
        let notify = try NotifySocket(path: folder.appendingPathComponent("notify").path)

        let process = Process()
        process.executableURL = daemon
        process.arguments = ["--config", configFile.path, "--log-level", "info"]
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = notify.address
        process.environment = environment
        let log = folder.appendingPathComponent("loanscored.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        func logText() -> String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

        // READY=1 once the bundle is loaded and both ports are bound; STATUS says where.
        let ready = try #require(await notify.wait(for: "READY=1", timeout: .seconds(60)), "no READY=1; log:\n\(logText())")
        let status = try #require(ready.last?.split(separator: "\n").first { $0.hasPrefix("STATUS=") })
        #expect(status.hasPrefix("STATUS=serving tiny test-1 on 127.0.0.1:"), "\(status)")
        let ports = status.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }.filter { $0 > 1024 }
        try #require(ports.count >= 2, "ports in \(status)")
        let (port, adminPort) = (ports[ports.count - 2], ports[ports.count - 1])
        let admin = "127.0.0.1:\(adminPort)"

        // `loanscore admin reload`: the new bundle serves; systemd sees RELOADING=1 … READY=1.
        try ReloadTests.point(current, at: version2)
        let reloaded = try await Self.loanscore(["admin", "reload", "--admin", admin])
        #expect(reloaded.status == 0, "\(reloaded.stderr)")
        #expect(reloaded.stdout.contains("now serving tiny test-2 (was test-1)"), "\(reloaded.stdout)")
        let reloading = try #require(await notify.wait(for: "READY=1", timeout: .seconds(10)))
        #expect(reloading.first?.contains("RELOADING=1") == true, "\(reloading)")
        #expect(reloading.last?.contains("STATUS=serving tiny test-2") == true, "\(reloading)")

        // A broken bundle is refused (exit 3), logged and counted; the old one keeps serving.
        try ReloadTests.point(current, at: broken)
        let refused = try await Self.loanscore(["admin", "reload", "--admin", admin])
        #expect(refused.status == 3)
        #expect(refused.stderr.contains("reload refused") && refused.stderr.contains("still serving tiny test-2"), "\(refused.stderr)")
        _ = await notify.wait(for: "READY=1", timeout: .seconds(10))
        let metrics = try await httpGet(port: adminPort, path: "/metrics")
        #expect(metrics.contains("loanscore_reload_total{outcome=\"refused\"} 1"), "\(metrics)")
        #expect(metrics.contains("loanscore_reload_total{outcome=\"success\"} 1"))
        #expect(logText().contains("reload refused: bundle"), "the refusal is logged")

        // SIGHUP (systemctl reload) reloads too.
        try ReloadTests.point(current, at: version1)
        kill(process.processIdentifier, SIGHUP)
        let hangup = try #require(await notify.wait(for: "READY=1", timeout: .seconds(10)), "no READY=1 after SIGHUP; log:\n\(logText())")
        #expect(hangup.last?.contains("STATUS=serving tiny test-1") == true, "\(hangup)")
        #expect(process.isRunning)

        // SIGTERM under load: STOPPING=1, drain, exit 0 within the drain timeout, a clean audit log.
        let client = try LoanScoreClient(configuration: .init(
            host: "127.0.0.1", port: port, tls: .init(caFile: certificates.caCertificate, serverName: "localhost"), connections: 8))
        let load = ScoringLoad(client: client, tasks: 8)
        await load.waitForAnswers(100)
        // Audit commits are measured: what the disk adds to latency, how well group commit batches.
        let scored = try await httpGet(port: adminPort, path: "/metrics")
        let counts = scored.split(separator: "\n").filter {
            $0.hasPrefix("loanscore_audit_commit_duration_seconds_count ") || $0.hasPrefix("loanscore_audit_commit_records_sum ")
        }.compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }
        #expect(counts.count == 2 && counts.allSatisfy { $0 > 0 }, "\(scored)")
        #expect(scored.contains("loanscore_audit_commit_duration_seconds_bucket{le=\"0.0005\"}"), "the request latency buckets")
        #expect(scored.contains("loanscore_audit_commit_failures_total 0"))
        let signalled = ContinuousClock.now
        kill(process.processIdentifier, SIGTERM)
        #expect(await notify.wait(for: "STOPPING=1", timeout: .seconds(10)) != nil)
        while process.isRunning && ContinuousClock.now - signalled < .seconds(30) {
            try await Task.sleep(for: .milliseconds(20))
        }
        let stopped = ContinuousClock.now - signalled
        await load.stop()
        await client.close()
        #expect(!process.isRunning, "loanscored still running 30 s after SIGTERM")
        #expect(process.terminationReason == .exit && process.terminationStatus == 0, "log:\n\(logText())")
        #expect(stopped < .seconds(15), "exit took \(stopped)")
        let verify = try await Self.loanscore(["audit", "verify", "--dir", configuration.auditDirectory])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        // Every decision the client received is in the audit log.
        let audited = Set(try AuditReader(directory: URL(fileURLWithPath: configuration.auditDirectory)).records().map(\.applicationID))
        let answered = load.answers.flatMap { $0.batch.map(\.id) }
        #expect(answered.allSatisfy(audited.contains), "answered but not audited: \(answered.filter { !audited.contains($0) }.prefix(5))")
        print("SIGTERM under load: exit 0 after \(stopped), \(answered.count) answered applications all audited")
    }
}

/// A plain HTTP/1.0 GET (the server closes the connection after answering).
func httpGet(port: Int, path: String) async throws -> String {
    let (stream, continuation) = AsyncStream.makeStream(of: ByteBuffer.self)
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(BytesCollector(continuation)) }
        }
        .connect(host: "127.0.0.1", port: port).get()
    try await channel.writeAndFlush(ByteBuffer(string: "GET \(path) HTTP/1.0\r\n\r\n"))
    var text = ""
    for await var buffer in stream { text += buffer.readString(length: buffer.readableBytes) ?? "" }
    return text
}

private final class BytesCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let continuation: AsyncStream<ByteBuffer>.Continuation
    init(_ continuation: AsyncStream<ByteBuffer>.Continuation) { self.continuation = continuation }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { continuation.yield(unwrapInboundIn(data)) }
    func channelInactive(context: ChannelHandlerContext) { continuation.finish() }
}
