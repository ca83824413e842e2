import Foundation
import LoanScoreAudit
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreProtocol
import LoanScoreServer
import LoanScoreTestSupport
import NIOCore
import Testing

/// The real server on 127.0.0.1 over real TLS and real LZ4, driven by raw protocol frames.
@Suite("loanscored over TLS", .serialized)
struct ServerTests {
    @Test func scoresExactlyLikeTheInProcessEvaluatorAndAuditsBeforeAnswering() async throws {
        let harness = try await ServerHarness.start()
        let (connection, welcome) = try await harness.handshaken()
        #expect(welcome.modelName == "tiny")
        #expect(welcome.modelVersion == "test-1")
        #expect(welcome.schema.fields.map(\.name) == ["amount", "income", "home", "records", "term"])
        let request = try tinyRequest(welcome, [
            ("A1", 500, 1000, "rent", "no", 12), ("A2", -5, 1000, "rent", "no", 12), ("A3", 5000, 100, "OWN", "yes", 24),
            ("A4", 700, nil, nil, "yes", 6),
        ])
        try await connection.send(request, id: 7, compression: .always)
        let frame = try await connection.expectFrame()
        #expect(frame.requestID == 7)
        let response = try #require(frame.response)
        #expect(response.modelVersion == "test-1")
        #expect(response.results.count == 4)

        // The same applications through the offline path.
        let bundle = harness.server.bundle
        let offline: [[RawValue]] = [
            [.number(500), .number(1000), .text("rent"), .text("no"), .number(12)],
            [.number(5000), .number(100), .text("OWN"), .text("yes"), .number(24)],
            [.number(700), .missing, .missing, .text("yes"), .number(6)],
        ]
        let expected = offline.map { values -> Score in
            let (row, _) = bundle.pipeline.encode(values)
            return row.withUnsafeBufferPointer { bundle.scorer.score($0) }
        }
        let scored = response.results.compactMap { result -> ScoredApplication? in
            if case .scored(let application) = result { return application }
            return nil
        }
        #expect(scored.map(\.pd) == expected.map(\.pd))
        #expect(scored.map(\.confidence) == expected.map(\.confidence))
        #expect(scored.map(\.riskLevel) == expected.map(\.riskLevel))
        #expect(scored.map(\.decision) == expected.map(\.decision))
        #expect(scored.map(\.reasons) == expected.map { $0.reasons.map(\.code) })
        guard case .invalid(let code, let message) = response.results[1] else {
            Issue.record("A2 should be invalid")
            return
        }
        #expect(code == .invalidApplication)
        #expect(message.contains("field 'amount': is negative"))

        // Every decision is durable before its response: read the log right away.
        let records = try AuditReader(directory: harness.auditDirectory).records()
        #expect(records.map(\.applicationID) == ["A1", "A3", "A4"])
        #expect(records.allSatisfy { $0.requestID == 7 && $0.modelVersion == "test-1" })
        #expect(records.map(\.pd) == expected.map(\.pd))
        // The input hash over each value's display text, as AuditRecord.inputHash documents it.
        #expect(records.map(\.inputHash) == offline.map { AuditRecord.inputHash(fields: $0.map(\.display)) })
        await harness.server.shutdown()
    }

