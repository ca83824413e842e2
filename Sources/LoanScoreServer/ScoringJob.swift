import Foundation
import LoanScoreAudit
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreProtocol
import Metrics
import NIOCore

/// The work of one SCORE_REQUEST on a worker thread: score every application of the decoded
/// columns, write the SCORE_RESPONSE payload into the workspace, append the decisions to the
/// audit log, and hand the workspace back only once the audit log reports them durable ("every
/// decision is in the audit log before its response is sent").
struct ScoringJob: Sendable {
    let server: ServerState
    /// The model generation current when the request arrived: it scores, audits and names
    /// the version of every result, even if a reload has installed another since.
    let generation: ModelGeneration
    /// The decoded request; the response payload is written into `workspace.response`.
    let workspace: RequestWorkspace
    let requestID: UInt64
    let client: String
    /// Called once with the workspace (its response payload written) or the error to send
    /// instead; either way the workspace goes back to its connection.
    let completion: @Sendable (RequestWorkspace, ProtocolError?) -> Void

    func run() {
        generation.engine.score(workspace)
        let columns = workspace.columns, scores = workspace.scores
        let scorer = generation.bundle.scorer
        let model = generation.bundle.manifest.model
        workspace.response.clear()
        ScoreResponseWriter.writeHeader(modelVersion: model.version, count: columns.count, into: &workspace.response)
        var records: [AuditRecord] = []
        records.reserveCapacity(columns.count)
        var approved = 0, reviewed = 0, declined = 0  // counted per request: one metric update each
        let now = Date()
        // The audit's input hash: each value's display text (RawValue.display, as offline
        // scoring hashes it), STRING values straight from the request's bytes.
        var hasher = AuditRecord.InputHasher()
        func inputHash(_ application: Int) -> String {
            for field in 0..<columns.fieldCount {
                if let text = columns.utf8(application: application, field: field) {
                    hasher.append(utf8: text)
                } else {
                    hasher.append(RawValue(columns.value(application: application, field: field)).display)
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
                // The audit record's values are Strings (LoanScoreAudit's API): the one
                // per-application allocation left on this path.
                records.append(AuditRecord(
                    time: now, requestID: requestID, applicationID: columns.id(application: application), modelName: model.name,
                    modelVersion: model.version,
                    inputHash: inputHash(application),
                    pd: scores.pd[row], decision: decision.rawValue, riskLevel: scores.riskLevel[row],
                    reasonCodes: reasons.map { scorer.reasonCode(field: $0) }, client: client))
                switch decision {
                case .approve: approved += 1
                case .review: reviewed += 1
                case .decline: declined += 1
                }
                server.metrics.pd.record(scores.pd[row])
                row += 1
            case .rejected(let violations):
                ScoreResponseWriter.writeInvalid(
                    code: .invalidApplication, message: violations.map(\.description).joined(separator: "; "), into: &workspace.response)
            }
        }
        if approved > 0 { server.metrics.decision(LoanScoreModel.Decision.approve.rawValue, count: approved) }
        if reviewed > 0 { server.metrics.decision(LoanScoreModel.Decision.review.rawValue, count: reviewed) }
        if declined > 0 { server.metrics.decision(LoanScoreModel.Decision.decline.rawValue, count: declined) }
        server.metrics.applications("scored", count: records.count)
        server.metrics.applications("invalid", count: columns.count - records.count)
        guard !records.isEmpty else { return completion(workspace, nil) }
        server.audit.append(records) { [completion, workspace] result in
            switch result {
            case .success: completion(workspace, nil)
            case .failure(let error):
                // Not durable, so not answered: the client retries (scoring is idempotent).
                completion(workspace, ProtocolError(.internal, "audit log unavailable: \(error)"))
            }
        }
    }
}
