import Foundation

/// Whether a run overloaded the server: it answered well below the rate asked of it (open
/// loop), or more than 1 % of the requests failed (BUSY, TIMEOUT, QUOTA_EXCEEDED, dropped, …).
/// An overloaded run ends with exit status ``exitCode`` after its report, so that a script or
/// CI job cannot mistake a run the server could not keep up with for a measurement of it.
struct OverloadVerdict: Equatable {
    /// Exit status of an overloaded run (0 success, 1 internal error, 2 usage error, 3 invalid
    /// data are the other statuses of the LoanScore tools).
    static let exitCode: Int32 = 5
    /// Below this fraction of the target rate a run is overloaded.
    static let minimumAchievedFraction = 0.9
    /// Above this fraction of failed requests a run is overloaded.
    static let maximumFailedFraction = 0.01

    /// Applications per second asked for (open loop: rate × batch), nil in closed loop.
    var targetApplicationsPerSecond: Double?
    /// Applications per second answered.
    var achievedApplicationsPerSecond: Double
    /// Failed requests over all requests of the measurement window (0 when there were none).
    var failedFraction: Double
    /// Why the run counts as overloaded; empty when it does not.
    var reasons: [String]

    var overloaded: Bool { !reasons.isEmpty }

    /// - Parameters:
    ///   - target: applications per second asked for, nil in closed loop.
    ///   - achieved: applications per second answered in the measurement window.
    ///   - answered: requests answered in the window.
    ///   - failed: requests failed (any error, dropped included) in the window.
    init(target: Double?, achieved: Double, answered: Int, failed: Int) {
        targetApplicationsPerSecond = target
        achievedApplicationsPerSecond = achieved
        let total = answered + failed
        failedFraction = total == 0 ? 0 : Double(failed) / Double(total)
        var reasons: [String] = []
        if let target, target > 0, achieved < target * Self.minimumAchievedFraction {
            reasons.append("achieved \(format(achieved)) applications/s, \(format(100 * achieved / target)) % of the \(format(target)) asked for")
        }
        if total == 0 {
            reasons.append("no request was answered or failed in the measurement window")
        } else if failedFraction > Self.maximumFailedFraction {
            reasons.append("\(failed) of \(total) requests failed (\(format(100 * failedFraction)) %, above 1 %)")
        }
        self.reasons = reasons
    }

    /// The report's `overload` object.
    var json: [String: Any] {
        ["overloaded": overloaded, "reasons": reasons, "failed_fraction": failedFraction,
         "target_applications_per_s": targetApplicationsPerSecond.map { $0 as Any } ?? NSNull()]
    }

    /// The report's last line.
    var text: String {
        overloaded
            ? "OVERLOADED: \(reasons.joined(separator: "; ")) (exit status \(Self.exitCode))"
            : "not overloaded: \(format(100 * failedFraction)) % of requests failed" + (targetApplicationsPerSecond.map {
                $0 > 0 ? ", \(format(100 * achievedApplicationsPerSecond / $0)) % of the asked rate achieved" : "" } ?? "")
    }
}
