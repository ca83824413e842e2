import Foundation
import LoanScoreAudit
import LoanScoreClient
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreProtocol
import LoanScoreServer
import LoanScoreTestSupport
import NIOConcurrencyHelpers
import Testing

/// Tasks scoring continuously through the client SDK, recording every answer (and every
/// failure) with the time its call started and the WELCOME its batch was laid out for.
final class ScoringLoad: Sendable {
    struct Answer: Sendable {
        var started: ContinuousClock.Instant
        var batch: [ApplicationInput]
        /// The whole answer: response, the WELCOME it was laid out for, fields left out.
        var scored: ScoredBatch
        var response: ScoreResponse { scored.response }
    }

    let client: LoanScoreClient
    // pthread mutexes (NIOLockedValueBox): the thread sanitizer reported Synchronization.Mutex
    // here as a race between two tasks appending under it.
    private let state = NIOLockedValueBox<(answers: [Answer], failures: [String], stop: Bool)>(([], [], false))
    private let tasks = NIOLockedValueBox<[Task<Void, Never>]>([])

    /// Starts `count` tasks, each scoring batches of three applications (made by `application`
    /// from an id and a seed) one call after another.
    init(client: LoanScoreClient, tasks count: Int,
         application: @escaping @Sendable (String, Int) -> ApplicationInput = ScoringLoad.application) {
        self.client = client
        let started = (0..<count).map { task in
            Task { [self] in
                var round = 0
                while !state.withLockedValue({ $0.stop }) {
                    round += 1
                    let batch = (0..<3).map { i in application("t\(task)-r\(round)-\(i)", task * 7 + round * 3 + i) }
                    let started = ContinuousClock.now
                    do {
                        let scored = try await client.scoreDetailed(batch)
                        state.withLockedValue { $0.answers.append(Answer(started: started, batch: batch, scored: scored)) }
                    } catch {
                        state.withLockedValue { $0.failures.append("\(batch[0].id): \(error)") }
                    }
                }
            }
        }
        tasks.withLockedValue { $0 = started }
    }

    /// Varied valid applications of the fields both tiny bundle versions share.
    @Sendable static func application(id: String, seed: Int) -> ApplicationInput {
        ApplicationInput(id: id, values: [
            "amount": .number(Double(200 + (seed * 137) % 4000)), "income": .number(Double(100 + (seed * 53) % 3000)),
            "home": .text(["rent", "own", "OWN"][seed % 3]), "records": .text(seed % 4 == 0 ? "yes" : "no"),
            "term": .number(Double(6 + seed % 60)),
        ])
    }

    var answers: [Answer] { state.withLockedValue { $0.answers } }
    var failures: [String] { state.withLockedValue { $0.failures } }

    /// Waits until at least `count` more answers have arrived (or `timeout`).
    func waitForAnswers(_ count: Int, timeout: Duration = .seconds(60)) async {
        let target = answers.count + count
        let deadline = ContinuousClock.now + timeout
        while answers.count < target && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    func stop() async {
        state.withLockedValue { $0.stop = true }
        for task in tasks.withLockedValue({ $0 }) { await task.value }
    }
}

/// The in-process scorer of one bundle version, for checking the server's answers.
struct ReferenceScorer {
    let bundle: ModelBundle

    func score(_ application: ApplicationInput) -> Score {
        let values = bundle.schema.fields.map { field -> RawValue in
            switch application.values[field.name] {
            case .number(let number)?: .number(number)
            case .text(let text)?: .text(text)
            case .bool(let bool)?: .bool(bool)
            case .missing?, nil: .missing
            }
        }
        let (row, _) = bundle.pipeline.encode(values)
        return row.withUnsafeBufferPointer { bundle.scorer.score($0) }
    }
}

@Suite("hot reload", .serialized)
struct ReloadTests {
    /// Points `link` at `target` (replacing the link atomically, as an operator's deploy would).
    static func point(_ link: URL, at target: URL) throws {
        let temporary = link.deletingLastPathComponent().appendingPathComponent(".link-\(UUID().uuidString)")
        try FileManager.default.createSymbolicLink(at: temporary, withDestinationURL: target)
        guard rename(temporary.path, link.path) == 0 else { throw HarnessError("rename onto \(link.path) failed") }
    }

