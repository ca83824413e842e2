public import Foundation

/// A scikit-learn `RandomForestClassifier` in LoanScore's array format (`loanscore-forest/1`,
/// BUNDLE.md).
///
/// Evaluation reproduces scikit-learn's `Tree.apply` and `predict_proba`: the feature is cast
/// to float32 (`DTYPE`), NaN follows `missing_go_to_left`, otherwise a split goes left when
/// the float32 value (widened) is `<= threshold` (float64); the forest's probability is the
/// mean of the trees' leaf probabilities in float64. Source: scikit-learn
/// `sklearn/tree/_tree.pyx` (`_apply_dense`), `sklearn/ensemble/_forest.py`
/// (`predict_proba`).
public struct RandomForestModel: EnsembleMember {
    public let featureCount: Int
    private let trees: FlatTrees
    /// Positive-class fraction at every node, leaves and internal nodes, in ``trees``' order.
    private let value: [Double]
    /// Path attribution from ``value`` (reason codes).
    private let attribution: FlatTrees.Attribution

    public var treeCount: Int { trees.roots.count }
    public var contributionUnits: ContributionUnits { .probability }

    /// Parses a `loanscore-forest/1` file.
    ///
    /// - Throws: ``ModelError`` for malformed JSON, another format, a feature count other than
    ///   `featureCount`, or node arrays that do not describe a tree.
    public init(data: Data, file: String, featureCount: Int) throws {
        let json: ForestJSON
        do {
            json = try JSONDecoder().decode(ForestJSON.self, from: data)
        } catch {
            throw ModelError(file: file, "not a LoanScore forest file: \(error)")
        }
        guard json.format == "loanscore-forest/1" else {
            throw ModelError(file: file, "format is '\(json.format)', expected 'loanscore-forest/1'")
        }
        guard json.nFeatures == featureCount else {
            throw ModelError(file: file, "forest has \(json.nFeatures) features; the bundle lists \(featureCount)")
        }
        guard !json.trees.isEmpty else { throw ModelError(file: file, "the forest has no trees") }
        self.featureCount = featureCount
        var compiled: [FlatTrees.Tree] = []
        var value: [Double] = []
        for (t, tree) in json.trees.enumerated() {
            let n = tree.childrenLeft.count
            guard n > 0, tree.childrenRight.count == n, tree.feature.count == n, tree.threshold.count == n,
                  tree.missingGoToLeft.count == n, tree.value.count == n
            else { throw ModelError(file: file, "tree \(t): node arrays differ in length") }
            for i in 0..<n {
                guard tree.value[i].isFinite, (0...1).contains(tree.value[i]) else {
                    throw ModelError(file: file, "tree \(t): node \(i) value \(tree.value[i]) is not a probability")
                }
                let l = tree.childrenLeft[i], r = tree.childrenRight[i]
                if l == -1 {
                    // A leaf's other entries are never followed, but are stored as 32-bit integers.
                    guard Int32(exactly: r) != nil, Int32(exactly: tree.feature[i]) != nil else {
                        throw ModelError(file: file, "tree \(t): leaf \(i) has right child \(r) or feature \(tree.feature[i]) outside 32 bits")
                    }
                    continue
                }
                guard l > i, r > i, l < n, r < n else {
                    throw ModelError(file: file, "tree \(t): node \(i) has children \(l), \(r) outside the tree")
                }
                guard !tree.threshold[i].isNaN else { throw ModelError(file: file, "tree \(t): node \(i) has a NaN threshold") }
                guard tree.feature[i] >= 0, tree.feature[i] < featureCount else {
                    throw ModelError(file: file, "tree \(t): node \(i) splits on feature \(tree.feature[i]) of \(featureCount)")
                }
            }
            compiled.append((0..<n).map { i in
                (tree.childrenLeft[i] == -1 ? 0 : RandomForestModel.float32Threshold(tree.threshold[i]), max(0, tree.feature[i]),
                 tree.missingGoToLeft[i] != 0, tree.childrenLeft[i], tree.childrenRight[i])
            })
            value += tree.value
        }
        guard let trees = FlatTrees(trees: compiled, strict: false, width: featureCount) else {
            throw ModelError(file: file, "a tree is too large for LoanScore's 32-bit node layout")
        }
        self.trees = trees
        self.value = trees.original.map { value[$0] }
        attribution = trees.attribution(values: self.value)
    }

    /// The float32 threshold `t` with `x <= t` exactly when `Double(x) <= threshold` for every
    /// float32 `x`: the largest float32 not above the float64 threshold. scikit-learn compares
    /// the float32 feature, widened, with the float64 threshold; this compares in float32 with
    /// the same outcome. The training tool writes scikit-learn's `+inf` as the largest double.
    static func float32Threshold(_ threshold: Double) -> Float {
        if threshold >= .greatestFiniteMagnitude { return .infinity }
        var t = Float(threshold)
        if Double(t) > threshold { t = t.nextDown }
        return t
    }

    /// The forest's probability per row: the mean over trees of the leaves' positive
    /// fractions (float64, in tree order), with optional path attributions (probability units).
    public func evaluate(_ batch: FeatureBatch, probabilities: UnsafeMutableBufferPointer<Double>,
                         contributions: UnsafeMutableBufferPointer<Double>?) {
        precondition(batch.width == featureCount && probabilities.count >= batch.rows, "batch shape")
        for r in 0..<batch.rows { probabilities[r] = 0 }
        value.withUnsafeBufferPointer { value in
            // Every node the walk reports is an index into `value` (one value per node).
            trees.walk(batch, attribution: attribution, contributions: contributions) { row, node in probabilities[row] += value[node] }
        }
        let count = Double(trees.roots.count)
        for r in 0..<batch.rows { probabilities[r] /= count }
        if let contributions {
            for i in 0..<(batch.rows * batch.width) { contributions[i] /= count }
        }
    }
}

private struct ForestJSON: Decodable {
    var format: String
    var nFeatures: Int
    var trees: [Tree]
    enum CodingKeys: String, CodingKey { case format, trees, nFeatures = "n_features" }

    struct Tree: Decodable {
        var childrenLeft: [Int]
        var childrenRight: [Int]
        var feature: [Int]
        var threshold: [Double]
        var missingGoToLeft: [Int]
        var value: [Double]
        enum CodingKeys: String, CodingKey {
            case feature, threshold, value
            case childrenLeft = "children_left", childrenRight = "children_right", missingGoToLeft = "missing_go_to_left"
        }
    }
}
