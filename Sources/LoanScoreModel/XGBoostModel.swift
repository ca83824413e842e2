public import Foundation

/// A gradient-boosted tree ensemble read from XGBoost's own JSON model format
/// (`Booster.save_model`, XGBoost 2.x and 3.x): `gbtree`, objective `binary:logistic`,
/// numerical splits, one output group.
///
/// Evaluation reproduces XGBoost's CPU predictor: features are cast to float32, NaN takes the
/// node's default direction, a split goes left when `value < split_condition`, leaf values
/// are summed in float32 from the base margin (the logit of `base_score`), and the probability
/// is XGBoost's float32 sigmoid. Sources: xgboost `src/predictor/predict_fn.h`
/// (`GetNextNode`), `src/objective/regression_loss.h` (`LogisticRegression::ProbToMargin`),
/// `src/common/math.h` (`Sigmoid`).
public struct XGBoostModel: EnsembleMember {
    public let featureCount: Int
    /// The float32 margin every prediction starts from.
    public let baseMargin: Float
    /// The trees, for PDs with reasons.
    private let trees: FlatTrees
    /// Each node's value in ``trees``' order (a leaf's value; unused at splits).
    private let nodeValue: [Float]
    /// The same trees padded to complete binary trees, for PDs without reasons (nil when a
    /// tree is too deep for it).
    private let complete: CompleteTrees?
    /// Path attribution from the cover-weighted mean leaf value of each node's subtree
    /// (XGBoost's `FillNodeMeanValues`, computed in float32, widened): reason codes.
    private let attribution: FlatTrees.Attribution

    public var treeCount: Int { trees.roots.count }
    public var contributionUnits: ContributionUnits { .margin }

