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
    /// sends the response. ``writeResponse(_:challenger:)`` then ``auditRecords(_:challenger:requestID:client:time:)``.
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
    func respond(_ workspace: RequestWorkspace, challenger: ChallengerModel?, requestID: UInt64, client: String,
                 time: Date) -> [AuditRecord] {
        writeResponse(workspace, challenger: challenger)
        return auditRecords(workspace, challenger: challenger, requestID: requestID, client: client, time: time)
    }

    /// Who gave application `application` its result, and from which scored row.
    enum Verdict {
        /// The champion scored it (row of `workspace.scores`); `shadow` is the challenger's
        /// row of `workspace.challenger.scores` when it judged the application too.
        case champion(row: Int, shadow: Int?)
        /// The challenger decided it (split mode; row of `workspace.challenger.scores`).
        case challenger(row: Int)
        /// The champion refused it.
        case invalid([Violation])
    }

    /// Calls `body` with each application's verdict, in request order, reading
    /// `workspace.membership` (each model's outcomes and rows are in its view's order).
    /// O(batch), allocation-free.
    func forEachVerdict(_ workspace: RequestWorkspace, _ body: (_ application: Int, Verdict) -> Void) {
        typealias M = RequestWorkspace.Membership
        let membership = workspace.membership
        var outcome = 0, row = 0, challengerOutcome = 0, challengerRow = 0
        for application in 0..<workspace.columns.count {
            let member = membership.isEmpty ? M.champion : membership[application]
            var judged: Int?
            if member & M.challenger != 0 {
                if case .accepted = workspace.challenger.outcomes[challengerOutcome] {
                    judged = challengerRow
                    challengerRow += 1
                }
                challengerOutcome += 1
            }
            if member & M.challengerDecides != 0, let judged {
                body(application, .challenger(row: judged))
                continue
            }
            switch workspace.outcomes[outcome] {
            case .accepted:
                body(application, .champion(row: row, shadow: judged))
                row += 1
            case .rejected(let violations):
                body(application, .invalid(violations))
            }
            outcome += 1
        }
    }

    /// Writes the SCORE_RESPONSE payload into `workspace.response` (replacing it): the
    /// champion's version in the header; per application status 0 (the champion's result),
    /// 1 (invalid) or 2 (the challenger decided it, naming its version: split mode on a
    /// protocol-version-2 connection only, as ``ModelGeneration/score(_:protocolVersion:)`` routes).
    ///
    /// - Complexity: O(batch); allocates nothing once the buffer has grown, except to describe
    ///   invalid applications.
    func writeResponse(_ workspace: RequestWorkspace, challenger: ChallengerModel?) {
        let scores = workspace.scores, scorer = bundle.scorer
        workspace.response.clear()
        ScoreResponseWriter.writeHeader(modelVersion: bundle.manifest.model.version, count: workspace.columns.count,
                                        into: &workspace.response)
        forEachVerdict(workspace) { _, verdict in
            switch verdict {
            case .champion(let row, _):
                let reasons = scores.reasonFields(row: row)
                ScoreResponseWriter.writeScored(
                    pd: scores.pd[row], riskLevel: scores.riskLevel[row], decision: scores.decision[row], confidence: scores.confidence[row],
                    reasonCount: reasons.count, reason: { scorer.reasonCode(field: reasons[reasons.startIndex + $0]) },
                    into: &workspace.response)
            case .challenger(let row):
                guard let challenger else { return }
                let theirs = workspace.challenger.scores, theirScorer = challenger.bundle.scorer
                let reasons = theirs.reasonFields(row: row)
                ScoreResponseWriter.writeScored(
                    by: challenger.modelVersion, pd: theirs.pd[row], riskLevel: theirs.riskLevel[row], decision: theirs.decision[row],
                    confidence: theirs.confidence[row], reasonCount: reasons.count,
                    reason: { theirScorer.reasonCode(field: reasons[reasons.startIndex + $0]) }, into: &workspace.response)
            case .invalid(let violations):
                ScoreResponseWriter.writeInvalid(
                    code: .invalidApplication, message: violations.map(\.description).joined(separator: "; "), into: &workspace.response)
            }
        }
    }

    /// The audit records of the scored applications, in request order: the deciding model's
    /// name, version, PD, decision, risk level and reasons; with a challenger, `role`, and in
    /// shadow mode the challenger's verdict (`shadow`) when it accepted the application too.
    /// The input hash is over the champion's wire columns (AuditRecord.inputHash(values:)).
    ///
    /// - Complexity: O(batch × fields); each record allocates (id, input hash, reason codes).
    func auditRecords(_ workspace: RequestWorkspace, challenger: ChallengerModel?, requestID: UInt64, client: String,
                      time: Date) -> [AuditRecord] {
        let columns = workspace.columns, scores = workspace.scores
        let scorer = bundle.scorer, model = bundle.manifest.model
        var records: [AuditRecord] = []
        records.reserveCapacity(columns.count)
        // The audit's input hash, in the canonical form AuditRecord.inputHash(values:)
        // defines: STRING values straight from the request's bytes, typed values through the
        // hasher's own canonical text (no String for whole numbers).
        var hasher = AuditRecord.InputHasher()
        func inputHash(_ application: Int) -> String {
            for field in 0..<columns.fieldCount {
                if let text = columns.utf8(application: application, field: field) {
                    hasher.append(utf8: text)
                    continue
                }
                switch columns.value(application: application, field: field) {
                case .missing: hasher.appendMissing()
                case .number(let number): hasher.append(number: number)
                case .bool(let flag): hasher.append(bool: flag)
                case .text(let text): hasher.append(text)
                }
            }
            return hasher.finalize()
        }
        let role = challenger == nil ? nil : ModelRole.champion.rawValue
        let shadowing = challenger?.mode == .shadow
        forEachVerdict(workspace) { application, verdict in
            switch verdict {
            case .champion(let row, let judged):
                var shadow: AuditRecord.Shadow?
                if shadowing, let challenger, let judged {
                    let theirs = workspace.challenger.scores
                    shadow = AuditRecord.Shadow(modelVersion: challenger.modelVersion, pd: theirs.pd[judged],
                                                decision: theirs.decision[judged].rawValue, riskLevel: theirs.riskLevel[judged])
                }
                records.append(AuditRecord(
                    time: time, requestID: requestID, applicationID: columns.id(application: application), modelName: model.name,
                    modelVersion: model.version, inputHash: inputHash(application), pd: scores.pd[row],
                    decision: scores.decision[row].rawValue, riskLevel: scores.riskLevel[row],
                    reasonCodes: scores.reasonFields(row: row).map { scorer.reasonCode(field: $0) }, client: client,
                    role: role, shadow: shadow))
            case .challenger(let row):
                guard let challenger else { return }
                let theirs = workspace.challenger.scores, theirModel = challenger.bundle.manifest.model
                let theirScorer = challenger.bundle.scorer
                records.append(AuditRecord(
                    time: time, requestID: requestID, applicationID: columns.id(application: application), modelName: theirModel.name,
                    modelVersion: theirModel.version, inputHash: inputHash(application), pd: theirs.pd[row],
                    decision: theirs.decision[row].rawValue, riskLevel: theirs.riskLevel[row],
                    reasonCodes: theirs.reasonFields(row: row).map { theirScorer.reasonCode(field: $0) }, client: client,
                    role: ModelRole.challenger.rawValue))
            case .invalid:
                break
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
