import Atomics
import Foundation
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreMonitoring
import LoanScoreProtocol
import LoanScoreTLS
import NIOCore
import Prometheus

/// What one load of the configuration's bundle and certificates produced: the scoring engine,
/// the wire schema and WELCOME derived from its schema, the challenger beside it (if
/// configured), and the TLS context for new connections. Immutable; ``ServerState`` holds the current one in an atomic reference and a
/// reload swaps in a new one (see `Reload.swift` for who reads which generation when).
final class ModelGeneration: Sendable {
    let bundle: ModelBundle
    let engine: ScoringEngine
    let wireSchema: WireSchema
    let welcome: Welcome
    let tls: TLSContext
    /// The generation's `model_version` metrics; ``Reloader`` retires them with the generation.
    let metrics: ModelMetrics
    /// Drift tracking against the bundle's reference bins; `nil` when the bundle has none or
    /// the configuration turned drift off (`/drift` then says which). The champion's only: a
    /// challenger's drift is not tracked.
    let drift: DriftMonitor?
    /// The challenger scoring beside the champion (``ServerConfiguration/challenger``); nil
    /// without one.
    let challenger: ChallengerModel?

    /// - Parameter previous: the generation this one replaces, if any: when it serves the same
    ///   model version with the same reference bins, its drift window carries on (a reload
    ///   that only rotates certificates does not forget the applications seen).
    init(bundle: ModelBundle, tls: TLSContext, limits: ProtocolLimits, explain: Bool, drift settings: ServerConfiguration.Drift,
         registry: PrometheusCollectorRegistry, previous: ModelGeneration? = nil, challenger: ChallengerModel? = nil) {
        self.bundle = bundle
        self.tls = tls
        self.challenger = challenger
        metrics = ModelMetrics(bundle: bundle, registry: registry)
        if !settings.enabled {
            drift = nil
        } else if let kept = previous?.drift, kept.window.modelVersion == bundle.manifest.model.version,
                  kept.window.bins.reference == bundle.reference, kept.window.capacity == settings.window,
                  kept.window.maxAge == settings.windowSeconds {
            drift = kept
        } else {
            drift = DriftMonitor(bundle: bundle, settings: settings, registry: registry)
        }
        engine = ScoringEngine(bundle: bundle, explain: explain)
        wireSchema = WireSchema(fields: bundle.schema.fields.map { field in
            switch field.type {
            case .number, .integer: WireField(name: field.name, type: .number)
            // Booleans travel as text so the server checks their labels exactly as offline scoring does.
            case .boolean: WireField(name: field.name, type: .string)
            case .category: WireField(name: field.name, type: .string)
            }
        })
        let model = bundle.manifest.model
        welcome = Welcome(protocolVersion: ProtocolVersion.maximum, modelName: model.name, modelVersion: model.version,
                          schema: wireSchema, limits: limits)
    }

    /// What ``score(_:protocolVersion:)`` did with the challenger, for the metrics the serving
    /// path records (``recordChallenger(_:workspace:)``; warm-up records nothing).
    struct ChallengerTally {
        /// Whether the challenger scored this request (its buffers hold this request's scores).
        var scored = false
        /// Applications valid for the champion that the challenger refused.
        var invalidForChallenger = 0
        /// Split mode: applications routed to the challenger but decided by the champion
        /// because the connection speaks protocol version 1.
        var protocolVersion1 = 0
    }