    /// Parses an XGBoost JSON model.
    ///
    /// - Parameters:
    ///   - data: the JSON file's bytes.
    ///   - file: the file's name, for messages.
    ///   - featureCount: the bundle's column count; the model must declare the same.
    /// - Throws: ``ModelError`` for malformed JSON, another booster or objective, categorical
    ///   splits, vector leaves, arrays that do not describe a tree, or a booster saved with
    ///   trees past its early-stopping `best_iteration` (see ``checkBestIteration(_:file:)``).
    public init(data: Data, file: String, featureCount: Int) throws {
        let json: XGBoostJSON
        do {
            json = try JSONDecoder().decode(XGBoostJSON.self, from: data)
        } catch {
            throw ModelError(file: file, "not an XGBoost JSON model: \(error)")
        }
        let learner = json.learner
        guard learner.objective.name == "binary:logistic" else {
            throw ModelError(file: file, "objective is '\(learner.objective.name)'; LoanScore serves binary:logistic")
        }
        guard learner.gradientBooster.name == "gbtree", let model = learner.gradientBooster.model else {
            throw ModelError(file: file, "booster is '\(learner.gradientBooster.name)'; LoanScore serves gbtree")
        }
        try XGBoostModel.checkBestIteration(learner, file: file)
        let param = learner.learnerModelParam
        guard let declared = Int(param.numFeature), declared == featureCount else {
            throw ModelError(file: file, "model has \(param.numFeature) features; the bundle lists \(featureCount)")
        }
        if let numClass = param.numClass, let n = Int(numClass), n > 1 {
            throw ModelError(file: file, "model has \(n) classes; LoanScore serves binary models")
        }
        if let numTarget = param.numTarget, let n = Int(numTarget), n != 1 {
            throw ModelError(file: file, "model has \(n) targets; LoanScore serves one")
        }
        guard let baseScore = XGBoostModel.parseBaseScore(param.baseScore), baseScore > 0, baseScore < 1 else {
            throw ModelError(file: file, "base_score '\(param.baseScore)' is not a probability in (0, 1)")
        }
        // LogisticRegression::ProbToMargin: -log(1/base_score - 1), in float32.
        baseMargin = -Foundation.log(Float(1) / baseScore - Float(1))
        self.featureCount = featureCount

        var compiled: [FlatTrees.Tree] = []
        var mean: [Double] = []
        for (t, tree) in model.trees.enumerated() {
            let n = tree.leftChildren.count
            let what = "tree \(t)"
            guard n > 0, tree.rightChildren.count == n, tree.splitIndices.count == n,
                  tree.splitConditions.count == n, tree.defaultLeft.count == n, tree.sumHessian.count == n
            else { throw ModelError(file: file, "\(what): node arrays differ in length") }
            if let types = tree.splitType, types.contains(where: { $0 != 0 }) {
                throw ModelError(file: file, "\(what): categorical splits are not supported")
            }
            if let size = tree.treeParam.sizeLeafVector, let k = Int(size), k > 1 {
                throw ModelError(file: file, "\(what): vector leaves are not supported")
            }
            for i in 0..<n {
                let l = tree.leftChildren[i], r = tree.rightChildren[i]
                if l == -1 {
                    // A leaf's other entries are never followed, but are stored as 32-bit integers.
                    guard Int32(exactly: r) != nil, Int32(exactly: tree.splitIndices[i]) != nil else {
                        throw ModelError(file: file, "\(what): leaf \(i) has right child \(r) or split index \(tree.splitIndices[i]) outside 32 bits")
                    }
                    continue
                }
                guard l > i, r > i, l < n, r < n else {
                    throw ModelError(file: file, "\(what): node \(i) has children \(l), \(r) outside the tree")
                }
                guard tree.splitIndices[i] >= 0, tree.splitIndices[i] < featureCount else {
                    throw ModelError(file: file, "\(what): node \(i) splits on feature \(tree.splitIndices[i]) of \(featureCount)")
                }
            }
            compiled.append((0..<n).map { i in
                (tree.splitConditions[i], max(0, tree.splitIndices[i]), tree.defaultLeft[i] != 0,
                 tree.leftChildren[i], tree.rightChildren[i])
            })
            mean += XGBoostModel.nodeMeans(tree).map(Double.init)
        }
        guard !compiled.isEmpty else { throw ModelError(file: file, "the model has no trees") }
        guard let trees = FlatTrees(trees: compiled, strict: true, width: featureCount) else {
            throw ModelError(file: file, "a tree is too large for LoanScore's 32-bit node layout")
        }
        self.trees = trees
        complete = CompleteTrees(trees: compiled, depths: trees.depths, strict: true, width: featureCount) { t, i in
            compiled[t][i].threshold
        }
        let given = Array(compiled.joined())
        nodeValue = trees.original.map { given[$0].threshold }
        attribution = trees.attribution(values: trees.original.map { mean[$0] })
    }

    /// Refuses a booster that keeps rounds grown after its best iteration.
    ///
    /// Early stopping records `learner.attributes.best_iteration` (a whole number as a string)
    /// and keeps every tree grown until it stopped. XGBoost's scikit-learn wrapper predicts
    /// with the first `best_iteration + 1` rounds, while `Booster.inplace_predict` and LoanScore
    /// use them all: the two can differ widely. A booster sliced to its best iteration
    /// (`booster[: best_iteration + 1]`) drops the attribute, so it loads.
    private static func checkBestIteration(_ learner: XGBoostJSON.Learner, file: String) throws {
        guard let text = learner.attributes?["best_iteration"] else { return }
        guard let best = Int(text.trimmingCharacters(in: .whitespaces)), best >= 0 else {
            throw ModelError(file: file, "the booster's best_iteration attribute '\(text)' is not a whole number; "
                + "save the booster sliced to its best iteration (booster[: best_iteration + 1])")
        }
        let model = learner.gradientBooster.model
        let rounds: Int
        if let indptr = model?.iterationIndptr, !indptr.isEmpty {
            rounds = indptr.count - 1
        } else {
            let parallel = model?.gbtreeModelParam?.numParallelTree.flatMap { Int($0) } ?? 1
            rounds = (model?.trees.count ?? 0) / max(1, parallel)
        }
        if best + 1 < rounds {
            throw ModelError(file: file, "the booster has \(rounds) rounds but its best_iteration is \(best): "
                + "XGBoost's scikit-learn wrapper predicts with the first \(best + 1) rounds while LoanScore would use all \(rounds); "
                + "save the booster sliced to its best iteration (booster[: best_iteration + 1])")
        }
    }

