import LoanScoreFeatures
import LoanScoreModel
import LoanScoreProtocol

extension RawValue {
    /// A wire value as the feature pipeline reads it (NaN and infinities are refused there).
    init(_ wire: WireValue) {
        switch wire {
        case .missing: self = .missing
        case .number(let number): self = .number(number)
        case .bool(let flag): self = .bool(flag)
        case .text(let text): self = .text(text)
        }
    }
}
