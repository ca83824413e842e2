/// Champion against challenger, from the decisions an audit log recorded
/// (`loanscore audit compare`).
///
/// Built by feeding every audited decision to a ``Builder`` in log order, then
/// ``Builder/finish()``. The report holds:
/// - per deciding model version (and its role, when the server ran a challenger): how many
///   applications it decided, its mean PD, approval rate and decisions mix;
/// - per champion/challenger pair of a shadow run (records with a shadow verdict): the agreement
///   rate, the 3 × 3 decision swap matrix (champion's decision × challenger's), the Pearson and
///   Spearman correlations of their PDs, the mean PD difference (challenger − champion), and the
///   largest disagreements;
/// - with realised outcomes, ROC AUC, KS and Brier per version on the matured loans, and in
///   shadow mode the challenger's on the same loans as the champion's.
///
/// Counts are of audited decisions: an application scored twice counts twice. The outcomes join,
/// like `loanscore outcomes`, takes each application's latest decision (by time, then sequence).
/// Decisions other than `approve`, `review` and `decline` are counted as `other` and left out of
/// the swap matrix (counted as `unclassified`), never dropped silently.
public struct AuditComparison: Codable, Sendable, Equatable {
    /// The decisions the mix and the swap matrix classify, in the order shown.
    public static let decisionNames = ["approve", "review", "decline"]
    /// Largest disagreements kept per shadow pair unless asked otherwise.
    public static let defaultTop = 10

    // MARK: Input

    /// A shadow challenger's verdict on an application the champion decided.
    public struct ShadowVerdict: Sendable, Equatable {
        public var modelVersion: String
        /// Probability of default, 0...1.
        public var pd: Double
        public var decision: String

        public init(modelVersion: String, pd: Double, decision: String) {
            self.modelVersion = modelVersion
            self.pd = pd
            self.decision = decision
        }
    }

    /// One audited decision (the fields of an audit record the comparison reads).
    public struct Decision: Sendable, Equatable {
        public var sequence: UInt64
        /// Milliseconds since 1970-01-01T00:00:00Z.
        public var timeMilliseconds: Int64
        public var applicationID: String
        public var modelName: String
        /// The deciding model's version.
        public var modelVersion: String
        /// `champion` or `challenger` when the server ran a challenger, else `nil`.
        public var role: String?
        /// The deciding model's probability of default, 0...1.
        public var pd: Double
        public var decision: String
        /// In shadow mode, the challenger's verdict on the same application.
        public var shadow: ShadowVerdict?

        public init(sequence: UInt64, timeMilliseconds: Int64, applicationID: String, modelName: String, modelVersion: String,
                    role: String?, pd: Double, decision: String, shadow: ShadowVerdict?) {
            self.sequence = sequence
            self.timeMilliseconds = timeMilliseconds
            self.applicationID = applicationID
            self.modelName = modelName
            self.modelVersion = modelVersion
            self.role = role
            self.pd = pd
            self.decision = decision
            self.shadow = shadow
        }
    }

    // MARK: Report

    /// How many decisions of each kind, and their shares of the total (0...1).
    public struct DecisionMix: Codable, Sendable, Equatable {
        public var approve = 0
        public var review = 0
        public var decline = 0
        /// Decisions with any other value.
        public var other = 0
        public var approveShare = 0.0
        public var reviewShare = 0.0
        public var declineShare = 0.0

        enum CodingKeys: String, CodingKey {
            case approve, review, decline, other
            case approveShare = "approve_share", reviewShare = "review_share", declineShare = "decline_share"
        }

        mutating func count(_ decision: String) {
            switch decision {
            case "approve": approve += 1
            case "review": review += 1
            case "decline": decline += 1
            default: other += 1
            }
        }

        mutating func computeShares() {
            let total = Double(approve + review + decline + other)
            guard total > 0 else { return }
            approveShare = Double(approve) / total
            reviewShare = Double(review) / total
            declineShare = Double(decline) / total
        }
    }

    /// The decisions one model version made (in one role).
    public struct Version: Codable, Sendable, Equatable {
        public var modelName: String
        public var modelVersion: String
        /// `champion` or `challenger`; `nil` for a server without a challenger.
        public var role: String?
        /// Decisions recorded (an application scored twice counts twice).
        public var applications: Int
        /// Mean probability of default, 0...1.
        public var meanPD: Double
        /// Share of approvals, 0...1 (``DecisionMix/approveShare``).
        public var approvalRate: Double
        public var decisions: DecisionMix

