import Atomics
import Foundation
import LoanScoreFeatures
import LoanScoreModel
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

    init(bundle: ModelBundle, tls: TLSContext, limits: ProtocolLimits, explain: Bool, registry: PrometheusCollectorRegistry) {
        self.bundle = bundle
        self.tls = tls
        metrics = ModelMetrics(bundle: bundle, registry: registry)
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

    /// Loads and checks the configured bundle and TLS material (blocking file I/O: call it off
    /// the event loops).
    ///
    /// - Throws: ``StartupError`` naming the bundle or certificate that failed its checks.
    /// - Parameter registry: where the generation's ``ModelMetrics`` are made (only once both
    ///   the bundle and the TLS material loaded).
    static func load(_ configuration: ServerConfiguration, limits: ProtocolLimits, registry: PrometheusCollectorRegistry) throws
        -> ModelGeneration {
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
        return ModelGeneration(bundle: bundle, tls: tls, limits: limits, explain: configuration.reasonCodes != .none, registry: registry)
    }
}

extension ModelGeneration: AtomicReference {}
