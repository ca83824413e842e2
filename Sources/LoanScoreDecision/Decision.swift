/// The decision a bundle's cut-offs give an application: the one type the model, the wire
/// protocol, the audit log and the command-line tools share (re-exported by `LoanScoreModel`
/// and `LoanScoreProtocol`).
///
/// Its raw value is its name, as BUNDLE.md, the audit log (`decision`), CSV output and JSON
/// write it; ``wireValue`` is its byte in SCORE_RESPONSE (PROTOCOL.md §5.5), normative.
public enum Decision: String, Hashable, Sendable, Codable, CaseIterable {
    /// PD below the policy's `approve_below`. Wire byte 0.
    case approve
    /// PD between the two cut-offs. Wire byte 1.
    case review
    /// PD at or above the policy's `decline_at`. Wire byte 2.
    case decline

    /// The byte SCORE_RESPONSE carries: 0 approve, 1 review, 2 decline.
    public var wireValue: UInt8 {
        switch self {
        case .approve: 0
        case .review: 1
        case .decline: 2
        }
    }

    /// The decision a SCORE_RESPONSE byte names; nil for any other byte (`MALFORMED_FRAME`).
    public init?(wireValue: UInt8) {
        switch wireValue {
        case 0: self = .approve
        case 1: self = .review
        case 2: self = .decline
        default: return nil
        }
    }
}
