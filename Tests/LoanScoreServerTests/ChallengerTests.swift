import Foundation
import LoanScoreAudit
import LoanScoreClient
import LoanScoreProtocol
import LoanScoreServer
import LoanScoreTestSupport
import Logging
import Testing

/// Champion/challenger (issue 15, item 2): a real server (in-process, real TLS) and real
/// `loanscored`/`loanscore` processes. The champion is TinyBundle `test-2` (six fields, `age`
/// nullable); the challenger TinyBundle `test-1`, whose five fields are a subset of test-2's.
/// Offline scoring (`loanscore score --bundle`) is the reference for every PD.
@Suite("Champion and challenger", .serialized)
struct ChallengerTests {
    /// A folder with both bundles, certificates and an audit folder.
    struct Pair {
        let folder: URL
        var champion: URL { folder.appendingPathComponent("champion") }
        var challenger: URL { folder.appendingPathComponent("challenger") }

        init() throws {
            folder = try TinyBundle.temporaryDirectory()
            try TinyBundle.writeVersion2(to: folder.appendingPathComponent("test-2"))
            try TinyBundle.write(to: folder.appendingPathComponent("test-1"))
            try FileManager.default.createSymbolicLink(at: champion, withDestinationURL: folder.appendingPathComponent("test-2"))
            try FileManager.default.createSymbolicLink(at: challenger, withDestinationURL: folder.appendingPathComponent("test-1"))
        }

        /// Writes a variant of TinyBundle (test-1's files with `edit` applied to its schema text).
        func variant(_ name: String, version: String, schema edit: (String) -> String = { $0 }) throws -> URL {
            var files = TinyBundle.files
            files["schema.json"] = edit(TinyBundle.schemaJSON)
            let url = folder.appendingPathComponent(name)
            try TinyBundle.write(files: files, to: url) { $0["model"] = ["name": "tiny", "version": version] }
            return url
        }
    }

    /// One application of the fields both versions share (`age` left missing).
    struct Row {
        var id: String, amount: Int, income: Int, home: String, records: String, term: Int

        init(id: String, seed: Int) {
            self.id = id
            amount = 200 + (seed * 137) % 4000
            income = 100 + (seed * 53) % 3000
            home = ["rent", "own", "OWN"][seed % 3]
            records = seed % 4 == 0 ? "yes" : "no"
            term = 6 + seed % 60
        }

        var input: ApplicationInput {
            ApplicationInput(id: id, values: ["amount": .number(Double(amount)), "income": .number(Double(income)),
                                              "home": .text(home), "records": .text(records), "term": .number(Double(term))])
        }
        var csv: String { "\(id),\(amount),\(income),\(home),\(records),\(term)" }
    }

    /// Ids `PREFIX-` and 16 random hex digits: FNV-1a's high bits barely move between ids that
    /// differ only in their last characters, so sequential ids would land on one side of the split.
    static func rows(_ prefix: String, _ count: Int) -> [Row] {
        var random = SplitMix64(seed: UInt64(prefix.utf8.reduce(0) { $0 &* 31 &+ Int($1) }.magnitude))
        return (0..<count).map { Row(id: "\(prefix)-\(String(random.next(), radix: 16))", seed: $0) }
    }

