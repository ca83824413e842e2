import LoanScoreMonitoring
import Testing

/// ``AuditComparison`` on a hand-made shadow run of ten applications whose figures were
/// computed independently (Python 3, SciPy and scikit-learn):
///
/// ```python
/// c = [0.05, 0.10, 0.15, 0.20, 0.30, 0.35, 0.40, 0.55, 0.60, 0.70]   # champion PDs, A1..A10
/// s = [0.04, 0.12, 0.30, 0.28, 0.25, 0.40, 0.60, 0.50, 0.42, 0.80]   # challenger PDs
/// scipy.stats.pearsonr(c, s)[0]   # 0.8783325378763882
/// scipy.stats.spearmanr(c, s)[0]  # 0.9030303030303028
/// y = [0, 0, 0, 1, 0, 1, 1, 0]                                        # outcomes of A1..A8
/// roc_auc_score(y, c[:8]), brier_score_loss(y, c[:8])  # 0.7333333333333333, 0.23125
/// roc_auc_score(y, s[:8]), brier_score_loss(y, s[:8])  # 0.8, 0.1821125
/// ks_2samp(...).statistic                              # 0.6 for both
/// ```
@Suite struct AuditComparisonTests {
    static let championPD = [0.05, 0.10, 0.15, 0.20, 0.30, 0.35, 0.40, 0.55, 0.60, 0.70]
    static let challengerPD = [0.04, 0.12, 0.30, 0.28, 0.25, 0.40, 0.60, 0.50, 0.42, 0.80]
    // Agree on A1, A2, A4, A6, A8, A10; swaps: A3 approve→review, A5 review→approve,
    // A7 review→decline, A9 decline→review.
    static let championDecision = ["approve", "approve", "approve", "approve", "review", "review", "review", "decline", "decline", "decline"]
    static let challengerDecision = ["approve", "approve", "review", "approve", "approve", "review", "decline", "decline", "review", "decline"]

    static func shadowRun() -> [AuditComparison.Decision] {
        (0..<10).map { (i: Int) -> AuditComparison.Decision in
            AuditComparison.Decision(
                sequence: UInt64(i + 1), timeMilliseconds: 1_767_225_600_000 + Int64(i) * 1000, applicationID: "A\(i + 1)",
                modelName: "tiny", modelVersion: "1", role: "champion", pd: championPD[i], decision: championDecision[i],
                shadow: .init(modelVersion: "2", pd: challengerPD[i], decision: challengerDecision[i]))
        }
    }

    static func compare(_ decisions: [AuditComparison.Decision], top: Int = 10, outcomes: [String: Bool]? = nil) -> AuditComparison {
        var builder = AuditComparison.Builder(top: top, outcomes: outcomes)
        for decision in decisions { builder.add(decision) }
        return builder.finish()
    }

    @Test func perVersionFiguresOfTheDecidingModel() throws {
        let report = Self.compare(Self.shadowRun())
        #expect(report.records == 10)
        let version = try #require(report.versions.first)
        #expect(report.versions.count == 1)
        #expect(version.modelName == "tiny" && version.modelVersion == "1" && version.role == "champion")
        #expect(version.applications == 10)
        #expect(abs(version.meanPD - 0.34) < 1e-12)
        #expect(version.approvalRate == 0.4)
        #expect((version.decisions.approve, version.decisions.review, version.decisions.decline, version.decisions.other) == (4, 3, 3, 0))
        #expect(version.decisions.reviewShare == 0.3 && version.decisions.declineShare == 0.3)
    }

