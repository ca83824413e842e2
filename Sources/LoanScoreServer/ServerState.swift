import Atomics
import Foundation
import LoanScoreAudit
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreProtocol
import LoanScoreWorkerPool
import NIOConcurrencyHelpers
import NIOCore
import Prometheus

/// What every connection of one server shares: the current model generation (engine, wire
/// schema, WELCOME, TLS context; swapped atomically by a reload), the worker pool, the audit
/// log, limits and counters. Counters are atomics; the set of open channels is locked.
final class ServerState: Sendable {
    let pool: WorkerPool
    let audit: AuditSink
    let metrics: ServerMetrics
    let configuration: ServerConfiguration
    let protocolLimits: ProtocolLimits
    /// Admission by queued work (applications waiting, age of the oldest waiting request).
    let admission: AdmissionControl
    /// Per-client token buckets (``ServerConfiguration/Quotas``).
    let quotas: ClientQuotas
    private let current: ManagedAtomic<ModelGeneration>
    private let inFlight = ManagedAtomic<Int>(0)
    private let connectionCount = ManagedAtomic<Int>(0)
    let shuttingDown = ManagedAtomic<Bool>(false)
    /// Request buffers shared by every connection (``RequestWorkspacePool``).
    let workspaces = RequestWorkspacePool()
    /// Open connections and how many each source address holds.
    private let channels = NIOLockedValueBox(ConnectionRegistry())

    private struct ConnectionRegistry {
        var open: [ObjectIdentifier: (channel: any Channel, address: String)] = [:]
        var perAddress: [String: Int] = [:]
    }

    /// Told when the last connection closes (to give the connections' memory back).
    let memory: MemoryMaintenance?
    /// With the console on: the most recent durable decisions, and lookups in the audit log.
    let consoleDecisions: ConsoleDecisions?

    init(generation: ModelGeneration, pool: WorkerPool, audit: AuditSink, metrics: ServerMetrics, configuration: ServerConfiguration,
         memory: MemoryMaintenance? = nil) {
        self.memory = memory
        self.pool = pool
        self.audit = audit
        self.metrics = metrics
        self.configuration = configuration
        protocolLimits = Self.protocolLimits(configuration)
        quotas = ClientQuotas(configuration: configuration.quotas)
        admission = AdmissionControl(maximumQueuedApplications: configuration.limits.maximumQueuedApplications,
                                     maximumQueueDelayMilliseconds: configuration.limits.maximumQueueDelayMilliseconds,
                                     workers: pool.configuration.threads)
        current = ManagedAtomic(generation)
        consoleDecisions = configuration.console
            ? ConsoleDecisions(directory: URL(fileURLWithPath: configuration.auditDirectory),
                               archive: configuration.audit.archiveDirectory.map { URL(fileURLWithPath: $0) })
            : nil
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

    /// Registers an accepted connection; returns why it is refused when the server's or its
    /// source address's connection limit is reached, else nil.
    func register(_ channel: any Channel) -> String? {
        let limits = configuration.limits
        let address = channel.remoteAddress?.ipAddress ?? "unknown"
        let now = connectionCount.wrappingIncrementThenLoad(ordering: .relaxed)
        guard now <= limits.maximumConnections else {
            connectionCount.wrappingDecrement(ordering: .relaxed)
            return "the server has \(limits.maximumConnections) connections"
        }
        let admitted = channels.withLockedValue { registry -> Bool in
            guard registry.perAddress[address, default: 0] < limits.maximumConnectionsPerAddress else { return false }
            registry.perAddress[address, default: 0] += 1
            registry.open[ObjectIdentifier(channel)] = (channel, address)
            return true
        }
        guard admitted else {
            connectionCount.wrappingDecrement(ordering: .relaxed)
            return "\(address) has \(limits.maximumConnectionsPerAddress) connections"
        }
        metrics.connections.set(to: Double(now))
        return nil
    }

    func unregister(_ channel: any Channel) {
        let removed = channels.withLockedValue { registry -> Bool in
            guard let (_, address) = registry.open.removeValue(forKey: ObjectIdentifier(channel)) else { return false }
            registry.perAddress[address, default: 1] -= 1
            if registry.perAddress[address] == 0 { registry.perAddress[address] = nil }
            return true
        }
        guard removed else { return }
        let now = connectionCount.wrappingDecrementThenLoad(ordering: .relaxed)
        metrics.connections.set(to: Double(now))
        if now == 0 { memory?.connectionsDrained() }
    }

    var openChannels: [any Channel] { channels.withLockedValue { $0.open.values.map(\.channel) } }
}
