import Foundation
import LoanScoreServer
import LoanScoreTestSupport
import NIOConcurrencyHelpers
import Testing

/// The admin port held to its own limits, as an attacker on the same host would try it: raw
/// TCP sockets on 127.0.0.1 sending garbage, slow heads, missing bodies and oversized heads.
/// Deadlines are shortened through the configuration so the suite stays fast.
@Suite("Admin port hardening", .serialized)
struct AdminHardeningTests {
    /// Beyond `max_connections`, a connection is closed as soon as it is accepted; once one
    /// closes, a new one is served again.
    @Test func connectionsBeyondTheLimitAreClosedAtOnce() async throws {
        let admin = try await AdminHarness.start { $0.maximumConnections = 3 }
        let held = try (0..<3).map { _ in try admin.connect() }
        await admin.waitForConnections(3)
        let refused = try admin.connect()
        let (text, closed) = await refused.read(timeout: .seconds(2))
        #expect(closed && text.isEmpty, "the fourth connection should be closed unanswered; got '\(text)'")
        #expect(admin.server.connectionCount == 3)

        try held[0].send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        #expect(await held[0].read(timeout: .seconds(2)).closed)
        await admin.waitForConnections(2)
        let next = try admin.connect()
        try next.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        #expect(statusLines(await next.read(timeout: .seconds(2), until: "ok\n").text) == ["HTTP/1.1 200 OK"])
        await admin.server.shutdown(deadline: .now)
    }

    /// A keep-alive connection that sends nothing more is closed after the idle timeout,
    /// without an answer; so is one that never sends anything.
    @Test func idleConnectionsAreClosedAfterTheIdleTimeout() async throws {
        let admin = try await AdminHarness.start { $0.idleTimeout = 0.3 }
        let silent = try admin.connect()
        let keptAlive = try admin.connect()
        try keptAlive.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        let answer = await keptAlive.read(timeout: .seconds(2), until: "ok\n")
        #expect(statusLines(answer.text) == ["HTTP/1.1 200 OK"] && !answer.closed)
        #expect(!answer.text.lowercased().contains("connection: close"), "a success keeps the connection: \(answer.text)")
        let started = ContinuousClock.now
        let after = await keptAlive.read(timeout: .seconds(3))
        #expect(after.closed && after.text.isEmpty, "\(after)")
        #expect(ContinuousClock.now - started < .seconds(2))
        let never = await silent.read(timeout: .seconds(3))
        #expect(never.closed && never.text.isEmpty)
        await admin.waitForConnections(0)
        #expect(admin.server.connectionCount == 0)
        await admin.server.shutdown(deadline: .now)
    }

    /// A request head that starts and then stalls (slowloris) is answered 408 and closed after
    /// the header deadline, however long the idle timeout.
    @Test func aStalledHeadIsAnswered408() async throws {
        let admin = try await AdminHarness.start { $0.headerTimeout = 0.3; $0.idleTimeout = 30 }
        let socket = try admin.connect()
        try socket.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  // no blank line: the head never ends
        let started = ContinuousClock.now
        let (text, closed) = await socket.read(timeout: .seconds(3))
        #expect(statusLines(text) == ["HTTP/1.1 408 Request Timeout"], "\(text)")
        #expect(text.contains("Connection: close") && closed)
        #expect(ContinuousClock.now - started < .seconds(2))
        await admin.server.shutdown(deadline: .now)
    }

    /// `POST /reload` announcing a body that never comes is answered 408 after the body
    /// deadline, without reloading; a body beyond the limit is refused 413 from its
    /// Content-Length, before it is read.
    @Test func aMissingBodyIsAnswered408AndAnOversizedOne413() async throws {
        let admin = try await AdminHarness.start { $0.bodyTimeout = 0.3; $0.maximumBodyBytes = 1024 }
        let socket = try admin.connect()
        try socket.send("POST /reload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n")
        let (text, closed) = await socket.read(timeout: .seconds(3))
        #expect(statusLines(text) == ["HTTP/1.1 408 Request Timeout"], "\(text)")
        #expect(text.contains("Connection: close") && closed)
        #expect(admin.reloads.withLockedValue { $0 } == 0)

        let large = try admin.connect()
        try large.send("POST /reload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n\r\n")
        let refused = await large.read(timeout: .seconds(3))
        #expect(statusLines(refused.text) == ["HTTP/1.1 413 Payload Too Large"], "\(refused.text)")
        #expect(refused.text.contains("Connection: close") && refused.closed)
        #expect(admin.reloads.withLockedValue { $0 } == 0)
        await admin.server.shutdown(deadline: .now)
    }

