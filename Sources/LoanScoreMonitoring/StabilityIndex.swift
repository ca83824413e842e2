import Foundation

/// The population stability index (PSI) of one distribution against its reference, and the
/// band a lender reads it in. Used for the PD (population stability) and for each field
/// (characteristic stability): the same formula over that field's bins.
///
/// `PSI = Σ over bins (a − e) · ln(a / e)`, where `a` is the live share of a bin and `e` its
/// reference (training) share, both in [0, 1]. A bin empty on either side would make the
/// figure infinite, so each share is floored at ``epsilon`` first (0.0001, as Evidently does),
/// and the result is always finite and non-negative. Source: Siddiqi, *Credit Risk Scorecards*
/// (2006), ch. 8; Yurdakul, *Statistical Properties of Population Stability Index* (2018).
public enum StabilityIndex {
    /// The floor applied to every share before the logarithm (0.0001).
    public static let epsilon = 0.0001

    /// The PSI of live shares against reference shares, bin by bin.
    ///
    /// - Parameters:
    ///   - reference: each bin's reference share (training), the missing bin included.
    ///   - live: each bin's live share, in the same bin order; the same count as `reference`.
    /// - Returns: the index, ≥ 0 (0 when the two agree bin for bin).
    /// - Complexity: O(bins).
    public static func psi(reference: [Double], live: [Double]) -> Double {
        precondition(reference.count == live.count, "reference and live shares need the same bins")
        var total = 0.0
        for (e, a) in zip(reference, live) { total += contribution(reference: e, live: a) }
        return total
    }

    /// One bin's term of the PSI, `(a − e) · ln(a / e)` with both shares floored at
    /// ``epsilon``: ≥ 0, and larger the more that bin moved (what a report ranks bins by).
    public static func contribution(reference: Double, live: Double) -> Double {
        let expected = max(reference, epsilon), actual = max(live, epsilon)
        return (actual - expected) * log(actual / expected)
    }

    /// The PSI's band, by the industry's rule of thumb: below 0.1 the population is stable,
    /// from 0.1 it has moved moderately (investigate), from 0.25 significantly (act).
    public enum Band: String, Sendable, Codable {
        case stable, moderate, significant

        /// The band of a PSI value.
        public init(psi: Double) {
            self = psi >= 0.25 ? .significant : psi >= 0.1 ? .moderate : .stable
        }
    }
}

