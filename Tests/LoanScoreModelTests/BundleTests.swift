import Foundation
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreTestSupport
import Testing

@Suite("Bundle loading and scoring")
struct BundleTests {
    func load(_ edit: (inout [String: Any]) -> Void = { _ in }, after: (URL) throws -> Void = { _ in }) throws -> ModelBundle {
        let directory = try TinyBundle.temporaryDirectory()
        try TinyBundle.write(to: directory, manifestEdits: edit)
        try after(directory)
        return try ModelBundle(directory: directory)
    }

    func refusal(_ edit: (inout [String: Any]) -> Void = { _ in }, after: (URL) throws -> Void = { _ in }) -> String {
        do {
            _ = try load(edit, after: after)
            return "loaded"
        } catch {
            return "\(error)"
        }
    }

    @Test func scoresAnApplicationAsWorkedOutByHand() throws {
        let bundle = try load()
        let (row, _) = bundle.pipeline.encode([.text("500"), .text("1000"), .text("rent"), .text("no"), .text("12")])
        let score = row.withUnsafeBufferPointer { bundle.scorer.score($0) }
        let pX = Double(Float(1) / (expf(0.75) + 1)), pF = 0.2, pL = 1 / (1 + exp(1.25))
        let combined = 0.5 * pX + 0.3 * pF + 0.2 * pL
        #expect(score.memberProbabilities == [pX, pF, pL])
        #expect(abs(score.combined - combined) < 1e-15)
        #expect(abs(score.pd - 0.8 * combined) < 1e-15, "isotonic points (0,0) (0.5,0.4): slope 0.8")
        #expect(score.decision == .review)
        #expect(score.riskLevel == "medium")
        let mean = combined
        let sigma = (0.5 * (pX - mean) * (pX - mean) + 0.3 * (pF - mean) * (pF - mean) + 0.2 * (pL - mean) * (pL - mean)).squareRoot()
        #expect(abs(score.confidence - (1 - 2 * sigma)) < 1e-12)
        #expect(score.reasons.isEmpty, "nothing raised this applicant's PD")
    }

