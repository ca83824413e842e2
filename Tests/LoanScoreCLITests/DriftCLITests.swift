import Foundation
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreMonitoring
import LoanScoreTestSupport
import Testing

/// `loanscore drift`, `features --slots`, and the anomaly flags of `score` and `predict`, on
/// TinyBundle with its hand-made reference bins (TinyBundleReference.swift).
@Suite("loanscore drift and anomaly flags", .serialized)
struct DriftCLITests {
    typealias Run = BuiltExecutable.Run
    static let binary = BuiltExecutable("loanscore")

    let folder = try! TinyBundle.temporaryDirectory()
    var bundle: String { folder.appendingPathComponent("bundle").path }
    var plainBundle: String { folder.appendingPathComponent("plain").path }

    init() throws {
        try TinyBundle.writeWithReference(to: folder.appendingPathComponent("bundle"))
        try TinyBundle.write(to: folder.appendingPathComponent("plain"))
    }

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

    static let header = "application_id,amount,income,home,records,term"
    static let rows = [
        "A1,500,1000,rent,no,12", "A2,5000,100,own,yes,24", "A3,50,,flat,no,12", "A4,800,2500,own,no,",
        "A5,1200,1500,rent,yes,12", "A6,300,99999999,own,no,12",
    ]

    /// The report the library computes for `rows`: encoded, scored and added one block, in order.
    func expectedReport(_ rows: [String], capacity: Int = 10_000) throws -> DriftReport {
        let bundle = try ModelBundle(directory: URL(fileURLWithPath: self.bundle))
        let window = try #require(DriftWindow(bundle: bundle, capacity: capacity))
        var matrix: [Double] = [], slots: [Double] = []
        for row in rows {
            let cells = row.split(separator: ",", omittingEmptySubsequences: false).dropFirst().map { RawValue.text(String($0)) }
            var features = [Double](repeating: .nan, count: bundle.pipeline.featureNames.count)
            var one = [Double](repeating: .nan, count: bundle.pipeline.slotCount)
            let outcome = features.withUnsafeMutableBufferPointer { f in one.withUnsafeMutableBufferPointer { bundle.pipeline.encode(cells, into: f, slots: $0) } }
            guard case .accepted = outcome else { continue }
            matrix += features
            slots += one
        }
        let count = slots.count / bundle.pipeline.slotCount
        let pds = matrix.withUnsafeBufferPointer { bundle.scorer.score(batch: $0, rows: count, explain: false) }.map(\.pd)
        slots.withUnsafeBufferPointer { s in pds.withUnsafeBufferPointer { window.add(slots: s, pds: $0, rows: count) } }
        return try #require(window.report())
    }

