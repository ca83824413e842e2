import Foundation
import LoanScoreClient
@testable import LoanScoreLoad
import LoanScoreProtocol
import LoanScoreTestSupport
import Testing

/// The most requests one sender can make in `window` when it waits at least half of
/// `d_k = min(cap, initial × 2^(k−1))` after its k-th consecutive failure (the equal-jitter
/// schedule of `RetryPolicy`): 1 + the largest k with Σ_{j ≤ k} d_j / 2 ≤ window. A bound a
/// faster CPU cannot beat, since it follows from the waits alone.
func requestBound(window: Duration, initial: Duration, cap: Duration) -> Int {
    var sent = 1, elapsed = Duration.zero, k = 1
    while true {
        let exponent = min(k - 1, 40)
        let d = min(cap, initial * (1 << exponent))
        elapsed += d / 2
        guard elapsed <= window else { return sent }
        sent += 1
        k += 1
    }
}

/// No client loops hot on a server that answers errors: the SDK's retries and
/// loanscore-load's closed loop back off (exponential, jittered, capped; reset on success).
@Suite("backoff on error answers")
struct BackoffTests {
    @Test("The closed loop's streak: exponential from 10 ms, jittered in [d/2, d], capped at 1 s, reset by a success")
    func errorStreakSchedule() {
        var streak = ErrorStreak()
        for failure in 1...12 {
            let d = min(Duration.seconds(1), .milliseconds(10) * (1 << (failure - 1)))
            let wait = streak.failed()
            #expect(wait >= d / 2 && wait <= d, "failure \(failure): waited \(wait), schedule \(d)")
            #expect(streak.failures == failure)
        }
        streak.succeeded()
        #expect(streak.failures == 0)
        let first = streak.failed()
        #expect(first >= .milliseconds(5) && first <= .milliseconds(10), "a success resets the schedule: \(first)")
    }

    @Test("loanscore-load's closed loop against a server answering only errors sends within the backoff schedule's bound")
    func closedLoopBacksOff() async throws {
        let server = try await FakeServer.start { [.error(requestID: $0.requestID, .internal, "always failing")] }
        let folder = try TinyBundle.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let input = folder.appendingPathComponent("load.csv")
        try "id,Seniority,Home,Income,Records\nA1,9,rent,130.5,no\nA2,2,owner,10,yes\n".write(to: input, atomically: true, encoding: .utf8)
        let workers = 2
        let started = ContinuousClock.now
        let run = try await BuiltExecutable("loanscore-load").runOffThePool([
            "--server", "127.0.0.1:\(server.port)", "--ca", try certificates().caCertificate, "--input", input.path,
            "--connections", "1", "--pipeline", "\(workers)", "--duration", "2", "--warmup", "0", "--json",
        ])
        // The whole process's time bounds the sending window from above, whatever the CPU.
        let window = ContinuousClock.now - started
        let requests = server.log.withLock { $0.requests.count }
        try await server.stop()
        #expect(run.status == 5, "every request failed: overloaded. \(run.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.stdout)")
        let errors = try #require(report["errors"] as? [String: Int])
        #expect((errors["INTERNAL"] ?? 0) >= workers, "\(errors)")
        let bound = workers * requestBound(window: window, initial: .milliseconds(10), cap: .seconds(1))
        #expect(requests >= workers && requests <= bound,
                "\(requests) requests in \(window) by \(workers) workers; the backoff schedule allows at most \(bound)")
        print("closed loop against an always-failing server: \(requests) requests in \(window) (bound \(bound); before backoff, thousands)")
    }

    @Test("The SDK's retries of one call back off: maximumAttempts requests, each retry after at least half its schedule")
    func sdkRetriesBackOff() async throws {
        let policy = LoanScoreClient.RetryPolicy(maximumAttempts: 5, initialBackoff: .milliseconds(20), maximumBackoff: .milliseconds(40))
        try await withServer(configure: { $0.retry = policy }, behavior: { [.error(requestID: $0.requestID, .busy, "busy")] }) { server, client in
            _ = try await client.connect()
            let start = ContinuousClock.now
            let error = await clientError { _ = try await client.score([application("a")]) }
            let elapsed = ContinuousClock.now - start
            #expect(error?.code == .busy && error?.attempts == 5, "\(String(describing: error))")
            #expect(server.log.withLock { $0.requests.count } == 5)
            // Waits after failures 1...4: at least 10, 20, 20, 20 ms (half of 20, 40, 40, 40).
            #expect(elapsed >= .milliseconds(70), "the retries waited \(elapsed)")
        }
    }
}

/// The SDK's `unknownFields` policy and its re-layout after a schema change.
@Suite("unknown fields and schema changes")
struct UnknownFieldsTests {
    /// Two applications, the first with a field the fake server's schema lacks.
    var batch: [ApplicationInput] {
        var first = application("with")
        first.values["Expenses"] = .number(350)
        return [first, application("without")]
    }

    @Test(".reject (the default) refuses a field the served schema lacks, naming it, before sending")
    func rejectIsTheDefault() async throws {
        try await withServer { server, client in
            #expect(client.configuration.unknownFields == .reject)
            let error = await clientError { _ = try await client.score(batch) }
            #expect(error?.code == .invalidInput && error?.field == "Expenses" && error?.applicationIndex == 0, "\(String(describing: error))")
            #expect(error?.message.contains("unknownFields = .ignore") == true)
            #expect(server.log.withLock { $0.requests.count } == 0)
        }
    }

