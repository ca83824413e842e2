import Foundation
import LoanScoreAudit
import LoanScoreProtocol
@testable import LoanScoreServer
import Testing

/// The made-up requests that warm a generation before it serves.
@Suite("Warm-up before serving")
struct WarmUpTests {
    @Test func theMadeUpRequestsScoreThroughTheWholePathAndAuditNothing() async throws {
        let harness = try await ServerHarness.start()
        let generation = harness.server.state.generation
        for count in [1, 256] {
            var payload = try #require(WarmUp.request(for: generation, count: count))
            let workspace = harness.server.state.workspaces.take()
            try workspace.columns.decode(from: &payload, schema: generation.wireSchema, maximumBatch: 4096)
            generation.engine.score(workspace)
            let records = generation.engine.respond(workspace, requestID: 0, client: "warm-up", time: Date())
            // Every made-up application passes validation, so every path is exercised.
            #expect(records.count == count, "\(records.count) of \(count) scored")
            harness.server.state.workspaces.give(workspace)
        }
        // The start-up warm-up scored on the workers, and wrote no decision.
        let audited = try AuditReader(directory: harness.auditDirectory).records()
        #expect(audited.isEmpty)
        await harness.server.shutdown()
    }
}
