import Atomics
import LoanScoreAudit
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreProtocol
import LoanScoreWorkerPool
import Metrics
import NIOConcurrencyHelpers
import NIOCore

/// What every connection of one server shares: the current model generation (engine, wire
/// schema, WELCOME, TLS context; swapped atomically by a reload), the worker pool, the audit
/// log, limits and counters. Counters are atomics; the set of open channels is locked.
final class ServerState: Sendable {
    let pool: WorkerPool
    let audit: AuditLog
    let metrics: ServerMetrics
    let configuration: ServerConfiguration
    let protocolLimits: ProtocolLimits
    private let current: ManagedAtomic<ModelGeneration>
    private let inFlight = ManagedAtomic<Int>(0)
    private let connectionCount = ManagedAtomic<Int>(0)
    let shuttingDown = ManagedAtomic<Bool>(false)
    private let channels = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])

    init(generation: ModelGeneration, pool: WorkerPool, audit: AuditLog, metrics: ServerMetrics, configuration: ServerConfiguration) {
        self.pool = pool
        self.audit = audit
        self.metrics = metrics
        self.configuration = configuration
        protocolLimits = Self.protocolLimits(configuration)
        current = ManagedAtomic(generation)
    }

    /// The limits WELCOME announces (from the configuration; a reload does not change them).
    static func protocolLimits(_ configuration: ServerConfiguration) -> ProtocolLimits {
        let limits = configuration.limits
        return ProtocolLimits(
            maximumFramePayload: limits.maximumFramePayload, maximumUncompressedPayload: limits.maximumUncompressedPayload,
            maximumBatch: limits.maximumBatch, maximumInFlight: limits.maximumInFlightPerConnection)
    }

    /// The generation new work uses. Read it once per request and keep it: the request is
    /// decoded, scored and audited with that generation even if a reload swaps in another.
    var generation: ModelGeneration { current.load(ordering: .acquiring) }

    /// Makes `generation` the one new connections and requests get; returns the previous one.
    func install(_ generation: ModelGeneration) -> ModelGeneration {
        current.exchange(generation, ordering: .acquiringAndReleasing)
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
