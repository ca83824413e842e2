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
        score(workspace.columns, matrix: &workspace.matrix, slots: &workspace.slots, outcomes: &workspace.outcomes,
              scores: &workspace.scores)
    }

    /// Validates, encodes and scores any batch of applications (a ``ColumnView`` of a
    /// request's columns: the challenger's fields, or a subset of the applications) into
    /// `buffers`, as ``score(_:)`` does into the workspace's champion buffers.
    ///
    /// - Precondition: `batch`'s fields are this bundle's schema fields, in order.
    /// - Complexity: as ``score(_:)``.
    public func score(_ batch: some ApplicationColumns, into buffers: inout ScoringBuffers) {
        score(batch, matrix: &buffers.matrix, slots: &buffers.slots, outcomes: &buffers.outcomes, scores: &buffers.scores)
    }

    func score(_ batch: some ApplicationColumns, matrix: inout [Double], slots: inout [Double],
                       outcomes: inout [FeaturePipeline.Outcome], scores: inout ScoreBatch) {
        let rows = bundle.pipeline.encode(batch, into: &matrix, slots: &slots, outcomes: &outcomes)
        matrix.withUnsafeBufferPointer { matrix in
            bundle.scorer.score(batch: matrix, rows: rows, explain: explain, into: &scores)
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
        respond(workspace, challenger: nil, requestID: requestID, client: client, time: time)
    }

    /// ``respond(_:requestID:client:time:)`` for a champion (this engine) with a challenger
    /// beside it, once both scored their views (``ModelGeneration/score(_:protocolVersion:)``).
    ///
    /// Per application, by `workspace.membership`: the challenger decides it (split mode) —
    /// status 2 naming the challenger's version, audit record `role` challenger; or the
    /// champion does — status 0 (or 1 when invalid), audit record `role` champion and, in
    /// shadow mode when the challenger accepted the application too, `shadow` with its verdict.
    func respond(_ workspace: RequestWorkspace, challenger: ChallengerModel?, requestID: UInt64, client: String,
                 time: Date) -> [AuditRecord] {
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
        let membership = workspace.membership
        let role = challenger == nil ? nil : ModelRole.champion.rawValue
        let shadowing = challenger?.mode == .shadow
        // Cursors into each model's view: its next outcome and its next scored row.
        var outcome = 0, row = 0
        var challengerOutcome = 0, challengerRow = 0
        for application in 0..<columns.count {
            let member = membership.isEmpty ? RequestWorkspace.Membership.champion : membership[application]
            // The challenger's accepted row for this application, if it judged it.
            var judged: Int?
            if member & RequestWorkspace.Membership.challenger != 0 {
                if case .accepted = workspace.challenger.outcomes[challengerOutcome] {
                    judged = challengerRow
                    challengerRow += 1
                }
                challengerOutcome += 1
            }
            if member & RequestWorkspace.Membership.challengerDecides != 0, let challenger, let judged {
                let theirs = workspace.challenger.scores, theirModel = challenger.bundle.manifest.model
                let theirScorer = challenger.bundle.scorer
                let decision = theirs.decision[judged], reasons = theirs.reasonFields(row: judged)
                ScoreResponseWriter.writeScored(
                    by: theirModel.version, pd: theirs.pd[judged], riskLevel: theirs.riskLevel[judged], decision: .init(decision),
                    confidence: theirs.confidence[judged], reasonCount: reasons.count,
                    reason: { theirScorer.reasonCode(field: reasons[reasons.startIndex + $0]) }, into: &workspace.response)
                records.append(AuditRecord(
                    time: time, requestID: requestID, applicationID: columns.id(application: application), modelName: theirModel.name,
                    modelVersion: theirModel.version, inputHash: inputHash(application), pd: theirs.pd[judged],
                    decision: decision.rawValue, riskLevel: theirs.riskLevel[judged],
                    reasonCodes: reasons.map { theirScorer.reasonCode(field: $0) }, client: client,
                    role: ModelRole.challenger.rawValue))
                continue
            }
            defer { outcome += 1 }
            switch workspace.outcomes[outcome] {
            case .accepted:
                let decision = scores.decision[row], reasons = scores.reasonFields(row: row)
                ScoreResponseWriter.writeScored(
                    pd: scores.pd[row], riskLevel: scores.riskLevel[row], decision: .init(decision), confidence: scores.confidence[row],
                    reasonCount: reasons.count, reason: { scorer.reasonCode(field: reasons[reasons.startIndex + $0]) },
                    into: &workspace.response)
                var shadow: AuditRecord.Shadow?
                if shadowing, let challenger, let judged {
                    let theirs = workspace.challenger.scores
                    shadow = AuditRecord.Shadow(modelVersion: challenger.modelVersion, pd: theirs.pd[judged],
                                                decision: theirs.decision[judged].rawValue, riskLevel: theirs.riskLevel[judged])
                }
                records.append(AuditRecord(
                    time: time, requestID: requestID, applicationID: columns.id(application: application), modelName: model.name,
                    modelVersion: model.version, inputHash: inputHash(application), pd: scores.pd[row], decision: decision.rawValue,
                    riskLevel: scores.riskLevel[row], reasonCodes: reasons.map { scorer.reasonCode(field: $0) }, client: client,
                    role: role, shadow: shadow))
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
