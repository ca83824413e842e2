import Foundation
import LoanScoreClient
import LoanScoreProtocol
import LoanScoreTestSupport
import NIOCore
import Synchronization
import Testing

/// Runs `body` with a fake server and a client for it, and tears both down.
func withServer(
    limits: ProtocolLimits = .default, mutualTLS: Bool = false,
    configure: (inout LoanScoreClient.Configuration) -> Void = { _ in },
    behavior: @escaping FakeServer.Behavior = { [.answer($0)] },
    _ body: (FakeServer, LoanScoreClient) async throws -> Void
) async throws {
    let server = try await FakeServer.start(limits: limits, mutualTLS: mutualTLS, behavior: behavior)
    var configuration = try server.clientConfiguration(withCertificate: mutualTLS)
    configure(&configuration)
    let client = try LoanScoreClient(configuration: configuration)
    do {
        try await body(server, client)
    } catch {
        await client.close()
        try await server.stop()
        throw error
    }
    await client.close()
    try await server.stop()
}

/// The risk level the fake server echoes: the application's id.
func riskLevels(_ response: ScoreResponse) -> [String] {
    response.results.map {
        if case .scored(let scored) = $0 { return scored.riskLevel }
        return "invalid"
    }
}

/// Awaits `body` and returns the LoanScoreClientError it throws (fails the test if none).
func clientError(_ body: () async throws -> Void) async -> LoanScoreClientError? {
    do {
        try await body()
        Issue.record("expected a LoanScoreClientError")
        return nil
    } catch let error as LoanScoreClientError {
        return error
    } catch {
        Issue.record("expected a LoanScoreClientError, got \(error)")
        return nil
    }
}

@Suite("LoanScoreClient against a fake server")
struct ClientTests {
    @Test("HELLO/WELCOME: the client names itself and exposes the model, schema and limits")
    func handshake() async throws {
        let limits = ProtocolLimits(maximumBatch: 100, maximumInFlight: 7)
        try await withServer(limits: limits) { server, client in
            #expect(client.welcome == nil)
            let welcome = try await client.connect()
            #expect(welcome.modelName == "fake-model")
            #expect(welcome.modelVersion == "1.0.0")
            #expect(welcome.schema == testSchema)
            #expect(welcome.limits == limits)
            #expect(client.welcome == welcome)
            #expect(server.log.withLock { $0.helloNames } == ["client-tests/1"])
        }
    }

    @Test("A batch travels in WELCOME's column order; absent keys are missing")
    func columns() async throws {
        try await withServer { server, client in
            let response = try await client.score([
                application("a", seniority: 3, home: "owner", income: nil, records: true),
                ApplicationInput(id: "b", values: ["Income": .number(-5), "Seniority": .missing]),
            ])
            #expect(riskLevels(response) == ["a", "b"])
            #expect(response.modelVersion == "1.0.0")
            let request = try #require(server.log.withLock { $0.requests.first?.request })
            #expect(request.applicationIDs == ["a", "b"])
            #expect(request.value(application: 0, field: 0) == .number(3))
            #expect(request.value(application: 0, field: 1) == .text("owner"))
            #expect(request.value(application: 0, field: 2) == .missing)
            #expect(request.value(application: 0, field: 3) == .bool(true))
            #expect(request.value(application: 1, field: 0) == .missing)
            #expect(request.value(application: 1, field: 1) == .missing)
            #expect(request.value(application: 1, field: 2) == .number(-5))
            #expect(request.value(application: 1, field: 3) == .missing)
        }
    }

    @Test("A request laid out once is sent as it is; one laid out for another schema is refused before sending")
    func preparedRequest() async throws {
        try await withServer { server, client in
            let welcome = try await client.connect()
            let request = try ScoreRequest(schemaHash: welcome.schema.hash, applicationIDs: ["p", "q"], columns: [
                Column(numbers: [3, nil]), Column(strings: ["owner", nil]), Column(numbers: [nil, -5]), Column(bools: [true, nil]),
            ])
            let response = try await client.score(request)
            #expect(riskLevels(response) == ["p", "q"])
            #expect(server.log.withLock { $0.requests.first?.request } == request)
            // The SDK sends the time left before the call's deadline (PROTOCOL.md §5.4).
            let deadline = try #require(server.log.withLock { $0.requests.first?.deadline })
            #expect(deadline > 0 && deadline <= 10_000_000)

            let stale = try ScoreRequest(schemaHash: SchemaHash.compute([]), applicationIDs: ["s"], columns: [
                Column(numbers: [1]), Column(strings: [nil]), Column(numbers: [nil]), Column(bools: [nil]),
            ])
            let error = await clientError { _ = try await client.score(stale) }
            #expect(error?.code == .schemaMismatch)
            #expect(error?.attempts == 1, "a request laid out for another schema is not retried")

            // Columns that disagree with the schema would be a malformed frame: refused before sending.
            let misshapen = try ScoreRequest(schemaHash: welcome.schema.hash, applicationIDs: ["m"], columns: [
                Column(numbers: [1]), Column(numbers: [2]), Column(numbers: [nil]), Column(bools: [nil]),
            ])
            let shapeError = await clientError { _ = try await client.score(misshapen) }
            #expect(shapeError?.code == .invalidInput)
            #expect(shapeError?.field == "Home")
            let short = try ScoreRequest(schemaHash: welcome.schema.hash, applicationIDs: ["s"], columns: [Column(numbers: [1])])
            #expect(await clientError { _ = try await client.score(short) }?.code == .invalidInput)
            #expect(server.log.withLock { $0.requests.count } == 1, "nothing sent for the stale or misshapen requests")
        }
    }