    /// `base_score` is a number string in 2.x (`"4.6E-1"`) and a bracketed list in 3.x (`"[4.6E-1]"`).
    package static func parseBaseScore(_ text: String) -> Float? {
        let trimmed = text.trimmingCharacters(in: CharacterSet(charactersIn: "[] "))
        return Float(trimmed)
    }

    /// XGBoost's `FillNodeMeanValues`: a leaf's mean is its value; an internal node's is the
    /// cover-weighted mean of its children's, computed in float32.
    private static func nodeMeans(_ tree: XGBoostJSON.Tree) -> [Float] {
        var mean = [Float](repeating: 0, count: tree.leftChildren.count)
        // Children have larger indices than parents (checked above), so walk backwards.
        for i in stride(from: tree.leftChildren.count - 1, through: 0, by: -1) {
            let l = tree.leftChildren[i], r = tree.rightChildren[i]
            if l == -1 {
                mean[i] = tree.splitConditions[i]
            } else {
                mean[i] = (mean[l] * tree.sumHessian[l] + mean[r] * tree.sumHessian[r]) / tree.sumHessian[i]
            }
        }
        return mean
    }

    /// Margins of a batch: base margin plus every tree's leaf, added in float32 in tree order
    /// (as XGBoost's CPU predictor does), with optional path attributions (margin units).
    ///
    /// - Complexity: O(rows × trees × depth); the trees are walked one at a time over all rows.
    func margins(_ batch: FeatureBatch, into margins: UnsafeMutableBufferPointer<Float>,
                 contributions: UnsafeMutableBufferPointer<Double>?) {
        precondition(batch.width == featureCount && margins.count >= batch.rows, "batch shape")
        for r in 0..<batch.rows { margins[r] = baseMargin }
        if contributions == nil, let complete {
            complete.accumulate(batch, into: margins)
            return
        }
        trees.walk(batch, attribution: attribution, contributions: contributions) { row, node in margins[row] += nodeValue[node] }
    }

    public func evaluate(_ batch: FeatureBatch, probabilities: UnsafeMutableBufferPointer<Double>,
                         contributions: UnsafeMutableBufferPointer<Double>?) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: batch.rows) { margins in
            self.margins(batch, into: margins, contributions: contributions)
            for r in 0..<batch.rows { probabilities[r] = Double(XGBoostModel.sigmoid(margins[r])) }
        }
    }

    /// The float32 margin of one row.
    public func margin(_ row: UnsafeBufferPointer<Double>) -> Float {
        FeatureBatch.withSingleRow(row) { batch in
            var margin: Float = 0
            withUnsafeMutablePointer(to: &margin) { margins(batch, into: UnsafeMutableBufferPointer(start: $0, count: 1), contributions: nil) }
            return margin
        }
    }

    /// XGBoost's `common::Sigmoid` in float32.
    @inline(__always)
    static func sigmoid(_ x: Float) -> Float {
        let e = Foundation.exp(Swift.min(-x, 88.7))
        return 1 / (e + 1 + 1e-16)
    }

    /// Per-column margin contributions and the bias, as XGBoost's
    /// `predict(pred_contribs=True, approx_contribs=True)` returns them (for tests).
    public func approximateContributions(_ row: UnsafeBufferPointer<Double>) -> (contributions: [Double], bias: Double) {
        var out = [Double](repeating: 0, count: featureCount)
        FeatureBatch.withSingleRow(row) { batch in
            out.withUnsafeMutableBufferPointer { contributions in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: 1) { margins(batch, into: $0, contributions: contributions) }
            }
        }
        let bias = trees.roots.reduce(Double(baseMargin)) { $0 + attribution.values[$1] }
        return (out, bias)
    }
}

