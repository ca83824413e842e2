public import LoanScoreFeatures

/// The compiled ensemble of a bundle: members, weighted combination, calibration, decision
/// policy and reason codes. Immutable and `Sendable`: one instance serves every thread.
public struct EnsembleScorer: Sendable {
    /// Member names, in manifest order (the order of ``Score/memberProbabilities``).
    public let memberNames: [String]
    public let weights: [Double]
    public let calibration: Calibration
    public let policy: DecisionPolicy
    public let model: Manifest.ModelIdentity
    /// Number of model-ready columns a row holds.
    public let featureCount: Int
    private let members: [any EnsembleMember]

    /// The compiled member of that name (for benchmarks and audits of one member).
    public func member(named name: String) -> (any EnsembleMember)? {
        memberNames.firstIndex(of: name).map { members[$0] }
    }
    private let attribution: [[(field: Int, share: Double)]]
    private let fieldReasons: [Manifest.ReasonCode]
    private let fieldNames: [String]

    /// Rows a member walks at a time: 128 rows of a few dozen features stay in the L2 cache.
    static let chunkRows = 128

    /// The maximum number of reason codes given per application.
    public static let maximumReasons = 4

    /// Compiles the ensemble part of a manifest.
    ///
    /// - Throws: ``ModelError`` (file `manifest.json`) when weights are negative or do not sum
    ///   to 1, member names repeat, the combination is unknown, calibration points are out of
    ///   order, the policy is inconsistent, or a field lacks its reason code.
    public init(manifest: Manifest, pipeline: FeaturePipeline, members: [(Manifest.Member, any EnsembleMember)]) throws {
        let fail = { (problem: String) in ModelError(file: "manifest.json", problem) }
        guard !members.isEmpty else { throw fail("the ensemble has no members") }
        guard manifest.combination == "weighted_mean" else {
            throw fail("combination '\(manifest.combination)' is unknown; format 1 has 'weighted_mean'")
        }
        let names = members.map(\.0.name)
        guard Set(names).count == names.count else { throw fail("member names repeat") }
        for name in names where name.isEmpty || !name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
            throw fail("member name '\(name)' must be letters, digits and '_'")
        }
        let weights = members.map(\.0.weight)
        guard weights.allSatisfy({ $0.isFinite && $0 >= 0 }) else { throw fail("a member weight is negative or not finite") }
        let total = weights.reduce(0, +)
        guard abs(total - 1) <= 1e-9 else { throw fail("member weights sum to \(total), not 1") }
        memberNames = names
        self.weights = weights
        self.members = members.map(\.1)
        calibration = try Calibration(manifest.calibration)
        policy = try DecisionPolicy(manifest.policy)
        model = manifest.model
        featureCount = manifest.features.count
        attribution = pipeline.attribution
        fieldNames = pipeline.schema.fields.map(\.name)
        fieldReasons = try fieldNames.map { name in
            guard let reason = manifest.reasonCodes[name] else { throw fail("reason_codes has no entry for field '\(name)'") }
            return reason
        }
    }

    /// Scores one model-ready row (a batch of one).
    ///
    /// - Parameters:
    ///   - row: `featureCount` values in the manifest's `features` order, NaN for missing.
    ///   - explain: compute reason codes (path attributions walk the same trees).
    public func score(_ row: UnsafeBufferPointer<Double>, explain: Bool = true) -> Score {
        score(batch: row, rows: 1, explain: explain)[0]
    }

    /// Scores a batch of model-ready rows.
    ///
    /// Each member walks its trees one at a time over every row of the batch (the tree stays
    /// in cache); the results do not depend on the batch's size or on the other rows.
    ///
    /// - Parameters:
    ///   - batch: `rows × featureCount` values, row-major, NaN for missing.
    ///   - rows: the number of rows.
    ///   - explain: compute reason codes.
    /// - Returns: one ``Score`` per row, in order.
    /// - Complexity: O(rows × (total tree depth + features)).
    public func score(batch: UnsafeBufferPointer<Double>, rows: Int, explain: Bool = true) -> [Score] {
        let width = featureCount
        precondition(batch.count >= rows * width, "batch must hold rows × featureCount values")
        guard rows > 0 else { return [] }
        let memberCount = members.count
        var probabilities = [Double](repeating: 0, count: memberCount * rows)
        var columns = [Double](repeating: 0, count: explain ? rows * width : 0)
        // Members walk the batch in chunks small enough for the chunk's features (float64 and
        // split keys) to stay in the L2 cache while every tree passes over them.
        let chunk = Swift.min(rows, Self.chunkRows)
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: FeatureBatch.keyCount(rows: chunk, width: width)) { keys in
            var scratch = [Double](repeating: 0, count: explain ? chunk * width : 0)
            probabilities.withUnsafeMutableBufferPointer { probabilities in
                for first in stride(from: 0, to: rows, by: chunk) {
                    let count = Swift.min(chunk, rows - first)
                    let doubles = UnsafeBufferPointer(rebasing: batch[(first * width)..<((first + count) * width)])
                    let features = FeatureBatch(rows: count, width: width, doubles: doubles, keys: keys)
                    for (k, member) in members.enumerated() {
                        let own = UnsafeMutableBufferPointer(rebasing: probabilities[(k * rows + first)..<(k * rows + first + count)])
                        guard explain, weights[k] > 0 else {
                            member.evaluate(features, probabilities: own, contributions: nil)
                            continue
                        }
                        for i in 0..<(count * width) { scratch[i] = 0 }
                        scratch.withUnsafeMutableBufferPointer {
                            member.evaluate(features, probabilities: own,
                                            contributions: UnsafeMutableBufferPointer(rebasing: $0[0..<(count * width)]))
                        }
                        // Member contributions, weighted and in probability units (BUNDLE.md).
                        for r in 0..<count {
                            let p = own[r]
                            let factor = weights[k] * (member.contributionUnits == .margin ? p * (1 - p) : 1)
                            for j in 0..<width { columns[(first + r) * width + j] += factor * scratch[r * width + j] }
                        }
                    }
                }
            }
        }
        return (0..<rows).map { r in
            var memberProbabilities = [Double](repeating: 0, count: memberCount)
            var combined = 0.0
            for k in 0..<memberCount {
                memberProbabilities[k] = probabilities[k * rows + r]
                combined += weights[k] * memberProbabilities[k]
            }
            let pd = calibration.apply(combined)
            // Confidence: members' agreement, 1 − 2σ (BUNDLE.md).
            var variance = 0.0
            for k in 0..<memberCount {
                variance += weights[k] * (memberProbabilities[k] - combined) * (memberProbabilities[k] - combined)
            }
            let confidence = min(1, max(0, 1 - 2 * variance.squareRoot()))
            let reasons = explain ? self.reasons(columns[(r * width)..<((r + 1) * width)]) : []
            return Score(pd: pd, combined: combined, riskLevel: policy.riskLevel(for: pd), decision: policy.decision(for: pd),
                         confidence: confidence, reasons: reasons, memberProbabilities: memberProbabilities)
        }
    }

    /// Sums per-column contributions back to input fields and keeps the (up to four) largest
    /// positive ones.
    private func reasons(_ columns: ArraySlice<Double>) -> [Reason] {
        var byField = [Double](repeating: 0, count: fieldNames.count)
        let start = columns.startIndex
        for (column, shares) in attribution.enumerated() {
            for (field, share) in shares { byField[field] += share * columns[start + column] }
        }
        return byField.indices
            .filter { byField[$0] > 0 }
            .sorted { byField[$0] != byField[$1] ? byField[$0] > byField[$1] : $0 < $1 }
            .prefix(Self.maximumReasons)
            .map { Reason(field: fieldNames[$0], code: fieldReasons[$0].code, text: fieldReasons[$0].text, contribution: byField[$0]) }
    }
}

/// The outcome of scoring one application.
public struct Score: Sendable, Equatable {
    /// Probability of default, calibrated, in [0, 1].
    public var pd: Double
    /// The weighted mean of the members' probabilities, before calibration.
    public var combined: Double
    public var riskLevel: String
    public var decision: Decision
    /// Members' agreement in [0, 1] (BUNDLE.md).
    public var confidence: Double
    /// Up to four fields that raised the PD the most, largest first.
    public var reasons: [Reason]
    /// Each member's own probability, in manifest member order.
    public var memberProbabilities: [Double]
}

/// One adverse-action reason.
public struct Reason: Sendable, Equatable {
    public var field: String
    public var code: String
    public var text: String
    /// The field's contribution to the PD, in probability units (before calibration).
    public var contribution: Double
}
