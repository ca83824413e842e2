import Foundation
import LoanScoreModel
import LoanScoreTestSupport
import Testing

/// Known values worked out by hand from the tiny bundle's members (TinyBundle's comments).
@Suite("Ensemble members")
struct MemberTests {
    let xgboost = try! XGBoostModel(data: Data(TinyBundle.xgboostJSON.utf8), file: "x", featureCount: 6)
    let forest = try! RandomForestModel(data: Data(TinyBundle.forestJSON.utf8), file: "f", featureCount: 6)
    let logistic = try! LogisticModel(data: Data(TinyBundle.logisticJSON.utf8), file: "l", featureCount: 6)

    func xgb(_ row: [Double]) -> (margin: Float, p: Double) {
        row.withUnsafeBufferPointer { (xgboost.margin($0), xgboost.probability($0)) }
    }

    @Test func xgboostSumsLeavesFromTheBaseMarginInFloat32() {
        #expect(xgboost.baseMargin == 0, "base_score 0.5 is margin 0")
        let (margin, p) = xgb([500, 1000, 1, 0, 0, 0.5])
        #expect(margin == -0.75)
        #expect(p == Double(Float(1) / (expf(0.75) + 1)))
    }

    @Test func xgboostGoesRightWhenTheValueEqualsTheSplitCondition() {
        #expect(xgb([1000, 1000, 1, 0, 0, 1]).margin == 0.25, "1000 < 1000 is false: right leaf 0.5, then -0.25")
    }

    @Test func xgboostComparesInFloat32() {
        // 999.99999 rounds to 1000.0 in float32, so it is not below the split condition.
        #expect(xgb([999.99999, 1000, 1, 0, 0, 1]).margin == 0.25)
        #expect(xgb([999.9, 1000, 1, 0, 0, 1]).margin == -0.75)
    }

    @Test func xgboostMissingValuesTakeTheDefaultDirection() {
        #expect(xgb([.nan, 1000, 1, 0, .nan, 1]).margin == 0.25, "amount missing: right (0.5); records missing: left (-0.25)")
    }

    @Test func xgboostApproximateContributionsAddUpToTheMargin() {
        let row: [Double] = [500, 1000, 1, 0, 0, 0.5]
        let (contributions, bias) = row.withUnsafeBufferPointer { xgboost.approximateContributions($0) }
        #expect(contributions == [-0.25, 0, 0, 0, -0.25, 0])
        #expect(bias == -0.25)
        #expect(contributions.reduce(bias, +) == Double(xgb(row).margin))
    }

    @Test func xgboostReadsBaseScoreInBothFormats() {
        #expect(XGBoostModel.parseBaseScore("[4.6E-1]") == Float("4.6E-1"))
        #expect(XGBoostModel.parseBaseScore("4.6E-1") == Float("4.6E-1"))
    }

    func rf(_ row: [Double]) -> Double { row.withUnsafeBufferPointer { forest.probability($0) } }

    @Test func forestGoesLeftWhenTheValueEqualsTheThreshold() {
        #expect(rf([0, 0, 0, 0, 0, 10]) == 0.2)
        #expect(rf([0, 0, 0, 0, 0, 10.001]) == 0.6)
    }

    @Test func forestCastsTheValueToFloat32BeforeComparing() {
        // 10.0000001 is above 10 in float64 but is 10.0 in float32, like scikit-learn's DTYPE.
        #expect(rf([0, 0, 0, 0, 0, 10.000_000_1]) == 0.2)
    }

    @Test func forestMissingValuesFollowMissingGoToLeft() {
        #expect(rf([0, 0, 0, 0, 0, .nan]) == 0.2)
    }

    @Test func logisticImputesScalesAndAppliesTheSigmoid() {
        let p = [500.0, 1000, 1, 0, 0, 0.5].withUnsafeBufferPointer { logistic.probability($0) }
        #expect(abs(p - 1 / (1 + exp(1.25))) < 1e-15)
        let imputed = [Double.nan, .nan, .nan, .nan, 1, .nan].withUnsafeBufferPointer { logistic.probability($0) }
        #expect(abs(imputed - 0.5) < 1e-15, "amount imputed to its mean: margin -1 + 1 = 0")
    }

