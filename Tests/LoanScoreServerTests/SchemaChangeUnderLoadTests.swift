import Foundation
import LoanScoreClient
import LoanScoreModel
import LoanScoreProtocol
import LoanScoreServer
import LoanScoreTestSupport
import NIOConcurrencyHelpers
import Testing

extension ScoringLoad {
    /// The fields of both tiny bundle versions, and `age`, which only version 2 has.
    @Sendable static func applicationWithAge(id: String, seed: Int) -> ApplicationInput {
        var application = ScoringLoad.application(id: id, seed: seed)
        application.values["age"] = .number(Double(18 + (seed * 11) % 60))
        return application
    }
}

/// Reloads to a bundle whose schema drops a field the clients send (tiny `test-2`, with
/// `age`, to `test-1`, without), and back, under load: the SDK with `unknownFields = .ignore`
/// and loanscore-load follow the change.
@Suite("schema changes under load", .serialized)
struct SchemaChangeUnderLoadTests {
    /// Bundles `test-2` (serving) and `test-1`, a `current` link to point, and a server on it.
    struct Setup {
        let folder: URL
        let version1: URL
        let version2: URL
        let current: URL
        let harness: ServerHarness

        static func start() async throws -> Setup {
            let folder = try TinyBundle.temporaryDirectory()
            let version1 = folder.appendingPathComponent("bundle-1"), version2 = folder.appendingPathComponent("bundle-2")
            try TinyBundle.write(to: version1)
            try TinyBundle.writeVersion2(to: version2)
            let current = folder.appendingPathComponent("current")
            try ReloadTests.point(current, at: version2)
            let harness = try await ServerHarness.start {
                $0.bundle = current.path
                $0.limits.maximumQueueDelayMilliseconds = 0  // about reloads, not shedding (as ReloadTests)
            }
            return Setup(folder: folder, version1: version1, version2: version2, current: current, harness: harness)
        }

        func reload(to bundle: URL) async throws -> ReloadOutcome {
            try ReloadTests.point(current, at: bundle)
            return await harness.server.reload()
        }

        func configuration(connections: Int) -> LoanScoreClient.Configuration {
            .init(host: "127.0.0.1", port: harness.server.port,
                  tls: .init(caFile: harness.certificates.caCertificate, serverName: "localhost"), connections: connections)
        }

        func remove() async {
            await harness.server.shutdown()
            try? FileManager.default.removeItem(at: harness.folder)
            try? FileManager.default.removeItem(at: folder)
        }
    }