    /// The head's size counts every header together: many small headers are refused like one
    /// large one (431, then close); a head within the limit is served.
    @Test func theWholeHeadIsLimitedNotOnlyEachHeader() async throws {
        let admin = try await AdminHarness.start { $0.maximumHeaderBytes = 4096 }
        let many = (0..<1000).map { "X-\($0): y\r\n" }.joined()  // ~10 KB of small headers
        let one = "X-Big: " + String(repeating: "a", count: 10_000) + "\r\n"
        for headers in [many, one] {
            let socket = try admin.connect()
            try socket.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + "\r\n")
            let (text, closed) = await socket.read(timeout: .seconds(3))
            #expect(statusLines(text) == ["HTTP/1.1 431 Request Header Fields Too Large"], "\(text.prefix(200))")
            #expect(text.contains("Connection: close") && closed)
        }
        let fine = try admin.connect()
        try fine.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + (0..<100).map { "X-\($0): y\r\n" }.joined() + "\r\n")
        #expect(statusLines(await fine.read(timeout: .seconds(2), until: "ok\n").text) == ["HTTP/1.1 200 OK"])
        await admin.server.shutdown(deadline: .now)
    }

    /// Every error answer says `Connection: close`, and the server really closes: an unknown
    /// method, an unknown path, a method not allowed.
    @Test(arguments: [
        ("FOO / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "HTTP/1.1 400 Bad Request"),
        ("GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "HTTP/1.1 404 Not Found"),
        ("DELETE /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "HTTP/1.1 405 Method Not Allowed"),
    ])
    func everyErrorAnswerClosesTheConnection(request: String, status: String) async throws {
        let admin = try await AdminHarness.start()
        let socket = try admin.connect()
        // A second, valid request behind it must not be answered.
        try socket.send(request + "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        let (text, closed) = await socket.read(timeout: .seconds(3))
        #expect(statusLines(text) == [status], "\(text)")
        #expect(text.contains("Connection: close"), "\(text)")
        #expect(closed, "the connection should be closed after \(status)")
        await admin.server.shutdown(deadline: .now)
    }

    /// An HTTP/0.9 request line (no version) and other garbage get exactly one 400, then close.
    @Test(arguments: ["GET /\r\n", "GET /health\r\n\r\n", "\u{1}\u{2}garbage\r\n\r\n", "GET / HTTP/9.9\r\n\r\n"])
    func garbageGetsOne400(request: String) async throws {
        let admin = try await AdminHarness.start()
        let socket = try admin.connect()
        try socket.send(request)
        try await checkOne400(socket)
        // The same behind a valid request on the same connection (pipelined in one write).
        let second = try admin.connect()
        try second.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + request)
        let (text, closed) = await second.read(timeout: .seconds(3))
        #expect(statusLines(text) == ["HTTP/1.1 200 OK", "HTTP/1.1 400 Bad Request"], "\(text)")
        #expect(closed)
        await admin.server.shutdown(deadline: .now)
    }

    private func checkOne400(_ socket: RawSocket) async throws {
        let (text, closed) = await socket.read(timeout: .seconds(3))
        #expect(statusLines(text) == ["HTTP/1.1 400 Bad Request"], "\(text)")
        #expect(text.contains("Connection: close") && closed, "\(text)")
    }

    /// Shutdown during `POST /reload`: the caller gets the reload's answer (then close) when it
    /// ends before the deadline, else 503; once draining, a new reload is refused 503 while
    /// the other endpoints still answer.
    @Test func aReloadInProgressIsAnsweredDuringShutdown() async throws {
        let patient = try await AdminHarness.start(reloadTime: .seconds(1))
        let caller = try patient.connect()
        try caller.send("POST /reload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")
        try await Task.sleep(for: .milliseconds(100))
        async let stopped: Void = patient.server.shutdown(deadline: .now + .seconds(5))
        let answered = await caller.read(timeout: .seconds(5))
        await stopped
        #expect(statusLines(answered.text) == ["HTTP/1.1 200 OK"], "\(answered.text)")
        #expect(answered.text.contains("Connection: close") && answered.closed, "\(answered.text)")

        let hasty = try await AdminHarness.start(reloadTime: .seconds(3))
        let late = try hasty.connect()
        try late.send("POST /reload HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        try await Task.sleep(for: .milliseconds(100))
        let started = ContinuousClock.now
        async let ended: Void = hasty.server.shutdown(deadline: .now + .milliseconds(200))
        let refused = await late.read(timeout: .seconds(5))
        await ended
        #expect(statusLines(refused.text) == ["HTTP/1.1 503 Service Unavailable"], "\(refused.text)")
        #expect(refused.text.contains("Connection: close") && refused.closed)
        #expect(ContinuousClock.now - started < .seconds(2), "shutdown waits no longer than its deadline")

        let draining = try await AdminHarness.start()
        draining.server.beginDraining()
        let health = try draining.connect()
        try health.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        #expect(statusLines(await health.read(timeout: .seconds(2), until: "ok\n").text) == ["HTTP/1.1 200 OK"])
        let reload = try draining.connect()
        try reload.send("POST /reload HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        let answer = await reload.read(timeout: .seconds(3))
        #expect(statusLines(answer.text) == ["HTTP/1.1 503 Service Unavailable"], "\(answer.text)")
        #expect(answer.text.contains("shutting_down") && answer.closed)
        #expect(draining.reloads.withLockedValue { $0 } == 0)
        await draining.server.shutdown(deadline: .now)
    }

    /// The whole server: SIGTERM's drain while `POST /reload` loads a (slow) bundle. The
    /// caller gets the reload's answer, then the connection closes; a reload asked for once
    /// the drain has begun is not run.
    @Test func theServerAnswersAReloadInProgressWhenItShutsDown() async throws {
        let folder = try TinyBundle.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let slow = folder.appendingPathComponent("slow-bundle")
        try writeSlowBundle(to: slow)
        let harness = try await ServerHarness.start {
            $0.bundle = slow.path
            $0.admin = "127.0.0.1:0"
        }
        defer { try? FileManager.default.removeItem(at: harness.folder) }
        let adminPort = try #require(harness.server.adminPort)
        let caller = try RawSocket(port: adminPort)
        let bystander = try RawSocket(port: adminPort)
        try caller.send("POST /reload HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        try await Task.sleep(for: .milliseconds(50))  // the reload is loading
        let shutdown = Task { await harness.server.shutdown() }
        try await Task.sleep(for: .milliseconds(20))
        try bystander.send("POST /reload HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        let refused = await bystander.read(timeout: .seconds(5))
        let answered = await caller.read(timeout: .seconds(10))
        await shutdown.value
        #expect(statusLines(answered.text) == ["HTTP/1.1 200 OK"], "\(answered.text)")
        #expect(answered.text.contains("now serving tiny") && answered.text.contains("Connection: close") && answered.closed)
        // The scoring drain is over at once here (nothing in flight), so the bystander's idle
        // connection may be closed before its request arrives; either way no reload starts.
        #expect(statusLines(refused.text) == ["HTTP/1.1 503 Service Unavailable"] || refused.text.isEmpty, "\(refused.text)")
        #expect(refused.closed)
    }

    /// A client that pipelines requests and never reads the answers is no longer read from:
    /// the answers computed stay a few socket buffers' worth, not one per request sent.
    /// It is not held forever either: its waiting requests run into the header deadline
    /// (408), and the connection is closed even though that answer cannot be written.
    @Test func aClientThatDoesNotReadIsNoLongerReadFrom() async throws {
        let admin = try await AdminHarness.start(metricsBytes: 64 * 1024) { $0.headerTimeout = 0.5 }
        let socket = try admin.connect()
        let requests = 20_000
        let sent = socket.sendWithoutBlocking(String(repeating: "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", count: requests))
        try await Task.sleep(for: .milliseconds(300))
        let scrapes = admin.scrapes.withLockedValue { $0 }
        print("pipelined \(sent) bytes of requests without reading: \(scrapes) answers computed")
        #expect(scrapes >= 1 && scrapes < 1000, "\(scrapes) answers of 64 KB computed for a client that reads none")
        #expect(admin.server.connectionCount == 1, "the connection stays open until the header deadline")
        await admin.waitForConnections(0, timeout: .seconds(5))
        #expect(admin.server.connectionCount == 0, "the connection of a client that does not read is closed")
        await admin.server.shutdown(deadline: .now)
    }

    /// Requests pipelined behind a reload are answered in order after it, on the same connection.
    @Test func pipelinedRequestsWaitForAReload() async throws {
        let admin = try await AdminHarness.start(reloadTime: .milliseconds(300))
        let socket = try admin.connect()
        try socket.send("POST /reload HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        let (text, closed) = await socket.read(timeout: .seconds(3), until: "ok\n")
        #expect(statusLines(text) == ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"], "\(text)")
        #expect(text.contains("reloaded") && !closed)
        await admin.server.shutdown(deadline: .now)
    }
}