    @Test func membersRefuseFilesThatDoNotMatchTheBundle() {
        #expect(throws: ModelError.self) { try XGBoostModel(data: Data(TinyBundle.xgboostJSON.utf8), file: "x", featureCount: 7) }
        #expect(throws: ModelError.self) { try RandomForestModel(data: Data("{}".utf8), file: "f", featureCount: 6) }
        let regression = TinyBundle.xgboostJSON.replacingOccurrences(of: "binary:logistic", with: "reg:squarederror")
        do {
            _ = try XGBoostModel(data: Data(regression.utf8), file: "x.json", featureCount: 6)
            Issue.record("accepted a regression model")
        } catch let error as ModelError {
            #expect(error.description == "x.json: objective is 'reg:squarederror'; LoanScore serves binary:logistic")
        } catch {
            Issue.record("\(error)")
        }
        let outside = TinyBundle.forestJSON.replacingOccurrences(of: "\"feature\": [5, -2, -2]", with: "\"feature\": [9, -2, -2]")
        #expect(throws: ModelError(file: "f", "tree 0: node 0 splits on feature 9 of 6")) {
            try RandomForestModel(data: Data(outside.utf8), file: "f", featureCount: 6)
        }
    }

    /// The tiny model (two rounds) with early stopping's attributes.
    func withBestIteration(_ value: String) -> Data {
        Data(TinyBundle.xgboostJSON.replacingOccurrences(
            of: #""attributes": {}"#, with: #""attributes": {"best_iteration": "\#(value)", "best_score": "0.41"}"#).utf8)
    }

    @Test func xgboostRefusesTreesGrownPastTheBestIteration() {
        #expect(throws: ModelError(file: "members/xgboost.json",
                                   "the booster has 2 rounds but its best_iteration is 0: XGBoost's scikit-learn wrapper predicts with the first 1 rounds "
                                   + "while LoanScore would use all 2; save the booster sliced to its best iteration (booster[: best_iteration + 1])")) {
            try XGBoostModel(data: withBestIteration("0"), file: "members/xgboost.json", featureCount: 6)
        }
        #expect(throws: ModelError.self) { try XGBoostModel(data: withBestIteration("first"), file: "x", featureCount: 6) }
    }

    @Test func xgboostLoadsABoosterThatEndsAtItsBestIteration() throws {
        // best_iteration 1 of rounds 0 and 1: every tree is used either way.
        let model = try XGBoostModel(data: withBestIteration("1"), file: "x", featureCount: 6)
        #expect(model.treeCount == 2)
        // Without iteration_indptr (older writers) the rounds are counted from the trees.
        let older = String(decoding: withBestIteration("0"), as: UTF8.self).replacingOccurrences(of: #""iteration_indptr": [0, 1, 2], "#, with: "")
        #expect(throws: ModelError.self) { try XGBoostModel(data: Data(older.utf8), file: "x", featureCount: 6) }
    }

    @Test func xgboostEarlyStoppingAsXGBoostWritesIt() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/xgboost-early-stopping")
        let unsliced = try Data(contentsOf: folder.appendingPathComponent("unsliced.json"))
        do {
            _ = try XGBoostModel(data: unsliced, file: "members/xgboost.json", featureCount: 3)
            Issue.record("loaded a booster with rounds past its best iteration")
        } catch let error as ModelError {
            #expect(error.description.hasPrefix("members/xgboost.json: the booster has 13 rounds but its best_iteration is 7: "), "\(error)")
        }
        let sliced = try XGBoostModel(data: Data(contentsOf: folder.appendingPathComponent("sliced.json")), file: "x", featureCount: 3)
        #expect(sliced.treeCount == 8)
    }
}