    @Test("Pipelining: four requests in flight on one connection, answered in reverse order")
    func pipelining() async throws {
        let reverse = ReverseAfter(4)
        try await withServer(behavior: reverse.behavior) { server, client in
            try await client.connect()
            let answers = try await withThrowingTaskGroup(of: (String, [String]).self) { group in
                for name in ["p", "q", "r", "s"] {
                    group.addTask { (name, riskLevels(try await client.score([application(name + "1"), application(name + "2")]))) }
                }
                var answers: [String: [String]] = [:]
                for try await (name, levels) in group { answers[name] = levels }
                return answers
            }
            for name in ["p", "q", "r", "s"] { #expect(answers[name] == [name + "1", name + "2"]) }
            let log = server.log.withLock { $0 }
            #expect(log.connections == 1)
            #expect(Set(log.requests.map(\.requestID)).count == 4)
        }
    }

    @Test("The client holds requests beyond its in-flight limit until answers free a slot", arguments: [1, 3])
    func inFlightLimit(limit: Int) async throws {
        try await withServer(
            configure: { $0.maximumInFlightPerConnection = limit },
            behavior: { [.answerLater($0, delay: .milliseconds(20))] }
        ) { server, client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<8 { group.addTask { _ = try await client.score([application("x\(index)")]) } }
                try await group.waitForAll()
            }
            let log = server.log.withLock { $0 }
            #expect(log.requests.count == 8)
            #expect(log.maximumUnanswered == limit)
        }
    }

