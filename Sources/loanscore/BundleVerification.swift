import Foundation
import LoanScoreFeatures
import LoanScoreModel

/// Scores a bundle's `validation/holdout.csv` and compares each member's probability, the
/// combined probability and the PD with `validation/predictions.csv` (BUNDLE.md).
struct BundleVerification {
    let bundle: ModelBundle

    struct Result {
        var rows: Int
        /// Largest absolute difference per column (`pd_<member>`, `pd_ensemble`, `pd`).
        var maximumDifference: [String: Double]
        /// The holdout applications, for the monotonicity check.
        var applications: [(row: Int, values: [RawValue])] = []
    }

    func run() throws -> Result {
        guard let validation = bundle.manifest.validation else {
            throw Failure.invalidData("\(bundle.directory.path): the bundle has no validation set")
        }
        let holdout = try ApplicationFile(url: bundle.directory.appendingPathComponent(validation.holdout), schema: bundle.schema)
        let predictions = try CSVReader(url: bundle.directory.appendingPathComponent(validation.predictions))
        guard let header = try predictions.next()?.fields else { throw Failure.invalidData("\(validation.predictions): empty") }
        let scorer = bundle.scorer
        let columns = scorer.memberNames.map { "pd_\($0)" } + ["pd_ensemble", "pd"]
        let positions = try columns.map { name in
            guard let index = header.firstIndex(of: name) else { throw Failure.invalidData("\(validation.predictions): no column '\(name)'") }
            return index
        }
        var maximum = Dictionary(uniqueKeysWithValues: columns.map { ($0, 0.0) })
        var rows = 0
        var applications: [(row: Int, values: [RawValue])] = []
        while let application = try holdout.next() {
            applications.append((application.row, application.values))
            guard let expected = try predictions.next()?.fields, expected.count == header.count else {
                throw Failure.invalidData("\(validation.predictions): fewer rows than \(validation.holdout)")
            }
            let (row, outcome) = bundle.pipeline.encode(application.values)
            guard case .accepted = outcome else {
                throw Failure.invalidData("\(validation.holdout): row \(application.row) is rejected by the bundle's own schema")
            }
            let score = row.withUnsafeBufferPointer { scorer.score($0, explain: false) }
            let ours = score.memberProbabilities + [score.combined, score.pd]
            for (k, column) in columns.enumerated() {
                guard let theirs = Double(expected[positions[k]]) else {
                    throw Failure.invalidData("\(validation.predictions): row \(rows + 1) column \(column) is not a number")
                }
                maximum[column] = max(maximum[column] ?? 0, abs(ours[k] - theirs))
            }
            rows += 1
        }
        return Result(rows: rows, maximumDifference: maximum, applications: applications)
    }
}
