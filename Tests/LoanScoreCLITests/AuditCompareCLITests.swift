import Foundation
import LoanScoreAudit
import LoanScoreTestSupport
import Testing

/// `loanscore audit compare`, run as a user would, on audit logs written here with known
/// figures: the shadow run of ``shadowRecords()`` is the one whose statistics
/// LoanScoreMonitoringTests/AuditComparisonTests.swift checks against SciPy and scikit-learn
/// (Pearson 0.8783325378763882, Spearman 0.9030303030303028; on A1–A8's outcomes the champion's
/// ROC AUC 0.7333333333333333 and Brier 0.23125, the challenger's 0.8 and 0.1821125).
@Suite("loanscore audit compare", .serialized)
struct AuditCompareCLITests {
    typealias Run = BuiltExecutable.Run
    static let binary = BuiltExecutable("loanscore")

    let folder = try! TinyBundle.temporaryDirectory()

    func run(_ arguments: [String]) throws -> Run {
        guard Self.binary.exists else {
            Issue.record("loanscore executable not found at \(Self.binary.url.path); build with 'swift build'")
            return Run(status: -1, stdout: "", stderr: "")
        }
        return try Self.binary.run(arguments)
    }

    func file(_ name: String, _ text: String) throws -> String {
        let url = folder.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    /// 2026-01-01T00:00:00Z.
    static let start = 1_767_225_600.0

    static let championPD = [0.05, 0.10, 0.15, 0.20, 0.30, 0.35, 0.40, 0.55, 0.60, 0.70]
    static let challengerPD = [0.04, 0.12, 0.30, 0.28, 0.25, 0.40, 0.60, 0.50, 0.42, 0.80]
    static let championDecision = ["approve", "approve", "approve", "approve", "review", "review", "review", "decline", "decline", "decline"]
    static let challengerDecision = ["approve", "approve", "review", "approve", "approve", "review", "decline", "decline", "review", "decline"]

    /// Ten shadow-mode records, A1..A10, one second apart from 00:00:01: champion version 1
    /// decided, challenger version 2 scored beside it.
    static func shadowRecords() -> [AuditRecord] {
        (0..<10).map { (i: Int) -> AuditRecord in
            AuditRecord(time: Date(timeIntervalSince1970: start + Double(i + 1)), requestID: UInt64(i + 1), applicationID: "A\(i + 1)",
                        modelName: "tiny", modelVersion: "1", inputHash: AuditRecord.inputHash(fields: ["\(i)"]), pd: championPD[i],
                        decision: championDecision[i], riskLevel: "C", reasonCodes: ["R01"], client: nil, role: "champion",
                        shadow: .init(modelVersion: "2", pd: challengerPD[i], decision: challengerDecision[i], riskLevel: "C"))
        }
    }

    /// Writes `records` to a fresh log folder `name` and returns its path.
    func auditLog(_ records: [AuditRecord], name: String = "audit") async throws -> String {
        let directory = folder.appendingPathComponent(name)
        let log = try AuditLog(directory: directory, fsync: .never)
        if !records.isEmpty { try await log.append(records) }
        try log.close()
        return directory.path
    }

    /// Outcomes of A1..A8 (A4, A6, A7 defaulted) and of Z9, which was never decided.
    func outcomesFile() throws -> String {
        try file("outcomes.csv", """
            id,defaulted,observed_at
            A1,0,2026-06-01
            A2,0,2026-06-01
            A3,0,2026-06-01
            A4,1,2026-06-01
            A5,0,2026-06-01
            A6,1,2026-06-01
            A7,1,2026-06-01
            A8,0,2026-06-01
            Z9,1,2026-06-01

            """)
    }

    func json(_ result: Run) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    }

