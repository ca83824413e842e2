import Foundation
import LoanScoreFeatures
import LoanScoreModel
import Testing

/// A bundle written by the trainer before issue 13 (schema without `protected`, `monotone`,
/// `post_origination` or `exposure`; manifest without `fairness` or `cutoffs`) keeps loading
/// and scoring as its training libraries did (Tests/Fixtures/README.md).
@Suite("Bundles written before a format change")
struct OldBundleTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/old-bundle-german-credit-300")

    @Test func anOldBundleLoadsAndScoresItsValidationSetWithin1e6() throws {
        let bundle = try ModelBundle(directory: Self.directory)
        #expect(bundle.manifest.fairness == nil && bundle.manifest.cutoffs == nil)
        #expect(bundle.schema.fields.allSatisfy { $0.protected == nil && $0.monotone == nil && $0.exposure == nil })
        // Every field is still a feature: the protected-looking ones too (the schema predates the key).
        #expect(bundle.pipeline.featureNames == bundle.manifest.features)
        #expect(bundle.manifest.features.contains { $0.hasPrefix("personal_status_and_sex=") })
        #expect(bundle.manifest.features.contains("age_in_years"))

        let validation = try #require(bundle.manifest.validation)
        let holdout = try ApplicationFile(url: Self.directory.appendingPathComponent(validation.holdout), schema: bundle.schema)
        let predictions = try CSVReader(url: Self.directory.appendingPathComponent(validation.predictions))
        let header = try #require(try predictions.next()).fields
        let columns = bundle.scorer.memberNames.map { "pd_\($0)" } + ["pd_ensemble", "pd"]
        let positions = try columns.map { name in try #require(header.firstIndex(of: name), "no column \(name)") }
        var rows = 0, largest = 0.0
        while let application = try holdout.next() {
            let expected = try #require(try predictions.next()).fields
            let (row, outcome) = bundle.pipeline.encode(application.values)
            guard case .accepted = outcome else {
                Issue.record("row \(application.row) rejected: \(outcome)")
                continue
            }
            let score = row.withUnsafeBufferPointer { bundle.scorer.score($0, explain: false) }
            let ours = score.memberProbabilities + [score.combined, score.pd]
            for (k, position) in positions.enumerated() {
                let theirs = try #require(Double(expected[position]))
                largest = max(largest, abs(ours[k] - theirs))
            }
            rows += 1
        }
        #expect(try predictions.next() == nil, "as many predictions as holdout rows")
        #expect(rows == 60)
        #expect(largest <= 1e-6, "largest difference \(largest)")
        // No monotone field: the check has nothing to do.
        #expect(MonotonicityCheck(bundle: bundle).run(applications: []).isEmpty)
    }
}