    @Test("reason_codes none: the same PDs and decisions, no reason codes in the response or the audit log")
    func withoutReasonCodes() async throws {
        let harness = try await ServerHarness.start { $0.reasonCodes = .none }
        let (connection, welcome) = try await harness.handshaken()
        try await connection.send(try tinyRequest(welcome, [("A1", 500, 1000, "rent", "no", 12), ("A3", 5000, 100, "OWN", "yes", 24)]), id: 3)
        let response = try #require(try await connection.expectFrame().response)
        let bundle = harness.server.bundle
        let expected = [[RawValue.number(500), .number(1000), .text("rent"), .text("no"), .number(12)],
                        [.number(5000), .number(100), .text("OWN"), .text("yes"), .number(24)]].map { values -> Score in
            let (row, _) = bundle.pipeline.encode(values)
            return row.withUnsafeBufferPointer { bundle.scorer.score($0) }
        }
        #expect(expected.contains { !$0.reasons.isEmpty }, "the tiny bundle gives these applications reasons when asked")
        let scored = response.results.compactMap { result -> ScoredApplication? in
            if case .scored(let application) = result { return application }
            return nil
        }
        #expect(scored.map(\.pd) == expected.map(\.pd))
        #expect(scored.map(\.confidence) == expected.map(\.confidence))
        #expect(scored.allSatisfy { $0.reasons.isEmpty })
        let records = try AuditReader(directory: harness.auditDirectory).records()
        #expect(records.map(\.pd) == expected.map(\.pd))
        #expect(records.allSatisfy { $0.reasonCodes.isEmpty })
        await harness.server.shutdown()
    }

    @Test func aFrameDeliveredOneByteAtATimeIsDecoded() async throws {
        let harness = try await ServerHarness.start()
        let connection = try await harness.connect()
        var buffer = ByteBuffer()
        try FrameEncoder().encode(Hello(clientName: "slow"), requestID: 0, into: &buffer)
        while let byte = buffer.readSlice(length: 1) {
            try await connection.sendBytes(byte)
        }
        #expect(try await connection.expectFrame().type == .welcome)
        await harness.server.shutdown()
    }

