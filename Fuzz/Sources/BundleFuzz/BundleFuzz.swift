import CFuzzDriver
import Foundation
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreTestSupport

/// Input: `selector byte · file bytes`. `selector % 5` picks the bundle parser, as
/// `ModelBundle(directory:)` would call it on a file of that role; for the member parsers,
/// `selector / 5` odd means featureCount 32 (the trained demo bundle's width), even 6 (the tiny
/// test bundle's):
///
/// - 0: `XGBoostModel(data:file:featureCount:)` (XGBoost's JSON model)
/// - 1: `RandomForestModel` (`loanscore-forest/1`)
/// - 2: `LogisticModel` (`loanscore-logistic/1`)
/// - 3: `Schema.decode`, then `FeaturePipeline(schema:)` and one application through it
/// - 4: `manifest.json` (JSONDecoder, as the loader does), then `EnsembleScorer` over the tiny
///   bundle's schema and members, as the loader does after the files' hashes check out
///
/// Whatever parses is then evaluated on a few rows (zeros, NaN, extremes), so that a parser that
/// accepts a model it cannot evaluate (a child index outside the tree, a feature outside the
/// row, an empty calibration) shows up as a trap or a sanitizer report. Thrown errors are fine.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let bytes = Data(bytes: data + 1, count: size - 1)
    let width = (data[0] / 5) % 2 == 1 ? 32 : 6
    let rows = width == 6 ? tinyRows : wideRows
    switch data[0] % 5 {
    case 0: if let model = try? XGBoostModel(data: bytes, file: "fuzz.json", featureCount: width) {
        evaluate(model, rows)
        for row in rows { _ = row.withUnsafeBufferPointer { model.approximateContributions($0) } }
    }
    case 1: if let model = try? RandomForestModel(data: bytes, file: "fuzz.json", featureCount: width) { evaluate(model, rows) }
    case 2: if let model = try? LogisticModel(data: bytes, file: "fuzz.json", featureCount: width) { evaluate(model, rows) }
    case 3:
        guard let schema = try? Schema.decode(bytes), let pipeline = try? FeaturePipeline(schema: schema) else { return 0 }
        for values in [RawValue.missing, .text("1"), .number(-1), .bool(true), .text("")] {
            let (row, _) = pipeline.encode(Array(repeating: values, count: schema.fields.count))
            precondition(row.count == pipeline.featureNames.count, "row width differs from featureNames")
        }
    default:
        guard let manifest = try? JSONDecoder().decode(Manifest.self, from: bytes) else { return 0 }
        let members: [(Manifest.Member, any EnsembleMember)] = manifest.members.map { member in
            switch member.kind {
            case .xgboost: (member, tiny.xgboost)
            case .randomForest: (member, tiny.forest)
            case .logisticRegression: (member, tiny.logistic)
            }
        }
        guard manifest.features == tiny.pipeline.featureNames,
              let scorer = try? EnsembleScorer(manifest: manifest, pipeline: tiny.pipeline, members: members) else { return 0 }
        for row in tinyRows {
            let score = row.withUnsafeBufferPointer { scorer.score($0) }
            precondition(score.reasons.count <= EnsembleScorer.maximumReasons, "too many reasons")
        }
    }
    return 0
}

/// Rows a served application can produce: zeros, all missing, extremes, and a typical one.
func rows(width: Int, typical: [Double]) -> [[Double]] {
    [Array(repeating: 0, count: width), Array(repeating: .nan, count: width),
     Array(repeating: -.greatestFiniteMagnitude, count: width), Array(repeating: .infinity, count: width), typical]
}
let tinyRows = rows(width: 6, typical: [5000, 2500, 1, 0, 1, 2])
let wideRows = rows(width: 32, typical: (0..<32).map { Double($0 % 5) * 10.5 })

func evaluate(_ member: some EnsembleMember, _ rows: [[Double]]) {
    let width = rows[0].count
    precondition(member.featureCount == width, "member reads \(member.featureCount) columns")
    // Every row alone (the lone-row paths) and all rows as one batch, with and without the
    // path attributions (the lockstep paths).
    for row in rows {
        row.withUnsafeBufferPointer { row in _ = member.probability(row) }
    }
    let matrix = rows.flatMap { $0 }
    var keys = [Int32](repeating: 0, count: FeatureBatch.keyCount(rows: rows.count, width: width))
    var probabilities = [Double](repeating: 0, count: rows.count)
    var contributions = [Double](repeating: 0, count: matrix.count)
    matrix.withUnsafeBufferPointer { matrix in
        keys.withUnsafeMutableBufferPointer { keys in
            let batch = FeatureBatch(rows: rows.count, width: width, doubles: matrix, keys: keys)
            probabilities.withUnsafeMutableBufferPointer { probabilities in
                member.evaluate(batch, probabilities: probabilities, contributions: nil)
                contributions.withUnsafeMutableBufferPointer { member.evaluate(batch, probabilities: probabilities, contributions: $0) }
            }
        }
    }
}

/// The tiny bundle of Sources/LoanScoreTestSupport/TinyBundle.swift, compiled once per process.
struct Tiny: Sendable {
    let pipeline: FeaturePipeline
    let xgboost: XGBoostModel
    let forest: RandomForestModel
    let logistic: LogisticModel
}
let tiny: Tiny = {
    do {
        return Tiny(
            pipeline: try FeaturePipeline(schema: try Schema.decode(Data(TinyBundle.schemaJSON.utf8))),
            xgboost: try XGBoostModel(data: Data(TinyBundle.xgboostJSON.utf8), file: "xgboost.json", featureCount: 6),
            forest: try RandomForestModel(data: Data(TinyBundle.forestJSON.utf8), file: "forest.json", featureCount: 6),
            logistic: try LogisticModel(data: Data(TinyBundle.logisticJSON.utf8), file: "logistic.json", featureCount: 6))
    } catch {
        fatalError("the tiny bundle does not load: \(error)")
    }
}()

/// The entry point SwiftPM links a debug executable with (see Package.swift); runs libFuzzer.
@_cdecl("BundleFuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    loanscore_fuzz_run(argc, argv) { data, size in
        guard let data else { return 0 }
        return fuzz(data, size)
    }
}
