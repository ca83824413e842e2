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
/// the wire schema and WELCOME derived from its schema, and the TLS context for new
/// connections. Immutable; ``ServerState`` holds the current one in an atomic reference and a
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
    /// the configuration turned drift off (`/drift` then says which).
    let drift: DriftMonitor?

    /// - Parameter previous: the generation this one replaces, if any: when it serves the same
    ///   model version with the same reference bins, its drift window carries on (a reload
    ///   that only rotates certificates does not forget the applications seen).
    init(bundle: ModelBundle, tls: TLSContext, limits: ProtocolLimits, explain: Bool, drift settings: ServerConfiguration.Drift,
         registry: PrometheusCollectorRegistry, previous: ModelGeneration? = nil) {
        self.bundle = bundle
        self.tls = tls
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
        welcome = Welcome(protocolVersion: FrameHeader.currentVersion, modelName: model.name, modelVersion: model.version,
                          schema: wireSchema, limits: limits)
    }

    var modelName: String { bundle.manifest.model.name }
    var modelVersion: String { bundle.manifest.model.version }

    /// Removes this generation's series from the registry, except those `successor` shares
    /// (a reload of the same model version gets the same series back).
    func retireMetrics(keeping successor: ModelGeneration) {
        metrics.retire(keeping: successor.metrics)
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
        return ModelGeneration(bundle: bundle, tls: tls, limits: limits, explain: configuration.reasonCodes != .none,
                               drift: configuration.drift, registry: registry, previous: previous)
    }
}

extension ModelGeneration: AtomicReference {}
