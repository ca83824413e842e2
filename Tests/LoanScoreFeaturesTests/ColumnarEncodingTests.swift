import Foundation
import LoanScoreFeatures
import LoanScoreTestSupport
import Testing

/// The columnar path (`RawCell`s read from a batch's columns, text as UTF-8 bytes) must give
/// exactly what the one-application `RawValue` path gives, and reuse its buffers cleanly.
@Suite("Columnar encoding")
struct ColumnarEncodingTests {
    let pipeline = try! FeaturePipeline(schema: Schema.decode(Data(TinyBundle.schemaJSON.utf8)))

    /// amount, income, home, records, term: one array of cells per application.
    struct Cells: ApplicationColumns {
        var rows: [[RawCell]]
        var applicationCount: Int { rows.count }
        var fieldCount: Int { 5 }
        func cell(application: Int, field: Int) -> RawCell { rows[application][field] }
    }

    static func rawValue(_ cell: RawCell) -> RawValue {
        switch cell {
        case .missing: .missing
        case .number(let number): .number(number)
        case .bool(let flag): .bool(flag)
        case .utf8(let bytes): .text(String(decoding: bytes, as: UTF8.self))
        }
    }

    static func text(_ string: String) -> RawCell { .utf8(ArraySlice(string.utf8)) }

    static func describe(_ outcome: FeaturePipeline.Outcome) -> String {
        switch outcome {
        case .accepted(let flags): "accepted \(flags)"
        case .rejected(let violations): "rejected \(violations)"
        }
    }

    /// Encodes `rows` both ways and expects the same outcomes and rows (NaN equal to NaN).
    func expectSamePaths(_ rows: [[RawCell]]) {
        var matrix: [Double] = [], outcomes: [FeaturePipeline.Outcome] = []
        let accepted = pipeline.encode(Cells(rows: rows), into: &matrix, outcomes: &outcomes)
        #expect(outcomes.count == rows.count)
        var next = 0
        for (index, cells) in rows.enumerated() {
            let (row, outcome) = pipeline.encode(cells.map(Self.rawValue))
            #expect(Self.describe(outcomes[index]) == Self.describe(outcome), "application \(index): \(cells)")
            guard case .accepted = outcome else { continue }
            let width = pipeline.featureNames.count
            let columnar = Array(matrix[(next * width)..<((next + 1) * width)])
            #expect(zip(columnar, row).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }, "application \(index)")
            next += 1
        }
        #expect(accepted == next)
    }

    @Test("labels, levels and sentinels as bytes: the same outcome as the String path", arguments: [
        "rent", "RENT", " Own\t", "own ", "unknown", "", "   ", "rënt", "RENT\u{301}", "Rent\u{0}", "yes", "YES", " no ", "maybe",
        "99999999", "1e3", "-5",
    ])
    func textCells(_ text: String) {
        let valid: [RawCell] = [.number(500), .number(1000), Self.text("rent"), Self.text("no"), .number(12)]
        var rows: [[RawCell]] = []
        for field in 0..<5 {
            var cells = valid
            cells[field] = Self.text(text)
            rows.append(cells)
        }
        expectSamePaths(rows)
    }

    @Test("typed cells: numbers, booleans, missing, non-finite, sentinels")
    func typedCells() {
        let valid: [RawCell] = [.number(500), .number(1000), Self.text("own"), .bool(true), .number(12)]
        var rows = [valid]
        for (field, cell) in [(0, RawCell.missing), (1, .number(99_999_999)), (1, .number(.nan)), (1, .number(-.infinity)),
                              (2, .number(1)), (3, .number(1)), (3, .missing), (4, .number(12.5)), (0, .bool(true))] {
            var cells = valid
            cells[field] = cell
            rows.append(cells)
        }
        expectSamePaths(rows)
    }

    @Test("a smaller batch after a larger one: only its own rows and outcomes")
    func reuse() {
        let valid: [RawCell] = [.number(500), .number(1000), Self.text("rent"), Self.text("no"), .number(12)]
        let invalid: [RawCell] = [.number(-1), .number(1000), Self.text("rent"), Self.text("no"), .number(12)]
        var matrix: [Double] = [], outcomes: [FeaturePipeline.Outcome] = []
        #expect(pipeline.encode(Cells(rows: [valid, invalid, valid, valid]), into: &matrix, outcomes: &outcomes) == 3)
        var other = valid
        other[0] = .number(250)
        #expect(pipeline.encode(Cells(rows: [invalid, other]), into: &matrix, outcomes: &outcomes) == 1)
        #expect(outcomes.count == 2)
        #expect(Self.describe(outcomes[1]) == "accepted []")
        #expect(Array(matrix.prefix(pipeline.featureNames.count)) == [250, 1000, 1, 0, 0, 0.25])
    }
}