        enum CodingKeys: String, CodingKey {
            case role, applications, decisions
            case modelName = "model_name", modelVersion = "model_version", meanPD = "mean_pd", approvalRate = "approval_rate"
        }

        /// Every key present, `role` as null when there is none.
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(modelName, forKey: .modelName)
            try c.encode(modelVersion, forKey: .modelVersion)
            try c.encode(role, forKey: .role)
            try c.encode(applications, forKey: .applications)
            try c.encode(meanPD, forKey: .meanPD)
            try c.encode(approvalRate, forKey: .approvalRate)
            try c.encode(decisions, forKey: .decisions)
        }
    }

    /// One application on which champion and challenger disagree.
    public struct Disagreement: Codable, Sendable, Equatable {
        public var applicationID: String
        /// The audit record's sequence number.
        public var sequence: UInt64
        public var championPD: Double
        public var championDecision: String
        public var challengerPD: Double
        public var challengerDecision: String
        /// `challengerPD − championPD`.
        public var pdDifference: Double
        /// The two decisions differ.
        public var decisionSwap: Bool

        enum CodingKeys: String, CodingKey {
            case sequence
            case applicationID = "application_id", championPD = "champion_pd", championDecision = "champion_decision"
            case challengerPD = "challenger_pd", challengerDecision = "challenger_decision"
            case pdDifference = "pd_difference", decisionSwap = "decision_swap"
        }

        /// Ranking: decision swaps first (they change what the lender answers), then the larger
        /// |PD difference|, then the lower sequence number.
        static func ranksBefore(_ a: Disagreement, _ b: Disagreement) -> Bool {
            if a.decisionSwap != b.decisionSwap { return a.decisionSwap }
            let da = abs(a.pdDifference), db = abs(b.pdDifference)
            if da != db { return da > db }
            return a.sequence < b.sequence
        }
    }

    /// A shadow run of one challenger version beside one champion version.
    public struct ShadowPair: Codable, Sendable, Equatable {
        public var modelName: String
        public var championVersion: String
        public var challengerVersion: String
        /// Applications scored by both.
        public var applications: Int
        /// Applications on which both made the same decision.
        public var agreements: Int
        /// `agreements / applications`, 0...1.
        public var agreementRate: Double
        /// Counts by champion decision (outer key) and challenger decision (inner key), over
        /// `approve`, `review` and `decline`; every cell present.
        public var swapMatrix: [String: [String: Int]]
        /// Applications left out of the matrix: either decision outside the three.
        public var unclassified: Int
        public var meanChampionPD: Double
        public var meanChallengerPD: Double
        /// Mean of `challenger PD − champion PD`.
        public var meanPDDifference: Double
        /// Pearson correlation of the two PDs; `nil` with fewer than two applications or a
        /// constant PD.
        public var pdPearson: Double?
        /// Spearman rank correlation (average ranks for ties); `nil` as for Pearson.
        public var pdSpearman: Double?
        /// The largest disagreements, ranked: decision swaps first, then by |PD difference|
        /// (applications on which the two agree exactly are left out).
        public var largestDisagreements: [Disagreement]

        enum CodingKeys: String, CodingKey {
            case applications, agreements, unclassified
            case modelName = "model_name", championVersion = "champion_version", challengerVersion = "challenger_version"
            case agreementRate = "agreement_rate", swapMatrix = "swap_matrix", meanChampionPD = "mean_champion_pd"
            case meanChallengerPD = "mean_challenger_pd", meanPDDifference = "mean_pd_difference"
            case pdPearson = "pd_pearson", pdSpearman = "pd_spearman", largestDisagreements = "largest_disagreements"
        }

        /// Every key present, an undefined correlation as null.
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(modelName, forKey: .modelName)
            try c.encode(championVersion, forKey: .championVersion)
            try c.encode(challengerVersion, forKey: .challengerVersion)
            try c.encode(applications, forKey: .applications)
            try c.encode(agreements, forKey: .agreements)
            try c.encode(agreementRate, forKey: .agreementRate)
            try c.encode(swapMatrix, forKey: .swapMatrix)
            try c.encode(unclassified, forKey: .unclassified)
            try c.encode(meanChampionPD, forKey: .meanChampionPD)
            try c.encode(meanChallengerPD, forKey: .meanChallengerPD)
            try c.encode(meanPDDifference, forKey: .meanPDDifference)
            try c.encode(pdPearson, forKey: .pdPearson)
            try c.encode(pdSpearman, forKey: .pdSpearman)
            try c.encode(largestDisagreements, forKey: .largestDisagreements)
        }
    }

    /// One version's figures on its matured loans.
    public struct VersionOutcomes: Codable, Sendable, Equatable {
        public var modelName: String
        public var modelVersion: String
        public var role: String?
        public var summary: OutcomeReport.Summary

        enum CodingKeys: String, CodingKey {
            case role, summary
            case modelName = "model_name", modelVersion = "model_version"
        }

        /// Every key present, `role` as null when there is none.
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(modelName, forKey: .modelName)
            try c.encode(modelVersion, forKey: .modelVersion)
            try c.encode(role, forKey: .role)
            try c.encode(summary, forKey: .summary)
        }
    }

    /// Champion and shadow challenger on the same matured loans.
    public struct ShadowOutcomes: Codable, Sendable, Equatable {
        public var championVersion: String
        public var challengerVersion: String
        /// The champion's PDs (which decided) against the outcomes.
        public var champion: OutcomeReport.Summary
        /// The challenger's PDs on the same loans.
        public var challenger: OutcomeReport.Summary

        enum CodingKeys: String, CodingKey {
            case champion, challenger
            case championVersion = "champion_version", challengerVersion = "challenger_version"
        }
    }

    /// The join of the decisions with realised outcomes.
    public struct Outcomes: Codable, Sendable, Equatable {
        /// Rows of the outcomes file.
        public var outcomeRows: Int
        /// Outcomes whose application has an audited decision (the matured loans compared).
        public var matched: Int
        /// Outcomes with no audited decision (within `since`).
        public var unmatchedOutcomes: Int
        /// Per deciding version (and role), on its matured loans (each application's latest decision).
        public var versions: [VersionOutcomes]
        /// Per shadow pair, both models on the same matured loans.
        public var shadow: [ShadowOutcomes]

        enum CodingKeys: String, CodingKey {
            case matched, versions, shadow
            case outcomeRows = "outcome_rows", unmatchedOutcomes = "unmatched_outcomes"
        }
    }

    /// Audited decisions compared.
    public var records: Int
    /// Per deciding version and role, in order of first appearance.
    public var versions: [Version]
    /// Per champion/challenger pair with shadow verdicts, in order of first appearance; empty
    /// when the log has no shadow records.
    public var shadow: [ShadowPair]
    /// With realised outcomes, their figures; else `nil`.
    public var outcomes: Outcomes?

    enum CodingKeys: String, CodingKey {
        case records, versions, shadow, outcomes
    }

    /// Every key present, `outcomes` as null without outcomes.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(records, forKey: .records)
        try c.encode(versions, forKey: .versions)
        try c.encode(shadow, forKey: .shadow)
        try c.encode(outcomes, forKey: .outcomes)
    }

    // MARK: Building

    /// Accumulates decisions in one pass over the log.
    ///
    /// Memory: O(versions) for the mixes; per shadow pair, two PDs per application (for the
    /// rank correlation) and at most `2·top` disagreement candidates; with outcomes, one decision
    /// per outcome id.
    public struct Builder: Sendable {
        private struct VersionKey: Hashable {
            var version: String
            var role: String?
        }

        private struct PairKey: Hashable {
            var champion: String
            var challenger: String
        }

        private struct VersionAccumulator {
            var modelName: String
            var applications = 0
            var pdSum = 0.0
            var mix = DecisionMix()
        }

        private struct PairAccumulator {
            var modelName: String
            var championPD: [Double] = []
            var challengerPD: [Double] = []
            var agreements = 0
            var unclassified = 0
            var matrix = [[Int]](repeating: [0, 0, 0], count: 3)
            var candidates: [Disagreement] = []
        }

        private let top: Int
        private let outcomes: [String: Bool]?
        private var records = 0
        private var versionOrder: [VersionKey] = []
        private var versions: [VersionKey: VersionAccumulator] = [:]
        private var pairOrder: [PairKey] = []
        private var pairs: [PairKey: PairAccumulator] = [:]
        /// The latest decision of each application with an outcome.
        private var latest: [String: Decision] = [:]

        /// - Parameters:
        ///   - top: how many largest disagreements to keep per shadow pair (0 or more).
        ///   - outcomes: realised outcomes by application id (`true`: defaulted), or `nil`.
        public init(top: Int = AuditComparison.defaultTop, outcomes: [String: Bool]? = nil) {
            precondition(top >= 0, "top must not be negative")
            self.top = top
            self.outcomes = outcomes
        }

        /// Decisions added so far.
        public var count: Int { records }

        /// Adds one decision. Amortised O(1), plus O(top · log top) now and then for the
        /// disagreements.
        public mutating func add(_ decision: Decision) {
            records += 1
            let key = VersionKey(version: decision.modelVersion, role: decision.role)
            if versions[key] == nil {
                versionOrder.append(key)
                versions[key] = VersionAccumulator(modelName: decision.modelName)
            }
            versions[key]?.applications += 1
            versions[key]?.pdSum += decision.pd
            versions[key]?.mix.count(decision.decision)

            if let shadow = decision.shadow {
                let pairKey = PairKey(champion: decision.modelVersion, challenger: shadow.modelVersion)
                // Taken out and put back so that appending to its arrays does not copy them.
                var pair: PairAccumulator
                if let existing = pairs.removeValue(forKey: pairKey) {
                    pair = existing
                } else {
                    pairOrder.append(pairKey)
                    pair = PairAccumulator(modelName: decision.modelName)
                }
                pair.championPD.append(decision.pd)
                pair.challengerPD.append(shadow.pd)
                if decision.decision == shadow.decision { pair.agreements += 1 }
                if let row = AuditComparison.decisionNames.firstIndex(of: decision.decision),
                   let column = AuditComparison.decisionNames.firstIndex(of: shadow.decision) {
                    pair.matrix[row][column] += 1
                } else {
                    pair.unclassified += 1
                }
                let swap = decision.decision != shadow.decision
                if top > 0, swap || shadow.pd != decision.pd {
                    pair.candidates.append(Disagreement(
                        applicationID: decision.applicationID, sequence: decision.sequence, championPD: decision.pd,
                        championDecision: decision.decision, challengerPD: shadow.pd, challengerDecision: shadow.decision,
                        pdDifference: shadow.pd - decision.pd, decisionSwap: swap))
                    if pair.candidates.count >= 2 * top + 64 {
                        pair.candidates.sort(by: Disagreement.ranksBefore)
                        pair.candidates.removeLast(pair.candidates.count - top)
                    }
                }
                pairs[pairKey] = pair
            }

            if let outcomes, outcomes[decision.applicationID] != nil {
                if let previous = latest[decision.applicationID],
                   (decision.timeMilliseconds, decision.sequence) < (previous.timeMilliseconds, previous.sequence) {
                    return
                }
                latest[decision.applicationID] = decision
            }
        }

        /// The report. O(n log n) in the shadow applications (rank correlation).
        public func finish() -> AuditComparison {
            let versionReports = versionOrder.compactMap { key -> Version? in
                guard let accumulator = versions[key] else { return nil }
                var mix = accumulator.mix
                mix.computeShares()
                return Version(modelName: accumulator.modelName, modelVersion: key.version, role: key.role,
                               applications: accumulator.applications,
                               meanPD: accumulator.pdSum / Double(max(accumulator.applications, 1)),
                               approvalRate: mix.approveShare, decisions: mix)
            }
            let pairReports = pairOrder.compactMap { key -> ShadowPair? in
                guard let pair = pairs[key] else { return nil }
                let n = pair.championPD.count
                let meanChampion = AuditComparison.mean(pair.championPD), meanChallenger = AuditComparison.mean(pair.challengerPD)
                var matrix: [String: [String: Int]] = [:]
                for (row, champion) in AuditComparison.decisionNames.enumerated() {
                    for (column, challenger) in AuditComparison.decisionNames.enumerated() {
                        matrix[champion, default: [:]][challenger] = pair.matrix[row][column]
                    }
                }
                let largest = Array(pair.candidates.sorted(by: Disagreement.ranksBefore).prefix(top))
                return ShadowPair(
                    modelName: pair.modelName, championVersion: key.champion, challengerVersion: key.challenger,
                    applications: n, agreements: pair.agreements, agreementRate: Double(pair.agreements) / Double(max(n, 1)),
                    swapMatrix: matrix, unclassified: pair.unclassified, meanChampionPD: meanChampion,
                    meanChallengerPD: meanChallenger, meanPDDifference: meanChallenger - meanChampion,
                    pdPearson: AuditComparison.pearson(pair.championPD, pair.challengerPD),
                    pdSpearman: AuditComparison.spearman(pair.championPD, pair.challengerPD),
                    largestDisagreements: largest)
            }
            return AuditComparison(records: records, versions: versionReports, shadow: pairReports,
                                   outcomes: outcomes.map { joinOutcomes($0) })
        }

        private func joinOutcomes(_ outcomes: [String: Bool]) -> Outcomes {
            // Matured loans in audit order (by sequence), so groups keep a stable order.
            let matured = latest.values.sorted { $0.sequence < $1.sequence }
            var versionLoans: [VersionKey: [OutcomeReport.Loan]] = [:]
            var versionNames: [VersionKey: String] = [:]
            var pairLoans: [PairKey: (champion: [OutcomeReport.Loan], challenger: [OutcomeReport.Loan])] = [:]
            for decision in matured {
                guard let defaulted = outcomes[decision.applicationID] else { continue }
                let key = VersionKey(version: decision.modelVersion, role: decision.role)
                versionNames[key] = decision.modelName
                versionLoans[key, default: []].append(OutcomeReport.Loan(
                    modelName: decision.modelName, modelVersion: decision.modelVersion, riskLevel: "", pd: decision.pd, defaulted: defaulted))
                if let shadow = decision.shadow {
                    let pairKey = PairKey(champion: decision.modelVersion, challenger: shadow.modelVersion)
                    var loans = pairLoans[pairKey] ?? ([], [])
                    loans.champion.append(OutcomeReport.Loan(modelName: decision.modelName, modelVersion: decision.modelVersion,
                                                             riskLevel: "", pd: decision.pd, defaulted: defaulted))
                    loans.challenger.append(OutcomeReport.Loan(modelName: decision.modelName, modelVersion: shadow.modelVersion,
                                                               riskLevel: "", pd: shadow.pd, defaulted: defaulted))
                    pairLoans[pairKey] = loans
                }
            }
            let versionOutcomes = versionOrder.compactMap { key -> VersionOutcomes? in
                guard let loans = versionLoans[key] else { return nil }
                return VersionOutcomes(modelName: versionNames[key] ?? "", modelVersion: key.version, role: key.role,
                                       summary: OutcomeReport.Summary(loans))
            }
            let shadowOutcomes = pairOrder.compactMap { key -> ShadowOutcomes? in
                guard let loans = pairLoans[key] else { return nil }
                return ShadowOutcomes(championVersion: key.champion, challengerVersion: key.challenger,
                                      champion: OutcomeReport.Summary(loans.champion), challenger: OutcomeReport.Summary(loans.challenger))
            }
            return Outcomes(outcomeRows: outcomes.count, matched: matured.count, unmatchedOutcomes: outcomes.count - matured.count,
                            versions: versionOutcomes, shadow: shadowOutcomes)
        }
    }

    // MARK: Statistics

    static func mean(_ values: [Double]) -> Double {
        values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
    }

    /// The Pearson correlation of `x` and `y` (two passes: means, then centred sums).
    ///
    /// - Returns: the correlation in [−1, 1], or `nil` with fewer than two pairs or when either
    ///   is constant.
    /// - Complexity: O(n).
    public static func pearson(_ x: [Double], _ y: [Double]) -> Double? {
        precondition(x.count == y.count, "one y per x")
        // Constant inputs are checked exactly: their centred sums are rounding noise, not 0.
        guard x.count >= 2, let x0 = x.first, let y0 = y.first, x.contains(where: { $0 != x0 }), y.contains(where: { $0 != y0 }) else {
            return nil
        }
        let mx = mean(x), my = mean(y)
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for (a, b) in zip(x, y) {
            let dx = a - mx, dy = b - my
            sxy += dx * dy
            sxx += dx * dx
            syy += dy * dy
        }
        guard sxx > 0, syy > 0 else { return nil }
        return max(-1, min(1, sxy / (sxx * syy).squareRoot()))
    }

    /// The Spearman rank correlation: Pearson's over the ranks, tied values sharing their average
    /// rank (as SciPy's `spearmanr`).
    ///
    /// - Returns: the correlation in [−1, 1], or `nil` as for ``pearson(_:_:)``.
    /// - Complexity: O(n log n).
    public static func spearman(_ x: [Double], _ y: [Double]) -> Double? {
        precondition(x.count == y.count, "one y per x")
        guard x.count >= 2 else { return nil }
        return pearson(averageRanks(x), averageRanks(y))
    }

    /// 1-based ranks, ties sharing the average of the ranks they span.
    static func averageRanks(_ values: [Double]) -> [Double] {
        let order = values.indices.sorted { values[$0] < values[$1] || (values[$0] == values[$1] && $0 < $1) }
        var ranks = [Double](repeating: 0, count: values.count)
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count, values[order[end + 1]] == values[order[start]] { end += 1 }
            let rank = Double(start + end + 2) / 2
            for position in start...end { ranks[order[position]] = rank }
            start = end + 1
        }
        return ranks
    }
}
