import LoanScoreClient
import LoanScoreProtocol
import LoanScoreTestSupport
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A port nothing listens on, that no other test can take meanwhile: a socket bound to
/// 127.0.0.1 without `listen` (a connection to it is refused), kept open until the test
/// process ends. A port freed by a stopped server was handed to a parallel test's server
/// now and then, and the "refused" endpoint answered.
func closedPort() async throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw TestFailure("socket(): errno \(errno)") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    // The sockaddr_in is reinterpreted as the generic sockaddr the calls take, for their duration only.
    let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) } }
    let named = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) } }
    guard bound == 0, named == 0 else { throw TestFailure("bind()/getsockname(): errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A client configuration for `ports` on 127.0.0.1, trusting the test CA.
func fleetConfiguration(_ ports: [Int], connections: Int) throws -> LoanScoreClient.Configuration {
    let certificates = try certificates()
    var configuration = LoanScoreClient.Configuration(
        endpoints: ports.map { HostPort(host: "127.0.0.1", port: $0) }, tls: .init(caFile: certificates.caCertificate),
        // Deadlines only a hang reaches: the checks are on outcomes (connectFailed, not timeout),
        // and in the parallel suite on a loaded machine an answer can wait seconds for a thread.
        connections: connections, deadline: .seconds(30), connectTimeout: .seconds(30), clientName: "failover-tests/1")
    configuration.failover.initialDownTime = .seconds(30)  // a failed endpoint stays down for the whole test
    return configuration
}

@Suite("LoanScoreClient over several endpoints")
struct FailoverTests {
    @Test("Connections are spread over the endpoints, and the description names them all")
    func spread() async throws {
        let first = try await FakeServer.start()
        let second = try await FakeServer.start()
        let configuration = try fleetConfiguration([first.port, second.port], connections: 4)
        #expect(configuration.server == "127.0.0.1:\(first.port), 127.0.0.1:\(second.port)")
        let client = try LoanScoreClient(configuration: configuration)
        try await client.connect()
        for index in 0..<8 { _ = try await client.score([application("s\(index)")]) }
        #expect(first.log.withLock { $0.connections } == 2)
        #expect(second.log.withLock { $0.connections } == 2)
        #expect(first.log.withLock { $0.requests.count } == 4)
        #expect(second.log.withLock { $0.requests.count } == 4)
        await client.close()
        try await first.stop()
        try await second.stop()
    }

    @Test("One of two servers killed: every later call is answered by the other")
    func oneKilled() async throws {
        let doomed = try await FakeServer.start()
        let survivor = try await FakeServer.start()
        let client = try LoanScoreClient(configuration: try fleetConfiguration([doomed.port, survivor.port], connections: 2))
        try await client.connect()
        _ = try await client.score([application("before")])
        try await doomed.stop()  // closes its listener and every connection
        for index in 0..<20 {
            let response = try await client.score([application("after-\(index)")])
            #expect(riskLevels(response) == ["after-\(index)"])
        }
        #expect(survivor.log.withLock { $0.requests.filter { $0.request.applicationIDs[0].hasPrefix("after-") }.count } == 20)
        await client.close()
        try await survivor.stop()
    }

    @Test("A request whose connection drops before the answer is sent to the other server (at least once)")
    func droppedBeforeTheAnswer() async throws {
        let dropping = try await FakeServer.start(behavior: { _ in [.close] })
        let answering = try await FakeServer.start()
        let client = try LoanScoreClient(configuration: try fleetConfiguration([dropping.port, answering.port], connections: 1))
        let response = try await client.score([application("once")])
        #expect(riskLevels(response) == ["once"])
        // Both servers saw it: the first may have scored it before dropping the connection.
        #expect(dropping.log.withLock { $0.requests.count } == 1)
        #expect(answering.log.withLock { $0.requests.count } == 1)
        await client.close()
        try await dropping.stop()
        try await answering.stop()
    }

    @Test("At most once: with resendsUnansweredRequests off, a lost answer fails the call and nothing is sent again")
    func atMostOnce() async throws {
        let dropping = try await FakeServer.start(behavior: { _ in [.close] })
        let answering = try await FakeServer.start()
        var configuration = try fleetConfiguration([dropping.port, answering.port], connections: 1)
        configuration.failover.resendsUnansweredRequests = false
        let client = try LoanScoreClient(configuration: configuration)
        let error = await clientError { _ = try await client.score([application("at-most-once")]) }
        #expect(error?.code == .connectionClosed)
        #expect(error?.answerLost == true)
        #expect(error?.message.contains("may have been scored") == true)
        #expect(answering.log.withLock { $0.requests.count } == 0)
        await client.close()
        try await dropping.stop()
        try await answering.stop()
    }

    @Test("A definite error answer is not sent to another server")
    func definiteErrorNotRetried() async throws {
        let refusing = try await FakeServer.start(behavior: { [.error(requestID: $0.requestID, .deadlineExceeded, "too late")] })
        let answering = try await FakeServer.start()
        let client = try LoanScoreClient(configuration: try fleetConfiguration([refusing.port, answering.port], connections: 1))
        let error = await clientError { _ = try await client.score([application("definite")]) }
        #expect(error?.code == .server(.deadlineExceeded))
        #expect(error?.answerLost == false)
        #expect(answering.log.withLock { $0.requests.count } == 0)
        await client.close()
        try await refusing.stop()
        try await answering.stop()
    }

    @Test("An endpoint refusing connections is skipped, by connect() and by calls")
    func refusingSkipped() async throws {
        let refused = try await closedPort()
        let server = try await FakeServer.start()
        let client = try LoanScoreClient(configuration: try fleetConfiguration([refused, server.port], connections: 2))
        let welcome = try await client.connect()
        #expect(welcome.modelName == "fake-model")
        for index in 0..<6 { _ = try await client.score([application("r\(index)")]) }
        #expect(server.log.withLock { $0.requests.count } == 6)
        #expect(server.log.withLock { $0.connections } == 2)
        await client.close()
        try await server.stop()
    }

    @Test("Every endpoint down: a connectFailed naming each endpoint and its failure, before the deadline")
    func allDown() async throws {
        let ports = [try await closedPort(), try await closedPort()]
        let client = try LoanScoreClient(configuration: try fleetConfiguration(ports, connections: 2))
        let error = await clientError { _ = try await client.score([application("nowhere")]) }
        #expect(error?.code == .connectFailed)  // not .timeout: it ended before the deadline
        #expect(error?.endpointFailures.map(\.endpoint) == ports.map { "127.0.0.1:\($0)" })
        for port in ports {
            #expect(error?.message.contains("cannot connect to 127.0.0.1:\(port): connection refused") == true,
                    "\(error?.message ?? "")")
            #expect(error?.message.contains("127.0.0.1:\(port): cannot connect") == false, "the endpoint named once: \(error?.message ?? "")")
        }
        await client.close()
    }

    @Test("Many endpoints down: the message names the first five and counts the rest; endpointFailures has all")
    func manyDownBounded() async throws {
        var ports: [Int] = []
        for _ in 0..<12 { ports.append(try await closedPort()) }
        let client = try LoanScoreClient(configuration: try fleetConfiguration(ports, connections: 2))
        let error = await clientError { _ = try await client.score([application("nowhere")]) }
        #expect(error?.code == .connectFailed)
        #expect(error?.endpointFailures.count == 12)
        #expect(error?.message.hasPrefix("every endpoint is down (12): ") == true && error?.message.hasSuffix("; and 7 more") == true,
                "\(error?.message ?? "")")
        #expect(error?.message.contains("127.0.0.1:\(ports[11])") == false)
        await client.close()
    }

    @Test("The suggested pool size: one connection per distinct endpoint, within its bounds")
    func suggestedConnections() {
        let endpoints = (0..<40).map { HostPort(host: "127.0.0.1", port: 7000 + $0) }
        typealias Configuration = LoanScoreClient.Configuration
        #expect(Configuration.connections(for: Array(endpoints.prefix(1))) == 1)
        #expect(Configuration.connections(for: Array(endpoints.prefix(1)), atLeast: 2) == 2)
        #expect(Configuration.connections(for: Array(endpoints.prefix(3)) + Array(endpoints.prefix(3))) == 3)
        #expect(Configuration.connections(for: endpoints) == Configuration.maximumSuggestedConnections)
    }

    @Test("An endpoint given more than once counts once")
    func duplicatesCountOnce() async throws {
        let server = try await FakeServer.start()
        let client = try LoanScoreClient(configuration: try fleetConfiguration(Array(repeating: server.port, count: 50), connections: 2))
        #expect(client.configuration.endpoints == [HostPort(host: "127.0.0.1", port: server.port)])
        _ = try await client.score([application("once")])
        await client.close()
        try await server.stop()
    }

    @Test("The single host/port configuration still works, and an empty endpoint list is refused")
    func singleAndEmpty() async throws {
        try await withServer { server, client in
            #expect(client.configuration.endpoints == [HostPort(host: "127.0.0.1", port: server.port)])
            #expect(client.configuration.server == "127.0.0.1:\(server.port)")
            _ = try await client.score([application("single")])
        }
        var empty = try fleetConfiguration([], connections: 1)
        empty.endpoints = []
        #expect(throws: LoanScoreClientError.self) { try LoanScoreClient(configuration: empty) }
    }

    @Test("An endpoint's down time grows exponentially with jitter, up to the cap")
    func downTime() {
        let policy = LoanScoreClient.Failover(initialDownTime: .milliseconds(100), maximumDownTime: .seconds(1))
        for _ in 0..<20 {
            #expect((Duration.milliseconds(50)...Duration.milliseconds(100)).contains(policy.downTime(after: 1)))
            #expect((Duration.milliseconds(200)...Duration.milliseconds(400)).contains(policy.downTime(after: 3)))
            #expect((Duration.milliseconds(500)...Duration.seconds(1)).contains(policy.downTime(after: 30)))
        }
    }
}

