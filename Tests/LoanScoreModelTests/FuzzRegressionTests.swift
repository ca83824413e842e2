import Foundation
import LoanScoreModel
import LoanScoreTestSupport
import Testing

/// Inputs the BundleFuzz target (Fuzz/README.md) found crashing the member parsers, replayed
/// here: each must be refused with a ModelError. File format: `selector byte · file bytes`,
/// `selector % 5` = 0 XGBoost JSON, 1 forest, 2 logistic; `selector / 5` odd = 32 columns, else 6.
@Suite("Fuzz regressions: bundle members")
struct FuzzRegressionTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/regressions/BundleFuzz")

    static var inputs: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
    }

    @Test func theRegressionFolderHoldsTheKnownCrashes() {
        #expect(Self.inputs.contains("xgboost-leaf-right-child-above-32-bits"))
        #expect(Self.inputs.contains("forest-leaf-feature-above-32-bits"))
    }

    @Test(arguments: inputs) func isRefusedWithAnError(name: String) throws {
        let input = try Data(contentsOf: Self.folder.appendingPathComponent(name))
        let selector = try #require(input.first)
        let file = Data(input.dropFirst())
        let width = (selector / 5) % 2 == 1 ? 32 : 6
        switch selector % 5 {
        case 0: #expect(throws: ModelError.self) { try XGBoostModel(data: file, file: name, featureCount: width) }
        case 1: #expect(throws: ModelError.self) { try RandomForestModel(data: file, file: name, featureCount: width) }
        case 2: #expect(throws: ModelError.self) { try LogisticModel(data: file, file: name, featureCount: width) }
        default: Issue.record("\(name): selector \(selector) is not a member parser")
        }
    }

    /// The XGBoost crash: a leaf (left child -1) whose right child does not fit 32 bits trapped
    /// in `Int32.init` instead of being refused.
    @Test func xgboostLeafWithARightChildAbove32BitsIsRefused() {
        let json = TinyBundle.xgboostJSON.replacingOccurrences(
            of: "\"right_children\": [2, -1, -1]", with: "\"right_children\": [2, -1, 4294967296]")
        #expect(json != TinyBundle.xgboostJSON)
        #expect(throws: ModelError.self) { try XGBoostModel(data: Data(json.utf8), file: "x", featureCount: 6) }
    }

    /// The forest crash: a leaf whose feature index does not fit 32 bits.
    @Test func forestLeafWithAFeatureAbove32BitsIsRefused() {
        let json = TinyBundle.forestJSON.replacingOccurrences(of: "\"feature\": [5, -2, -2]", with: "\"feature\": [5, -2, 9999999999]")
        #expect(json != TinyBundle.forestJSON)
        #expect(throws: ModelError.self) { try RandomForestModel(data: Data(json.utf8), file: "f", featureCount: 6) }
    }
}