    @Test func fiftyConnectionsWithIgnoreScoreThroughAReloadThatDropsASentField() async throws {
        let setup = try await Setup.start()
        let references = ["test-1": ReferenceScorer(bundle: try ModelBundle(directory: setup.version1)),
                          "test-2": ReferenceScorer(bundle: try ModelBundle(directory: setup.version2))]
        var configuration = setup.configuration(connections: 50)
        configuration.unknownFields = .ignore
        let client = try LoanScoreClient(configuration: configuration)
        let before = try await client.connect()
        #expect(before.modelVersion == "test-2" && before.schema.fields.contains { $0.name == "age" })
        // A client with the default policy, connected before the reload, for contrast.
        let strict = try LoanScoreClient(configuration: setup.configuration(connections: 1))
        _ = try await strict.connect()

        let load = ScoringLoad(client: client, tasks: 50, application: ScoringLoad.applicationWithAge)
        await load.waitForAnswers(200)
        let reloaded = try await setup.reload(to: setup.version1)
        #expect(reloaded.status == .reloaded && reloaded.modelVersion == "test-1", "\(reloaded)")
        await load.waitForAnswers(300)
        await load.stop()
        await client.close()

        let probe = try LoanScoreClient(configuration: setup.configuration(connections: 1))
        let after = try await probe.connect()
        await probe.close()
        #expect(after.modelVersion == "test-1" && !after.schema.fields.contains { $0.name == "age" })
        let versionOfSchema = [before.schema.hash: "test-2", after.schema.hash: "test-1"]

        var refused: LoanScoreClientError?
        do { _ = try await strict.score([ScoringLoad.applicationWithAge(id: "strict", seed: 1)]) } catch { refused = error }
        #expect(refused?.code == .invalidInput && refused?.field == "age", ".reject refuses the dropped field: \(String(describing: refused))")
        await strict.close()

        let answers = load.answers
        #expect(load.failures.isEmpty, "failed requests: \(load.failures.prefix(5))")
        var mismatches: [String] = []
        for answer in answers {
            let scored = answer.scored
            let version = versionOfSchema[scored.welcome.schema.hash]
            if scored.response.modelVersion != version {
                mismatches.append("\(answer.batch[0].id): answered by \(scored.response.modelVersion), laid out for \(version ?? "?")")
                continue
            }
            let expectedIgnored = version == "test-1" ? ["age"] : []
            if scored.ignoredFields != expectedIgnored || scored.ignoredValues != 3 * expectedIgnored.count {
                mismatches.append("\(answer.batch[0].id) (\(scored.response.modelVersion)): ignored \(scored.ignoredFields) × \(scored.ignoredValues)")
            }
            let reference = try #require(references[scored.response.modelVersion])
            for (application, result) in zip(answer.batch, scored.response.results) {
                guard case .scored(let score) = result, score.pd == reference.score(application).pd else {
                    mismatches.append("\(application.id) (\(scored.response.modelVersion)): \(result)")
                    continue
                }
            }
        }
        #expect(mismatches.isEmpty, "answers inconsistent with the version they name: \(mismatches.prefix(5))")
        let byVersion = Dictionary(grouping: answers, by: \.scored.response.modelVersion).mapValues(\.count)
        #expect(Set(byVersion.keys) == ["test-1", "test-2"], "\(byVersion)")
        let relaidOut = answers.filter { $0.scored.schemaChanges > 0 }.count
        #expect(relaidOut > 0, "some calls met the reload in flight and were laid out again")
        #expect(references["test-1"]!.score(ScoringLoad.applicationWithAge(id: "p", seed: 1)).pd
                != references["test-2"]!.score(ScoringLoad.applicationWithAge(id: "p", seed: 1)).pd, "the versions tell apart")