    @Test func hostileFramesCloseOnlyTheirOwnConnection() async throws {
        let harness = try await ServerHarness.start()
        let (good, welcome) = try await harness.handshaken()
        let cases: [(String, ByteBuffer, ErrorCode?)] = [
            ("garbage before HELLO", ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"), .malformedFrame),
            ("unsupported version", rawHeader(version: 9, type: 0x01, length: 0), .unsupportedVersion),
            ("unknown type", rawHeader(type: 0x7F, length: 0), .unknownType),
            ("length above the limit", rawHeader(type: 0x10, length: 5 << 20), .frameTooLarge),
            ("length near 2^32", rawHeader(type: 0x10, length: UInt32.max - 1), .frameTooLarge),
            ("LZ4 declared size absurd", rawHeader(type: 0x10, flags: 1, length: 16, uncompressed: UInt32.max), .frameTooLarge),
            ("score request before HELLO", rawHeader(type: 0x10, length: 0), .handshakeRequired),
        ]
        for (name, bytes, code) in cases {
            let connection = try await harness.connect()
            try await connection.sendBytes(bytes)
            let frame = await connection.next(timeout: .seconds(5))
            #expect(frame?.error?.code == code, "\(name): got \(String(describing: frame?.error))")
            #expect(await connection.waitForClose(), "\(name): the connection should be closed")
            // The good connection is still served.
            try await good.send(try tinyRequest(welcome, [("G", 500, 1000, "rent", "no", 12)]), id: 1)
            #expect(try await good.expectFrame().response?.results.count == 1, "\(name): other connections keep being served")
        }
        await harness.server.shutdown()
    }

    @Test func truncatedPayloadThenSilenceDoesNotBlockOthers() async throws {
        let harness = try await ServerHarness.start { $0.timeouts.handshake = 1 }
        let (good, welcome) = try await harness.handshaken()
        let stalled = try await harness.connect()
        var frame = rawHeader(type: 0x01, length: 100)
        frame.writeBytes([0, 3])
        try await stalled.sendBytes(frame)
        try await good.send(try tinyRequest(welcome, [("G", 500, 1000, "rent", "no", 12)]), id: 1)
        #expect(try await good.expectFrame().response != nil)
        #expect(await stalled.next(timeout: .seconds(5))?.error?.code == .timeout, "no HELLO in time: TIMEOUT, then close")
        #expect(await stalled.waitForClose())
        await harness.server.shutdown()
    }

    /// Requests share reused buffers (decoded columns, matrix, scores, response): batches of
    /// different sizes, an undecodable request and invalid applications in between must each
    /// be answered with exactly their own results.
    @Test func batchesOfEverySizeOnOneConnectionGetExactlyTheirOwnResults() async throws {
        let harness = try await ServerHarness.start()
        let (connection, welcome) = try await harness.handshaken()
        let bundle = harness.server.bundle
        for (index, (count, seed)) in [(20, 1), (2, 2), (7, 3), (1, 4), (12, 5)].enumerated() {
            let rows: [(String, Double?, Double?, String?, String?, Double?)] = (0..<count).map { i in
                ("s\(seed)-\(i)", Double((i * 37 + seed * 11) % 900 + 1), i % 4 == 0 ? nil : Double(800 + i * 13 + seed),
                 i % 3 == 0 ? nil : (i % 2 == 0 ? "rent" : " Own"), i == 5 ? "maybe" : (i % 2 == 0 ? "yes" : "NO"), 12)
            }
            let id = UInt64(index + 1)
            try await connection.send(try tinyRequest(welcome, rows), id: id, compression: index % 2 == 0 ? .never : .always)
            let frame = try await connection.expectFrame()
            let response = try #require(frame.response)
            #expect(frame.requestID == id && response.results.count == count)
            for (result, row) in zip(response.results, rows) {
                let values: [RawValue] = [row.1.map { .number($0) } ?? .missing, row.2.map { .number($0) } ?? .missing,
                                          row.3.map { .text($0) } ?? .missing, row.4.map { .text($0) } ?? .missing,
                                          row.5.map { .number($0) } ?? .missing]
                let (features, outcome) = bundle.pipeline.encode(values)
                switch (result, outcome) {
                case (.scored(let scored), .accepted):
                    let expected = features.withUnsafeBufferPointer { bundle.scorer.score($0) }
                    #expect(scored.pd == expected.pd && scored.confidence == expected.confidence, "\(row.0)")
                    #expect(scored.riskLevel == expected.riskLevel && scored.reasons == expected.reasons.map(\.code), "\(row.0)")
                case (.invalid(let code, let message), .rejected(let violations)):
                    #expect(code == .invalidApplication && message == violations.map(\.description).joined(separator: "; "))
                default:
                    Issue.record("\(row.0): answered \(result), offline \(outcome)")
                }
            }
            // A request that fails to decode in between leaves the next one unharmed.
            let wrong = try ScoreRequest(schemaHash: SchemaHash(bytes: [UInt8](repeating: 7, count: 32)), applicationIDs: ["x"],
                                         columns: (0..<5).map { _ in Column(numbers: [nil]) })
            try await connection.send(wrong, id: 100 + id)
            #expect(try await connection.expectFrame().error?.code == .schemaMismatch)
        }
        await harness.server.shutdown()
    }

    @Test func wrongSchemaHashIsAPerRequestError() async throws {
        let harness = try await ServerHarness.start()
        let (connection, welcome) = try await harness.handshaken()
        let wrong = try ScoreRequest(schemaHash: SchemaHash(bytes: [UInt8](repeating: 7, count: 32)), applicationIDs: ["x"],
                                     columns: (0..<5).map { _ in Column(numbers: [nil]) })
        try await connection.send(wrong, id: 3)
        let frame = try await connection.expectFrame()
        #expect(frame.requestID == 3)
        #expect(frame.error?.code == .schemaMismatch)
        try await connection.send(try tinyRequest(welcome, [("G", 500, 1000, "rent", "no", 12)]), id: 4)
        #expect(try await connection.expectFrame().response != nil, "the connection stays usable")
        await harness.server.shutdown()
    }

    @Test func answersBusyBeyondTheInFlightLimit() async throws {
        let harness = try await ServerHarness.start {
            $0.limits.maximumInFlightPerConnection = 2
            $0.workers = 1
        }
        let (connection, welcome) = try await harness.handshaken()
        let rows = (0..<2000).map { ("A\($0)", Double(100 + $0), 1000.0 as Double?, "rent" as String?, "no" as String?, 12.0 as Double?) }
        let request = try tinyRequest(welcome, rows)
        for id in 1...30 { try await connection.send(request, id: UInt64(id), compression: .always) }
        var answered: Set<UInt64> = [], busy = 0, scored = 0
        for _ in 1...30 {
            let frame = try await connection.expectFrame()
            #expect(answered.insert(frame.requestID).inserted, "each request is answered exactly once")
            if frame.error?.code == .busy { busy += 1 }
            if frame.response != nil { scored += 1 }
        }
        #expect(answered == Set(1...30))
        #expect(busy > 0, "backpressure: BUSY instead of unbounded queueing")
        #expect(scored + busy == 30)
        await harness.server.shutdown()
    }

    @Test func aClientThatNeverReadsDoesNotStopOthers() async throws {
        let harness = try await ServerHarness.start { $0.limits.maximumInFlightPerConnection = 4 }
        let (lazy, welcome) = try await harness.handshaken()
        try await lazy.channel.setOption(.autoRead, value: false).get()
        let rows = (0..<500).map { ("application-\($0)", Double(100 + $0), 1000.0 as Double?, "rent" as String?, "no" as String?, 12.0 as Double?) }
        let request = try tinyRequest(welcome, rows)
        // Send without awaiting each write: the server stops reading once its responses back up.
        for id in 1...200 { lazy.channel.writeAndFlush(try encoded(request, id: UInt64(id)), promise: nil) }
        let (good, _) = try await harness.handshaken()
        // While the lazy client's first requests still fill the queue, the good one may be told
        // BUSY (the queue-delay limit: a fast "not now"); it is served once the server has
        // stopped reading the lazy one, as a client retrying with backoff would be.
        var id: UInt64 = 0
        for _ in 1...5 {
            var served = false
            for _ in 0..<100 where !served {
                id += 1
                try await good.send(try tinyRequest(welcome, [("G", 500, 1000, "rent", "no", 12)]), id: id)
                let frame = try await good.expectFrame(timeout: .seconds(10))
                served = frame.response != nil
                if !served {
                    #expect(frame.error?.code == .busy)
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            #expect(served)
        }
        await harness.server.shutdown()
    }

    @Test func gracefulShutdownSendsGoodbyeAndClosesTheLog() async throws {
        let harness = try await ServerHarness.start()
        let (connection, _) = try await harness.handshaken()
        await harness.server.shutdown()
        let frame = await connection.next(timeout: .seconds(5))
        #expect(frame?.type == .goodbye)
        #expect(await connection.waitForClose())
        #expect(try AuditReader(directory: harness.auditDirectory).verify().isClean)
    }

    @Test func idleConnectionsAreClosedWithGoodbye() async throws {
        let harness = try await ServerHarness.start { $0.timeouts.idle = 0.5 }
        let (connection, _) = try await harness.handshaken()
        #expect(await connection.next(timeout: .seconds(5))?.type == .goodbye)
        #expect(await connection.waitForClose())
        await harness.server.shutdown()
    }

    @Test func aFrameTrickledSlowerThanTheFrameDeadlineIsCutOff() async throws {
        let harness = try await ServerHarness.start { $0.timeouts.frame = 0.6 }
        let (good, welcome) = try await harness.handshaken()
        let (slow, _) = try await harness.handshaken()
        var frame = ByteBuffer()
        try FrameEncoder().encode(Ping(), requestID: 9, into: &frame)
        // One byte every 100 ms keeps the connection busy (no idle timeout) but never
        // completes the 24-byte header within 0.6 s.
        var cutOff = false
        for _ in 0..<20 {
            guard let byte = frame.readSlice(length: 1), slow.channel.isActive else { break }
            try? await slow.sendBytes(byte)
            try await Task.sleep(for: .milliseconds(100))
        }
        let answer = await slow.next(timeout: .seconds(3))
        cutOff = answer?.error?.code == .timeout
        #expect(cutOff, "got \(String(describing: answer?.error))")
        #expect(await slow.waitForClose())
        try await good.send(try tinyRequest(welcome, [("G", 500, 1000, "rent", "no", 12)]), id: 1)
        #expect(try await good.expectFrame().response != nil, "the well-behaved connection is untouched")
        await harness.server.shutdown()
    }

    @Test func aMinimalConfigurationFileKeepsEveryDefault() throws {
        let file = try TinyBundle.temporaryDirectory().appendingPathComponent("min.json")
        try Data(#"{"bundle": "b", "certificate": "c.pem", "private_key": "k.pem", "limits": {"max_batch": 10}, "admin": null}"#.utf8).write(to: file)
        let configuration = try ServerConfiguration.load(from: file)
        var expected = ServerConfiguration(bundle: "b", certificate: "c.pem", privateKey: "k.pem")
        expected.limits.maximumBatch = 10
        expected.admin = nil
        #expect(configuration == expected)
    }

    /// The total limit and the per-address limit (every test client comes from 127.0.0.1):
    /// the third connection is closed, the first two stay.
    @Test(arguments: [\ServerConfiguration.Limits.maximumConnections, \.maximumConnectionsPerAddress])
    func connectionsBeyondTheLimitAreClosed(limit: any WritableKeyPath<ServerConfiguration.Limits, Int> & Sendable) async throws {
        let harness = try await ServerHarness.start { $0.limits[keyPath: limit] = 2 }
        let (first, _) = try await harness.handshaken()
        let (second, _) = try await harness.handshaken()
        let third = try await harness.connect()
        #expect(await third.waitForClose(timeout: .seconds(5)))
        _ = (first, second)
        await harness.server.shutdown()
    }

    @Test func mutualTLSRecordsTheClientCertificateSubject() async throws {
        let strict = try await ServerHarness.startMutual()
        let connection = try await strict.connect(clientCertificate: true)
        try await connection.send(Hello(clientName: "partner"), id: 0)
        var payload = try await connection.expectFrame().payload
        let welcome = try Welcome.decode(from: &payload)
        try await connection.send(try tinyRequest(welcome, [("M1", 500, 1000, "rent", "no", 12)]), id: 1)
        #expect(try await connection.expectFrame().response != nil)
        let records = try AuditReader(directory: strict.auditDirectory).records()
        #expect(records.first?.client == TestCertificates.clientSubject)
        let anonymous = try await strict.connect()
        try? await anonymous.send(Hello(clientName: "anonymous"), id: 0)
        #expect(await anonymous.waitForClose(timeout: .seconds(5)), "no client certificate: refused")
        await strict.server.shutdown()
    }
}

private func encoded(_ request: ScoreRequest, id: UInt64) throws -> ByteBuffer {
    var buffer = ByteBuffer()
    try FrameEncoder(compression: .always).encode(request, requestID: id, into: &buffer)
    return buffer
}

extension ServerHarness {
    /// A server that requires client certificates signed by its own test CA.
    static func startMutual() async throws -> ServerHarness {
        let folder = try TinyBundle.temporaryDirectory()
        let certificates = try TestCertificates.make(in: folder.appendingPathComponent("certs"))
        return try await start { configuration in
            configuration.clientCA = certificates.caCertificate
            configuration.certificate = certificates.serverCertificate
            configuration.privateKey = certificates.serverKey
        }.replacingCertificates(certificates)
    }

    func replacingCertificates(_ certificates: TestCertificates) -> ServerHarness {
        ServerHarness(folder: folder, certificates: certificates, server: server)
    }
}