    @Test func jsonIsTheLibrarysReportOfTheSameApplications() throws {
        let input = try file("in.csv", ([Self.header] + Self.rows).joined(separator: "\n") + "\n")
        let result = try run(["drift", "--bundle", bundle, "--input", input, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let expected = String(decoding: try expectedReport(Self.rows).json(), as: UTF8.self)
        #expect(result.stdout == expected + "\n")
        let report = try JSONDecoder().decode(DriftReport.self, from: Data(result.stdout.utf8))
        #expect(report.applications == 6 && report.modelVersion == "test-1")
        #expect(report.fields.map(\.field) == ["amount", "income", "home", "records", "term", "amount_to_income", "pd"])
    }

    @Test func theWindowKeepsTheLastApplications() throws {
        let input = try file("in.csv", ([Self.header] + Self.rows).joined(separator: "\n") + "\n")
        let result = try run(["drift", "--bundle", bundle, "--input", input, "--json", "--window", "2"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == String(decoding: try expectedReport(Array(Self.rows.suffix(2))).json(), as: UTF8.self) + "\n")
    }

    @Test func theTableNamesEachFieldItsPSIAndBand() throws {
        let input = try file("in.csv", ([Self.header] + Self.rows).joined(separator: "\n") + "\n")
        let result = try run(["drift", "--bundle", bundle, "--input", input])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try expectedReport(Self.rows)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.contains("6 application(s)") == true, "\(result.stdout)")
        for field in report.fields {
            let line = try #require(lines.first { $0.hasPrefix(field.field + " ") }, "no line for \(field.field)")
            #expect(line.contains(String(format: "%.4f", field.psi)) && line.contains(field.band.rawValue), "\(line)")
        }
    }

    @Test func aBundleWithoutReferenceExits3() throws {
        let input = try file("in.csv", "\(Self.header)\nA1,500,1000,rent,no,12\n")
        let result = try run(["drift", "--bundle", plainBundle, "--input", input])
        #expect(result.status == 3)
        #expect(result.stderr.contains("\(plainBundle): the bundle has no reference bins"), "\(result.stderr)")
    }

    @Test func invalidRowsAreLeftOutNamedAndExit3() throws {
        let input = try file("bad.csv", "\(Self.header)\nA1,500,1000,rent,no,12\nA2,-5,1000,rent,no,12\n")
        let result = try run(["drift", "--bundle", bundle, "--input", input, "--json"])
        #expect(result.status == 3)
        #expect(result.stderr.contains("\(input): row 2: field 'amount'"), "\(result.stderr)")
        #expect(result.stdout == String(decoding: try expectedReport(["A1,500,1000,rent,no,12"]).json(), as: UTF8.self) + "\n")
        let usage = try run(["drift", "--bundle", bundle, "--input", input, "--window", "0"])
        #expect(usage.status == 2 && usage.stderr.contains("--window must be at least 1"))
    }

    /// A window far larger than the file costs only what it holds: --window 10^12 died with
    /// SIGABRT allocating the ring, `Int.max` with SIGILL on `capacity × fields`.
    @Test(arguments: ["1000000000000", "9223372036854775807"])
    func aHugeWindowIsNotAllocatedUpFront(window: String) throws {
        let input = try file("in.csv", ([Self.header] + Self.rows).joined(separator: "\n") + "\n")
        let result = try run(["drift", "--bundle", bundle, "--input", input, "--json", "--window", window])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == String(decoding: try expectedReport(Self.rows).json(), as: UTF8.self) + "\n")
    }

    /// When every row is invalid there is no report, and the rows' problems are still named
    /// (they were only counted: "2 row(s), 2 rejected").
    @Test func allRowsInvalidNamesTheirProblems() throws {
        let input = try file("bad.csv", "\(Self.header)\nA1,-5,1000,rent,no,12\nA2,abc,1000,rent,no,12\n")
        let result = try run(["drift", "--bundle", bundle, "--input", input])
        #expect(result.status == 3)
        #expect(result.stderr.contains("\(input): row 1: field 'amount'") && result.stderr.contains("\(input): row 2: field 'amount'"), "\(result.stderr)")
        #expect(result.stderr.contains("no valid application to compare (2 row(s), 2 rejected)"), "\(result.stderr)")
    }

    @Test func scoreAndPredictAddAnomalyFlags() throws {
        let input = try file("in.csv", ([Self.header] + Self.rows).joined(separator: "\n") + "\n")
        let output = folder.appendingPathComponent("out.csv").path
        let scored = try run(["score", "--bundle", bundle, "--input", input, "--output", output])
        #expect(scored.status == 0, "\(scored.stderr)")
        let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").map(String.init)
        let flags = try CSVReader(url: URL(fileURLWithPath: output))
        _ = try flags.next()
        var byID: [String: String] = [:]
        while let record = try flags.next() { byID[record.fields[0]] = record.fields[7] }
        #expect(byID["A1"] == "", "\(lines)")
        // A2: amount 5000 at max (fine), income 100 < 200, term 24 > 12.
        #expect(byID["A2"] == "out_of_range:income; out_of_range:term")
        // A3: amount 50 < 100; an unseen level (missing, share 0).
        #expect(byID["A3"] == "home: unseen level \"flat\" treated as missing; out_of_range:amount; unseen_bin:home")
        // A4: a missing term (share 0).
        #expect(byID["A4"] == "unseen_bin:term")

        let predicted = try run(["predict", "--bundle", bundle, "--json", "--application",
                                 #"{"amount": 50, "income": 1000, "home": "rent", "records": "no", "term": 12}"#])
        #expect(predicted.status == 0, "\(predicted.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(predicted.stdout.utf8)) as? [String: Any]
        #expect(object?["flags"] as? [String] == ["out_of_range:amount"])
        // Without reference bins: no anomaly flags, as before.
        let plain = try run(["predict", "--bundle", plainBundle, "--json", "--application",
                             #"{"amount": 50, "income": 1000, "home": "rent", "records": "no", "term": 12}"#])
        #expect((try JSONSerialization.jsonObject(with: Data(plain.stdout.utf8)) as? [String: Any])?["flags"] as? [String] == [])
    }

    @Test func featuresSlotsWritesEverySlot() throws {
        let schema = try file("schema.json", TinyBundle.schemaJSON)
        let input = try file("in.csv", "\(Self.header)\nA1,500,1000,own,yes,12\nA2,500,99999999,flat,no,\n")
        let output = folder.appendingPathComponent("slots.csv").path
        let result = try run(["features", "--schema", schema, "--input", input, "--output", output, "--slots"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try String(contentsOfFile: output, encoding: .utf8)
            == "row,amount,income,home,records,term,amount_to_income\n1,500.0,1000.0,1.0,1.0,12.0,0.5\n2,500.0,,,0.0,,\n")
    }
}