    @Test(".ignore leaves the field out and counts it in the result")
    func ignoreLeavesItOut() async throws {
        try await withServer(configure: { $0.unknownFields = .ignore }) { server, client in
            let scored = try await client.scoreDetailed(batch)
            #expect(scored.ignoredFields == ["Expenses"] && scored.ignoredValues == 1)
            #expect(scored.schemaChanges == 0 && scored.welcome.schema == testSchema)
            #expect(riskLevels(scored.response) == ["with", "without"])
            let sent = try #require(server.log.withLock { $0.requests.first })
            #expect(sent.request.columns.count == testSchema.fields.count)
            // Without unknown keys nothing is reported.
            let plain = try await client.scoreDetailed([application("plain")])
            #expect(plain.ignoredFields.isEmpty && plain.ignoredValues == 0)
        }
    }

    @Test("A SCHEMA_MISMATCH is followed once per schema change, even with retries off, without using up an attempt")
    func schemaChangeIsNotARetry() async throws {
        try await withServer(configure: { $0.retry = .none }, behavior: { received in
            received.connection == 1 ? [.error(requestID: received.requestID, .schemaMismatch, "model reloaded")] : [.answer(received)]
        }) { server, client in
            let scored = try await client.scoreDetailed([application("again")])
            #expect(scored.schemaChanges == 1 && riskLevels(scored.response) == ["again"])
            #expect(server.log.withLock { $0.connections } == 2)
        }
        // A server that answers SCHEMA_MISMATCH for the very schema it announces: one free
        // re-layout, then ordinary (counted, backed-off) retries, so the call still ends.
        let policy = LoanScoreClient.RetryPolicy(maximumAttempts: 2, initialBackoff: .milliseconds(5), maximumBackoff: .milliseconds(10))
        try await withServer(configure: { $0.retry = policy }, behavior: {
            [.error(requestID: $0.requestID, .schemaMismatch, "always")]
        }) { server, client in
            let error = await clientError { _ = try await client.score([application("never")]) }
            #expect(error?.code == .schemaMismatch && error?.attempts == 3, "\(String(describing: error))")
            #expect(server.log.withLock { $0.requests.count } == 3)
        }
    }
}

/// loanscore-load's layouts of its file across schema changes.
@Suite("loanscore-load schema following")
struct FileLayoutsTests {
    let file = LoadFile(
        path: "apps.csv", header: ["id", "Seniority", "Home", "Income", "Records", "Expenses"],
        rows: [["A1", "9", "rent", "130.5", "no", "350"], ["A2", "2", "owner", "10", "yes", ""]])
    var withExpenses: WireSchema { WireSchema(fields: testSchema.fields + [WireField(name: "Expenses", type: .number)]) }

    func welcome(_ version: String, _ schema: WireSchema) -> Welcome {
        Welcome(modelName: "m", modelVersion: version, schema: schema)
    }

    @Test("A new schema is laid out once: dropped fields named, the re-layout counted")
    func relayout() throws {
        let layouts = try FileLayouts(file: file, welcome: welcome("1", withExpenses), batchSize: 2)
        #expect(layouts.relayouts == 0)
        let first = try #require(layouts.layout(for: welcome("1", withExpenses)))
        #expect(try first.source.next().get().columns.count == 5)
        let second = try #require(layouts.layout(for: welcome("2", testSchema)))
        #expect(second.lacking.isEmpty && second.source.schemaHash == testSchema.hash)
        #expect(try second.source.next().get().columns.count == 4)
        _ = layouts.layout(for: welcome("2", testSchema))
        #expect(layouts.relayouts == 1)
        #expect(layouts.changes == ["m 2: laid apps.csv out again for its 4 fields; dropped Expenses"])
    }

    @Test("A required field the file lacks stops the run, naming the field, once the server refuses an application for it")
    func requiredFieldStops() throws {
        let withAge = WireSchema(fields: testSchema.fields + [WireField(name: "Age", type: .number)])
        let layouts = try FileLayouts(file: file, welcome: welcome("1", testSchema), batchSize: 1)
        let layout = try #require(layouts.layout(for: welcome("2", withAge)))
        #expect(layout.lacking == ["Age"])
        let fine = ScoreResponse(modelVersion: "2", results: [
            .scored(ScoredApplication(pd: 0.1, riskLevel: "low", decision: .approve, confidence: 0.9, reasons: [])),
        ])
        #expect(!layouts.requiredButLacking(fine, layout) && layouts.stopReason == nil, "a nullable new field is sent missing")
        let refused = ScoreResponse(modelVersion: "2", results: [
            .invalid(code: .invalidApplication, message: "field 'Age': is missing but the field is required (value \"\"; expected a number)"),
        ])
        #expect(layouts.requiredButLacking(refused, layout))
        let reason = try #require(layouts.stopReason)
        #expect(reason.contains("apps.csv has no column for field 'Age', which m 2 requires"), "\(reason)")
        #expect(layouts.layout(for: welcome("2", withAge)) == nil, "no more batches once stopped")
    }
}
