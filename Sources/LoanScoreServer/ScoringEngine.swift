public import LoanScoreFeatures
public import LoanScoreModel
public import LoanScoreProtocol

/// The server's one scoring path: the same feature pipeline and compiled ensemble that
/// `loanscore score --bundle` uses, applied to a batch of applications that arrived over the
/// wire. Immutable and `Sendable`: every worker thread shares one instance.
public struct ScoringEngine: Sendable {
    public let bundle: ModelBundle
    /// Whether scored applications get reason codes (the `reason_codes` setting).
    public let explain: Bool

    /// - Parameter explain: compute reason codes (without, every scored application has none
    ///   and a batch costs about half as much).
    public init(bundle: ModelBundle, explain: Bool = true) {
        self.bundle = bundle
        self.explain = explain
    }

    /// Validates, encodes and scores the batch decoded into `workspace.columns`; one invalid
    /// application never fails the others.
    ///
    /// Afterwards `workspace.outcomes[i]` is application `i`'s validation, and the accepted
    /// applications' scores are `workspace.scores`' rows, in application order. Valid
    /// applications are encoded into one matrix and scored together (the ensemble walks each
    /// tree over the whole batch); results are the same as scoring them one by one.
    ///
    /// - Precondition: the columns were decoded against this bundle's wire schema.
    /// - Complexity: O(batch × (fields + trees × depth)). Allocates nothing once the
    ///   workspace's buffers have grown to the batch's size, except to describe invalid
    ///   applications, unseen levels, and text that is not an ASCII level or label.
    public func score(_ workspace: RequestWorkspace) {
        let rows = bundle.pipeline.encode(workspace.columns, into: &workspace.matrix, outcomes: &workspace.outcomes)
        workspace.matrix.withUnsafeBufferPointer { matrix in
            bundle.scorer.score(batch: matrix, rows: rows, explain: explain, into: &workspace.scores)
        }
    }
}

extension RequestColumns: ApplicationColumns {
    public var applicationCount: Int { count }

    /// The cell the feature pipeline reads: NUMBER as a number, BOOL as a boolean, STRING as
    /// its UTF-8 bytes (no `String`). O(1), allocation-free.
    public func cell(application: Int, field: Int) -> RawCell {
        guard isPresent(application: application, field: field) else { return .missing }
        switch types[field] {
        case .number: return .number(number(application: application, field: field) ?? .nan)
        case .bool: return .bool(number(application: application, field: field) == 1)
        case .string: return .utf8(utf8(application: application, field: field) ?? [])
        }
    }
}