@Suite("LoanScoreClient at most once")
struct AtMostOnceTests {
    @Test("A TIMEOUT answer (maybe scored) is retried elsewhere by default, and not under at-most-once",
          arguments: [true, false])
    func timeoutAnswer(resends: Bool) async throws {
        let timingOut = try await FakeServer.start(behavior: { [.error(requestID: $0.requestID, .timeout, "took too long")] })
        let answering = try await FakeServer.start()
        var configuration = try fleetConfiguration([timingOut.port, answering.port], connections: 2)
        configuration.failover.resendsUnansweredRequests = resends
        let client = try LoanScoreClient(configuration: configuration)
        try await client.connect()  // one connection to each
        if resends {
            _ = try await client.score([application("t")])
            _ = try await client.score([application("t")])  // one of the two went to the timing-out server first
            #expect(answering.log.withLock { $0.requests.count } == 2)
        } else {
            var codes: [LoanScoreClientError.Code?] = []
            for _ in 0..<2 {
                do { _ = try await client.score([application("t")]) } catch { codes.append(error.code) }
            }
            #expect(codes == [.server(.timeout)], "the call on the timing-out server fails, once, and is not sent elsewhere")
            #expect(answering.log.withLock { $0.requests.count } == 1)
        }
        await client.close()
        try await timingOut.stop()
        try await answering.stop()
    }
}