    @Test func shadowRunAsJSONWithOutcomes() async throws {
        let directory = try await auditLog(Self.shadowRecords())
        let outcomes = try outcomesFile()
        let result = try run(["audit", "compare", "--dir", directory, "--outcomes", outcomes, "--top", "5", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try json(result)
        #expect(report["records"] as? Int == 10)
        #expect(report["audit_dir"] as? String == directory)
        #expect(report["since"] is NSNull)
        #expect(report["first_time"] as? String == "2026-01-01T00:00:01.000Z")
        #expect(report["last_time"] as? String == "2026-01-01T00:00:10.000Z")
        #expect(report["outcomes_file"] as? String == outcomes)

        let versions = try #require(report["versions"] as? [[String: Any]])
        #expect(versions.count == 1)
        #expect(versions[0]["model_version"] as? String == "1" && versions[0]["role"] as? String == "champion")
        #expect(versions[0]["applications"] as? Int == 10)
        #expect(abs((versions[0]["mean_pd"] as? Double ?? 0) - 0.34) < 1e-12)
        #expect(versions[0]["approval_rate"] as? Double == 0.4)
        let mix = try #require(versions[0]["decisions"] as? [String: Any])
        #expect(mix["approve"] as? Int == 4 && mix["review"] as? Int == 3 && mix["decline"] as? Int == 3 && mix["other"] as? Int == 0)

        let pairs = try #require(report["shadow"] as? [[String: Any]])
        #expect(pairs.count == 1)
        let pair = pairs[0]
        #expect(pair["champion_version"] as? String == "1" && pair["challenger_version"] as? String == "2")
        #expect(pair["applications"] as? Int == 10 && pair["agreements"] as? Int == 6 && pair["agreement_rate"] as? Double == 0.6)
        let matrix = try #require(pair["swap_matrix"] as? [String: [String: Int]])
        #expect(matrix == [
            "approve": ["approve": 3, "review": 1, "decline": 0],
            "review": ["approve": 1, "review": 1, "decline": 1],
            "decline": ["approve": 0, "review": 1, "decline": 2],
        ])
        #expect(abs((pair["pd_pearson"] as? Double ?? 0) - 0.8783325378763882) < 1e-12)
        #expect(abs((pair["pd_spearman"] as? Double ?? 0) - 0.9030303030303028) < 1e-12)
        #expect(abs((pair["mean_pd_difference"] as? Double ?? 0) - 0.031) < 1e-12)
        let largest = try #require(pair["largest_disagreements"] as? [[String: Any]])
        #expect(largest.compactMap { $0["application_id"] as? String } == ["A7", "A9", "A3", "A5", "A10"])
        #expect(largest.first?["champion_pd"] as? Double == 0.4 && largest.first?["challenger_pd"] as? Double == 0.6)
        #expect(largest.first?["decision_swap"] as? Bool == true && largest.last?["decision_swap"] as? Bool == false)
        #expect(largest.first?["sequence"] as? Int == 7)

        let joined = try #require(report["outcomes"] as? [String: Any])
        #expect(joined["outcome_rows"] as? Int == 9 && joined["matched"] as? Int == 8 && joined["unmatched_outcomes"] as? Int == 1)
        let versionOutcomes = try #require((joined["versions"] as? [[String: Any]])?.first?["summary"] as? [String: Any])
        #expect(versionOutcomes["loans"] as? Int == 8 && versionOutcomes["defaults"] as? Int == 3)
        #expect(abs((versionOutcomes["roc_auc"] as? Double ?? 0) - 0.7333333333333333) < 1e-12)
        #expect(abs((versionOutcomes["brier"] as? Double ?? 0) - 0.23125) < 1e-12)
        let shadowOutcomes = try #require((joined["shadow"] as? [[String: Any]])?.first)
        let challenger = try #require(shadowOutcomes["challenger"] as? [String: Any])
        #expect(challenger["loans"] as? Int == 8)
        #expect(abs((challenger["roc_auc"] as? Double ?? 0) - 0.8) < 1e-12)
        #expect(abs((challenger["brier"] as? Double ?? 0) - 0.1821125) < 1e-12)
        #expect(abs((challenger["ks"] as? Double ?? 0) - 0.6) < 1e-12)
    }

