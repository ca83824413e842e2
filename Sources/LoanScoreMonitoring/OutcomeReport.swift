/// Realised outcomes against the decisions that predicted them: per model version and per risk
/// level, how many loans, the mean predicted PD against the observed default rate, ranking
/// (ROC AUC, KS), the Brier score, calibration by PD decile, and a binomial test per risk level
/// (`loanscore outcomes`).
public struct OutcomeReport: Codable, Sendable, Equatable {
    /// The level below which a binomial test flags a risk level's PDs as not borne out.
    public static let significance = 0.05

    /// One audited decision joined to its realised outcome.
    public struct Loan: Sendable, Equatable {
        public var modelName: String
        public var modelVersion: String
        public var riskLevel: String
        public var pd: Double
        public var defaulted: Bool

        public init(modelName: String, modelVersion: String, riskLevel: String, pd: Double, defaulted: Bool) {
            self.modelName = modelName
            self.modelVersion = modelVersion
            self.riskLevel = riskLevel
            self.pd = pd
            self.defaulted = defaulted
        }
    }

    /// An outcome whose id has no audited decision (counted, never silently dropped).
    public struct Unmatched: Codable, Sendable, Equatable {
        public var id: String
        /// 1-based data row of the outcomes file.
        public var row: Int

        public init(id: String, row: Int) {
            self.id = id
            self.row = row
        }
    }

    /// The figures of one group of loans.
    public struct Summary: Codable, Sendable, Equatable {
        public var loans: Int
        public var defaults: Int
        /// Mean predicted PD: the default rate the model expected.
        public var meanPD: Double
        public var observedDefaultRate: Double
        /// `nil` when the group's loans all defaulted or none did.
        public var rocAUC: Double?
        public var ks: Double?
        public var brier: Double

        enum CodingKeys: String, CodingKey {
            case loans, defaults, ks, brier
            case meanPD = "mean_pd", observedDefaultRate = "observed_default_rate", rocAUC = "roc_auc"
        }

        init(_ loans: [Loan]) {
            let pd = loans.map(\.pd), defaulted = loans.map(\.defaulted)
            self.loans = loans.count
            defaults = defaulted.filter { $0 }.count
            meanPD = loans.isEmpty ? 0 : pd.reduce(0, +) / Double(loans.count)
            observedDefaultRate = loans.isEmpty ? 0 : Double(defaults) / Double(loans.count)
            rocAUC = OutcomeStatistics.rocAUC(pd: pd, defaulted: defaulted)
            ks = OutcomeStatistics.ks(pd: pd, defaulted: defaulted)
            brier = OutcomeStatistics.brier(pd: pd, defaulted: defaulted) ?? 0
        }
    }

    /// One risk level of one model version, with its binomial back-test.
    public struct RiskLevel: Codable, Sendable, Equatable {
        public var riskLevel: String
        public var summary: Summary
        /// Two-sided exact binomial p-value of the level's defaults against its mean PD.
        public var binomialPValue: Double
        /// `binomialPValue < 0.05`: the observed default rate is not what the PDs promised.
        public var flagged: Bool

        enum CodingKeys: String, CodingKey {
            case summary, flagged
            case riskLevel = "risk_level", binomialPValue = "binomial_p_value"
        }
    }

    /// Everything about one model version.
    public struct Model: Codable, Sendable, Equatable {
        public var modelName: String
        public var modelVersion: String
        public var summary: Summary
        /// Risk levels in order of mean PD (lowest first).
        public var riskLevels: [RiskLevel]
        public var calibration: [OutcomeStatistics.CalibrationBin]

        enum CodingKeys: String, CodingKey {
            case summary, calibration
            case modelName = "model_name", modelVersion = "model_version", riskLevels = "risk_levels"
        }
    }

    /// Loans with both a decision and an outcome.
    public var loans: Int
    /// Outcome rows whose id has no audited decision (within `since`).
    public var unmatchedOutcomes: Int
    /// The first ten of them, in file order.
    public var unmatchedExamples: [Unmatched]
    /// Audited applications (latest decision per id, within `since`) with no outcome yet.
    public var decisionsWithoutOutcome: Int
    /// The `--since` bound on decision time, as given (ISO 8601), or `nil`.
    public var since: String?
    /// Per model version, in order of first appearance in the audit log.
    public var models: [Model]

    enum CodingKeys: String, CodingKey {
        case loans, since, models
        case unmatchedOutcomes = "unmatched_outcomes", unmatchedExamples = "unmatched_examples"
        case decisionsWithoutOutcome = "decisions_without_outcome"
    }

    /// Builds the report from the joined loans.
    ///
    /// - Parameters:
    ///   - loans: one entry per loan with both a decision and an outcome, in audit order.
    ///   - unmatched: outcomes with no decision, in file order (all of them: only the count and
    ///     the first ten are kept).
    ///   - decisionsWithoutOutcome: decided applications with no outcome row.
    ///   - since: the decision-time bound applied, for the record.
    /// - Complexity: O(n log n) in the loans, plus O(loans per level) per binomial test.
    public init(loans: [Loan], unmatched: [Unmatched], decisionsWithoutOutcome: Int, since: String? = nil) {
        self.loans = loans.count
        unmatchedOutcomes = unmatched.count
        unmatchedExamples = Array(unmatched.prefix(10))
        self.decisionsWithoutOutcome = decisionsWithoutOutcome
        self.since = since
        var versions: [String] = []
        var byVersion: [String: [Loan]] = [:]
        for loan in loans {
            if byVersion[loan.modelVersion] == nil { versions.append(loan.modelVersion) }
            byVersion[loan.modelVersion, default: []].append(loan)
        }
        models = versions.map { version in
            let group = byVersion[version] ?? []
            var levels: [String: [Loan]] = [:]
            for loan in group { levels[loan.riskLevel, default: []].append(loan) }
            let riskLevels = levels.map { name, members -> RiskLevel in
                let summary = Summary(members)
                let p = OutcomeStatistics.binomialTestPValue(defaults: summary.defaults, loans: summary.loans, pd: summary.meanPD)
                return RiskLevel(riskLevel: name, summary: summary, binomialPValue: p, flagged: p < Self.significance)
            }.sorted { ($0.summary.meanPD, $0.riskLevel) < ($1.summary.meanPD, $1.riskLevel) }
            return Model(modelName: group.first?.modelName ?? "", modelVersion: version, summary: Summary(group), riskLevels: riskLevels,
                         calibration: OutcomeStatistics.calibrationByDecile(pd: group.map(\.pd), defaulted: group.map(\.defaulted)))
        }
    }
}
