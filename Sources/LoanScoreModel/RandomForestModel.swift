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
    private let treeStart: [Int]
    private let left: [Int32]
    private let right: [Int32]
    private let feature: [Int32]
    private let threshold: [Double]
    private let missingLeft: [Bool]
    /// Positive-class fraction at every node, leaves and internal nodes.
    private let value: [Double]

    public var treeCount: Int { treeStart.count }

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
        var start: [Int] = [], left: [Int32] = [], right: [Int32] = [], feature: [Int32] = []
        var threshold: [Double] = [], missingLeft: [Bool] = [], value: [Double] = []
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
                guard tree.feature[i] >= 0, tree.feature[i] < featureCount else {
                    throw ModelError(file: file, "tree \(t): node \(i) splits on feature \(tree.feature[i]) of \(featureCount)")
                }
            }
            start.append(left.count)
            left += tree.childrenLeft.map(Int32.init)
            right += tree.childrenRight.map(Int32.init)
            feature += tree.feature.map(Int32.init)
            // scikit-learn uses +inf for "missing values only go right" splits; JSON has no
            // infinity, so the training tool writes the largest double (BUNDLE.md).
            threshold += tree.threshold.map { $0 == .greatestFiniteMagnitude ? .infinity : $0 }
            missingLeft += tree.missingGoToLeft.map { $0 != 0 }
            value += tree.value
        }
        treeStart = start
        self.left = left
        self.right = right
        self.feature = feature
        self.threshold = threshold
        self.missingLeft = missingLeft
        self.value = value
    }

    @inline(__always)
    private func walk(_ t: Int, _ row: UnsafeBufferPointer<Double>, _ visit: (Int, Int) -> Void = { _, _ in }) -> Int {
        let base = treeStart[t]
        var node = 0
        while left[base + node] != -1 {
            let index = base + node
            let x = Float(row[Int(feature[index])])
            let next: Int32
            if x.isNaN {
                next = missingLeft[index] ? left[index] : right[index]
            } else {
                next = Double(x) <= threshold[index] ? left[index] : right[index]
            }
            visit(index, base + Int(next))
            node = Int(next)
        }
        return base + node
    }

    public func probability(_ row: UnsafeBufferPointer<Double>) -> Double {
        var sum = 0.0
        for t in 0..<treeStart.count { sum += value[walk(t, row)] }
        return sum / Double(treeStart.count)
    }

    /// Path attributions in probability units, averaged over trees.
    public func addContributions(_ row: UnsafeBufferPointer<Double>, probability: Double, scale: Double,
                                 into contributions: UnsafeMutableBufferPointer<Double>) {
        let factor = scale / Double(treeStart.count)
        for t in 0..<treeStart.count {
            _ = walk(t, row) { parent, child in
                contributions[Int(feature[parent])] += factor * (value[child] - value[parent])
            }
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