    @Test func reasonCodesRankTheFieldsThatRaisedThePD() throws {
        let bundle = try load()
        let (row, _) = bundle.pipeline.encode([.text("5000"), .text("100"), .text("own"), .text("yes"), .text("12")])
        let score = row.withUnsafeBufferPointer { bundle.scorer.score($0) }
        let pX = score.memberProbabilities[0], pL = score.memberProbabilities[2]
        let slopeX = pX * (1 - pX), slopeL = pL * (1 - pL)
        // XGBoost: amount +0.75, records +1.0 (margin); forest: amount_to_income +0.3, split
        // between amount and income; logistic: amount 0.5 × 4, records 1.0 × 1 (margin).
        let amount = 0.5 * slopeX * 0.75 + 0.3 * 0.15 + 0.2 * slopeL * 2
        let records = 0.5 * slopeX * 1.0 + 0.2 * slopeL * 1
        let income = 0.3 * 0.15
        #expect(score.reasons.map(\.code) == ["R01", "R04", "R02"])
        #expect(score.reasons.map(\.text) == ["Amount requested too high", "Record of past arrears", "Income too low"])
        let contributions = score.reasons.map(\.contribution)
        for (ours, expected) in zip(contributions, [amount, records, income]) { #expect(abs(ours - expected) < 1e-12) }
        #expect(score.decision == .decline)
    }

    @Test(arguments: [1, 3, 4, 7, 8, 9, 64])
    func batchScoresEqualSingleScoresWhateverTheBatch(batchSize: Int) throws {
        let bundle = try load()
        let scorer = bundle.scorer
        var generator = SystemRandomNumberGenerator()
        let applications: [[RawValue]] = (0..<67).map { i in
            [.number(Double(Int.random(in: 0...20_000, using: &generator))),
             i % 5 == 0 ? .missing : .number(Double(Int.random(in: 0...3000, using: &generator))),
             i % 7 == 0 ? .missing : .text(i % 2 == 0 ? "rent" : "own"), .text(i % 3 == 0 ? "yes" : "no"), .number(12)]
        }
        let rows = applications.map { bundle.pipeline.encode($0).row }
        let single = rows.map { row in row.withUnsafeBufferPointer { scorer.score($0) } }
        var batched: [Score] = []
        for start in stride(from: 0, to: rows.count, by: batchSize) {
            let block = Array(rows[start..<min(start + batchSize, rows.count)].joined())
            batched += block.withUnsafeBufferPointer { scorer.score(batch: $0, rows: min(batchSize, rows.count - start)) }
        }
        #expect(batched == single)
    }

    @Test("one ScoreBatch reused for batches of any size holds exactly the last batch's scores")
    func scoreBatchReuse() throws {
        let bundle = try load()
        let scorer = bundle.scorer
        let applications: [[RawValue]] = (0..<64).map { (i: Int) -> [RawValue] in
            let amount = RawValue.number(Double(i * 311 % 20_000))
            let income: RawValue = i % 5 == 0 ? .missing : .number(Double(i * 97 % 3000))
            let home: RawValue = i % 7 == 0 ? .missing : .text(i % 2 == 0 ? "rent" : "own")
            return [amount, income, home, .text(i % 3 == 0 ? "yes" : "no"), .number(12)]
        }
        let rows = applications.map { bundle.pipeline.encode($0).row }
        var scores = ScoreBatch()
        for (start, count, explain) in [(0, 64, true), (5, 3, true), (9, 17, false), (40, 1, true), (0, 0, true)] {
            let block = Array(rows[start..<(start + count)].joined())
            block.withUnsafeBufferPointer { scorer.score(batch: $0, rows: count, explain: explain, into: &scores) }
            #expect(scores.rows == count && scores.pd.count == count)
            for r in 0..<count {
                let single = rows[start + r].withUnsafeBufferPointer { scorer.score($0, explain: explain) }
                #expect(scores.pd[r] == single.pd && scores.combined[r] == single.combined)
                #expect(scores.confidence[r] == single.confidence && scores.decision[r] == single.decision)
                #expect(scores.riskLevel[r] == single.riskLevel)
                #expect(scores.reasonFields(row: r).map { scorer.reasonCode(field: $0) } == single.reasons.map(\.code))
            }
        }
    }

    @Test func decisionsAndRiskLevelsAtTheCutOffs() throws {
        let policy = try load().scorer.policy
        #expect(policy.decision(for: 0.1999) == .approve)
        #expect(policy.decision(for: 0.2) == .review)
        #expect(policy.decision(for: 0.5) == .decline)
        #expect(policy.riskLevel(for: 0.2) == "medium")
        #expect(policy.riskLevel(for: 1.0) == "high")
    }

    @Test func calibrationInterpolatesAndClipsLikeNumpy() throws {
        let calibration = try Calibration(Manifest.Calibration(kind: "isotonic", x: [0.1, 0.3, 0.6], y: [0.05, 0.05, 0.5]))
        #expect(calibration.apply(0) == 0.05)
        #expect(calibration.apply(0.2) == 0.05)
        #expect(abs(calibration.apply(0.45) - 0.275) < 1e-15)
        #expect(calibration.apply(0.9) == 0.5)
    }

    @Test func refusesATamperedFile() {
        let message = refusal(after: { dir in
            try Data("{}".utf8).write(to: dir.appendingPathComponent("members/forest.json"))
        })
        #expect(message.hasPrefix("members/forest.json: sha256 is"))
    }

    @Test func refusesAMissingFile() {
        let message = refusal(after: { dir in try FileManager.default.removeItem(at: dir.appendingPathComponent("schema.json")) })
        #expect(message == "schema.json: listed in the manifest but missing")
    }

    @Test func refusesAnUnlistedFile() {
        let message = refusal(after: { dir in try Data("x".utf8).write(to: dir.appendingPathComponent("members/extra.bin")) })
        #expect(message == "members/extra.bin: is in the bundle folder but not listed in the manifest's 'files'")
    }

    @Test func refusesAnotherFormatVersion() {
        #expect(refusal({ $0["format_version"] = 2 }) == "manifest.json: format_version is 2; this LoanScore reads format_version 1")
    }

    @Test func refusesFeaturesTheSchemaDoesNotProduce() {
        #expect(refusal({ $0["features"] = ["amount", "income"] }).hasPrefix("manifest.json: 'features' (2 columns) differs from what the schema produces (6 columns)"))
    }

    @Test func refusesWeightsThatDoNotSumToOne() {
        let message = refusal({ manifest in
            var members = manifest["members"] as! [[String: Any]]
            members[0]["weight"] = 0.9
            manifest["members"] = members
        })
        #expect(message.hasPrefix("manifest.json: member weights sum to 1.4"))
    }

    @Test func refusesInvertedCutOffsAndUnorderedCalibration() {
        #expect(refusal({ $0["policy"] = ["approve_below": 0.6, "decline_at": 0.5, "risk_levels": [["name": "all", "upper": 1.0]]] })
                .hasPrefix("manifest.json: policy: cut-offs must satisfy"))
        #expect(refusal({ $0["calibration"] = ["kind": "isotonic", "x": [0.5, 0.1], "y": [0.1, 0.2]] })
                == "manifest.json: calibration: x must increase strictly (index 1)")
    }

    @Test func refusesAPathThatLeavesTheBundle() {
        #expect(refusal({ manifest in
            var files = manifest["files"] as! [String: String]
            files["../outside.json"] = String(repeating: "0", count: 64)
            manifest["files"] = files
        }) == "manifest.json: file path '../outside.json' leaves the bundle")
    }

    @Test func refusesAFolderWithoutManifest() throws {
        let directory = try TinyBundle.temporaryDirectory()
        #expect(throws: ModelError.self) { try ModelBundle(directory: directory) }
    }
}