    /// PD per application id from `loanscore score --bundle` (offline scoring, the reference).
    static func offlinePD(bundle: URL, rows: [Row], folder: URL) throws -> [String: Double] {
        let input = folder.appendingPathComponent("offline-\(UUID().uuidString).csv")
        let output = folder.appendingPathComponent("offline-\(UUID().uuidString)-out.csv")
        // test-2 requires the `age` column (its values may be missing).
        let age = bundle.resolvingSymlinksInPath().lastPathComponent == "test-2"
        let lines = ["application_id,amount,income,home,records,term" + (age ? ",age" : "")] + rows.map { $0.csv + (age ? "," : "") }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: input)
        let run = try BuiltExecutable("loanscore").run(["score", "--bundle", bundle.path, "--input", input.path, "--output", output.path])
        try #require(run.status == 0, "\(run.stderr)")
        var pds: [String: Double] = [:]
        for line in try String(contentsOf: output, encoding: .utf8).split(separator: "\n").dropFirst() {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false)
            pds[String(cells[0])] = Double(String(cells[1]))
        }
        try #require(pds.count == rows.count, "offline scoring of \(bundle.lastPathComponent) gave \(pds.count) of \(rows.count)")
        return pds
    }

    /// The routing rule, written out again from PROTOCOL.md §5.5.1 (independent of the server's code).
    static func routed(_ id: String, fraction: Double) -> Bool {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in id.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        hash ^= hash >> 33
        hash = hash &* 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        hash = hash &* 0xc4ce_b9fe_1a85_ec53
        hash ^= hash >> 33
        return Double(hash >> 11) / 9_007_199_254_740_992.0 < fraction
    }

    static func start(_ pair: Pair, mode: ServerConfiguration.Challenger.Mode, fraction: Double? = nil) async throws -> ServerHarness {
        try await ServerHarness.start { configuration in
            configuration.bundle = pair.champion.path
            configuration.challenger = .init(bundle: pair.challenger.path, mode: mode, fraction: fraction)
            configuration.admin = "127.0.0.1:0"
        }
    }

    static func client(_ harness: ServerHarness) throws -> LoanScoreClient {
        var configuration = LoanScoreClient.Configuration(
            host: "127.0.0.1", port: harness.server.port,
            tls: .init(caFile: harness.certificates.caCertificate, serverName: "localhost"), connections: 1)
        configuration.retry = .init(maximumAttempts: 1)
        return try LoanScoreClient(configuration: configuration)
    }

    static func body(_ response: String) -> String {
        response.range(of: "\r\n\r\n").map { String(response[$0.upperBound...]) } ?? response
    }

    @Test func routingMatchesKnownValuesAndSpreadsSequentialIds() {
        // Computed in Python from PROTOCOL.md's definition: FNV-1a 64 of "a" is the published
        // 0xaf63dc4c8601ec8c; fmix64 of it 0x82a2a958a9bece5b; as a share 0.5102945176565711.
        #expect(Self.routed("a", fraction: 0.5102945176565712) && !Self.routed("a", fraction: 0.5102945176565711))
        #expect(!Self.routed("anything", fraction: 0) && Self.routed("anything", fraction: 1))
        // Sequential ids, which plain FNV-1a clustered (p-0…p-99: none routed at 0.1 or 0.3).
        // Expected shares from the same Python: 0.14 / 0.29 and 0.119 / 0.319.
        let short = (0..<100).map { "p-\($0)" }, padded = (0..<1000).map { "APP-" + String(repeating: "0", count: 6 - String($0).count) + String($0) }
        #expect(short.filter { Self.routed($0, fraction: 0.1) }.count == 14 && short.filter { Self.routed($0, fraction: 0.3) }.count == 29)
        #expect(padded.filter { Self.routed($0, fraction: 0.1) }.count == 119 && padded.filter { Self.routed($0, fraction: 0.3) }.count == 319)
    }

    /// Shadow mode: every answer is the champion's, every audit record is the champion's with
    /// the challenger's verdict, whose PD is offline scoring's for the challenger bundle.
    @Test func shadowScoresEveryApplicationWithBothAndAnswersWithTheChampion() async throws {
        let pair = try Pair()
        defer { try? FileManager.default.removeItem(at: pair.folder) }
        let harness = try await Self.start(pair, mode: .shadow)
        defer { try? FileManager.default.removeItem(at: harness.folder) }
        let rows = Self.rows("s", 60)
        let championPD = try Self.offlinePD(bundle: pair.champion, rows: rows, folder: pair.folder)
        let challengerPD = try Self.offlinePD(bundle: pair.challenger, rows: rows, folder: pair.folder)
        #expect(rows.contains { championPD[$0.id] != challengerPD[$0.id] }, "the two versions must differ for the test to mean anything")

        let client = try Self.client(harness)
        var answered: [String: Double] = [:]
        for batch in stride(from: 0, to: rows.count, by: 20).map({ Array(rows[$0..<($0 + 20)]) }) {
            let response = try await client.score(batch.map(\.input))
            #expect(response.modelVersion == "test-2")
            for (row, result) in zip(batch, response.results) {
                guard case .scored(let scored) = result else {
                    Issue.record("\(row.id): \(result)")
                    continue
                }
                #expect(scored.modelVersion == nil, "shadow mode answers with the champion only")
                answered[row.id] = scored.pd
            }
        }
        await client.close()
        #expect(answered == championPD, "answers equal the champion's alone")

        let records = try AuditReader(directory: harness.auditDirectory).records().filter { $0.applicationID.hasPrefix("s-") }
        #expect(records.count == rows.count)
        for record in records {
            #expect(record.role == "champion" && record.modelVersion == "test-2", "\(record)")
            #expect(record.pd == championPD[record.applicationID])
            let shadow = try #require(record.shadow, "\(record.applicationID) has no shadow verdict")
            #expect(shadow.modelVersion == "test-1")
            #expect(shadow.pd == challengerPD[record.applicationID], "\(record.applicationID): shadow \(shadow.pd)")
            #expect(["approve", "review", "decline"].contains(shadow.decision) && ["low", "medium", "high"].contains(shadow.riskLevel))
        }

        // /model shows both; the metrics carry the role.
        let admin = try #require(harness.server.adminPort)
        let model = try #require(try JSONSerialization.jsonObject(with: Data(Self.body(try await httpGet(port: admin, path: "/model")).utf8))
            as? [String: Any])
        #expect(model["version"] as? String == "test-2" && model["role"] as? String == "champion")
        #expect(model["bundle"] as? String == pair.champion.path)
        let challenger = try #require(model["challenger"] as? [String: Any], "\(model)")
        #expect(challenger["version"] as? String == "test-1" && challenger["role"] as? String == "challenger")
        #expect(challenger["mode"] as? String == "shadow" && challenger["fraction"] is NSNull)
        #expect(challenger["bundle"] as? String == pair.challenger.path)
        #expect(challenger["fields"] as? [String] == ["amount", "income", "home", "records", "term"])
        let metrics = Self.body(try await httpGet(port: admin, path: "/metrics"))
        #expect(metrics.contains(#"loanscore_model_info{name="tiny",version="test-2",role="champion"} 1"#), "\(metrics)")
        #expect(metrics.contains(#"loanscore_model_info{name="tiny",version="test-1",role="challenger"} 1"#), "\(metrics)")
        #expect(metrics.contains(#"loanscore_pd_count{model_version="test-2",role="champion"} \#(rows.count)"#))
        #expect(metrics.contains(#"loanscore_pd_count{model_version="test-1",role="challenger"} \#(rows.count)"#))
        #expect(metrics.contains(#"loanscore_challenger_skipped_total{reason="invalid_for_challenger"} 0"#))
        await harness.server.shutdown()
    }

    /// Split mode at 0.3: the applications the challenger decides are exactly those the FNV
    /// rule names; each answer names its version and carries that version's offline PD; audit
    /// roles match. A version-1 client gets the champion for every application.
    @Test func splitRoutesByTheHashOfTheIDAndNamesTheDecidingVersion() async throws {
        let pair = try Pair()
        defer { try? FileManager.default.removeItem(at: pair.folder) }
        let harness = try await Self.start(pair, mode: .split, fraction: 0.3)
        defer { try? FileManager.default.removeItem(at: harness.folder) }
        let rows = Self.rows("p", 100)
        let championPD = try Self.offlinePD(bundle: pair.champion, rows: rows, folder: pair.folder)
        let challengerPD = try Self.offlinePD(bundle: pair.challenger, rows: rows, folder: pair.folder)
        let expected = Set(rows.map(\.id).filter { Self.routed($0, fraction: 0.3) })
        #expect((15...45).contains(expected.count), "\(expected.count) of 100 routed")

        let client = try Self.client(harness)
        var decidedByChallenger: Set<String> = []
        for batch in stride(from: 0, to: rows.count, by: 25).map({ Array(rows[$0..<($0 + 25)]) }) {
            let response = try await client.score(batch.map(\.input))
            #expect(response.modelVersion == "test-2")
            for (row, result) in zip(batch, response.results) {
                guard case .scored(let scored) = result else {
                    Issue.record("\(row.id): \(result)")
                    continue
                }
                if scored.modelVersion == "test-1" {
                    decidedByChallenger.insert(row.id)
                    #expect(scored.pd == challengerPD[row.id], "\(row.id)")
                } else {
                    #expect(scored.modelVersion == nil, "\(row.id): \(scored)")
                    #expect(scored.pd == championPD[row.id], "\(row.id)")
                }
            }
        }
        // Sticky: the same ids in another batch order go the same way.
        let again = try await client.score(rows.reversed().prefix(30).map(\.input))
        for (row, result) in zip(rows.reversed().prefix(30), again.results) {
            guard case .scored(let scored) = result else { continue }
            #expect((scored.modelVersion == "test-1") == expected.contains(row.id), "\(row.id)")
        }
        await client.close()
        #expect(decidedByChallenger == expected)

        let records = try AuditReader(directory: harness.auditDirectory).records().filter { $0.applicationID.hasPrefix("p-") }
        for record in records {
            #expect(record.shadow == nil)
            if expected.contains(record.applicationID) {
                #expect(record.role == "challenger" && record.modelVersion == "test-1" && record.pd == challengerPD[record.applicationID])
            } else {
                #expect(record.role == "champion" && record.modelVersion == "test-2" && record.pd == championPD[record.applicationID])
            }
        }

        // A version-1 client (HELLO 1...1): never routed.
        let (connection, welcome) = try await harness.handshaken()
        #expect(welcome.protocolVersion == 1)
        let request = try ScoreRequest(schemaHash: welcome.schema.hash, applicationIDs: rows.map(\.id), columns: [
            Column(numbers: rows.map { Double($0.amount) }), Column(numbers: rows.map { Double($0.income) }),
            Column(strings: rows.map(\.home)), Column(strings: rows.map(\.records)), Column(numbers: rows.map { Double($0.term) }),
            Column(numbers: rows.map { _ in nil }),
        ])
        try #require(welcome.schema.fields.map(\.name) == ["amount", "income", "home", "records", "term", "age"])
        try await connection.send(request, id: 1)
        let frame = try await connection.expectFrame()
        var payload = frame.payload
        let response = try ScoreResponse.decode(from: &payload, protocolVersion: 1)
        for (row, result) in zip(rows, response.results) {
            guard case .scored(let scored) = result else {
                Issue.record("\(row.id): \(result)")
                continue
            }
            #expect(scored.modelVersion == nil && scored.pd == championPD[row.id], "\(row.id)")
        }
        let admin = try #require(harness.server.adminPort)
        let metrics = Self.body(try await httpGet(port: admin, path: "/metrics"))
        #expect(metrics.contains(#"loanscore_challenger_skipped_total{reason="protocol_version_1"} \#(expected.count)"#), "\(metrics)")
        let model = try #require(try JSONSerialization.jsonObject(with: Data(Self.body(try await httpGet(port: admin, path: "/model")).utf8))
            as? [String: Any])
        let challenger = try #require(model["challenger"] as? [String: Any])
        #expect(challenger["mode"] as? String == "split" && challenger["fraction"] as? Double == 0.3)
        await harness.server.shutdown()
    }

    /// An application valid for the champion but refused by the challenger (a narrower range)
    /// is answered by the champion in both modes: in split mode (fraction 1) status 0 with the
    /// champion's PD, in shadow mode without a shadow verdict; each is counted.
    @Test func anApplicationTheChallengerRefusesIsAnsweredByTheChampion() async throws {
        let pair = try Pair()
        defer { try? FileManager.default.removeItem(at: pair.folder) }
        let narrow = try pair.variant("narrow", version: "test-1n") {
            $0.replacingOccurrences(of: #""range": {"min": 0, "max": 100000}"#, with: #""range": {"min": 0, "max": 1000}"#)
        }
        try ReloadTests.point(pair.challenger, at: narrow)
        let rows = Self.rows("n", 40)
        let refused = Set(rows.filter { $0.amount > 1000 }.map(\.id))
        #expect(!refused.isEmpty && refused.count < rows.count)
        let championPD = try Self.offlinePD(bundle: pair.champion, rows: rows, folder: pair.folder)
        for mode in [ServerConfiguration.Challenger.Mode.split, .shadow] {
            let harness = try await Self.start(pair, mode: mode, fraction: mode == .split ? 1 : nil)
            defer { try? FileManager.default.removeItem(at: harness.folder) }
            let client = try Self.client(harness)
            let response = try await client.score(rows.map(\.input))
            await client.close()
            for (row, result) in zip(rows, response.results) {
                guard case .scored(let scored) = result else {
                    Issue.record("\(mode) \(row.id): \(result)")
                    continue
                }
                let byChallenger = mode == .split && !refused.contains(row.id)
                #expect(scored.modelVersion == (byChallenger ? "test-1n" : nil), "\(mode) \(row.id)")
                if !byChallenger { #expect(scored.pd == championPD[row.id], "\(mode) \(row.id)") }
            }
            for record in try AuditReader(directory: harness.auditDirectory).records() where refused.contains(record.applicationID) {
                #expect(record.role == "champion" && record.shadow == nil, "\(mode): \(record)")
            }
            let metrics = Self.body(try await httpGet(port: try #require(harness.server.adminPort), path: "/metrics"))
            #expect(metrics.contains(#"loanscore_challenger_skipped_total{reason="invalid_for_challenger"} \#(refused.count)"#),
                    "\(mode): \(metrics)")
            await harness.server.shutdown()
        }
    }

    /// A challenger whose schema does not accept the champion's input is refused at start,
    /// naming the field: an extra field, another type, a field it requires that the champion
    /// does not.
    @Test func anIncompatibleChallengerIsRefusedAtStartNamingTheField() async throws {
        let pair = try Pair()
        defer { try? FileManager.default.removeItem(at: pair.folder) }
        let retyped = try pair.variant("retyped", version: "test-1t") {
            $0.replacingOccurrences(of: #""name": "term", "type": "integer""#, with: #""name": "term", "type": "number""#)
        }
        let stricter = try pair.variant("stricter", version: "test-1s") {
            $0.replacingOccurrences(of: #""sentinels": ["99999999"],"#, with: #""sentinels": ["99999999"], "nullable": false,"#)
        }
        // (champion, challenger, the field the refusal must name)
        let cases = [(pair.folder.appendingPathComponent("test-1"), pair.folder.appendingPathComponent("test-2"), "age"),
                     (pair.folder.appendingPathComponent("test-1"), retyped, "term"),
                     (pair.folder.appendingPathComponent("test-2"), stricter, "income")]
        for (champion, challenger, field) in cases {
            do {
                let server = try await ServerHarness.start { configuration in
                    configuration.bundle = champion.path
                    configuration.challenger = .init(bundle: challenger.path)
                }
                await server.server.shutdown()
                Issue.record("\(challenger.lastPathComponent) beside \(champion.lastPathComponent) was accepted")
            } catch let error as StartupError {
                #expect(error.kind == .invalidData)
                #expect(error.message.contains("challenger field '\(field)'"), "\(error.message)")
            }
        }

        // The process: exit 3, the field named in the log.
        let setup = try DaemonSetup()
        defer { try? FileManager.default.removeItem(at: setup.folder) }
        let run = try await BuiltExecutable("loanscored").runOffThePool([
            "--bundle", pair.folder.appendingPathComponent("test-1").path, "--challenger", pair.folder.appendingPathComponent("test-2").path,
            "--cert", setup.certificates.serverCertificate, "--key", setup.certificates.serverKey,
            "--listen", "127.0.0.1:0", "--admin", "off", "--audit-dir", setup.folder.appendingPathComponent("audit").path,
        ])
        #expect(run.status == 3, "\(run.stderr)")
        #expect(run.stderr.contains("challenger field 'age' is not in the champion's schema"), "\(run.stderr)")
    }

    /// At reload: an incompatible challenger refuses the reload and the serving pair keeps
    /// serving; a compatible new challenger alone is then swapped in beside the same champion.
    @Test func anIncompatibleChallengerAtReloadKeepsTheOldPairServing() async throws {
        let pair = try Pair()
        defer { try? FileManager.default.removeItem(at: pair.folder) }
        let harness = try await Self.start(pair, mode: .shadow)
        defer { try? FileManager.default.removeItem(at: harness.folder) }
        let client = try Self.client(harness)
        _ = try await client.score(Self.rows("before", 5).map(\.input))

        let retyped = try pair.variant("retyped", version: "test-1t") {
            $0.replacingOccurrences(of: #""name": "term", "type": "integer""#, with: #""name": "term", "type": "number""#)
        }
        try ReloadTests.point(pair.challenger, at: retyped)
        let refused = await harness.server.reload()
        #expect(refused.status == .refused, "\(refused)")
        #expect(refused.message.contains("challenger field 'term'"), "\(refused.message)")
        #expect(refused.modelVersion == "test-2" && refused.challengerVersion == "test-1")
        _ = try await client.score(Self.rows("refused", 5).map(\.input))

        let renamed = try pair.variant("renamed", version: "test-1b")
        try ReloadTests.point(pair.challenger, at: renamed)
        let reloaded = await harness.server.reload()
        #expect(reloaded.status == .reloaded && reloaded.modelVersion == "test-2" && reloaded.challengerVersion == "test-1b", "\(reloaded)")
        _ = try await client.score(Self.rows("after", 5).map(\.input))
        await client.close()

        let records = try AuditReader(directory: harness.auditDirectory).records()
        for record in records {
            #expect(record.role == "champion" && record.modelVersion == "test-2")
            let expected = record.applicationID.hasPrefix("after-") ? "test-1b" : "test-1"
            #expect(record.shadow?.modelVersion == expected, "\(record.applicationID): \(String(describing: record.shadow))")
        }
        #expect(records.count == 15)
        let metrics = Self.body(try await httpGet(port: try #require(harness.server.adminPort), path: "/metrics"))
        #expect(metrics.contains(#"loanscore_model_info{name="tiny",version="test-1",role="challenger"} 0"#), "\(metrics)")
        #expect(metrics.contains(#"loanscore_model_info{name="tiny",version="test-1b",role="challenger"} 1"#), "\(metrics)")
        #expect(!metrics.contains(#"loanscore_pd_count{model_version="test-1",role="challenger"}"#), "retired with its challenger")
        #expect(metrics.contains(#"loanscore_pd_count{model_version="test-2",role="champion"} 15"#), "the champion's series carry on")
        await harness.server.shutdown()
    }

    /// Mode and fraction errors are configuration errors: exit 2 with the setting named.
    @Test func badChallengerSettingsExitTwo() async throws {
        let setup = try DaemonSetup()
        defer { try? FileManager.default.removeItem(at: setup.folder) }
        let base = ["--bundle", setup.configuration.bundle, "--cert", setup.certificates.serverCertificate,
                    "--key", setup.certificates.serverKey, "--listen", "127.0.0.1:0", "--admin", "off",
                    "--audit-dir", setup.folder.appendingPathComponent("audit").path]
        let cases: [([String], String)] = [
            (["--challenger", setup.configuration.bundle, "--challenger-mode", "split", "--challenger-fraction", "1.5"],
             "challenger.fraction must be from 0 to 1, got 1.5"),
            (["--challenger", setup.configuration.bundle, "--challenger-mode", "split", "--challenger-fraction=-0.1"],
             "challenger.fraction must be from 0 to 1"),
            (["--challenger", setup.configuration.bundle, "--challenger-mode", "split"], "challenger.fraction is required in split mode"),
            (["--challenger", setup.configuration.bundle, "--challenger-fraction", "0.2"], "applies to split mode only"),
            (["--challenger", setup.configuration.bundle, "--challenger-mode", "canary"], "challenger-mode"),
            (["--challenger-mode", "shadow"], "need a challenger"),
        ]
        for (flags, message) in cases {
            let run = try await BuiltExecutable("loanscored").runOffThePool(base + flags)
            #expect(run.status == 2, "\(flags): \(run.status) \(run.stderr)")
            #expect(run.stderr.contains(message), "\(flags): \(run.stderr)")
        }
        // The configuration file's object: the same checks.
        var configuration = setup.configuration
        configuration.challenger = .init(bundle: setup.configuration.bundle, mode: .split, fraction: .nan)
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
        let file = setup.folder.appendingPathComponent("c.json")
        try Data(#"{"challenger": {"bundle": "b", "mode": "canary"}}"#.utf8).write(to: file)
        do {
            _ = try ServerConfiguration.load(from: file)
            Issue.record("mode canary accepted")
        } catch let error as ConfigurationError {
            #expect(error.message.contains("challenger.mode must be shadow or split, got 'canary'"), "\(error.message)")
        }
        try Data(#"{"challenger": {"bundle": "b", "mode": "split", "fraction": 0.25}}"#.utf8).write(to: file)
        let loaded = try ServerConfiguration.load(from: file)
        #expect(loaded.challenger == .init(bundle: "b", mode: .split, fraction: 0.25))
        // It survives the round trip DaemonUnderTest uses.
        #expect(try JSONDecoder().decode(ServerConfiguration.self, from: JSONEncoder().encode(loaded)).challenger == loaded.challenger)
    }
}