/// The parts of XGBoost's JSON model that LoanScore reads.
private struct XGBoostJSON: Decodable {
    var learner: Learner

    struct Learner: Decodable {
        var gradientBooster: Booster
        var learnerModelParam: ModelParam
        var objective: Objective
        /// Free-form attributes (`Booster.attributes()`); early stopping writes `best_iteration`.
        var attributes: [String: String]?
        enum CodingKeys: String, CodingKey {
            case objective, attributes
            case gradientBooster = "gradient_booster", learnerModelParam = "learner_model_param"
        }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            gradientBooster = try c.decode(Booster.self, forKey: .gradientBooster)
            learnerModelParam = try c.decode(ModelParam.self, forKey: .learnerModelParam)
            objective = try c.decode(Objective.self, forKey: .objective)
            // Attributes are strings; anything else there is not ours to interpret.
            attributes = try? c.decodeIfPresent([String: String].self, forKey: .attributes)
        }
    }
    struct Objective: Decodable { var name: String }
    struct ModelParam: Decodable {
        var baseScore: String
        var numFeature: String
        var numClass: String?
        var numTarget: String?
        enum CodingKeys: String, CodingKey {
            case baseScore = "base_score", numFeature = "num_feature", numClass = "num_class", numTarget = "num_target"
        }
    }
    struct Booster: Decodable {
        var name: String
        var model: Model?
    }
    struct Model: Decodable {
        var trees: [Tree]
        var gbtreeModelParam: GBTreeModelParam?
        /// Tree index where each boosting round starts (XGBoost 2.x and 3.x), one more than the rounds.
        var iterationIndptr: [Int]?
        enum CodingKeys: String, CodingKey {
            case trees
            case gbtreeModelParam = "gbtree_model_param", iterationIndptr = "iteration_indptr"
        }
    }
    struct GBTreeModelParam: Decodable {
        var numParallelTree: String?
        enum CodingKeys: String, CodingKey { case numParallelTree = "num_parallel_tree" }
    }
    struct Tree: Decodable {
        var leftChildren: [Int]
        var rightChildren: [Int]
        var splitIndices: [Int]
        var splitConditions: [Float]
        var defaultLeft: [Int]
        var sumHessian: [Float]
        var splitType: [Int]?
        var treeParam: TreeParam
        enum CodingKeys: String, CodingKey {
            case leftChildren = "left_children", rightChildren = "right_children", splitIndices = "split_indices"
            case splitConditions = "split_conditions", defaultLeft = "default_left", sumHessian = "sum_hessian"
            case splitType = "split_type", treeParam = "tree_param"
        }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            leftChildren = try c.decode([Int].self, forKey: .leftChildren)
            rightChildren = try c.decode([Int].self, forKey: .rightChildren)
            splitIndices = try c.decode([Int].self, forKey: .splitIndices)
            splitConditions = try c.decode([Float].self, forKey: .splitConditions)
            sumHessian = try c.decode([Float].self, forKey: .sumHessian)
            splitType = try c.decodeIfPresent([Int].self, forKey: .splitType)
            treeParam = try c.decode(TreeParam.self, forKey: .treeParam)
            // 2.x and 3.x write default_left as 0/1 integers; older writers used booleans.
            if let ints = try? c.decode([Int].self, forKey: .defaultLeft) {
                defaultLeft = ints
            } else {
                defaultLeft = try c.decode([Bool].self, forKey: .defaultLeft).map { $0 ? 1 : 0 }
            }
        }
    }
    struct TreeParam: Decodable {
        var sizeLeafVector: String?
        enum CodingKeys: String, CodingKey { case sizeLeafVector = "size_leaf_vector" }
    }
}