    @Test func shadowAgreementSwapMatrixAndCorrelations() throws {
        let report = Self.compare(Self.shadowRun())
        let pair = try #require(report.shadow.first)
        #expect(report.shadow.count == 1)
        #expect(pair.championVersion == "1" && pair.challengerVersion == "2")
        #expect(pair.applications == 10 && pair.agreements == 6 && pair.agreementRate == 0.6)
        #expect(pair.swapMatrix == [
            "approve": ["approve": 3, "review": 1, "decline": 0],
            "review": ["approve": 1, "review": 1, "decline": 1],
            "decline": ["approve": 0, "review": 1, "decline": 2],
        ])
        #expect(pair.unclassified == 0)
        #expect(abs(pair.meanChampionPD - 0.34) < 1e-12)
        #expect(abs(pair.meanChallengerPD - 0.371) < 1e-12)
        #expect(abs(pair.meanPDDifference - 0.031) < 1e-12)
        #expect(abs(try #require(pair.pdPearson) - 0.8783325378763882) < 1e-12)
        #expect(abs(try #require(pair.pdSpearman) - 0.9030303030303028) < 1e-12)
    }

    @Test func largestDisagreementsPutDecisionSwapsFirst() {
        let report = Self.compare(Self.shadowRun(), top: 5)
        let listed = report.shadow.first?.largestDisagreements ?? []
        // Swaps by |ΔPD|: A7 0.20, A9 0.18, A3 0.15, A5 0.05; then the largest non-swap, A10 0.10.
        #expect(listed.map(\.applicationID) == ["A7", "A9", "A3", "A5", "A10"])
        #expect(listed.map(\.decisionSwap) == [true, true, true, true, false])
        #expect(listed.first?.championDecision == "review" && listed.first?.challengerDecision == "decline")
        #expect(listed.first.map { abs($0.pdDifference - 0.2) < 1e-12 } == true)
        #expect(Self.compare(Self.shadowRun(), top: 0).shadow.first?.largestDisagreements.isEmpty == true)
    }

    @Test func disagreementsStayTheTopOnesWhenManyArePruned() {
        // 500 applications, challenger PD higher by i/10_000: the largest differences are the last ones.
        let decisions = (0..<500).map { (i: Int) -> AuditComparison.Decision in
            AuditComparison.Decision(sequence: UInt64(i + 1), timeMilliseconds: 0, applicationID: "B\(i)", modelName: "m", modelVersion: "1",
                                     role: "champion", pd: 0.1, decision: "approve",
                                     shadow: .init(modelVersion: "2", pd: 0.1 + Double(i) / 10_000, decision: "approve"))
        }
        let listed = Self.compare(decisions, top: 3).shadow.first?.largestDisagreements ?? []
        #expect(listed.map(\.applicationID) == ["B499", "B498", "B497"])
    }

    @Test func outcomesGiveEachModelItsFiguresOnTheSameMaturedLoans() throws {
        let outcomes = ["A1": false, "A2": false, "A3": false, "A4": true, "A5": false, "A6": true, "A7": true, "A8": false, "Z9": true]
        let report = Self.compare(Self.shadowRun(), outcomes: outcomes)
        let joined = try #require(report.outcomes)
        #expect(joined.outcomeRows == 9 && joined.matched == 8 && joined.unmatchedOutcomes == 1)
        let version = try #require(joined.versions.first)
        #expect(version.modelVersion == "1" && version.role == "champion" && version.summary.loans == 8 && version.summary.defaults == 3)
        #expect(abs(try #require(version.summary.rocAUC) - 0.7333333333333333) < 1e-12)
        #expect(abs(version.summary.brier - 0.23125) < 1e-12)
        let pair = try #require(joined.shadow.first)
        #expect(pair.champion == version.summary)
        #expect(pair.challenger.loans == 8)
        #expect(abs(try #require(pair.challenger.rocAUC) - 0.8) < 1e-12)
        #expect(abs(pair.challenger.brier - 0.1821125) < 1e-12)
        #expect(abs(try #require(pair.challenger.ks) - 0.6) < 1e-12)
        #expect(abs(pair.challenger.meanPD - 0.31125) < 1e-12)
    }

    @Test func outcomesUseEachApplicationsLatestDecision() throws {
        var decisions = Self.shadowRun()
        // A4 scored again later by version 3 alone: its matured loan counts for version 3.
        decisions.append(.init(sequence: 11, timeMilliseconds: 1_767_300_000_000, applicationID: "A4", modelName: "tiny", modelVersion: "3",
                               role: nil, pd: 0.9, decision: "decline", shadow: nil))
        let report = Self.compare(decisions, outcomes: ["A4": true, "A1": false])
        let joined = try #require(report.outcomes)
        #expect(joined.matched == 2)
        #expect(joined.versions.map(\.modelVersion) == ["1", "3"])
        #expect(joined.versions.map(\.summary.loans) == [1, 1])
        #expect(joined.shadow.first?.champion.loans == 1)
        #expect(report.versions.map(\.applications) == [10, 1])
    }

    @Test func splitModeHasPerRoleVersionsAndNoShadowPairs() {
        let decisions = (1...4).map { (i: Int) -> AuditComparison.Decision in
            let challenger = i == 3
            let decision = i == 4 ? "refer" : "approve"
            return AuditComparison.Decision(sequence: UInt64(i), timeMilliseconds: 0, applicationID: "S\(i)", modelName: "tiny",
                                            modelVersion: challenger ? "2" : "1", role: challenger ? "challenger" : "champion",
                                            pd: Double(i) / 10, decision: decision, shadow: nil)
        }
        let report = Self.compare(decisions)
        #expect(report.shadow.isEmpty)
        #expect(report.versions.map(\.modelVersion) == ["1", "2"])
        #expect(report.versions.map(\.role) == ["champion", "challenger"])
        #expect(report.versions.map(\.applications) == [3, 1])
        #expect(report.versions.first?.decisions.other == 1)
        #expect(report.versions.first.map { abs($0.approvalRate - 2.0 / 3) < 1e-12 } == true)
    }

    @Test func correlationsAreUndefinedForAConstantOrTooFewAndRankTies() throws {
        #expect(AuditComparison.pearson([0.1, 0.1, 0.1], [0.2, 0.3, 0.4]) == nil)
        #expect(AuditComparison.spearman([0.5], [0.5]) == nil)
        // scipy.stats.spearmanr([1, 2, 2, 3], [1, 3, 2, 4])[0] == 0.9486832980505139 (ties share rank 2.5).
        #expect(abs(try #require(AuditComparison.spearman([1, 2, 2, 3], [1, 3, 2, 4])) - 0.9486832980505139) < 1e-12)
        #expect(abs(try #require(AuditComparison.pearson([1, 2, 3], [3, 2, 1])) + 1) < 1e-12)
    }
}
