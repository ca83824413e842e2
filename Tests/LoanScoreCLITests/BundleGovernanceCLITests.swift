import Foundation
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreTestSupport
import Testing

/// `loanscore bundle verify`'s monotonicity check and `loanscore bundle inspect`'s fairness and
/// cut-off summaries, run as a user would, on the tiny bundle.
@Suite("bundle verify and inspect: governance")
struct BundleGovernanceCLITests {
    typealias Run = BuiltExecutable.Run

    static let binary = BuiltExecutable("loanscore")

    func run(_ arguments: [String]) throws -> Run {
        try #require(Self.binary.exists, "loanscore executable not found at \(Self.binary.url.path); build with 'swift build'")
        return try Self.binary.run(arguments)
    }

    let folder = try! TinyBundle.temporaryDirectory()

    static let holdout = """
    application_id,amount,income,home,records,term,status
    H1,200,100,rent,no,12,good
    H2,500,1000,own,yes,24,good
    H3,900,50,,no,,bad
    H4,1500,300,rent,yes,36,bad
    H5,3000,,own,no,6,good
    H6,8000,5000,rent,no,60,bad

    """

    /// Writes the tiny bundle with `monotone` on the fields of `monotone` and a validation set
    /// whose predictions are LoanScore's own (so the reproduction check passes and only the
    /// monotonicity check is under test); returns the bundle's path.
    func bundle(monotone: [String: String], manifestEdits: @escaping (inout [String: Any]) -> Void = { _ in }) throws -> String {
        var schema = TinyBundle.schemaJSON
        for (field, direction) in monotone {
            schema = schema.replacingOccurrences(of: #"{"name": "\#(field)", "#, with: #"{"name": "\#(field)", "monotone": "\#(direction)", "#)
        }
        var files = TinyBundle.files
        files["schema.json"] = schema
        let scratch = folder.appendingPathComponent("scratch")
        try TinyBundle.write(files: files, to: scratch) { _ in }
        let model = try ModelBundle(directory: scratch)
        var predictions = "row,pd_xgboost,pd_forest,pd_logistic,pd_ensemble,pd\n"
        let holdoutURL = folder.appendingPathComponent("holdout.csv")
        try Data(Self.holdout.utf8).write(to: holdoutURL)
        let file = try ApplicationFile(url: holdoutURL, schema: model.schema)
        while let application = try file.next() {
            let score = model.pipeline.encode(application.values).row.withUnsafeBufferPointer { model.scorer.score($0, explain: false) }
            predictions += "\(application.row)," + (score.memberProbabilities + [score.combined, score.pd]).map { "\($0)" }.joined(separator: ",") + "\n"
        }
        files["validation/holdout.csv"] = Self.holdout
        files["validation/predictions.csv"] = predictions
        let directory = folder.appendingPathComponent("bundle")
        try TinyBundle.write(files: files, to: directory) { manifest in
            manifest["validation"] = ["holdout": "validation/holdout.csv", "predictions": "validation/predictions.csv"]
            manifestEdits(&manifest)
        }
        return directory.path
    }

    @Test func verifyPrintsOneLinePerMonotoneFieldAndPassesAModelThatFollowsThem() throws {
        let result = try run(["bundle", "verify", try bundle(monotone: ["amount": "increasing", "income": "decreasing", "records": "increasing"])])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("monotone amount increasing: 0 violations over 6 applications × 6 values\n"), "\(result.stdout)")
        #expect(result.stdout.contains("monotone income decreasing: 0 violations over 6 applications × 5 values\n"))
        #expect(result.stdout.contains("monotone records increasing: 0 violations over 6 applications × 2 values\n"))
    }

    @Test func verifyFailsOnAViolationNamingTheFieldRowAndValues() throws {
        let path = try bundle(monotone: ["amount": "decreasing"])
        let result = try run(["bundle", "verify", path])
        #expect(result.status == 3)
        #expect(result.stdout.contains("monotone amount decreasing: "), "\(result.stdout)")
        #expect(!result.stdout.contains("monotone amount decreasing: 0 violations"))
        #expect(result.stderr.contains("the model breaks the schema's monotone constraints: amount is declared decreasing but"), "\(result.stderr)")
        #expect(result.stderr.contains("row 1: amount 200 → 500 moves the PD from "))
        let json = try run(["bundle", "verify", path, "--json"])
        #expect(json.status == 3)
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(object?["passed"] as? Bool == false)
        let fields = object?["monotone"] as? [[String: Any]]
        #expect(fields?.first?["field"] as? String == "amount")
        #expect((fields?.first?["violations"] as? Int ?? 0) > 0)
    }

