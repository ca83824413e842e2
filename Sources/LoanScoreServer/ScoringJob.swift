import Foundation
import LoanScoreAudit
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreProtocol
import Metrics

/// The work of one SCORE_REQUEST on a worker thread: map wire values, score every
/// application, append the decisions to the audit log, and hand the response back only once
/// the audit log reports them durable ("every decision is in the audit log before its
/// response is sent").
struct ScoringJob: Sendable {
    let server: ServerState
    /// The model generation current when the request arrived: it scores, audits and names
    /// the version of every result, even if a reload has installed another since.
    let generation: ModelGeneration
    let request: ScoreRequest
    let requestID: UInt64
    let client: String
    let completion: @Sendable (Result<ScoreResponse, ProtocolError>) -> Void

    func run() {
        let fieldCount = generation.wireSchema.fields.count
        let applications = (0..<request.count).map { i in
            ScoringEngine.Application(id: request.applicationIDs[i],
                                      values: (0..<fieldCount).map { RawValue(request.value(application: i, field: $0)) })
        }
        let outcomes = generation.engine.score(applications)
        let model = generation.bundle.manifest.model
        var results: [ApplicationResult] = []
        results.reserveCapacity(outcomes.count)
        var records: [AuditRecord] = []
        records.reserveCapacity(outcomes.count)
        let now = Date()
        for (application, outcome) in zip(applications, outcomes) {
            switch outcome {
            case .scored(let score, _):
                results.append(.scored(ScoredApplication(pd: score.pd, riskLevel: score.riskLevel, decision: .init(score.decision),
                                                          confidence: score.confidence, reasons: score.reasons.map(\.code))))
                records.append(AuditRecord(
                    time: now, requestID: requestID, applicationID: application.id, modelName: model.name,
                    modelVersion: model.version, inputHash: AuditRecord.inputHash(fields: application.values.map(\.display)),
                    pd: score.pd, decision: score.decision.rawValue, riskLevel: score.riskLevel,
                    reasonCodes: score.reasons.map(\.code), client: client))
                server.metrics.decision(score.decision.rawValue)
                server.metrics.pd.record(score.pd)
            case .invalid(let violations):
                results.append(.invalid(code: .invalidApplication, message: violations.map(\.description).joined(separator: "; ")))
            }
        }
        server.metrics.applications("scored", count: records.count)
        server.metrics.applications("invalid", count: outcomes.count - records.count)
        let response = ScoreResponse(modelVersion: model.version, results: results)
        guard !records.isEmpty else { return completion(.success(response)) }
        server.audit.append(records) { [completion] result in
            switch result {
            case .success: completion(.success(response))
            case .failure(let error):
                // Not durable, so not answered: the client retries (scoring is idempotent).
                completion(.failure(ProtocolError(.internal, "audit log unavailable: \(error)")))
            }
        }
    }
}
