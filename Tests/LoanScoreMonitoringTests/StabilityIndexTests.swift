import Foundation
import LoanScoreMonitoring
import Testing

@Suite struct StabilityIndexTests {
    @Test func identicalDistributionsHaveZeroIndex() {
        #expect(StabilityIndex.psi(reference: [0.2, 0.3, 0.5], live: [0.2, 0.3, 0.5]) == 0)
    }

    /// A hand-computed value: (0.3−0.2)·ln(0.3/0.2) + (0.2−0.3)·ln(0.2/0.3) + (0.5−0.5)·0.
    @Test func knownValue() {
        let expected = 0.1 * log(1.5) + (-0.1) * log(2.0 / 3.0)
        let psi = StabilityIndex.psi(reference: [0.2, 0.3, 0.5], live: [0.3, 0.2, 0.5])
        #expect(abs(psi - expected) < 1e-15)
        #expect(abs(psi - 0.0810930216216329) < 1e-12)
    }

    /// An empty bin is floored at ε = 0.0001: finite, and equal to the formula with ε put in.
    @Test func emptyBinsAreFlooredAtEpsilon() {
        let psi = StabilityIndex.psi(reference: [0.5, 0.5, 0], live: [0.5, 0.25, 0.25])
        let expected = (0.25 - 0.5) * log(0.25 / 0.5) + (0.25 - 0.0001) * log(0.25 / 0.0001)
        #expect(psi.isFinite)
        #expect(abs(psi - expected) < 1e-12)
    }

    @Test func bands() {
        #expect(StabilityIndex.Band(psi: 0) == .stable)
        #expect(StabilityIndex.Band(psi: 0.0999) == .stable)
        #expect(StabilityIndex.Band(psi: 0.1) == .moderate)
        #expect(StabilityIndex.Band(psi: 0.2499) == .moderate)
        #expect(StabilityIndex.Band(psi: 0.25) == .significant)
    }
}

