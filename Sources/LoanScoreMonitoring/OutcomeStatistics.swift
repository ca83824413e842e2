import Foundation

/// The statistics a validator computes when realised outcomes meet predicted PDs: ranking
/// (ROC AUC, KS), accuracy (Brier score), calibration by PD decile, and the binomial test of a
/// group's default rate against its mean PD.
///
/// Inputs are parallel arrays: `pd[i]` is loan `i`'s predicted probability of default (in
/// [0, 1]) and `defaulted[i]` whether it defaulted. Every function is deterministic and
/// allocates O(n) at most.
public enum OutcomeStatistics {
    /// The area under the ROC curve: the probability that a random defaulted loan has a higher
    /// PD than a random good one, ties counting one half (Mann–Whitney U over average ranks;
    /// equal to scikit-learn's `roc_auc_score`).
    ///
    /// - Returns: the AUC in [0, 1], or `nil` when the loans are all good or all defaulted.
    /// - Complexity: O(n log n).
    public static func rocAUC(pd: [Double], defaulted: [Bool]) -> Double? {
        precondition(pd.count == defaulted.count, "one outcome per PD")
        let bad = defaulted.reduce(0) { $0 + ($1 ? 1 : 0) }, good = pd.count - bad
        guard bad > 0, good > 0 else { return nil }
        let order = pd.indices.sorted { pd[$0] < pd[$1] }
        // Sum of the defaulted loans' ranks (1-based), tied PDs sharing their average rank.
        var rankSum = 0.0, start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count, pd[order[end + 1]] == pd[order[start]] { end += 1 }
            let averageRank = Double(start + end + 2) / 2
            for position in start...end where defaulted[order[position]] { rankSum += averageRank }
            start = end + 1
        }
        let u = rankSum - Double(bad) * Double(bad + 1) / 2
        return u / (Double(bad) * Double(good))
    }

    /// The Kolmogorov–Smirnov statistic: the largest gap between the cumulative PD
    /// distributions of defaulted and good loans, over every PD threshold (tied PDs move
    /// together).
    ///
    /// - Returns: KS in [0, 1], or `nil` when the loans are all good or all defaulted.
    /// - Complexity: O(n log n).
    public static func ks(pd: [Double], defaulted: [Bool]) -> Double? {
        precondition(pd.count == defaulted.count, "one outcome per PD")
        let bad = defaulted.reduce(0) { $0 + ($1 ? 1 : 0) }, good = pd.count - bad
        guard bad > 0, good > 0 else { return nil }
        let order = pd.indices.sorted { pd[$0] < pd[$1] }
        var seenBad = 0, seenGood = 0, best = 0.0, position = 0
        while position < order.count {
            let value = pd[order[position]]
            while position < order.count, pd[order[position]] == value {
                if defaulted[order[position]] { seenBad += 1 } else { seenGood += 1 }
                position += 1
            }
            best = max(best, abs(Double(seenGood) / Double(good) - Double(seenBad) / Double(bad)))
        }
        return best
    }

    /// The Brier score: the mean of `(pd − outcome)²` (0 is perfect; a constant PD equal to
    /// the default rate `r` scores `r(1 − r)`).
    ///
    /// - Returns: the score, or `nil` for no loans.
    public static func brier(pd: [Double], defaulted: [Bool]) -> Double? {
        precondition(pd.count == defaulted.count, "one outcome per PD")
        guard !pd.isEmpty else { return nil }
        var total = 0.0
        for (p, d) in zip(pd, defaulted) {
            let error = p - (d ? 1 : 0)
            total += error * error
        }
        return total / Double(pd.count)
    }

    /// The two-sided exact binomial test of `defaults` out of `loans` against a default
    /// probability `pd`: the probability, under `pd`, of an outcome no more likely than the one
    /// observed (the method of R's `binom.test` and SciPy's `binomtest`, with their relative
    /// tolerance of 1e-7 for ties in likelihood). Supervisors use it per rating grade to
    /// back-test PDs (BCBS, *Studies on the Validation of Internal Rating Systems*, WP 14, 2005).
    ///
    /// - Returns: the p-value in [0, 1].
    /// - Complexity: O(loans).
    public static func binomialTestPValue(defaults: Int, loans: Int, pd: Double) -> Double {
        precondition(loans >= 0 && defaults >= 0 && defaults <= loans, "0 ≤ defaults ≤ loans")
        guard loans > 0 else { return 1 }
        if pd <= 0 { return defaults == 0 ? 1 : 0 }
        if pd >= 1 { return defaults == loans ? 1 : 0 }
        let logP = log(pd), logQ = log1p(-pd), logNFactorial = logGamma(Double(loans) + 1)
        func logPMF(_ k: Int) -> Double {
            logNFactorial - logGamma(Double(k) + 1) - logGamma(Double(loans - k) + 1) + Double(k) * logP + Double(loans - k) * logQ
        }
        let observed = logPMF(defaults)
        let bound = observed + log1p(1e-7)
        var total = 0.0
        for k in 0...loans {
            let value = logPMF(k)
            if value <= bound { total += exp(value) }
        }
        return min(1, total)
    }

    /// One group of loans of a calibration table: expected (mean PD) against observed
    /// (default rate).
    public struct CalibrationBin: Codable, Sendable, Equatable {
        /// 1-based decile (1 = lowest PDs).
        public var decile: Int
        public var loans: Int
        /// The lowest and highest PD in the group.
        public var pdMin: Double
        public var pdMax: Double
        /// Mean predicted PD (the expected default rate).
        public var expected: Double
        /// Realised default rate.
        public var observed: Double

        enum CodingKeys: String, CodingKey {
            case decile, loans, expected, observed
            case pdMin = "pd_min", pdMax = "pd_max"
        }
    }

    /// Calibration by PD decile: loans sorted by PD and cut into ten groups of (nearly) equal
    /// size, loan `i` of `n` (in PD order) going to decile `⌊10·i / n⌋ + 1`; tied PDs may fall
    /// either side of a cut. Fewer than ten loans give fewer groups (no empty ones).
    ///
    /// - Complexity: O(n log n).
    public static func calibrationByDecile(pd: [Double], defaulted: [Bool]) -> [CalibrationBin] {
        precondition(pd.count == defaulted.count, "one outcome per PD")
        let n = pd.count
        guard n > 0 else { return [] }
        let order = pd.indices.sorted { pd[$0] < pd[$1] || (pd[$0] == pd[$1] && $0 < $1) }
        var bins: [CalibrationBin] = []
        var position = 0
        for decile in 1...10 {
            let end = decile * n / 10
            guard end > position else { continue }
            let members = order[position..<end]
            let expected = members.reduce(0.0) { $0 + pd[$1] } / Double(members.count)
            let observed = Double(members.filter { defaulted[$0] }.count) / Double(members.count)
            bins.append(CalibrationBin(decile: decile, loans: members.count, pdMin: pd[members.first ?? 0],
                                       pdMax: pd[members.last ?? 0], expected: expected, observed: observed))
            position = end
        }
        return bins
    }
}

/// ln Γ(x), through the C library (`lgamma`).
private func logGamma(_ x: Double) -> Double {
    let function: (Double) -> Double = lgamma
    return function(x)
}