    /// Scores the batch decoded into `workspace.columns` with the champion and, when there is
    /// one, the challenger (see ``ServerConfiguration/Challenger``), filling
    /// `workspace.membership` for ``ScoringEngine/respond(_:challenger:requestID:client:time:)``.
    ///
    /// - shadow: both score every application (the challenger its view of the champion's
    ///   columns: its fields, mapped without re-parsing).
    /// - split: the challenger scores the applications the id hash routes to it; the champion
    ///   scores the others and those the challenger refused (it answers them). On a
    ///   connection of protocol version 1 nothing is routed.
    ///
    /// - Complexity: O(batch × fields) beyond the models' own scoring; reuses the workspace's buffers.
    @discardableResult
    func score(_ workspace: RequestWorkspace, protocolVersion: UInt8) -> ChallengerTally {
        typealias M = RequestWorkspace.Membership
        workspace.membership.removeAll(keepingCapacity: true)
        var tally = ChallengerTally()
        guard let challenger else {
            engine.score(workspace)
            return tally
        }
        let columns = workspace.columns, count = columns.count
        switch challenger.mode {
        case .shadow:
            engine.score(workspace)
            challenger.engine.score(ColumnView(columns: columns, fields: challenger.fieldMap, applications: nil), into: &workspace.challenger)
            workspace.membership.append(contentsOf: repeatElement(M.champion | M.challenger, count: count))
            tally.scored = true
            for (mine, theirs) in zip(workspace.outcomes, workspace.challenger.outcomes) {
                if case .accepted = mine, case .rejected = theirs { tally.invalidForChallenger += 1 }
            }
        case .split:
            var routed = workspace.challengerApplications
            workspace.challengerApplications = []  // held by `routed` while it is filled (no copy on write)
            routed.removeAll(keepingCapacity: true)
            for application in 0..<count
            where ChallengerRouting.routesToChallenger(id: columns.idUTF8(application: application), fraction: challenger.fraction) {
                routed.append(application)
            }
            guard protocolVersion >= ProtocolVersion.perResultModelVersion, !routed.isEmpty else {
                tally.protocolVersion1 = routed.count  // non-zero only when the version refused the routing
                workspace.challengerApplications = routed
                engine.score(workspace)
                return tally
            }
            challenger.engine.score(ColumnView(columns: columns, fields: challenger.fieldMap, applications: routed),
                                    into: &workspace.challenger)
            tally.scored = true
            workspace.membership.append(contentsOf: repeatElement(M.champion, count: count))
            var mine = workspace.championApplications
            workspace.championApplications = []
            mine.removeAll(keepingCapacity: true)
            for (k, application) in routed.enumerated() {
                if case .accepted = workspace.challenger.outcomes[k] {
                    workspace.membership[application] = M.challenger | M.challengerDecides
                } else {
                    workspace.membership[application] = M.champion | M.challenger  // the champion answers it
                    tally.invalidForChallenger += 1
                }
            }
            for application in 0..<count where workspace.membership[application] & M.champion != 0 { mine.append(application) }
            engine.score(ColumnView(columns: columns, fields: nil, applications: mine), matrix: &workspace.matrix,
                         slots: &workspace.slots, outcomes: &workspace.outcomes, scores: &workspace.scores)
            workspace.championApplications = mine
            workspace.challengerApplications = routed
        }
        return tally
    }

    /// Records the challenger's side of a served request: its verdicts' series (in shadow
    /// mode what it would have decided) and the applications it did not judge.
    func recordChallenger(_ tally: ChallengerTally, workspace: RequestWorkspace) {
        guard let challenger else { return }
        if tally.scored { challenger.metrics.record(scores: workspace.challenger.scores, slots: workspace.challenger.slots) }
        if tally.invalidForChallenger > 0 { challenger.invalidForChallenger.increment(by: Int64(tally.invalidForChallenger)) }
        if tally.protocolVersion1 > 0 { challenger.protocolVersion1.increment(by: Int64(tally.protocolVersion1)) }
    }

    var modelName: String { bundle.manifest.model.name }
    var modelVersion: String { bundle.manifest.model.version }

    /// Removes this generation's series from the registry, except those `successor` shares
    /// (a reload of the same model version gets the same series back).
    func retireMetrics(keeping successor: ModelGeneration) {
        let kept = successor.metrics.handles + (successor.challenger?.handles ?? [])
        metrics.retire(keeping: kept)
        challenger?.metrics.retire(keeping: kept)
        if let drift, drift !== successor.drift { metrics.registry.unregister(drift.handles, keeping: successor.drift?.handles ?? []) }
    }

