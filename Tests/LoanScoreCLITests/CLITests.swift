import Foundation
import LoanScoreTestSupport
import Testing

/// Runs the built `loanscore` executable, as a user would, and checks exit codes, messages
/// and outputs.
@Suite("loanscore command line")
struct CLITests {
    typealias Run = BuiltExecutable.Run

    /// The `loanscore` binary beside the test bundle in the build folder (SwiftPM builds it
    /// because this target depends on it).
    static let binary = BuiltExecutable("loanscore")

    func run(_ arguments: [String]) throws -> Run {
        guard Self.binary.exists else {
            Issue.record("loanscore executable not found at \(Self.binary.url.path); build with 'swift build'")
            return Run(status: -1, stdout: "", stderr: "")
        }
        return try Self.binary.run(arguments)
    }

    let folder = try! TinyBundle.temporaryDirectory()
    var bundle: String { folder.appendingPathComponent("bundle").path }

    init() throws {
        try TinyBundle.write(to: folder.appendingPathComponent("bundle"))
    }

    func file(_ name: String, _ text: String) throws -> String {
        let url = folder.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    let header = "application_id,amount,income,home,records,term"

    func score(_ csv: String, _ extra: [String] = []) throws -> (Run, output: String) {
        let input = try file("in.csv", csv)
        let output = folder.appendingPathComponent("out.csv").path
        return (try run(["score", "--bundle", bundle, "--input", input, "--output", output] + extra), output)
    }

    @Test func scoresAFileAndWritesTheOutputAtomically() throws {
        let (result, output) = try score("\(header)\nA1,500,1000,rent,no,12\nA2,5000,100,own,yes,24\n", ["--json", "--members"])
        #expect(result.status == 0, "\(result.stderr)")
        let summary = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(summary?["rows_in"] as? Int == 2)
        #expect(summary?["rows_scored"] as? Int == 2)
        #expect(summary?["rows_rejected"] as? Int == 0)
        let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n")
        #expect(lines.first == "id,pd,risk_level,decision,confidence,reasons,reason_texts,flags,model_version,pd_xgboost,pd_forest,pd_logistic")
        #expect(lines.count == 3)
        #expect(lines[1].hasPrefix("A1,"))
        #expect(lines[1].contains(",review,"))
        #expect(lines[2].contains(",decline,"))
        #expect(lines[2].contains("R01;R04;R02"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty, "no temporary file is left behind")
    }

    @Test func contributionsAreTheAttributionsTheReasonCodesRank() throws {
        let (result, output) = try score("\(header)\nA1,500,1000,rent,no,12\nA2,5000,100,own,yes,24\n", ["--contributions"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let fields = ["amount", "income", "home", "records", "term"]
        #expect(Array(lines[0].suffix(5)) == fields.map { "contribution_\($0)" })
        // A2's reasons are R01;R04;R02 (amount, records, income): exactly its positive
        // contributions, largest first.
        let values = lines[2].suffix(5).compactMap(Double.init)
        #expect(values.count == 5)
        let positive = zip(fields, values).filter { $0.1 > 0 }.sorted { $0.1 > $1.1 }.map(\.0)
        #expect(positive == ["amount", "records", "income"])
        #expect(lines[2][5] == "R01;R04;R02")
    }

    @Test func contributionsNeedABundle() throws {
        let result = try run(["score", "--server", "127.0.0.1:1", "--input", "x.csv", "--output", "y.csv", "--contributions"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("--contributions needs --bundle"))
    }

    @Test func resultsDoNotDependOnColumnOrderOrNeighbours() throws {
        let (alone, out1) = try score("\(header)\nA2,5000,100,own,yes,24\n")
        #expect(alone.status == 0)
        let first = try String(contentsOfFile: out1, encoding: .utf8).split(separator: "\n")[1]
        let (mixed, out2) = try score("term,records,home,income,amount,application_id\n12,no,rent,1000,500,A1\n24,yes,own,100,5000,A2\n")
        #expect(mixed.status == 0)
        let second = try String(contentsOfFile: out2, encoding: .utf8).split(separator: "\n")[2]
        #expect(first == second)
    }

    @Test func rejectedRowsGoToTheRejectsFileWithTheirReasons() throws {
        let rejects = folder.appendingPathComponent("rejects.csv").path
        let (result, output) = try score("\(header)\nA1,500,1000,rent,no,12\nA2,abc,1000,rent,no,12\n", ["--rejects", rejects, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("\"rows_rejected\":1"))
        let rejected = try String(contentsOfFile: rejects, encoding: .utf8)
        #expect(rejected.contains("row,application_id,amount,income,home,records,term,rejection_reasons"))
        #expect(rejected.contains("2,A2,abc,1000,rent,no,12,\"field 'amount': is not a number (value \"\"abc\"\"; expected a number in [0, 100000] EUR, required)\""))
        #expect(try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").count == 2)
    }

    @Test func textInANumericFieldExitsThreeNamingFileRowFieldValue() throws {
        let (result, _) = try score("\(header)\nA1,500,lots,rent,no,12\n")
        #expect(result.status == 3)
        #expect(result.stderr.contains("in.csv: row 1: field 'income': is not a number (value \"lots\"; expected a number in [0, ∞] EUR per month)"))
    }

    @Test func negativeAmountExitsThree() throws {
        let (result, _) = try score("\(header)\nA1,-500,1000,rent,no,12\n")
        #expect(result.status == 3)
        #expect(result.stderr.contains("field 'amount': is negative (value \"-500\"; expected a number in [0, 100000] EUR, required)"))
    }

    @Test(arguments: ["NaN", "inf", "-Infinity"])
    func nonFiniteNumbersExitThree(text: String) throws {
        let (result, _) = try score("\(header)\nA1,\(text),1000,rent,no,12\n")
        #expect(result.status == 3)
        #expect(result.stderr.contains("field 'amount': is not a finite number (write missing values as an empty cell) (value \"\(text)\""))
    }

    @Test func emptyFileExitsThree() throws {
        let (result, _) = try score("")
        #expect(result.status == 3)
        #expect(result.stderr.contains("in.csv: the file is empty (expected a header row naming the schema's fields)"))
    }

    @Test func missingColumnExitsThree() throws {
        let (result, output) = try score("application_id,amount,income,home,records\nA1,500,1000,rent,no\n")
        #expect(result.status == 3)
        #expect(result.stderr.contains("missing column(s) 'term' required by schema 'tiny'"))
        #expect(!FileManager.default.fileExists(atPath: output), "no output is written for a refused file")
    }

    @Test func unknownColumnExitsThree() throws {
        let (result, _) = try score("\(header),shoe_size\nA1,500,1000,rent,no,12,44\n")
        #expect(result.status == 3)
        #expect(result.stderr.contains("unknown column(s) 'shoe_size'"))
    }

    @Test func usageErrorsExitTwo() throws {
        let missing = try run(["score", "--bundle", bundle])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("Missing expected argument '--input <input>'"))
        #expect(try run(["frobnicate"]).status == 2)
    }

    @Test func helpExitsZero() throws {
        let help = try run(["--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("Exit codes: 0 success, 1 internal error, 2 usage error, 3 invalid data"))
    }

    @Test func aTamperedBundleIsRefusedWithExitThree() throws {
        try Data("{\"x\": 1}".utf8).write(to: folder.appendingPathComponent("bundle/members/logistic.json"))
        let result = try run(["bundle", "inspect", bundle])
        #expect(result.status == 3)
        #expect(result.stderr.contains("error: bundle refused: members/logistic.json: sha256 is"))
    }

    @Test func predictScoresOneJSONApplication() throws {
        let application = #"{"amount": 5000, "income": 100, "home": "own", "records": true, "term": 24}"#
        let result = try run(["predict", "--bundle", bundle, "--application", application, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(object?["decision"] as? String == "decline")
        let reasons = object?["reasons"] as? [[String: Any]]
        #expect(reasons?.compactMap { $0["code"] as? String } == ["R01", "R04", "R02"])
        let text = try run(["predict", "--bundle", bundle, "--application", application])
        #expect(text.stdout.contains("Decision    decline"))
    }

    @Test func predictRefusesUnknownFieldsAndBadValues() throws {
        let unknown = try run(["predict", "--bundle", bundle, "--application", #"{"amount": 5, "colour": "red"}"#])
        #expect(unknown.status == 3)
        #expect(unknown.stderr.contains("unknown field(s) 'colour'"))
        let bad = try run(["predict", "--bundle", bundle, "--application", #"{"amount": -5, "home": "own", "records": "no", "term": 1}"#])
        #expect(bad.status == 3)
        #expect(bad.stderr.contains("field 'amount': is negative"))
        let notJSON = try run(["predict", "--bundle", bundle, "--application", "amount=5"])
        #expect(notJSON.status == 3)
    }

    @Test func featuresWritesTheMatrixAndFailsOnInvalidRows() throws {
        let schema = try file("schema.json", TinyBundle.schemaJSON)
        let input = try file("f.csv", "\(header)\nA1,500,,rent,no,12\n")
        let output = folder.appendingPathComponent("features.csv").path
        let result = try run(["features", "--schema", schema, "--input", input, "--output", output])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try String(contentsOfFile: output, encoding: .utf8) == "row,amount,income,home=rent,home=own,records,amount_to_income\n1,500.0,,1.0,0.0,0.0,\n")
        let invalid = try file("g.csv", "\(header)\nA1,x,,rent,no,12\n")
        let failed = try run(["features", "--schema", schema, "--input", invalid, "--output", output])
        #expect(failed.status == 3)
        #expect(failed.stderr.contains("g.csv: row 1: field 'amount': is not a number"))
    }

    @Test func inspectPrintsTheManifestReadably() throws {
        let result = try run(["bundle", "inspect", bundle])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("Model       tiny test-1"))
        #expect(result.stdout.contains("Members     xgboost (xgboost, weight 0.50), forest (random_forest, weight 0.30), logistic (logistic_regression, weight 0.20)"))
        let json = try run(["bundle", "inspect", bundle, "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(object?["format_version"] as? Int == 1)
    }
}