    @Test func verifyOfABundleWithoutMonotoneFieldsPrintsNothingNew() throws {
        let result = try run(["bundle", "verify", try bundle(monotone: [:])])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stdout.contains("monotone"))
        let json = try run(["bundle", "verify", folder.appendingPathComponent("bundle").path, "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(object?["monotone"] == nil)
        #expect(object?["passed"] as? Bool == true)
    }

    static var fairness: [String: Any] { [
        "threshold": 0.8, "passed": false,
        "groups": [
            ["field": "age_in_years", "group": "under 25", "applicants": 120, "default_rate": 0.42, "approval_rate": 0.35,
             "roc_auc": 0.71, "adverse_impact_ratio": 0.5, "flagged": true],
            ["field": "age_in_years", "group": "25-61", "applicants": 800, "default_rate": 0.28, "approval_rate": 0.7,
             "roc_auc": 0.78, "adverse_impact_ratio": 1.0, "flagged": false],
            ["field": "age_in_years", "group": "62 and over", "applicants": 9, "default_rate": 0.0, "approval_rate": 0.9,
             "roc_auc": NSNull(), "adverse_impact_ratio": 1.2857, "flagged": false],
        ],
    ] }

    static var cutoffs: [String: Any] { [
        "lgd": 0.45, "margin": 0.1, "exposure_field": "amount", "target_approval_rate": NSNull(),
        "break_even_pd": 0.181818, "approve_below": 0.16, "decline_at": 0.3, "rule": "approve_below maximises expected profit",
        "table": [
            ["pd_cutoff": 0.1, "approval_rate": 0.4, "bad_rate": 0.05, "expected_loss": 1234.5, "profit": 9876.0],
            ["pd_cutoff": 0.16, "approval_rate": 0.6, "bad_rate": 0.08, "expected_loss": 2345.5, "profit": 10234.0],
        ],
    ] }

    @Test func inspectPrintsTheFairnessAndCutOffSummaries() throws {
        let path = try bundle(monotone: [:]) { manifest in
            manifest["fairness"] = Self.fairness
            manifest["cutoffs"] = Self.cutoffs
        }
        let result = try run(["bundle", "inspect", path])
        #expect(result.status == 0, "\(result.stderr)")
        let out = result.stdout
        #expect(out.contains("Fairness (training tool; adverse impact ratio flagged below 0.80): FAILED"), "\(out)")
        #expect(out.contains("age_in_years  under 25     120        0.4200   0.3500   0.7100  0.500   FLAGGED"))
        #expect(out.contains("age_in_years  62 and over  9          0.0000   0.9000   -       1.286   \n"))
        #expect(out.contains("LGD 0.45, margin 0.1, exposure field 'amount', target approval rate -"))
        #expect(out.contains("break-even PD 0.1818, approve below 0.1600, decline at 0.3000"))
        #expect(out.contains("rule: approve_below maximises expected profit"))
        #expect(out.contains("0.1600      0.6000      0.0800      2345.50     10234.00"))
        let json = try run(["bundle", "inspect", path, "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect((object?["fairness"] as? [String: Any])?["threshold"] as? Double == 0.8)
        #expect((object?["cutoffs"] as? [String: Any])?["exposure_field"] as? String == "amount")
    }

    @Test func inspectOfABundleWithoutThemPrintsAsBefore() throws {
        let result = try run(["bundle", "inspect", try bundle(monotone: [:])])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stdout.contains("Fairness"))
        #expect(!result.stdout.contains("Cut-offs from"))
        let json = try run(["bundle", "inspect", folder.appendingPathComponent("bundle").path, "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(object?["fairness"] == nil && object?["cutoffs"] == nil)
    }

    @Test(arguments: [
        (#"[{"name": "amount", "type": "number"}, {"name": "Age", "type": "integer", "protected": true}]"#,
         #"[{"name": "amount_per_age", "kind": "ratio", "inputs": ["amount", "Age"]}]"#,
         "derived[0] 'amount_per_age': input 'Age' is a protected field; a derived feature may not use it (train with --allow-protected Age"),
        (#"[{"name": "amount", "type": "number"}, {"name": "Home", "type": "category", "levels": ["rent"], "monotone": "decreasing"}]"#, "[]",
         "fields[1] 'Home': monotone applies to numeric and boolean fields; 'Home' is a category"),
        (#"[{"name": "amount", "type": "number"}, {"name": "Home", "type": "category", "levels": ["rent"], "exposure": true}]"#, "[]",
         "fields[1] 'Home': the exposure field must be a number or an integer; 'Home' is a category"),
    ])
    func aSchemaWithAGovernanceMistakeIsRefusedWithExit3NamingTheField(fields: String, derived: String, message: String) throws {
        let schema = folder.appendingPathComponent("schema.json")
        try Data(#"{"format": "loanscore-schema/1", "name": "t", "fields": \#(fields), "derived": \#(derived)}"#.utf8).write(to: schema)
        let input = folder.appendingPathComponent("in.csv")
        try Data("amount\n1\n".utf8).write(to: input)
        let result = try run(["features", "--schema", schema.path, "--input", input.path, "--output", folder.appendingPathComponent("out.csv").path])
        #expect(result.status == 3)
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }
}