    @Test func shadowRunAsAlignedTables() async throws {
        let directory = try await auditLog(Self.shadowRecords())
        let result = try run(["audit", "compare", "--dir", directory, "--outcomes", try outcomesFile(), "--top", "3"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first == "Audit log \(directory): 10 decision(s), 2026-01-01T00:00:01.000Z to 2026-01-01T00:00:10.000Z")
        for expected in [
            "  model  version  role      applications  mean PD  approval     approve      review     decline",
            "  tiny   1        champion            10  34.00 %   40.00 %  4 (40.0 %)  3 (30.0 %)  3 (30.0 %)",
            "Shadow: challenger 2 beside champion 1 (tiny): 10 application(s) scored by both",
            "  agreement     60.00 % (6 of 10 with the same decision)",
            "  mean PD       champion 34.00 %, challenger 37.10 %, difference (challenger − champion) +3.10 points",
            "  correlation   Pearson 0.8783, Spearman 0.9030 (of the two PDs)",
            "    champion \\ challenger  approve  review  decline",
            "    approve                      3       1        0",
            "    review                       1       1        1",
            "    decline                      0       1        2",
            "  Largest disagreements (decision swaps first, then by |PD difference|; top 3)",
            "    application  champion PD  decision  challenger PD  decision  difference",
            "    A7                0.4000  review           0.6000  decline      +0.2000",
            "    A9                0.6000  decline          0.4200  review       -0.1800",
            "    A3                0.1500  approve          0.3000  review       +0.1500",
            "  model  version  role      loans  defaults  mean PD  observed  ROC AUC      KS   Brier",
            "  tiny   1        champion      8         3  26.25 %   37.50 %   0.7333  0.6000  0.2313",
            "    model  version  role        loans  defaults  mean PD  observed  ROC AUC      KS   Brier",
            "    tiny   1        champion        8         3  26.25 %   37.50 %   0.7333  0.6000  0.2313",
            "    tiny   2        challenger      8         3  31.13 %   37.50 %   0.8000  0.6000  0.1821",
        ] {
            #expect(lines.contains(expected), "missing line: \(expected)\n\(result.stdout)")
        }
        #expect(result.stdout.contains("Matured loans (\(folder.appendingPathComponent("outcomes.csv").path)): 8 of 9 outcome(s) matched an audited decision, 1 without one"))
    }

    @Test func splitModeListsEachRoleAndSaysThereAreNoShadowRecords() async throws {
        let records = (1...4).map { (i: Int) -> AuditRecord in
            let challenger = i == 3
            let decision = i == 4 ? "decline" : "approve"
            return AuditRecord(time: Date(timeIntervalSince1970: Self.start + Double(i)), requestID: UInt64(i), applicationID: "S\(i)",
                               modelName: "tiny", modelVersion: challenger ? "2" : "1", inputHash: AuditRecord.inputHash(fields: ["\(i)"]),
                               pd: Double(i) / 10, decision: decision, riskLevel: "C", reasonCodes: [], client: nil,
                               role: challenger ? "challenger" : "champion")
        }
        let directory = try await auditLog(records)
        let text = try run(["audit", "compare", "--dir", directory])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("  tiny   1        champion               3  23.33 %   66.67 %   2 (66.7 %)  0 (0.0 %)  1 (33.3 %)"), "\(text.stdout)")
        #expect(text.stdout.contains("  tiny   2        challenger             1  30.00 %  100.00 %  1 (100.0 %)  0 (0.0 %)   0 (0.0 %)"), "\(text.stdout)")
        #expect(text.stdout.contains("Shadow: no shadow records"))
        let report = try json(try run(["audit", "compare", "--dir", directory, "--json"]))
        #expect((report["shadow"] as? [Any])?.isEmpty == true)
        #expect(report["outcomes"] is NSNull)
        #expect((report["versions"] as? [[String: Any]])?.compactMap { $0["role"] as? String } == ["champion", "challenger"])
    }

