import Atomics
import LoanScoreAudit
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreProtocol
import LoanScoreWorkerPool
import Metrics
import NIOConcurrencyHelpers
import NIOCore

/// What every connection of one server shares: the scoring engine, the worker pool, the
/// audit log, limits and counters. Counters are atomics; the set of open channels is locked.
final class ServerState: Sendable {
    let engine: ScoringEngine
    let pool: WorkerPool
    let audit: AuditLog
    let metrics: ServerMetrics
    let configuration: ServerConfiguration
    let wireSchema: WireSchema
    let welcome: Welcome
    let protocolLimits: ProtocolLimits
    private let inFlight = ManagedAtomic<Int>(0)
    private let connectionCount = ManagedAtomic<Int>(0)
    let shuttingDown = ManagedAtomic<Bool>(false)
    private let channels = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])

    init(engine: ScoringEngine, pool: WorkerPool, audit: AuditLog, metrics: ServerMetrics, configuration: ServerConfiguration) {
        self.engine = engine
        self.pool = pool
        self.audit = audit
        self.metrics = metrics
        self.configuration = configuration
        wireSchema = WireSchema(fields: engine.bundle.schema.fields.map { field in
            switch field.type {
            case .number, .integer: WireField(name: field.name, type: .number)
            // Booleans travel as text so the server checks their labels exactly as offline scoring does.
            case .boolean: WireField(name: field.name, type: .string)
            case .category: WireField(name: field.name, type: .string)
            }
        })
        let limits = configuration.limits
        protocolLimits = ProtocolLimits(
            maximumFramePayload: limits.maximumFramePayload, maximumUncompressedPayload: limits.maximumUncompressedPayload,
            maximumBatch: limits.maximumBatch, maximumInFlight: limits.maximumInFlightPerConnection)
        let model = engine.bundle.manifest.model
        welcome = Welcome(protocolVersion: FrameHeader.currentVersion, modelName: model.name, modelVersion: model.version,
                          schema: wireSchema, limits: protocolLimits)
    }

    /// Reserves one server-wide in-flight slot; false when the server is full (answer BUSY).
    func reserveInFlight() -> Bool {
        let now = inFlight.wrappingIncrementThenLoad(ordering: .relaxed)
        if now > configuration.limits.maximumInFlight {
            inFlight.wrappingDecrement(ordering: .relaxed)
            return false
        }
        return true
    }

    func releaseInFlight() {
        inFlight.wrappingDecrement(ordering: .relaxed)
    }

    var inFlightCount: Int { inFlight.load(ordering: .relaxed) }

    /// Registers an accepted connection; false when the connection limit is reached.
    func register(_ channel: any Channel) -> Bool {
        let now = connectionCount.wrappingIncrementThenLoad(ordering: .relaxed)
        guard now <= configuration.limits.maximumConnections else {
            connectionCount.wrappingDecrement(ordering: .relaxed)
            return false
        }
        channels.withLockedValue { $0[ObjectIdentifier(channel)] = channel }
        metrics.connections.record(now)
        return true
    }

    func unregister(_ channel: any Channel) {
        let removed = channels.withLockedValue { $0.removeValue(forKey: ObjectIdentifier(channel)) }
        guard removed != nil else { return }
        metrics.connections.record(connectionCount.wrappingDecrementThenLoad(ordering: .relaxed))
    }

    var openChannels: [any Channel] { channels.withLockedValue { Array($0.values) } }
}
