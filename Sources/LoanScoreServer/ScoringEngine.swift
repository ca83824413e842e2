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
    /// Valid applications are encoded into one matrix and scored together (the ensemble walks
    /// each tree over the whole batch); results are the same as scoring them one by one.
    ///
    /// - Complexity: O(batch × (fields + trees × depth)); one matrix per call.
    public func score(_ applications: [Application]) -> [Outcome] {
        let pipeline = bundle.pipeline
        let scorer = bundle.scorer
        let width = scorer.featureCount
        var matrix = [Double](repeating: .nan, count: applications.count * width)
        var validations: [FeaturePipeline.Outcome] = []
        validations.reserveCapacity(applications.count)
        var accepted = 0
        matrix.withUnsafeMutableBufferPointer { matrix in
            for application in applications {
                let row = UnsafeMutableBufferPointer(rebasing: matrix[(accepted * width)..<((accepted + 1) * width)])
                let outcome = pipeline.encode(application.values, into: row)
                if case .accepted = outcome { accepted += 1 }
                validations.append(outcome)
            }
        }
        let scores = matrix.withUnsafeBufferPointer { scorer.score(batch: $0, rows: accepted, explain: true) }
        var next = 0
        return validations.map { validation in
            switch validation {
            case .accepted(let flags):
                defer { next += 1 }
                return .scored(scores[next], flags: flags)
            case .rejected(let violations):
                return .invalid(violations)
            }
        }
    }
}
