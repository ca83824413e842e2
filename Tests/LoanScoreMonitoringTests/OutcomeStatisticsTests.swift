import LoanScoreMonitoring
import Testing

/// Known values from scikit-learn 1.x (`roc_auc_score`, `brier_score_loss`) and SciPy
/// (`ks_2samp(...).statistic`, `binomtest(...).pvalue`) on the same data.
@Suite struct OutcomeStatisticsTests {
    let pd = [0.1, 0.4, 0.35, 0.8, 0.1, 0.5, 0.2, 0.9, 0.05, 0.35, 0.6, 0.3]
    let defaulted = [0, 0, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1].map { $0 == 1 }

    @Test func rocAUCMatchesScikitLearnWithTies() throws {
        let auc = try #require(OutcomeStatistics.rocAUC(pd: pd, defaulted: defaulted))
        #expect(abs(auc - 0.9027777777777779) < 1e-12)
    }

    @Test func ksMatchesSciPy() throws {
        let ks = try #require(OutcomeStatistics.ks(pd: pd, defaulted: defaulted))
        #expect(abs(ks - 0.6666666666666666) < 1e-12)
    }

    @Test func brierMatchesScikitLearn() throws {
        let brier = try #require(OutcomeStatistics.brier(pd: pd, defaulted: defaulted))
        #expect(abs(brier - 0.143125) < 1e-12)
    }

    @Test func rankingNeedsBothOutcomes() {
        #expect(OutcomeStatistics.rocAUC(pd: [0.1, 0.2], defaulted: [false, false]) == nil)
        #expect(OutcomeStatistics.ks(pd: [0.1, 0.2], defaulted: [true, true]) == nil)
        #expect(OutcomeStatistics.brier(pd: [], defaulted: []) == nil)
    }

    @Test(arguments: [
        (3, 20, 0.05, 0.07548367378849626), (12, 100, 0.1, 0.5030177615152567), (0, 50, 0.02, 0.6283982856253909),
        (55, 1000, 0.05, 0.4675648358379577), (30, 1000, 0.05, 0.0028186552844724853),
    ])
    func binomialTestMatchesSciPy(defaults: Int, loans: Int, pd: Double, expected: Double) {
        let p = OutcomeStatistics.binomialTestPValue(defaults: defaults, loans: loans, pd: pd)
        #expect(abs(p - expected) < 1e-9 * max(1, expected) + 1e-12)
    }

    @Test func binomialTestAtTheEdges() {
        #expect(OutcomeStatistics.binomialTestPValue(defaults: 0, loans: 0, pd: 0.1) == 1)
        #expect(OutcomeStatistics.binomialTestPValue(defaults: 0, loans: 10, pd: 0) == 1)
        #expect(OutcomeStatistics.binomialTestPValue(defaults: 1, loans: 10, pd: 0) == 0)
    }

    @Test func calibrationDecilesCoverEveryLoanOnce() {
        let pd = (0..<25).map { Double($0) / 25 }, defaulted = (0..<25).map { $0 % 3 == 0 }
        let bins = OutcomeStatistics.calibrationByDecile(pd: pd, defaulted: defaulted)
        #expect(bins.count == 10)
        #expect(bins.map(\.loans).reduce(0, +) == 25)
        #expect(bins.first?.pdMin == 0 && bins.last?.pdMax == 0.96)
        // Decile 1 holds loans 0 and 1 (⌊10·i/25⌋ = 0): mean PD 0.02, one default of two.
        #expect(bins[0].loans == 2 && abs(bins[0].expected - 0.02) < 1e-15 && bins[0].observed == 0.5)
    }

    @Test func reportGroupsByVersionAndRiskLevel() throws {
        var loans: [OutcomeReport.Loan] = []
        for i in 0..<200 {
            let high = i % 4 == 0
            loans.append(.init(modelName: "m", modelVersion: i < 150 ? "v1" : "v2", riskLevel: high ? "high" : "low",
                               pd: high ? 0.4 : 0.05, defaulted: high ? i % 8 == 0 : i % 20 == 1))
        }
        let report = OutcomeReport(loans: loans, unmatched: [.init(id: "x", row: 3)], decisionsWithoutOutcome: 7)
        #expect(report.models.map(\.modelVersion) == ["v1", "v2"])
        #expect(report.unmatchedOutcomes == 1 && report.decisionsWithoutOutcome == 7 && report.loans == 200)
        let v1 = report.models[0]
        #expect(v1.riskLevels.map(\.riskLevel) == ["low", "high"])
        #expect(v1.summary.loans == 150)
        let high = v1.riskLevels[1]
        #expect(abs(high.summary.meanPD - 0.4) < 1e-12)
        #expect(abs(high.summary.observedDefaultRate - Double(high.summary.defaults) / Double(high.summary.loans)) < 1e-15)
    }
}
