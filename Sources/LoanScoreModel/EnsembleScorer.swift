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
    /// - Complexity: O(rows × (total tree depth + features)); a few arrays per row. The server
    ///   uses ``score(batch:rows:explain:into:)``, which allocates none.
    public func score(batch: UnsafeBufferPointer<Double>, rows: Int, explain: Bool = true) -> [Score] {
        var scores = ScoreBatch()
        score(batch: batch, rows: rows, explain: explain, into: &scores)
        return (0..<rows).map { result(row: $0, of: scores) }
    }

    /// Row `row` of a scored batch as a ``Score`` (its reasons with their texts and each
    /// member's probability). Precondition: `row < scores.rows`.
    public func result(row r: Int, of scores: ScoreBatch) -> Score {
        Score(pd: scores.pd[r], combined: scores.combined[r], riskLevel: scores.riskLevel[r], decision: scores.decision[r],
              confidence: scores.confidence[r],
              reasons: scores.reasonFields(row: r).enumerated().map { rank, field in
                  reason(field: field, contribution: scores.reasonContributions[r * Self.maximumReasons + rank])
              },
              memberProbabilities: (0..<members.count).map { scores.probabilities[$0 * scores.rows + r] })
    }

    /// Every input field's contribution to row `row`'s PD, in schema field order and in
    /// probability units before calibration: the per-column attributions the reason codes
    /// use (BUNDLE.md, "Reason codes"), summed back to fields, positive and negative alike.
    /// A field that is not a model feature (and feeds none) contributes 0.
    ///
    /// - Precondition: `scores` was filled with `explain: true` and `row < scores.rows`.
    /// - Complexity: O(features + fields).
    public func fieldContributions(row: Int, of scores: ScoreBatch) -> [Double] {
        var byField = [Double](repeating: 0, count: fieldNames.count)
        let width = scores.columns.count / Swift.max(scores.rows, 1)
        guard width == featureCount else { return byField }  // scored without reasons
        sumByField(row: row, width: width, columns: scores.columns, into: &byField)
        return byField
    }

    /// The schema's field names, in order (the order of ``fieldContributions(row:of:)``).
    public var inputFieldNames: [String] { fieldNames }

    /// Scores a batch of model-ready rows into `scores`, replacing what it held; the same
    /// results as ``score(batch:rows:explain:)``.
    ///
    /// - Parameters:
    ///   - batch: `rows × featureCount` values, row-major, NaN for missing (precondition:
    ///     `batch.count >= rows × featureCount`).
    ///   - rows: the number of rows.
    ///   - explain: compute reason codes (without, every row has none).
    ///   - scores: the destination; its arrays are reused.
    /// - Complexity: O(rows × (total tree depth + features)). Allocates only when `scores`
    ///   must grow past the largest batch it has held.
    public func score(batch: UnsafeBufferPointer<Double>, rows: Int, explain: Bool = true, into scores: inout ScoreBatch) {
        let width = featureCount
        precondition(batch.count >= rows * width, "batch must hold rows × featureCount values")
        let memberCount = members.count
        scores.reset(rows: rows, members: memberCount, width: explain ? width : 0, fields: fieldNames.count)
        guard rows > 0 else { return }
        // The work arrays move out of `scores` for the walk (no copy: swapped), and back after.
        var probabilities: [Double] = [], columns: [Double] = [], scratch: [Double] = []
        swap(&probabilities, &scores.probabilities)
        swap(&columns, &scores.columns)
        swap(&scratch, &scores.scratch)
        // Members walk the batch in chunks small enough for the chunk's features (float64 and
        // split keys) to stay in the L2 cache while every tree passes over them.
        let chunk = Swift.min(rows, Self.chunkRows)
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: FeatureBatch.keyCount(rows: chunk, width: width)) { keys in
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
        swap(&probabilities, &scores.probabilities)
        swap(&columns, &scores.columns)
        swap(&scratch, &scores.scratch)
        for r in 0..<rows {
            var combined = 0.0
            for k in 0..<memberCount { combined += weights[k] * scores.probabilities[k * rows + r] }
            let pd = calibration.apply(combined)
            // Confidence: members' agreement, 1 − 2σ (BUNDLE.md).
            var variance = 0.0
            for k in 0..<memberCount {
                let deviation = scores.probabilities[k * rows + r] - combined
                variance += weights[k] * deviation * deviation
            }
            scores.pd[r] = pd
            scores.combined[r] = combined
            scores.confidence[r] = min(1, max(0, 1 - 2 * variance.squareRoot()))
            scores.decision[r] = policy.decision(for: pd)
            scores.riskLevel[r] = policy.riskLevel(for: pd)
            if explain { selectReasons(row: r, width: width, into: &scores) }
        }
    }

    /// The reason for field `field` (an index into the schema's fields, as
    /// ``ScoreBatch/reasonFields(row:)`` gives them) with its contribution.
    public func reason(field: Int, contribution: Double) -> Reason {
        Reason(field: fieldNames[field], code: fieldReasons[field].code, text: fieldReasons[field].text, contribution: contribution)
    }

    /// The reason code of field `field` (an index into the schema's fields). O(1).
    public func reasonCode(field: Int) -> String {
        fieldReasons[field].code
    }

    /// Adds row `row`'s per-column contributions (`columns`, rows × `width`) to `byField`,
    /// each column split between its input fields by the pipeline's attribution shares.
    private func sumByField(row: Int, width: Int, columns: [Double], into byField: inout [Double]) {
        let start = row * width
        for (column, shares) in attribution.enumerated() {
            for (field, share) in shares { byField[field] += share * columns[start + column] }
        }
    }

    /// Sums row `row`'s per-column contributions back to input fields and keeps the (up to
    /// four) largest positive ones, largest first (ties: lower field index first).
    private func selectReasons(row: Int, width: Int, into scores: inout ScoreBatch) {
        for f in scores.byField.indices { scores.byField[f] = 0 }
        sumByField(row: row, width: width, columns: scores.columns, into: &scores.byField)
        let base = row * Self.maximumReasons
        var kept = 0
        for field in scores.byField.indices where scores.byField[field] > 0 {
            let value = scores.byField[field]
            // Insert into the sorted top list; equal values keep the lower field first.
            var rank = kept
            while rank > 0, scores.reasonContributions[base + rank - 1] < value { rank -= 1 }
            guard rank < Self.maximumReasons else { continue }
            var move = Swift.min(kept, Self.maximumReasons - 1)
            while move > rank {
                scores.reasonFieldIndices[base + move] = scores.reasonFieldIndices[base + move - 1]
                scores.reasonContributions[base + move] = scores.reasonContributions[base + move - 1]
                move -= 1
            }
            scores.reasonFieldIndices[base + rank] = field
            scores.reasonContributions[base + rank] = value
            kept = Swift.min(kept + 1, Self.maximumReasons)
        }
        scores.reasonCounts[row] = kept
    }
}

