public import LoanScoreFeatures
public import LoanScoreModel
public import LoanScoreProtocol
public import LoanScoreAudit
public import Foundation
import NIOCore

/// The server's one scoring path: the same feature pipeline and compiled ensemble that
/// `loanscore score --bundle` uses, applied to a batch of applications that arrived over the
/// wire. Immutable and `Sendable`: every worker thread shares one instance.
public struct ScoringEngine: Sendable {
    public let bundle: ModelBundle
    /// Whether scored applications get reason codes (the `reason_codes` setting).
    public let explain: Bool

    /// An engine for `bundle`'s pipeline and ensemble.
    ///
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
    /// applications' scores are `workspace.scores`' rows, in application order (their slot
    /// values `workspace.slots`' rows, for drift tracking and the exposure metrics). Valid
    /// applications are encoded into one matrix and scored together (the ensemble walks each
    /// tree over the whole batch); results are the same as scoring them one by one.
    ///
    /// - Precondition: the columns were decoded against this bundle's wire schema.
    /// - Complexity: O(batch × (fields + trees × depth)). Allocates nothing once the
    ///   workspace's buffers have grown to the batch's size, except to describe invalid
    ///   applications, unseen levels, and text that is not an ASCII level or label.
    public func score(_ workspace: RequestWorkspace) {
        let rows = bundle.pipeline.encode(workspace.columns, into: &workspace.matrix, slots: &workspace.slots, outcomes: &workspace.outcomes)
        workspace.matrix.withUnsafeBufferPointer { matrix in
            bundle.scorer.score(batch: matrix, rows: rows, explain: explain, into: &workspace.scores)
        }
    }
}

extension ScoringEngine {
    /// Writes the SCORE_RESPONSE payload for a workspace that ``score(_:)`` has scored into
    /// `workspace.response` (replacing it), and returns the audit records of its scored
    /// applications, in request order: what the server appends to the audit log before it
    /// sends the response.
    ///
    /// - Parameters:
    ///   - requestID: the request's id, recorded in each audit record.
    ///   - client: the client's certificate subject or address, recorded in each audit record.
    ///   - time: the decision time recorded in each audit record.
    /// - Complexity: O(batch × fields). The response allocates nothing once its buffer has
    ///   grown; each audit record allocates (its id, input hash and reason codes are Strings).
    public func respond(_ workspace: RequestWorkspace, requestID: UInt64, client: String, time: Date) -> [AuditRecord] {
        let columns = workspace.columns, scores = workspace.scores
        let scorer = bundle.scorer, model = bundle.manifest.model
        workspace.response.clear()
        ScoreResponseWriter.writeHeader(modelVersion: model.version, count: columns.count, into: &workspace.response)
        var records: [AuditRecord] = []
        records.reserveCapacity(columns.count)
        // The audit's input hash: each value's display text (RawValue.display, as offline
        // scoring hashes it), without making it: STRING values straight from the request's
        // bytes, whole NUMBER values as formatNumber's digits; other values through display.
        var hasher = AuditRecord.InputHasher()
        func inputHash(_ application: Int) -> String {
            for field in 0..<columns.fieldCount {
                if let text = columns.utf8(application: application, field: field) {
                    hasher.append(utf8: text)
                    continue
                }
                let value = columns.value(application: application, field: field)
                if case .number(let number) = value, let whole = wholeNumber(number) {
                    hasher.append(decimal: whole)
                } else {
                    hasher.append(RawValue(value).display)
                }
            }
            return hasher.finalize()
        }
        var row = 0
        for application in 0..<columns.count {
            switch workspace.outcomes[application] {
            case .accepted:
                let decision = scores.decision[row], reasons = scores.reasonFields(row: row)
                ScoreResponseWriter.writeScored(
                    pd: scores.pd[row], riskLevel: scores.riskLevel[row], decision: .init(decision), confidence: scores.confidence[row],
                    reasonCount: reasons.count, reason: { scorer.reasonCode(field: reasons[reasons.startIndex + $0]) },
                    into: &workspace.response)
                records.append(AuditRecord(
                    time: time, requestID: requestID, applicationID: columns.id(application: application), modelName: model.name,
                    modelVersion: model.version, inputHash: inputHash(application), pd: scores.pd[row], decision: decision.rawValue,
                    riskLevel: scores.riskLevel[row], reasonCodes: reasons.map { scorer.reasonCode(field: $0) }, client: client))
                row += 1
            case .rejected(let violations):
                ScoreResponseWriter.writeInvalid(
                    code: .invalidApplication, message: violations.map(\.description).joined(separator: "; "), into: &workspace.response)
            }
        }
        return records
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