        // A sample checked against offline `loanscore score --bundle` of the version each names.
        for (version, bundle) in [("test-1", setup.version1), ("test-2", setup.version2)] {
            let sample = answers.filter { $0.scored.response.modelVersion == version }.prefix(10)
            let pairs = sample.flatMap { answer in zip(answer.batch, answer.scored.response.results) }
            try expectOfflineScores(pairs, bundle: bundle, withAge: version == "test-2", folder: setup.folder)
        }
        print("schema change under load (.ignore): \(answers.count) calls answered (\(byVersion)), \(load.failures.count) failed, "
              + "\(relaidOut) laid out again after SCHEMA_MISMATCH, 50 connections")
        await setup.remove()
    }

    /// Runs `loanscore score --bundle` on the applications and expects the server's PDs.
    func expectOfflineScores(_ pairs: [(ApplicationInput, ApplicationResult)], bundle: URL, withAge: Bool, folder: URL) throws {
        let columns = ["amount", "income", "home", "records", "term"] + (withAge ? ["age"] : [])
        func cell(_ value: WireValue?) -> String {
            switch value {
            case .number(let x)?: return "\(x)"
            case .text(let text)?: return text
            case .bool(let flag)?: return flag ? "yes" : "no"
            case .missing?, nil: return ""
            }
        }
        let csv = (["application_id"] + columns).joined(separator: ",") + "\n"
            + pairs.map { application, _ in ([application.id] + columns.map { cell(application.values[$0]) }).joined(separator: ",") }
                .joined(separator: "\n") + "\n"
        let input = folder.appendingPathComponent("sample-\(bundle.lastPathComponent).csv")
        let output = folder.appendingPathComponent("offline-\(bundle.lastPathComponent).csv")
        try csv.write(to: input, atomically: true, encoding: .utf8)
        let run = try BuiltExecutable("loanscore").run(["score", "--bundle", bundle.path, "--input", input.path, "--output", output.path])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = try String(contentsOf: output, encoding: .utf8).split(separator: "\n").dropFirst()
        let offline = Dictionary(uniqueKeysWithValues: lines.map { line in
            let cells = line.split(separator: ",", omittingEmptySubsequences: false)
            return (String(cells[0]), Double(cells[1]) ?? .nan)
        })
        #expect(offline.count == pairs.count)
        for (application, result) in pairs {
            guard case .scored(let score) = result else { continue }
            #expect(offline[application.id] == score.pd, "\(application.id) in \(bundle.lastPathComponent): offline \(offline[application.id] ?? .nan), served \(score.pd)")
        }
    }

    /// A file of varied applications with every field of both versions (so `age` is dropped by
    /// version 1 and sent to version 2).
    func writeLoadFile(in folder: URL, rows: Int = 200) throws -> URL {
        let file = folder.appendingPathComponent("load-\(rows).csv")
        var csv = "application_id,amount,income,home,records,term,age\n"
        for seed in 0..<rows {
            let application = ScoringLoad.applicationWithAge(id: "L\(seed)", seed: seed)
            func value(_ name: String) -> String {
                switch application.values[name] {
                case .number(let x)?: return "\(x)"
                case .text(let text)?: return text
                default: return ""
                }
            }
            csv += ["L\(seed)", value("amount"), value("income"), value("home"), value("records"), value("term"), value("age")]
                .joined(separator: ",") + "\n"
        }
        try csv.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    /// Whether loanscore-load calls a closed-loop run overloaded for its errors alone (more than 1 % failed).
    static func overloadedByErrors(failed: Int, answered: Int) -> Bool {
        Double(failed) / Double(max(1, failed + answered)) > 0.01
    }

    @Test func loadGeneratorFollowsASchemaChangingReloadWithAtMostOneErrorPerConnection() async throws {
        let setup = try await Setup.start()
        let input = try writeLoadFile(in: setup.folder)
        // The issue's run: closed loop, 8 connections, 8 in flight on each (the default).
        let connections = 8
        let arguments = ["--server", "127.0.0.1:\(setup.harness.server.port)", "--ca", setup.harness.certificates.caCertificate,
                         "--input", input.path, "--connections", "\(connections)", "--warmup", "0", "--duration", "5"]

        // test-2 → test-1: `age` dropped. The reload comes 2 s into a 5 s run (a trigger, not
        // a timing assertion: the report must show the one re-layout whenever it lands).
        let dropping = Task { try await BuiltExecutable("loanscore-load").runOffThePool(arguments) }
        try await Task.sleep(for: .seconds(2))
        #expect(try await setup.reload(to: setup.version1).status == .reloaded)
        let text = try await dropping.value
        print("loanscore-load across a reload dropping a field:\n\(text.stdout)\(text.stderr)")
        #expect(text.stdout.contains("tiny test-2;"), "the run started on test-2: \(text.stdout)")
        #expect(text.stdout.contains("schema changes: 1 re-layout(s) of the file"), "\(text.stdout)")
        #expect(text.stdout.contains("tiny test-1: laid \(input.path) out again for its 5 fields; dropped age"), "\(text.stdout)")
        let failed = text.stdout.firstMatch(of: /answered, (\d+) failed\)/).flatMap { Int($0.1) }
        let answered = text.stdout.firstMatch(of: /\((\d+) answered/).flatMap { Int($0.1) }
        #expect(failed.map { $0 <= connections } == true, "at most one error per connection: \(text.stdout)")
        #expect((answered ?? 0) > 100, "\(text.stdout)")
        // Not overloaded (exit 0), unless a machine so slow that these few errors pass 1 % of the requests.
        #expect(text.status == (Self.overloadedByErrors(failed: failed ?? 0, answered: answered ?? 0) ? 5 : 0), "\(text.stderr)")

        // test-1 → test-2: `age` comes back, and the file has it. JSON report.
        let adding = Task { try await BuiltExecutable("loanscore-load").runOffThePool(arguments + ["--json"]) }
        try await Task.sleep(for: .seconds(2))
        #expect(try await setup.reload(to: setup.version2).status == .reloaded)
        let json = try await adding.value
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json.stdout)")
        let changes = try #require(report["schema_changes"] as? [String: Any], "\(report)")
        #expect(changes["relayouts"] as? Int == 1, "\(changes)")
        #expect((changes["changes"] as? [String])?.first?.contains("tiny test-2: laid") == true, "\(changes)")
        let errors = try #require(report["errors"] as? [String: Int])
        #expect(errors.values.reduce(0, +) <= connections, "at most one error per connection: \(errors)")
        let failedFraction = try #require((report["overload"] as? [String: Any])?["failed_fraction"] as? Double)
        #expect(json.status == (failedFraction > 0.01 ? 5 : 0), "\(json.stderr)")
        print("loanscore-load --json across a reload adding the field back: schema_changes \(changes), errors \(errors)")
        await setup.remove()
    }

    @Test func scoreOnTheServerWithIgnoreUnknownFieldsGoesThroughAReloadThatDropsAColumn() async throws {
        let setup = try await Setup.start()
        // One application per request, so that the run lasts long enough for a reload to land in it.
        let input = try writeLoadFile(in: setup.folder, rows: 6000)
        let output = setup.folder.appendingPathComponent("scored.csv")
        let common = ["score", "--server", "127.0.0.1:\(setup.harness.server.port)", "--ca", setup.harness.certificates.caCertificate,
                      "--input", input.path, "--output", output.path, "--batch", "1"]

        let ignoring = Task { try await BuiltExecutable("loanscore").runOffThePool(common + ["--ignore-unknown-fields", "--json"]) }
        try await Task.sleep(for: .seconds(1))
        #expect(try await setup.reload(to: setup.version1).status == .reloaded)
        let run = try await ignoring.value
        #expect(run.status == 0, "\(run.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.stdout)")
        #expect(summary["rows_scored"] as? Int == 6000, "\(summary)")
        let ignored = try #require(summary["ignored_fields"] as? [String: Int], "\(summary)")
        let left = try #require(ignored["age"], "the reload landed in the run: \(summary) \(run.stderr)")
        #expect(left > 0 && left < 6000 && ignored.count == 1)
        #expect(run.stderr.contains("note: left out \(left) value(s) of 'age': not fields of the schema served after a reload"), "\(run.stderr)")
        let versions = try String(contentsOf: output, encoding: .utf8).split(separator: "\n").dropFirst()
            .map { $0.split(separator: ",", omittingEmptySubsequences: false).last.map(String.init) ?? "" }
        let counts = Dictionary(grouping: versions, by: { $0 }).mapValues(\.count)
        #expect(counts["test-1"] == left && counts["test-2"] == 6000 - left, "rows scored by test-1 are those whose age was left out: \(counts)")

        // Without the flag the same reload fails the run as invalid data, with the hint.
        #expect(try await setup.reload(to: setup.version2).status == .reloaded)
        let strict = Task { try await BuiltExecutable("loanscore").runOffThePool(common) }
        try await Task.sleep(for: .seconds(1))
        #expect(try await setup.reload(to: setup.version1).status == .reloaded)
        let refused = try await strict.value
        #expect(refused.status == 3, "\(refused.stdout)\(refused.stderr)")
        #expect(refused.stderr.contains("unknown field 'age'") && refused.stderr.contains("give --ignore-unknown-fields"), "\(refused.stderr)")

        let misplaced = try BuiltExecutable("loanscore").run(["score", "--bundle", setup.version1.path, "--input", input.path,
                                                              "--output", output.path, "--ignore-unknown-fields"])
        #expect(misplaced.status == 2 && misplaced.stderr.contains("--ignore-unknown-fields goes with --server"), "\(misplaced.stderr)")
        await setup.remove()
    }

    @Test func openLoopFollowsASchemaChangingReload() async throws {
        let setup = try await Setup.start()
        let input = try writeLoadFile(in: setup.folder)
        let run = Task {
            try await BuiltExecutable("loanscore-load").runOffThePool([
                "--server", "127.0.0.1:\(setup.harness.server.port)", "--ca", setup.harness.certificates.caCertificate,
                "--input", input.path, "--connections", "2", "--rate", "200", "--warmup", "0", "--duration", "4", "--json",
            ])
        }
        try await Task.sleep(for: .seconds(1.5))
        #expect(try await setup.reload(to: setup.version1).status == .reloaded)
        let result = try await run.value
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)\(result.stderr)")
        let changes = try #require(report["schema_changes"] as? [String: Any], "\(report)")
        #expect(changes["relayouts"] as? Int == 1, "\(changes)")
        let errors = report["errors"] as? [String: Int] ?? [:]
        // Requests due while the connections reconnect are held and sent with the new layout:
        // only those in flight around the change fail — at 200 requests/s, at most the requests
        // of one longest round trip (an idle machine: 2 errors; a CI run with a release build
        // compiling beside it: 253, its round trips over a second) — not the rest of the run.
        let failed = errors.values.reduce(0, +)
        let latency = report["latency_ms"] as? [String: Double] ?? [:]
        let longest = (latency["max"] ?? 0) / 1000
        let answered = Int(((report["requests_per_s"] as? Double) ?? 0) * 4)
        #expect(Double(failed) <= 200 * longest + 4, "\(errors), longest round trip \(longest) s")
        #expect(answered > failed, "answered \(answered) requests against \(failed) errors: the run went on after the change")
        #expect(Set(errors.keys).isSubset(of: ["SCHEMA_MISMATCH"]), "\(errors)")
        print("loanscore-load open loop across a reload dropping a field: schema_changes \(changes), errors \(errors)")
        await setup.remove()
    }

    @Test func aReloadAddingARequiredFieldTheFileLacksStopsTheLoadGeneratorNamingIt() async throws {
        let setup = try await Setup.start()
        // Version test-3: version 1's schema plus `branch`, required (not nullable), which the file has no column for.
        let version3 = setup.folder.appendingPathComponent("bundle-3")
        var files = TinyBundle.files
        files["schema.json"] = TinyBundle.schemaJSON.replacingOccurrences(
            of: #""feature": false}"#,
            with: #""feature": false},\#n   {"name": "branch", "type": "integer", "range": {"min": 1, "max": 99}, "nullable": false, "feature": false}"#)
        #expect(files["schema.json"] != TinyBundle.schemaJSON)
        try TinyBundle.write(files: files, to: version3) { manifest in
            manifest["model"] = ["name": "tiny", "version": "test-3"]
            var reasons = manifest["reason_codes"] as? [String: Any] ?? [:]
            reasons["branch"] = ["code": "R07", "text": "Branch"]
            manifest["reason_codes"] = reasons
        }
        let input = try writeLoadFile(in: setup.folder)
        let run = Task {
            try await BuiltExecutable("loanscore-load").runOffThePool([
                "--server", "127.0.0.1:\(setup.harness.server.port)", "--ca", setup.harness.certificates.caCertificate,
                "--input", input.path, "--connections", "2", "--pipeline", "2", "--warmup", "0", "--duration", "20",
            ])
        }
        try await Task.sleep(for: .seconds(1))
        let reloaded = try await setup.reload(to: version3)
        try #require(reloaded.status == .reloaded, "\(reloaded.message)")
        let started = ContinuousClock.now
        let result = try await run.value
        #expect(ContinuousClock.now - started < .seconds(15), "the run stopped before its 20 s were up")
        #expect(result.status == 3, "\(result.stdout)\(result.stderr)")
        print("loanscore-load across a reload adding a required field the file lacks (exit \(result.status)):\n\(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("error: \(input.path) has no column for field 'branch', which tiny test-3 requires"), "\(result.stderr)")
        #expect(result.stdout.contains("schema changes: 1 re-layout(s)") && result.stdout.contains("sent missing (no column) branch"),
                "the report is still printed: \(result.stdout)")
        #expect(result.stdout.contains("(stopped early)"), "figures over the time the run ran, not the 20 s asked for: \(result.stdout)")
        await setup.remove()
    }
}