    @Test("Without a configured limit, WELCOME's maximum in flight applies")
    func welcomeInFlightLimit() async throws {
        try await withServer(limits: ProtocolLimits(maximumInFlight: 2), behavior: { [.answerLater($0, delay: .milliseconds(20))] }) {
            server, client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<6 { group.addTask { _ = try await client.score([application("y\(index)")]) } }
                try await group.waitForAll()
            }
            #expect(server.log.withLock { $0.maximumUnanswered } == 2)
        }
    }

    @Test("BUSY twice, then success: retried with backoff")
    func busyThenSuccess() async throws {
        try await withServer(behavior: { received in
            received.sequence <= 2 ? [.error(requestID: received.requestID, .busy, "at capacity")] : [.answer(received)]
        }) { server, client in
            let start = ContinuousClock.now
            let response = try await client.score([application("retry-me")])
            let elapsed = ContinuousClock.now - start
            #expect(riskLevels(response) == ["retry-me"])
            #expect(server.log.withLock { $0.requests.count } == 3)
            // Backoffs are at least 5 ms (10 ms halved by jitter) and 10 ms (20 ms halved).
            #expect(elapsed >= .milliseconds(15))
        }
    }

    @Test("BUSY on every attempt: a busy error after the configured attempts")
    func busyExhausted() async throws {
        try await withServer(
            configure: { $0.retry = .init(maximumAttempts: 4, initialBackoff: .milliseconds(1), maximumBackoff: .milliseconds(2)) },
            behavior: { [.error(requestID: $0.requestID, .busy, "at capacity")] }
        ) { server, client in
            let error = await clientError { _ = try await client.score([application("a")]) }
            #expect(error?.code == .busy)
            #expect(error?.attempts == 4)
            #expect(error?.isRetryable == true)
            #expect(server.log.withLock { $0.requests.count } == 4)
        }
    }

    @Test("A connection dropped with a request in flight: retried on a new connection")
    func droppedConnection() async throws {
        try await withServer(behavior: { received in
            received.connection == 1 ? [.close] : [.answer(received)]
        }) { server, client in
            let response = try await client.score([application("survivor")])
            #expect(riskLevels(response) == ["survivor"])
            let log = server.log.withLock { $0 }
            #expect(log.connections == 2)
            #expect(log.requests.map(\.connection) == [1, 2])
        }
    }

    /// GOODBYE goes before the answer, as a draining server sends it (PROTOCOL.md: it still
    /// answers what is in flight), so the client has read it by the time `first` returns.
    /// (Sent after the answer, the next request could leave before the GOODBYE was read: a
    /// run under CPU contention sent both on connection 1.)
    @Test("GOODBYE from the server: the next request goes to a new connection")
    func serverGoodbye() async throws {
        try await withServer(behavior: { received in
            received.sequence == 1 ? [.goodbye("draining"), .answer(received)] : [.answer(received)]
        }) { server, client in
            try await #expect(riskLevels(client.score([application("first")])) == ["first"])
            try await #expect(riskLevels(client.score([application("second")])) == ["second"])
            #expect(server.log.withLock { $0.requests.map(\.connection) } == [1, 2])
        }
    }

    /// The closed-loop race CI met (a CONNECTION_CLOSED among a reload's SCHEMA_MISMATCHes):
    /// a request handed to a connection that starts closing before the request leaves it was
    /// failed even with retries off. With one request in flight allowed, the second call waits
    /// in the connection's queue; GOODBYE comes 300 ms later (a trigger: both calls are queued
    /// long before), so the second was never sent, and goes on a new connection at once.
    @Test("A request queued on a connection that GOODBYE closes is sent on another, retries off")
    func queuedRequestOfAClosingConnection() async throws {
        try await withServer(
            limits: ProtocolLimits(maximumInFlight: 1),
            configure: { $0.retry = .none; $0.connections = 1 },
            behavior: { received in
                received.sequence == 1
                    ? [.goodbyeLater("draining", delay: .milliseconds(300)), .answerLater(received, delay: .milliseconds(600))]
                    : [.answer(received)]
            }
        ) { server, client in
            _ = try await client.connect()
            async let first = client.score([application("first")])
            async let second = client.score([application("second")])
            let answers = try await [riskLevels(first), riskLevels(second)]
            #expect(answers == [["first"], ["second"]])
            let log = server.log.withLock { $0 }
            #expect(log.requests.map(\.request.applicationIDs) == [["first"], ["second"]] || log.requests.map(\.request.applicationIDs) == [["second"], ["first"]])
            #expect(log.requests.map(\.connection) == [1, 2], "the queued request went on a second connection")
        }
    }

    @Test("SCHEMA_MISMATCH: the client reconnects for a new WELCOME and resends")
    func schemaMismatch() async throws {
        try await withServer(behavior: { received in
            received.connection == 1 ? [.error(requestID: received.requestID, .schemaMismatch, "model reloaded")] : [.answer(received)]
        }) { server, client in
            try await #expect(riskLevels(client.score([application("again")])) == ["again"])
            #expect(server.log.withLock { $0.connections } == 2)
        }
    }

    @Test("No answer before the deadline: a timeout error")
    func deadline() async throws {
        try await withServer(configure: { $0.deadline = .milliseconds(300) }, behavior: { _ in [] }) { _, client in
            let start = ContinuousClock.now
            let error = await clientError { _ = try await client.score([application("slow")]) }
            let elapsed = ContinuousClock.now - start
            #expect(error?.code == .timeout)
            #expect(elapsed >= .milliseconds(290))
            #expect(elapsed < .seconds(60), "the deadline ends the call (generous bound: CI machines are shared)")
        }
    }

    @Test("A server ERROR with the request's id fails that request with a typed error")
    func serverError() async throws {
        try await withServer(
            configure: { $0.retry = .none },
            behavior: { received in
                received.request.applicationIDs == ["bad"]
                    ? [.error(requestID: received.requestID, .internal, "model exploded")] : [.answer(received)]
            }
        ) { _, client in
            let error = await clientError { _ = try await client.score([application("bad")]) }
            #expect(error?.code == .server(.internal))
            #expect(error?.message.contains("model exploded") == true)
            // The connection stays usable for other requests.
            try await #expect(riskLevels(client.score([application("good")])) == ["good"])
        }
    }

    @Test("A per-request code the client does not know is reported as server(code), not retried")
    func unknownServerCode() async throws {
        let unknown = ErrorCode(rawValue: 0x01FE)
        try await withServer(behavior: { [.error(requestID: $0.requestID, unknown, "new in a later version")] }) { server, client in
            let error = await clientError { _ = try await client.score([application("a")]) }
            #expect(error?.code == .server(unknown))
            #expect(server.log.withLock { $0.requests.count } == 1)
        }
    }

    @Test("Mutual TLS: a client certificate is presented and accepted")
    func mutualTLS() async throws {
        try await withServer(mutualTLS: true) { server, client in
            try await #expect(riskLevels(client.score([application("mtls")])) == ["mtls"])
            #expect(server.log.withLock { $0.peerSubjects } == [TestCertificates.clientSubject])
        }
    }

    @Test("Mutual TLS: without a client certificate the client gets no WELCOME")
    func mutualTLSWithoutCertificate() async throws {
        let server = try await FakeServer.start(mutualTLS: true)
        var configuration = try server.clientConfiguration(withCertificate: false)
        configuration.retry = .none
        let client = try LoanScoreClient(configuration: configuration)
        let error = await clientError { try await client.connect() }
        #expect(error.map { [.tlsFailed, .connectionClosed, .handshakeFailed].contains($0.code) } == true)
        #expect(server.log.withLock { $0.helloNames }.isEmpty)
        await client.close()
        try await server.stop()
    }

    @Test("Input errors are found before anything is sent")
    func invalidInput() async throws {
        try await withServer(limits: ProtocolLimits(maximumBatch: 2)) { server, client in
            var unknown = application("u")
            unknown.values["Colour"] = .text("red")
            let unknownError = await clientError { _ = try await client.score([unknown]) }
            #expect(unknownError?.code == .invalidInput)
            #expect(unknownError?.field == "Colour")

            let wrongType = ApplicationInput(id: "w", values: ["Income": .text("lots")])
            let typeError = await clientError { _ = try await client.score([application("ok"), wrongType]) }
            #expect(typeError?.code == .invalidInput)
            #expect(typeError?.field == "Income")
            #expect(typeError?.applicationIndex == 1)

            // An unknown field is reported before a wrong type, whichever comes first in the batch.
            var both = application("b")
            both.values["Colour"] = .text("red")
            let firstError = await clientError { _ = try await client.score([wrongType, both]) }
            #expect(firstError?.field == "Colour")
            #expect(firstError?.applicationIndex == 1)

            // A known field given as .missing is a known key, not an unknown one.
            var explicit = application("m")
            explicit.values["Income"] = .missing
            let sent = try await client.score([explicit])
            #expect(sent.results.count == 1)
            server.log.withLock { $0.requests.removeAll() }

            let emptyError = await clientError { _ = try await client.score([]) }
            #expect(emptyError?.code == .invalidInput)

            let tooLarge = await clientError { _ = try await client.score([application("1"), application("2"), application("3")]) }
            #expect(tooLarge?.code == .batchTooLarge)

            #expect(server.log.withLock { $0.requests.isEmpty })
        }
    }

    @Test("Large batches are sent LZ4-compressed and arrive intact")
    func compression() async throws {
        try await withServer { server, client in
            let batch = (0..<500).map { application("app-\($0)", seniority: Double($0 % 7)) }
            let response = try await client.score(batch)
            #expect(riskLevels(response) == batch.map(\.id))
            let received = try #require(server.log.withLock { $0.requests.first })
            #expect(received.request.count == 500)
            #expect(received.compressed)
            _ = try await client.score([application("small")])
            #expect(server.log.withLock { $0.requests.last?.compressed } == false)
        }
    }

    @Test("close() says GOODBYE; later calls fail with connectionClosed")
    func close() async throws {
        let server = try await FakeServer.start()
        let client = try LoanScoreClient(configuration: try server.clientConfiguration())
        _ = try await client.score([application("a")])
        await client.close()
        for _ in 0..<100 where server.log.withLock({ $0.goodbyes }) == 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(server.log.withLock { $0.goodbyes } == 1)
        let error = await clientError { _ = try await client.score([application("b")]) }
        #expect(error?.code == .connectionClosed)
        try await server.stop()
    }

    @Test("Nothing listening: connectFailed after the retries")
    func connectRefused() async throws {
        var configuration = try fleetConfiguration([try await closedPort()], connections: 1)
        configuration.retry = .init(maximumAttempts: 2, initialBackoff: .milliseconds(1), maximumBackoff: .milliseconds(1))
        let client = try LoanScoreClient(configuration: configuration)
        let error = await clientError { _ = try await client.score([application("a")]) }
        #expect(error?.code == .connectFailed)
        #expect(error?.attempts == 2)
        await client.close()
    }

    @Test("A missing CA file is a tlsFailed error when the client is made")
    func missingCAFile() throws {
        let configuration = LoanScoreClient.Configuration(host: "127.0.0.1", port: 1, tls: .init(caFile: "/nonexistent/ca.pem"))
        #expect { try LoanScoreClient(configuration: configuration) } throws: { error in
            (error as? LoanScoreClientError)?.code == .tlsFailed
        }
    }

    @Test("Several connections share the load")
    func pool() async throws {
        try await withServer(configure: { $0.connections = 3 }) { server, client in
            try await client.connect()
            #expect(server.log.withLock { $0.connections } == 3)
            for index in 0..<6 { _ = try await client.score([application("n\(index)")]) }
            #expect(Set(server.log.withLock { $0.requests.map(\.connection) }) == [1, 2, 3])
        }
    }
}
