@testable import LoanScoreLoad
import Testing

/// loanscore-load's verdict on a run: overloaded when the rate achieved is well below the one
/// asked for, or more than 1 % of the requests failed.
@Suite("loanscore-load overload verdict")
struct OverloadVerdictTests {
    @Test func aRunThatKeepsUpIsNotOverloaded() {
        let verdict = OverloadVerdict(target: 10_000, achieved: 9_950, answered: 1_000, failed: 10)
        #expect(!verdict.overloaded)
        #expect(verdict.json["overloaded"] as? Bool == false)
        #expect(verdict.text.hasPrefix("not overloaded"))
    }

    @Test func theIssueRunIsOverloaded() {
        // 1000 requests/s of 256 asked, none answered, 9,968 TIMEOUT.
        let verdict = OverloadVerdict(target: 256_000, achieved: 0, answered: 0, failed: 9_968)
        #expect(verdict.overloaded)
        #expect(verdict.reasons.count == 2)
        #expect(verdict.reasons[0].contains("0.00 % of the 256000 asked for"))
        #expect(verdict.reasons[1].contains("9968 of 9968 requests failed"))
        #expect(verdict.text.hasSuffix("(exit status 5)"))
        #expect(OverloadVerdict.exitCode == 5)
    }

    @Test func aSlowRunWithoutErrorsIsOverloaded() {
        let verdict = OverloadVerdict(target: 100_000, achieved: 60_000, answered: 2_344, failed: 0)
        #expect(verdict.overloaded)
        #expect(verdict.reasons == ["achieved 60000 applications/s, 60.00 % of the 100000 asked for"])
    }

    @Test func failuresJustAboveOnePercentOverloadAClosedLoop() {
        #expect(!OverloadVerdict(target: nil, achieved: 5_000, answered: 990, failed: 10).overloaded)  // exactly 1 %
        #expect(OverloadVerdict(target: nil, achieved: 5_000, answered: 989, failed: 11).overloaded)
    }

    @Test func aWindowWithNothingInItIsOverloaded() {
        #expect(OverloadVerdict(target: nil, achieved: 0, answered: 0, failed: 0).overloaded)
    }
}
