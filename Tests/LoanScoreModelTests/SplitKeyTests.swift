import Foundation
@testable import LoanScoreModel
import LoanScoreTestSupport
import Testing

/// Splits compare integer keys (``SplitKey``): they must decide exactly as the libraries'
/// float comparisons do, at the edges of float32 and for missing values.
@Suite("Split keys")
struct SplitKeyTests {
    static let edges: [Float] = [
        -.infinity, -.greatestFiniteMagnitude, -1.5, -1, -(1 as Float).nextDown, -.leastNormalMagnitude,
        -.leastNonzeroMagnitude, -0.0, 0, .leastNonzeroMagnitude, .leastNormalMagnitude, 1, (1 as Float).nextUp, 1.5,
        .greatestFiniteMagnitude, .infinity,
    ]

    @Test func keysCompareAsFloat32Values() {
        for a in Self.edges {
            for t in Self.edges {
                #expect((SplitKey.key(a) <= SplitKey.threshold(t, strict: false)) == (a <= t), "\(a) <= \(t)")
                #expect((SplitKey.key(a) <= SplitKey.threshold(t, strict: true)) == (a < t), "\(a) < \(t)")
            }
        }
    }

    @Test func missingKeysLieBelowAndAboveEveryThreshold() {
        for t in Self.edges {
            for strict in [false, true] {
                #expect(SplitKey.missingLeft <= SplitKey.threshold(t, strict: strict))
                #expect(!(SplitKey.missingRight <= SplitKey.threshold(t, strict: strict)))
                #expect(SplitKey.missingLeft > SplitKey.never, "a leaf sends nothing left")
            }
        }
    }

    /// One forest tree: feature 0 `<= +∞` (scikit-learn's threshold for a split that sends
    /// only missing values right; the training tool writes it as the largest double).
    @Test func forestSendsOnlyMissingValuesRightOfAnInfiniteThreshold() throws {
        let json = """
            {"format": "loanscore-forest/1", "n_features": 1,
             "trees": [{"children_left": [1, -1, -1], "children_right": [2, -1, -1], "feature": [0, -2, -2],
                        "threshold": [1.7976931348623157e308, -2, -2], "missing_go_to_left": [0, 0, 0],
                        "value": [0.5, 0.25, 0.75]}]}
            """
        let forest = try RandomForestModel(data: Data(json.utf8), file: "f", featureCount: 1)
        for (value, expected) in [(Double.nan, 0.75), (.infinity, 0.25), (-.infinity, 0.25), (1e300, 0.25), (0, 0.25)] {
            #expect([value].withUnsafeBufferPointer { forest.probability($0) } == expected, "\(value)")
        }
    }

    /// XGBoost's `value < -0.0` is false for both zeros and true for the negative subnormals.
    @Test func xgboostTreatsBothZerosAlike() throws {
        let json = TinyBundle.xgboostJSON.replacingOccurrences(of: "\"split_conditions\": [1000,", with: "\"split_conditions\": [-0.0,")
        let model = try XGBoostModel(data: Data(json.utf8), file: "x", featureCount: 6)
        func margin(_ amount: Double) -> Float { [amount, 0, 0, 0, 0, 0].withUnsafeBufferPointer { model.margin($0) } }
        #expect(margin(0) == 0.25, "right (0.5), then left (-0.25)")
        #expect(margin(-0.0) == 0.25)
        #expect(margin(-Double(Float.leastNonzeroMagnitude)) == -0.75)
    }

    /// Every path through FeatureBatch (full blocks, a partial block of four to seven rows,
    /// one to three rows alone) gives each row what it gets alone.
    @Test(arguments: [1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 16, 19])
    func membersGiveEveryRowOfABatchItsOwnResult(rows: Int) throws {
        let xgboost = try XGBoostModel(data: Data(TinyBundle.xgboostJSON.utf8), file: "x", featureCount: 6)
        let forest = try RandomForestModel(data: Data(TinyBundle.forestJSON.utf8), file: "f", featureCount: 6)
        let values: [Double] = [.nan, 0, 999.9, 1000, 1000.0001, 0.5, 0.4999, 10, 10.000_000_1, 10.001, -.infinity, .infinity]
        let matrix = (0..<(rows * 6)).map { values[($0 &* 7) % values.count] }
        for member in [xgboost, forest] as [any EnsembleMember] {
            let single = (0..<rows).map { r in
                matrix.withUnsafeBufferPointer { member.probability(UnsafeBufferPointer(rebasing: $0[(r * 6)..<((r + 1) * 6)])) }
            }
            var batched = [Double](repeating: -1, count: rows)
            var keys = [Int32](repeating: 0, count: FeatureBatch.keyCount(rows: rows, width: 6))
            matrix.withUnsafeBufferPointer { matrix in
                keys.withUnsafeMutableBufferPointer { keys in
                    batched.withUnsafeMutableBufferPointer {
                        member.evaluate(FeatureBatch(rows: rows, width: 6, doubles: matrix, keys: keys), probabilities: $0, contributions: nil)
                    }
                }
            }
            #expect(batched == single)
        }
    }
}
