import Foundation
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreTestSupport
import Testing

/// `MonotonicityCheck` on the tiny bundle, whose members are worked out by hand: the PD rises
/// with `amount` (XGBoost splits at 1000, the forest on amount / income at 10, the logistic
/// regression's coefficient is positive) and with `records`, and falls with `income` (only
/// through amount / income in the forest).
@Suite("Monotonicity check")
struct MonotonicityTests {
    /// The tiny bundle with `monotone` added to fields: `edits` maps a field name to a direction.
    static func bundle(_ edits: [String: String]) throws -> ModelBundle {
        var schema = TinyBundle.schemaJSON
        for (field, direction) in edits {
            schema = schema.replacingOccurrences(of: #"{"name": "\#(field)", "#, with: #"{"name": "\#(field)", "monotone": "\#(direction)", "#)
        }
        var files = TinyBundle.files
        files["schema.json"] = schema
        let directory = try TinyBundle.temporaryDirectory()
        try TinyBundle.write(files: files, to: directory) { _ in }
        return try ModelBundle(directory: directory)
    }

    /// amount, income, home, records, term
    static let holdout: [(row: Int, values: [RawValue])] = [
        (1, [.text("200"), .text("100"), .text("rent"), .text("no"), .text("12")]),
        (2, [.text("500"), .text("1000"), .text("own"), .text("yes"), .text("24")]),
        (3, [.text("900"), .text("50"), .text(""), .text("no"), .text("")]),
        (4, [.text("1500"), .text("300"), .text("rent"), .text("yes"), .text("36")]),
        (5, [.text("3000"), .text(""), .text("own"), .text("no"), .text("6")]),
        (6, [.text("8000"), .text("5000"), .text("rent"), .text("no"), .text("60")]),
    ]

    @Test func aModelThatFollowsItsDeclaredDirectionsPasses() throws {
        let bundle = try Self.bundle(["amount": "increasing", "income": "decreasing", "records": "increasing"])
        let results = MonotonicityCheck(bundle: bundle).run(applications: Self.holdout)
        #expect(results.map(\.field) == ["amount", "income", "records"])
        #expect(results.map(\.violationCount) == [0, 0, 0])
        #expect(results.map(\.applications) == [6, 6, 6])
        #expect(results[0].values == [200, 500, 900, 1500, 3000, 8000], "at most 11 distinct values: all of them")
        #expect(results[1].values == [50, 100, 300, 1000, 5000], "a missing value is not a grid point")
        #expect(results[2].values == [0, 1])
    }

    @Test func aModelThatBreaksADeclaredDirectionIsCaughtNamingRowAndValues() throws {
        let bundle = try Self.bundle(["amount": "decreasing", "income": "increasing"])
        let results = MonotonicityCheck(bundle: bundle).run(applications: Self.holdout)
        let amount = try #require(results.first { $0.field == "amount" })
        #expect(amount.direction == .decreasing)
        #expect(amount.violationCount > 0)
        let first = try #require(amount.violations.first)
        #expect(first.row == 1)
        #expect(first.from < first.to && first.pdTo > first.pdFrom)
        let income = try #require(results.first { $0.field == "income" })
        #expect(income.violationCount > 0, "raising income lowers amount / income past the forest's split")
    }

    @Test func aBundleWithoutMonotoneFieldsChecksNothing() throws {
        let bundle = try Self.bundle([:])
        #expect(MonotonicityCheck(bundle: bundle).run(applications: Self.holdout).isEmpty)
    }

    @Test func theGridTakesQuantilesOfManyValuesAndFallsBackToTheRange() throws {
        let field = try JSONDecoder().decode(Schema.Field.self, from: Data(#"{"name": "n", "type": "integer", "range": {"min": 0, "max": 5}}"#.utf8))
        // 101 values 0…100: the deciles.
        #expect(MonotonicityCheck.grid(field: field, observed: (0...100).map(Double.init)) == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
        // One distinct value: 11 points of the range, rounded for an integer, without repeats.
        #expect(MonotonicityCheck.grid(field: field, observed: [3, 3]) == [0, 1, 2, 3, 4, 5])
        let open = try JSONDecoder().decode(Schema.Field.self, from: Data(#"{"name": "x", "type": "number"}"#.utf8))
        #expect(MonotonicityCheck.grid(field: open, observed: []).isEmpty, "no values and no range: not checked")
    }
}
