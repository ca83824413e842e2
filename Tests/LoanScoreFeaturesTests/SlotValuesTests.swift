import Foundation
import LoanScoreFeatures
import LoanScoreTestSupport
import Testing

/// The slots an encode returns (the values drift is binned on): the same encode that wrote the
/// row, one slot per schema field then per derived feature (TinyBundle's schema: amount,
/// income with sentinel 99999999, home rent/own, records yes/no, term not a feature, and
/// amount_to_income = amount / income).
@Suite("Slot values")
struct SlotValuesTests {
    let pipeline = try! FeaturePipeline(schema: Schema.decode(Data(TinyBundle.schemaJSON.utf8)))

    /// NaN-aware equality of two slot rows.
    static func same(_ a: [Double], _ b: [Double]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }
    }

    func slots(_ values: [RawValue]) -> (FeaturePipeline.Outcome, [Double]) {
        var row = [Double](repeating: .nan, count: pipeline.featureNames.count)
        var slots = [Double](repeating: -1, count: pipeline.slotCount)
        let outcome = row.withUnsafeMutableBufferPointer { row in
            slots.withUnsafeMutableBufferPointer { pipeline.encode(values, into: row, slots: $0) }
        }
        return (outcome, slots)
    }

    @Test("names and count: every field (a non-feature one too), then the derived features")
    func names() {
        #expect(pipeline.slotCount == 6)
        #expect(pipeline.slotNames == ["amount", "income", "home", "records", "term", "amount_to_income"])
    }

    @Test("number, sentinel → missing, category index, boolean, unseen level → missing, derived", arguments: [
        (["500", "1000", "own", "yes", "12"], [500, 1000, 1, 1, 12, 0.5]),
        (["500", "99999999", "rent", "no", "12"], [500, .nan, 0, 0, 12, .nan]),
        (["2000", "", "Elsewhere", "NO", ""], [2000, .nan, .nan, 0, .nan, .nan]),
        (["0", "0", " RENT ", "yes", "120"], [0, 0, 0, 1, 120, .nan]),
    ] as [([String], [Double])])
    func values(_ cells: [String], _ expected: [Double]) {
        let (outcome, slots) = slots(cells.map { RawValue.text($0) })
        guard case .accepted = outcome else {
            Issue.record("rejected: \(outcome)")
            return
        }
        #expect(Self.same(slots, expected), "\(slots)")
    }

    @Test("the batch path fills one slot row per accepted application, in matrix row order")
    func batch() {
        struct Cells: ApplicationColumns {
            var rows: [[RawCell]]
            var applicationCount: Int { rows.count }
            var fieldCount: Int { 5 }
            func cell(application: Int, field: Int) -> RawCell { rows[application][field] }
        }
        func text(_ s: String) -> RawCell { .utf8(ArraySlice(s.utf8)) }
        let rows: [[RawCell]] = [
            [.number(500), .number(1000), text("own"), .bool(true), .number(12)],
            [.number(-1), .number(1000), text("own"), .bool(true), .number(12)],  // rejected: amount < 0
            [.number(800), .number(99_999_999), text("flat"), text("no"), .missing],
        ]
        var matrix: [Double] = [], slots: [Double] = [], outcomes: [FeaturePipeline.Outcome] = []
        let accepted = pipeline.encode(Cells(rows: rows), into: &matrix, slots: &slots, outcomes: &outcomes)
        #expect(accepted == 2)
        let width = pipeline.slotCount
        #expect(Self.same(Array(slots[0..<width]), [500, 1000, 1, 1, 12, 0.5]))
        #expect(Self.same(Array(slots[width..<(2 * width)]), [800, .nan, .nan, 0, .nan, .nan]))
        // The matrix is the one the plain batch encode writes.
        var plain: [Double] = []
        _ = pipeline.encode(Cells(rows: rows), into: &plain, outcomes: &outcomes)
        #expect(Self.same(Array(plain.prefix(2 * pipeline.featureNames.count)), Array(matrix.prefix(2 * pipeline.featureNames.count))))
    }
}