    /// Fifty pooled connections score without pause while the bundle is swapped for one with
    /// another schema and feature list, then for a broken one.
    @Test func fiftyConnectionsScoreThroughAReloadWithoutAFailedRequest() async throws {
        let folder = try TinyBundle.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let version1 = folder.appendingPathComponent("bundle-1"), version2 = folder.appendingPathComponent("bundle-2")
        let broken = folder.appendingPathComponent("bundle-broken")
        try TinyBundle.write(to: version1)
        try TinyBundle.writeVersion2(to: version2)
        try TinyBundle.writeVersion2(to: broken) { manifest in
            manifest["model"] = ["name": "tiny", "version": "test-broken"]
            var files = manifest["files"] as? [String: String] ?? [:]
            files["members/forest.json"] = String(repeating: "0", count: 64)
            manifest["files"] = files
        }
        let current = folder.appendingPathComponent("current")
        try Self.point(current, at: version1)
        let harness = try await ServerHarness.start {
            $0.bundle = current.path
            // Fifty connections on a debug build can queue more than 50 ms of work; this test is
            // about reloads, not shedding (OverloadTests), so the queue-delay limit is off.
            $0.limits.maximumQueueDelayMilliseconds = 0
        }
        defer { try? FileManager.default.removeItem(at: harness.folder) }
        let references = ["test-1": ReferenceScorer(bundle: try ModelBundle(directory: version1)),
                          "test-2": ReferenceScorer(bundle: try ModelBundle(directory: version2))]

        let client = try LoanScoreClient(configuration: .init(
            host: "127.0.0.1", port: harness.server.port, tls: .init(caFile: harness.certificates.caCertificate, serverName: "localhost"),
            connections: 50))
        #expect(try await client.connect().modelVersion == "test-1")
        let load = ScoringLoad(client: client, tasks: 50)
        await load.waitForAnswers(200)

        try Self.point(current, at: version2)
        let reloaded = await harness.server.reload()
        let reloadedAt = ContinuousClock.now
        #expect(reloaded.status == .reloaded, "\(reloaded)")
        #expect(reloaded.modelVersion == "test-2" && reloaded.previousVersion == "test-1")
        await load.waitForAnswers(300)

        try Self.point(current, at: broken)
        let refused = await harness.server.reload()
        #expect(refused.status == .refused, "\(refused)")
        #expect(refused.message.contains("forest.json"), "the refusal names what failed: \(refused.message)")
        #expect(refused.modelVersion == "test-2", "the previous bundle keeps serving")
        #expect(harness.server.bundle.manifest.model.version == "test-2")
        await load.waitForAnswers(200)
        await load.stop()
        await client.close()

        let answers = load.answers
        #expect(load.failures.isEmpty, "failed requests: \(load.failures.prefix(5))")
        let versions = Dictionary(grouping: answers, by: \.response.modelVersion).mapValues(\.count)
        #expect(Set(versions.keys) == ["test-1", "test-2"], "answers by version: \(versions)")
        #expect(answers.filter { $0.started > reloadedAt }.allSatisfy { $0.response.modelVersion == "test-2" },
                "a call started after the reload is answered by the new model")
        var versionOf: [String: String] = [:]
        var mismatches: [String] = []
        for answer in answers {
            let reference = try #require(references[answer.response.modelVersion])
            for (application, result) in zip(answer.batch, answer.response.results) {
                versionOf[application.id] = answer.response.modelVersion
                guard case .scored(let scored) = result else {
                    mismatches.append("\(application.id): not scored")
                    continue
                }
                let expected = reference.score(application)
                if scored.pd != expected.pd || scored.riskLevel != expected.riskLevel {
                    mismatches.append("\(application.id) (\(answer.response.modelVersion)): pd \(scored.pd), expected \(expected.pd)")
                }
            }
        }
        #expect(mismatches.isEmpty, "results inconsistent with the version they name: \(mismatches.prefix(5))")
        // The two versions really score differently, so the check above tells them apart.
        let probe = ScoringLoad.application(id: "probe", seed: 1)
        #expect(references["test-1"]!.score(probe).pd != references["test-2"]!.score(probe).pd)

        // The audit log names the version that made each decision.
        let records = try AuditReader(directory: harness.auditDirectory).records()
        #expect(records.count >= versionOf.count)
        #expect(records.allSatisfy { record in versionOf[record.applicationID].map { $0 == record.modelVersion } ?? true })
        #expect(Set(records.map(\.modelVersion)) == ["test-1", "test-2"])
        print("reload under load: \(answers.count) calls answered (\(versions)), \(load.failures.count) failed, 50 connections")
        await harness.server.shutdown()
    }

    /// New certificates serve new connections; connections already open keep theirs; a broken
    /// certificate is refused and the previous one keeps serving.
    @Test func certificatesAreReloadedForNewConnections() async throws {
        let harness = try await ServerHarness.start()
        defer { try? FileManager.default.removeItem(at: harness.folder) }
        let (open, welcome) = try await harness.handshaken()
        let certificate = harness.certificates.serverCertificate, key = harness.certificates.serverKey
        let original = try Data(contentsOf: URL(fileURLWithPath: certificate))

        try Data("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n".utf8).write(to: URL(fileURLWithPath: certificate))
        let refused = await harness.server.reload()
        #expect(refused.status == .refused, "\(refused)")
        #expect(refused.message.hasPrefix("TLS"), "\(refused.message)")
        _ = try await harness.handshaken()  // the previous certificate still serves new connections
        try original.write(to: URL(fileURLWithPath: certificate))

        let other = try TestCertificates.make(in: harness.folder.appendingPathComponent("certs-2"))
        try FileManager.default.removeItem(atPath: certificate)
        try FileManager.default.removeItem(atPath: key)
        try FileManager.default.copyItem(atPath: other.serverCertificate, toPath: certificate)
        try FileManager.default.copyItem(atPath: other.serverKey, toPath: key)
        let reloaded = await harness.server.reload()
        #expect(reloaded.status == .reloaded, "\(reloaded)")

        let fresh = try await RawConnection.connect(port: harness.server.port, certificates: other, clientCertificate: false)
        try await fresh.send(Hello(clientName: "new CA"), id: 0)
        #expect(await fresh.next()?.type == .welcome, "a new connection gets the new certificate")
        let stale = try await harness.connect()
        try? await stale.send(Hello(clientName: "old CA"), id: 0)
        #expect(await stale.next(timeout: .seconds(5)) == nil, "a client trusting only the old CA is refused")
        try await open.send(try tinyRequest(welcome, [("K", 500, 1000, "rent", "no", 12)]), id: 9)
        #expect(try await open.expectFrame().response != nil, "the connection opened before the reload keeps working")
        await harness.server.shutdown()
    }
}
