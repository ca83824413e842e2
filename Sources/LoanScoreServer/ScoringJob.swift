import Foundation
import LoanScoreAudit
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreProtocol
import NIOCore
import Prometheus

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
    /// The connection's negotiated protocol version: in split mode only version 2 connections
    /// are routed to the challenger (their responses can name it per application).
    let protocolVersion: UInt8
    /// Applications this request holds in ``AdmissionControl`` until a worker starts it.
    let admittedApplications: Int
    /// When the request was admitted (``AdmissionControl/now``).
    let enqueuedAt: UInt64
    /// The instant (``AdmissionControl/now``) after which the client no longer waits: a job
    /// that starts later is answered DEADLINE_EXCEEDED, neither scored nor audited.
    let deadline: UInt64?
    /// Called once with the workspace (its response payload written) or the error to send
    /// instead; either way the workspace goes back to its connection.
    let completion: @Sendable (RequestWorkspace, ProtocolError?) -> Void

    func run() {
        let began = AdmissionControl.now
        let waited = server.admission.started(applications: admittedApplications, enqueuedAt: enqueuedAt, now: began)

        server.metrics.queueDelay.recordNanoseconds(Int64(clamping: waited))
        if let deadline, enqueuedAt + waited > deadline {
            server.metrics.applications("deadline_exceeded", count: workspace.columns.count)
            let late = (enqueuedAt + waited - deadline) / 1_000
            return completion(workspace, ProtocolError(
                .deadlineExceeded, "the request's deadline passed \(late) µs before a worker could start it; not scored"))
        }
        let tally = generation.score(workspace, protocolVersion: protocolVersion)
        let records = generation.engine.respond(workspace, challenger: generation.challenger, requestID: requestID, client: client,
                                                time: Date())
        // Decisions, PD, exposure and expected loss of this model version: one update per series per request.
        generation.metrics.record(workspace)
        generation.recordChallenger(tally, workspace: workspace)
        // The drift window and anomaly counts (one lock and one update per field per request).
        generation.drift?.record(workspace)
        server.metrics.applications("scored", count: records.count)
        server.metrics.applications("invalid", count: workspace.columns.count - records.count)
        // The worker's time per application (scoring, response, metrics) feeds admission's
        // prediction; read before the workspace goes back to its connection.
        server.admission.finished(applications: workspace.columns.count, nanoseconds: AdmissionControl.now &- began)
        guard !records.isEmpty else { return completion(workspace, nil) }
        server.audit.append(records) { [completion, workspace, decisions = server.consoleDecisions] result in
            switch result {
            case .success:
                decisions?.recorded(records)
                completion(workspace, nil)
            case .failure(let error) where error.code == .encoding:
                completion(workspace, ProtocolError(.internal, "a decision could not be recorded: \(error)"))
            case .failure(let error):
                // Not durable, so not answered: the client sends it elsewhere (scoring is idempotent).
                completion(workspace, ProtocolError(.unavailable, "audit log unavailable (\(error)); send the request to another server"))
            }
        }
    }
}