    @Test func sinceKeepsDecisionsAtOrAfterTheTime() async throws {
        let directory = try await auditLog(Self.shadowRecords())
        let result = try run(["audit", "compare", "--dir", directory, "--since", "2026-01-01T00:00:06Z", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try json(result)
        #expect(report["records"] as? Int == 5)
        #expect(report["since"] as? String == "2026-01-01T00:00:06Z")
        #expect(report["first_time"] as? String == "2026-01-01T00:00:06.000Z")
        // A6..A10: agreements A6, A8, A10.
        #expect((report["shadow"] as? [[String: Any]])?.first?["agreements"] as? Int == 3)

        let none = try run(["audit", "compare", "--dir", directory, "--since", "2026-02-01"])
        #expect(none.status == 3)
        #expect(none.stderr.contains("no audit records at or after 2026-02-01 (10 before it)"), "\(none.stderr)")
        let bad = try run(["audit", "compare", "--dir", directory, "--since", "2026-02-30"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("--since: \"2026-02-30\" is not an ISO 8601 date"), "\(bad.stderr)")
    }

    @Test func emptyMissingAndDamagedAuditFoldersExitThree() async throws {
        let empty = try await auditLog([], name: "empty")
        let noRecords = try run(["audit", "compare", "--dir", empty])
        #expect(noRecords.status == 3)
        #expect(noRecords.stderr.contains("the audit log has no records; nothing to compare"), "\(noRecords.stderr)")

        let missing = try run(["audit", "compare", "--dir", folder.appendingPathComponent("nope").path])
        #expect(missing.status == 3)
        #expect(missing.stderr.contains("no such audit folder"), "\(missing.stderr)")

        let directory = try await auditLog(Self.shadowRecords())
        let segment = URL(fileURLWithPath: directory).appendingPathComponent("audit-0000000000000001.log")
        var bytes = try Data(contentsOf: segment)
        bytes[20] ^= 0xFF  // inside the first record's payload
        try bytes.write(to: segment)
        let damaged = try run(["audit", "compare", "--dir", directory])
        #expect(damaged.status == 3)
        #expect(damaged.stderr.contains("error: audit log: audit-0000000000000001.log: checksum mismatch in the frame at byte 0"), "\(damaged.stderr)")
    }

    @Test func usageErrorsExitTwo() throws {
        let noDirectory = try run(["audit", "compare"])
        #expect(noDirectory.status == 2)
        #expect(noDirectory.stderr.contains("--dir"), "\(noDirectory.stderr)")
        let negativeTop = try run(["audit", "compare", "--dir", folder.path, "--top=-1"])
        #expect(negativeTop.status == 2)
        #expect(negativeTop.stderr.contains("--top must be 0 or more"), "\(negativeTop.stderr)")
    }

    @Test func badOutcomesFilesExitThreeNamingFileRowAndField() async throws {
        let directory = try await auditLog(Self.shadowRecords())
        let badValue = try file("bad.csv", "id,defaulted,observed_at\nA1,0,2026-06-01\nA2,yes,2026-06-01\n")
        let result = try run(["audit", "compare", "--dir", directory, "--outcomes", badValue])
        #expect(result.status == 3)
        #expect(result.stderr.contains("\(badValue): row 2 (line 3): field 'defaulted': \"yes\" is not 0 or 1"), "\(result.stderr)")

        let noColumn = try file("nocolumn.csv", "id,observed_at\nA1,2026-06-01\n")
        let missing = try run(["audit", "compare", "--dir", directory, "--outcomes", noColumn])
        #expect(missing.status == 3)
        #expect(missing.stderr.contains("missing column(s) 'defaulted'"), "\(missing.stderr)")

        let strangers = try file("strangers.csv", "id,defaulted,observed_at\nX1,0,2026-06-01\n")
        let unmatched = try run(["audit", "compare", "--dir", directory, "--outcomes", strangers])
        #expect(unmatched.status == 3)
        #expect(unmatched.stderr.contains("none of its 1 outcome id(s) has a decision in \(directory)"), "\(unmatched.stderr)")
    }
}