    /// `GET /drift`: the HTTP status and JSON body — 200 with the report of the window; 404
    /// (`no_reference`) for a bundle without reference bins; 404 (`disabled`) when drift
    /// tracking is off; 409 (`no_traffic`) before the window holds an application.
    func driftAnswer(enabled: Bool) -> (status: Int, body: String) {
        func error(_ status: Int, _ code: String, _ message: String) -> (status: Int, body: String) {
            let object = ["code": code, "error": message, "model_version": modelVersion]
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            return (status, String(decoding: data, as: UTF8.self) + "\n")
        }
        guard enabled else {
            return error(404, "disabled", "drift tracking is off on this server (drift.enabled is false, or --no-drift)")
        }
        guard let drift else {
            return error(404, "no_reference", "bundle \(modelName) \(modelVersion) has no reference bins (reference.json): "
                + "drift is unavailable; retrain it with a loanscore-train that writes them")
        }
        guard let report = drift.report() else {
            return error(409, "no_traffic", "no application scored by \(modelName) \(modelVersion) is in the drift window yet; "
                + "drift needs live traffic")
        }
        return (200, String(decoding: report.json(), as: UTF8.self) + "\n")
    }

    /// Loads and checks the configured bundle and TLS material (blocking file I/O: call it off
    /// the event loops).
    ///
    /// - Throws: ``StartupError`` naming the bundle or certificate that failed its checks.
    /// - Parameter registry: where the generation's ``ModelMetrics`` are made (only once both
    ///   the bundle and the TLS material loaded).
    static func load(_ configuration: ServerConfiguration, limits: ProtocolLimits, registry: PrometheusCollectorRegistry,
                     previous: ModelGeneration? = nil) throws -> ModelGeneration {
        let bundle: ModelBundle
        do {
            bundle = try ModelBundle(directory: URL(fileURLWithPath: configuration.bundle))
        } catch {
            throw StartupError("bundle \(configuration.bundle) refused: \(error)")
        }
        let tls: TLSContext
        do {
            tls = try TLSContext(configuration: .makeServerConfiguration(
                certificateChainFile: configuration.certificate, privateKeyFile: configuration.privateKey,
                trustRootsFile: configuration.clientCA, peerVerification: configuration.clientCA == nil ? .none : .required,
                handshakeTimeout: .milliseconds(Int64(configuration.timeouts.handshake * 1000)),
                policy: try configuration.tls.policy()))
        } catch {
            throw StartupError("TLS: \(error)")
        }
        var challenger: ChallengerModel?
        if let settings = configuration.challenger {
            let other: ModelBundle
            do {
                other = try ModelBundle(directory: URL(fileURLWithPath: settings.bundle))
            } catch {
                throw StartupError("challenger bundle \(settings.bundle) refused: \(error)")
            }
            let fieldMap: [Int]
            do {
                fieldMap = try ChallengerModel.fieldMap(champion: bundle.schema, challenger: other.schema)
            } catch {
                let champion = bundle.manifest.model, model = other.manifest.model
                throw StartupError("challenger bundle \(settings.bundle) (\(model.name) \(model.version)) does not accept the input "
                    + "of champion \(champion.name) \(champion.version): \(error.message)")
            }
            challenger = ChallengerModel(bundle: other, path: settings.bundle, settings: settings, fieldMap: fieldMap,
                                         explain: configuration.reasonCodes != .none, registry: registry)
        }
        return ModelGeneration(bundle: bundle, tls: tls, limits: limits, explain: configuration.reasonCodes != .none,
                               drift: configuration.drift, registry: registry, previous: previous, challenger: challenger)
    }
}

extension ModelGeneration: AtomicReference {}
