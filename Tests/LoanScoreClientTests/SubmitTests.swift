import LoanScoreClient
import LoanScoreProtocol
import NIOCore
import NIOPosix
import Testing

/// A request laid out for the fake server's schema.
private func request(ids: [String] = ["p", "q"]) throws -> ScoreRequest {
    try ScoreRequest(schemaHash: testSchema.hash, applicationIDs: ids, columns: [
        Column(numbers: ids.map { _ in 3 }), Column(strings: ids.map { _ in "owner" }),
        Column(numbers: ids.map { _ in nil }), Column(bools: ids.map { _ in true }),
    ])
}

/// The error a failed future holds (fails the test if it succeeds or holds another type).
private func failure(_ future: EventLoopFuture<ScoreResponse>) async -> LoanScoreClientError? {
    await clientError { _ = try await future.get() }
}

@Suite("LoanScoreClient.submit: one send, a future, no retries")
struct SubmitTests {
    @Test("Answered on the connection's event loop, whichever thread submits")
    func answered() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let server = try await FakeServer.start()
        let client = try LoanScoreClient(configuration: try server.clientConfiguration(), eventLoopGroup: group)
        try await client.connect()
        let prepared = try request()
        // From outside the loops: the future belongs to the connection's loop.
        let first = client.submit(prepared)
        let home = first.eventLoop
        #expect(riskLevels(try await first.get()) == ["p", "q"])
        // From that loop, as a pacer would, and from the other one: both complete on it.
        let other = try #require(group.makeIterator().first { $0 !== home })
        for caller in [home, other] {
            let answer = try await caller.flatSubmit {
                let future = client.submit(prepared)
                return future.map { response in (response, future.eventLoop === home && home.inEventLoop) }
            }.get()
            #expect(riskLevels(answer.0) == ["p", "q"])
            #expect(answer.1, "completed on the connection's loop, submitted from \(caller === home ? "it" : "the other loop")")
        }
        #expect(server.log.withLock { $0.requests.map(\.request) } == [prepared, prepared, prepared])
        await client.close()
        try await server.stop()
        try await group.shutdownGracefully()
    }

    @Test("Errors after sending count one attempt; refusals before sending count none")
    func attempts() async throws {
        try await withServer(behavior: { [.error(requestID: $0.requestID, .busy, "at capacity")] }) { _, client in
            try await client.connect()
            #expect(await failure(client.submit(try request()))?.attempts == 1)
            let stale = try ScoreRequest(schemaHash: SchemaHash.compute([]), applicationIDs: ["s"], columns: [
                Column(numbers: [1]), Column(strings: [nil]), Column(numbers: [nil]), Column(bools: [nil]),
            ])
            #expect(await failure(client.submit(stale))?.attempts == 0)
        }
    }

    /// As ``ClientTests/queuedRequestOfAClosingConnection()`` for ``LoanScoreClient/submit(_:)``:
    /// the open loop's path. The second request waits in the queue of a connection that GOODBYE
    /// closes (300 ms later, a trigger); it was never sent, so it goes on a new connection: still
    /// sent once, and answered.
    @Test("A submitted request that a closing connection never sent goes on another connection")
    func queuedOnAClosingConnection() async throws {
        try await withServer(
            limits: ProtocolLimits(maximumInFlight: 1), configure: { $0.connections = 1 },
            behavior: { received in
                received.sequence == 1
                    ? [.goodbyeLater("draining", delay: .milliseconds(300)), .answerLater(received, delay: .milliseconds(600))]
                    : [.answer(received)]
            }
        ) { server, client in
            try await client.connect()
            let first = client.submit(try request(ids: ["first"]))
            let second = client.submit(try request(ids: ["second"]))
            #expect(riskLevels(try await first.get()) == ["first"])
            #expect(riskLevels(try await second.get()) == ["second"])
            let log = server.log.withLock { $0 }
            #expect(log.requests.map(\.request.applicationIDs) == [["first"], ["second"]], "each sent once")
            #expect(log.requests.map(\.connection) == [1, 2])
        }
    }

    @Test("With no connection open yet, the first submit opens one")
    func opensAConnection() async throws {
        try await withServer { server, client in
            #expect(client.welcome == nil)
            let response = try await client.submit(try request(ids: ["first"])).get()
            #expect(riskLevels(response) == ["first"])
            #expect(server.log.withLock { $0.connections } == 1)
        }
    }

    @Test("Failures are not retried: BUSY once is BUSY")
    func busyIsNotRetried() async throws {
        try await withServer(behavior: { [.error(requestID: $0.requestID, .busy, "at capacity")] }) { server, client in
            try await client.connect()
            let error = await failure(client.submit(try request()))
            #expect(error?.code == .busy)
            #expect(error?.isRetryable == true, "retryable, but left to the caller")
            #expect(server.log.withLock { $0.requests.count } == 1)
        }
    }

    @Test("A stale or misshapen request is refused before sending")
    func refusedBeforeSending() async throws {
        try await withServer { server, client in
            let welcome = try await client.connect()
            let stale = try ScoreRequest(schemaHash: SchemaHash.compute([]), applicationIDs: ["s"], columns: [
                Column(numbers: [1]), Column(strings: [nil]), Column(numbers: [nil]), Column(bools: [nil]),
            ])
            #expect(await failure(client.submit(stale))?.code == .schemaMismatch)
            let misshapen = try ScoreRequest(schemaHash: welcome.schema.hash, applicationIDs: ["m"], columns: [
                Column(numbers: [1]), Column(numbers: [2]), Column(numbers: [nil]), Column(bools: [nil]),
            ])
            let error = await failure(client.submit(misshapen))
            #expect(error?.code == .invalidInput)
            #expect(error?.field == "Home")
            #expect(server.log.withLock { $0.requests.count } == 0)
        }
    }

    @Test("A batch above WELCOME's maximum is batchTooLarge, nothing sent")
    func tooLarge() async throws {
        try await withServer(limits: ProtocolLimits(maximumBatch: 2)) { server, client in
            try await client.connect()
            let error = await failure(client.submit(try request(ids: ["a", "b", "c"])))
            #expect(error?.code == .batchTooLarge)
            #expect(server.log.withLock { $0.requests.count } == 0)
        }
    }

    @Test("After close(), submit fails with connectionClosed")
    func afterClose() async throws {
        let server = try await FakeServer.start()
        let client = try LoanScoreClient(configuration: try server.clientConfiguration())
        try await client.connect()
        await client.close()
        #expect(await failure(client.submit(try request()))?.code == .connectionClosed)
        try await server.stop()
    }
}
