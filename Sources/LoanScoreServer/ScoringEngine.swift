public import LoanScoreFeatures
public import LoanScoreModel

/// The server's one scoring path: the same feature pipeline and compiled ensemble that
/// `loanscore score --bundle` uses, applied to a batch of applications that arrived over the
/// wire. Immutable and `Sendable`: every worker thread shares one instance.
public struct ScoringEngine: Sendable {
    public let bundle: ModelBundle

    public init(bundle: ModelBundle) {
        self.bundle = bundle
    }

    /// One application as decoded from a frame.
    public struct Application: Sendable {
        public var id: String
        /// One raw value per schema field, in schema order.
        public var values: [RawValue]

        public init(id: String, values: [RawValue]) {
            self.id = id
            self.values = values
        }
    }

    /// The result for one application: its score, or why it was invalid.
    public enum Outcome: Sendable {
        case scored(Score, flags: [String])
        case invalid([Violation])
    }

    /// Scores a batch; one invalid application never fails the others.
    ///
    /// - Complexity: O(batch × (fields + trees × depth)); one row buffer per call.
    public func score(_ applications: [Application]) -> [Outcome] {
        let pipeline = bundle.pipeline
        let scorer = bundle.scorer
        var row = [Double](repeating: .nan, count: scorer.featureCount)
        return applications.map { application in
            row.withUnsafeMutableBufferPointer { buffer -> Outcome in
                switch pipeline.encode(application.values, into: buffer) {
                case .accepted(let flags):
                    return .scored(scorer.score(UnsafeBufferPointer(buffer)), flags: flags)
                case .rejected(let violations):
                    return .invalid(violations)
                }
            }
        }
    }
}
