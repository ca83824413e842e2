/// The units in which a member reports per-column contributions.
public enum ContributionUnits: Sendable {
    /// Log-odds (XGBoost margin, logistic regression): turned into probability units by the
    /// sigmoid's slope `p (1 − p)` at the member's probability.
    case margin
    /// Probability (random forest).
    case probability
}

/// A compiled ensemble member: evaluates batches of model-ready rows to probabilities and
/// explains them.
///
/// Rows are `featureCount` values in the manifest's `features` order, NaN for missing.
public protocol EnsembleMember: Sendable {
    /// Number of model-ready columns the member reads.
    var featureCount: Int { get }

    /// The units of ``evaluate(_:probabilities:contributions:)``'s contributions.
    var contributionUnits: ContributionUnits { get }

    /// Each row's probability of the positive class (default), exactly as the member's
    /// training library computes it (BUNDLE.md gives each library's rules).
    ///
    /// - Parameters:
    ///   - batch: the rows.
    ///   - probabilities: receives `batch.rows` probabilities.
    ///   - contributions: when given (`batch.rows × featureCount`, zeroed by the caller),
    ///     receives each column's contribution in ``contributionUnits`` (BUNDLE.md, reason codes).
    func evaluate(_ batch: FeatureBatch, probabilities: UnsafeMutableBufferPointer<Double>,
                  contributions: UnsafeMutableBufferPointer<Double>?)
}

extension EnsembleMember {
    /// The probability of one row (a batch of one).
    public func probability(_ row: UnsafeBufferPointer<Double>) -> Double {
        FeatureBatch.withSingleRow(row) { batch in
            var probability = 0.0
            withUnsafeMutablePointer(to: &probability) { evaluate(batch, probabilities: UnsafeMutableBufferPointer(start: $0, count: 1), contributions: nil) }
            return probability
        }
    }
}
