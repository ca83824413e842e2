import Foundation
import LoanScoreAudit
import LoanScoreProtocol
import LoanScoreServer
import Testing

/// SCORE_REQUEST deadlines (PROTOCOL.md §5.4) against the real server: a request whose
/// deadline has passed before scoring is answered DEADLINE_EXCEEDED, neither scored nor
/// audited; one with time to spare is scored as usual.
@Suite("deadlines", .serialized)
struct DeadlineTests {
    @Test func expiredRequestsAreRefusedWithoutScoringOrAuditing() async throws {
        let harness = try await ServerHarness.start()
        let (connection, welcome) = try await harness.handshaken()
        var request = try tinyRequest(welcome, [("D1", 500, 1000, "rent", "no", 12), ("D2", 700, 2000, "rent", "yes", 24)])

        request.deadline = 0  // passed on arrival: refused before admission
        try await connection.send(request, id: 1)
        let refused = try #require(try await connection.expectFrame().error)
        #expect(refused.code == .deadlineExceeded)

        request.deadline = 1  // 1 µs: passed by the time a worker starts it
        try await connection.send(request, id: 2, compression: .always)
        let late = try await connection.expectFrame()
        #expect(late.requestID == 2 && late.error?.code == .deadlineExceeded)
        #expect(late.error?.message.contains("before a worker could start it") == true)

        request.deadline = 10_000_000  // 10 s: scored as usual
        try await connection.send(request, id: 3)
        let scored = try await connection.expectFrame()
        #expect(scored.requestID == 3 && scored.response?.results.count == 2)

        let records = try AuditReader(directory: harness.auditDirectory).records()
        #expect(records.count == 2, "only the request scored in time is recorded")
        #expect(records.allSatisfy { $0.requestID == 3 })
        await harness.server.shutdown()
    }
}