/// The scores of a batch in flat arrays (one slot per row), reused from batch to batch by
/// ``EnsembleScorer/score(batch:rows:explain:into:)``: after the first batches of a size,
/// scoring allocates nothing.
public struct ScoreBatch: Sendable {
    /// The number of rows scored.
    public private(set) var rows = 0
    /// Probability of default per row, calibrated, in [0, 1].
    public internal(set) var pd: [Double] = []
    /// The weighted mean of the members' probabilities per row, before calibration.
    public internal(set) var combined: [Double] = []
    /// Members' agreement per row, in [0, 1] (BUNDLE.md).
    public internal(set) var confidence: [Double] = []
    public internal(set) var decision: [Decision] = []
    /// The policy's risk level name per row (shared strings: no copy per row).
    public internal(set) var riskLevel: [String] = []
    /// Member k's probability of row r at `k × rows + r`.
    var probabilities: [Double] = []
    /// Weighted per-column contributions, rows × width (width 0 without reasons).
    var columns: [Double] = []
    var scratch: [Double] = []
    var byField: [Double] = []
    /// Row r's reasons at `r × maximumReasons ..< r × maximumReasons + reasonCounts[r]`.
    var reasonFieldIndices: [Int] = []
    var reasonContributions: [Double] = []
    var reasonCounts: [Int] = []

    /// Empty; grows on the first batches and keeps its capacity.
    public init() {}

    /// Row `row`'s reasons, largest first, as schema field indices (pass them to
    /// ``EnsembleScorer/reason(field:contribution:)``); empty without reasons. O(1).
    public func reasonFields(row: Int) -> ArraySlice<Int> {
        let base = row * EnsembleScorer.maximumReasons
        return reasonFieldIndices[base..<(base + reasonCounts[row])]
    }

    mutating func reset(rows: Int, members: Int, width: Int, fields: Int) {
        func refill<T>(_ array: inout [T], _ count: Int, _ value: T) {
            array.removeAll(keepingCapacity: true)
            array.append(contentsOf: repeatElement(value, count: count))
        }
        self.rows = rows
        refill(&pd, rows, 0)
        refill(&combined, rows, 0)
        refill(&confidence, rows, 0)
        refill(&decision, rows, .approve)
        refill(&riskLevel, rows, "")
        refill(&probabilities, members * rows, 0)
        refill(&columns, rows * width, 0)
        refill(&scratch, Swift.min(rows, EnsembleScorer.chunkRows) * width, 0)
        refill(&byField, fields, 0)
        refill(&reasonFieldIndices, rows * EnsembleScorer.maximumReasons, 0)
        refill(&reasonContributions, rows * EnsembleScorer.maximumReasons, 0)
        refill(&reasonCounts, rows, 0)
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
