// The decision type is shared with the wire protocol and the tools (LoanScoreDecision).
@_exported public import LoanScoreDecision

/// Cut-offs and risk levels (BUNDLE.md, `policy`).
public struct DecisionPolicy: Sendable {
    /// PD strictly below this is approved.
    public let approveBelow: Double
    /// PD at or above this is declined; between the two cut-offs, review.
    public let declineAt: Double
    /// Risk levels by exclusive upper PD bound, increasing; the last takes PD = 1 too.
    public let riskLevels: [(name: String, upper: Double)]

    /// - Throws: ``ModelError`` when cut-offs are outside [0, 1] or inverted, or risk-level
    ///   bounds do not increase to 1.
    public init(_ policy: Manifest.Policy) throws {
        let fail = { (problem: String) in ModelError(file: "manifest.json", "policy: \(problem)") }
        guard (0...1).contains(policy.approveBelow), (0...1).contains(policy.declineAt),
              policy.approveBelow <= policy.declineAt
        else { throw fail("cut-offs must satisfy 0 <= approve_below (\(policy.approveBelow)) <= decline_at (\(policy.declineAt)) <= 1") }
        guard let last = policy.riskLevels.last, last.upper == 1 else {
            throw fail("risk_levels must end with a level whose upper bound is 1")
        }
        for (a, b) in zip(policy.riskLevels, policy.riskLevels.dropFirst()) where !(a.upper < b.upper) {
            throw fail("risk level bounds must increase ('\(a.name)' \(a.upper), '\(b.name)' \(b.upper))")
        }
        guard policy.riskLevels[0].upper > 0 else { throw fail("the first risk level's upper bound must be above 0") }
        approveBelow = policy.approveBelow
        declineAt = policy.declineAt
        riskLevels = policy.riskLevels.map { ($0.name, $0.upper) }
    }

    public func decision(for pd: Double) -> Decision {
        if pd < approveBelow { return .approve }
        if pd >= declineAt { return .decline }
        return .review
    }

    public func riskLevel(for pd: Double) -> String {
        for level in riskLevels where pd < level.upper { return level.name }
        return riskLevels[riskLevels.count - 1].name
    }
}

/// The monotone map from the members' combined probability to the PD (BUNDLE.md,
/// `calibration`): identity, or isotonic points applied as `numpy.interp` (linear between
/// points, clipped to the end values).
public struct Calibration: Sendable {
    public let x: [Double]
    public let y: [Double]

    /// - Throws: ``ModelError`` for an unknown kind, unequal or empty point lists, `x` not
    ///   strictly increasing, `y` decreasing or outside [0, 1].
    public init(_ calibration: Manifest.Calibration) throws {
        let fail = { (problem: String) in ModelError(file: "manifest.json", "calibration: \(problem)") }
        switch calibration.kind {
        case "identity":
            x = []
            y = []
        case "isotonic":
            guard let x = calibration.x, let y = calibration.y, x.count == y.count, x.count >= 2 else {
                throw fail("isotonic needs x and y of the same length, at least 2 points")
            }
            guard x.allSatisfy(\.isFinite), y.allSatisfy({ $0.isFinite && (0...1).contains($0) }) else {
                throw fail("points must be finite and y within [0, 1]")
            }
            for i in 1..<x.count {
                guard x[i - 1] < x[i] else { throw fail("x must increase strictly (index \(i))") }
                guard y[i - 1] <= y[i] else { throw fail("y must not decrease (index \(i))") }
            }
            self.x = x
            self.y = y
        default:
            throw fail("kind '\(calibration.kind)' is unknown (identity, isotonic)")
        }
    }

    /// Applies the map; O(log points).
    public func apply(_ p: Double) -> Double {
        guard !x.isEmpty else { return p }
        if p <= x[0] { return y[0] }
        if p >= x[x.count - 1] { return y[y.count - 1] }
        var lo = 0, hi = x.count - 1  // invariant: x[lo] < p < x[hi]... with x[lo] <= p
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if x[mid] <= p { lo = mid } else { hi = mid }
        }
        // numpy.interp: slope * (p - x[lo]) + y[lo]
        let slope = (y[hi] - y[lo]) / (x[hi] - x[lo])
        return slope * (p - x[lo]) + y[lo]
    }
}
