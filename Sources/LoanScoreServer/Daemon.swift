import Foundation
import LoanScoreAudit
import LoanScoreProtocol
import LoanScoreFeatures
public import LoanScoreModel
import LoanScoreTLS
import LoanScoreVersion
import LoanScoreWorkerPool
public import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
public import Prometheus
import ServiceLifecycle
import UnixSignals

/// A running LoanScore server: the scoring listener, the admin listener, the worker pool and
/// the audit log, started from a configuration. `loanscored` runs one until SIGTERM/SIGINT;
/// tests start one on port 0 and stop it.
public final class RunningServer: Sendable {
    /// The scoring listener's bound port.
    public let port: Int
    /// The admin listener's bound port, if enabled.
    public let adminPort: Int?
    /// The bundle being served now (a reload may replace it).
    public var bundle: ModelBundle { state.generation.bundle }
    let state: ServerState
    let reloader: Reloader
    private let scoring: ScoringServer
    private let admin: AdminServer?
    private let pool: WorkerPool
    private let audit: AuditSink
    private let group: MultiThreadedEventLoopGroup
    let configuration: ServerConfiguration
    private let logger: Logger
    /// Gives freed memory back to the system (malloc_trim) and publishes the memory metrics.
    let memory: MemoryMaintenance
    private let memoryTask: Task<Void, Never>

    /// Loads the bundle, opens the audit log, builds the TLS context and binds both listeners.
    ///
    /// - Parameter registry: where every metric handle is made (``MetricsCatalog``) and what
    ///   the admin port's `/metrics` emits; nil gives the server a registry of its own.
    /// - Throws: ``StartupError`` naming what could not be loaded or bound.
    public static func start(configuration: ServerConfiguration, registry: PrometheusCollectorRegistry? = nil,
                             logger: Logger) async throws -> RunningServer {
        try await RunningServer(configuration: configuration, registry: registry, logger: logger)
    }

    private init(configuration: ServerConfiguration, registry: PrometheusCollectorRegistry?, logger: Logger) async throws {
        self.configuration = configuration
        self.logger = logger
        // Without a registry from the caller the metrics still work (tests scrape them through
        // the admin port), in a registry of this server's own.
        let registry = registry ?? PrometheusCollectorRegistry()
        let metrics = ServerMetrics(registry: registry)
        let generation = try ModelGeneration.load(configuration, limits: ServerState.protocolLimits(configuration), registry: registry)
        let fsync: FsyncPolicy = switch configuration.auditFsync {
        case .always: .always
        case .never: .never
        case .group: .groupCommit(maxDelay: .milliseconds(configuration.auditGroupCommitMilliseconds))
        }
        // The folder's writer lock first: a second server on the same folder is refused here.
        let auditDirectory = URL(fileURLWithPath: configuration.auditDirectory)
        let settings = configuration.audit
        let retention = AuditRetention(
            archiveDirectory: settings.archiveDirectory.map { URL(fileURLWithPath: $0) } ?? AuditRetention.defaultArchiveDirectory(for: auditDirectory),
            archiveAfter: settings.archiveAfter?.duration, maxLiveBytes: settings.maxLiveBytes, deleteAfter: settings.deleteAfter?.duration)
        let archiving = retention.archiveAfter != nil || retention.maxLiveBytes != nil || retention.deleteAfter != nil
        audit = try AuditSink(
            configuration: .init(directory: auditDirectory, fsync: fsync, maxSegmentBytes: settings.maxSegmentBytes, onCommit: metrics.auditCommit),
            retention: archiving ? retention : nil, checkInterval: settings.checkInterval.duration, metrics: metrics, logger: logger)
        let threads = configuration.workers == 0 ? ProcessInfo.processInfo.activeProcessorCount : configuration.workers
        pool = WorkerPool(threads: threads, queueCapacity: configuration.limits.maximumInFlight)
        group = MultiThreadedEventLoopGroup(numberOfThreads: ProcessInfo.processInfo.activeProcessorCount)
        let model = generation.bundle.manifest.model
        metrics.model(name: model.name, version: model.version)
        if let challenger = generation.challenger {
            metrics.model(name: challenger.modelName, version: challenger.modelVersion, role: .challenger)
        }
        metrics.buildInfo(version: LoanScoreVersion.number, commit: LoanScoreVersion.commit)
        metrics.certificateExpiry(generation.tls.certificateNotAfter)
        let process = ProcessMetrics(registry: registry)
        let memory = MemoryMaintenance(
            interval: .milliseconds(Int64(configuration.memory.trimInterval * 1000)),
            thresholdBytes: UInt64(configuration.memory.trimThreshold * 1_048_576), logger: logger, registry: registry)
        self.memory = memory
        if configuration.memory.trimInterval > 0 {
            // Loading the bundle (JSON parsing of the members) leaves ~18 MB free in malloc's
            // arenas: give it back now, with nothing to lose, rather than at the first check,
            // under load (a trim locks each arena while it walks it).
            memory.trim()
        }
        let state = ServerState(generation: generation, pool: pool, audit: audit, metrics: metrics, configuration: configuration,
                                memory: memory)
        self.state = state
        // Before the listener binds (so before /ready and READY=1): the first requests must
        // not pay for first use of the model, the workers and their buffers.
        let warming = ContinuousClock.now
        WarmUp.onEveryWorker(generation, pool: pool, threads: threads, workspaces: state.workspaces,
                             maximumBatch: configuration.limits.maximumBatch)
        logger.info("warmed up the model on \(threads) worker(s) in \(ContinuousClock.now - warming)")
        let reloader = Reloader(state: state, logger: logger)
        self.reloader = reloader
        do {
            scoring = try await ScoringServer(state: state, group: group, logger: logger)
        } catch {
            throw StartupError.cannotListen(on: configuration.listen, setting: "listen (--listen)", error)
        }
        port = scoring.port
        if let adminAddress = configuration.admin {
            let address = try HostPort(adminAddress, setting: "admin")
            let audit = audit
            var sources = AdminServer.Sources(
                ready: {
                    if let failure = audit.failure {
                        return (false, "not ready: audit log unavailable since \(failure.since): \(failure.reason)")
                    }
                    guard access(audit.directory.path, W_OK) == 0 else { return (false, "not ready: audit directory \(audit.directory.path) is not writable") }
                    let generation = state.generation
                    return (true, "ready: \(generation.modelName) \(generation.modelVersion)")
                },
                health: { RunningServer.health(state: state) },
                metrics: {
                    memory.publish(ProcessMemory.now())  // fresh memory and process figures on every scrape
                    process.publish()
                    state.generation.drift?.publish()  // PSI per field, window size and approval rate
                    let usage = audit.usage
                    metrics.auditLiveBytes.set(to: Double(usage.liveBytes))
                    if let free = usage.freeBytes { metrics.auditFreeBytes.set(to: Double(free)) }
                    return registry.emitToString()
                },
                model: { RunningServer.modelSummary(state.generation) },
                reload: { await reloader.reload().adminResponse },
                drift: { [driftEnabled = configuration.drift.enabled] in state.generation.driftAnswer(enabled: driftEnabled) })
            sources.access = configuration.adminAuth.map(AdminAccess.init)
            if let decisions = state.consoleDecisions {
                sources.console = AdminConsole(state: state, decisions: decisions, metrics: sources.metrics)
            }
            do {
                admin = try await AdminServer(host: address.host, port: address.port, group: group, sources: sources,
                                              limits: configuration.adminLimits, metrics: metrics)
            } catch {
                throw StartupError.cannotListen(on: adminAddress, setting: "admin (--admin)", error)
            }
            adminPort = admin?.port
        } else {
            admin = nil
            adminPort = nil
        }
        // Started once nothing below can throw: a start that fails leaves no task behind.
        memoryTask = Task.detached(priority: .utility) { await memory.run() }
        let adminText = adminPort.map { ", admin on port \($0)" } ?? ""
        let adminStatus = adminPort.map { ", admin on \((try? HostPort(configuration.admin ?? "", setting: "admin"))?.host ?? "?"):\($0)" } ?? ""
        reloader.listening.withLockedValue { $0 = " on \(address(configuration.listen, port))\(adminStatus)" }
        logger.notice("serving \(model.name) \(model.version) on \(address(configuration.listen, port)) (TLS, \(threads) workers, reason codes: \(configuration.reasonCodes))\(adminText); loanscored \(LoanScoreVersion.description)")
    }

    func address(_ listen: String, _ port: Int) -> String {
        (try? HostPort(listen, setting: "listen")).map { "\($0.host):\(port)" } ?? listen
    }

    /// Graceful shutdown: stop accepting, GOODBYE, finish in-flight work, flush and fsync the
    /// audit log, stop the threads.
    ///
    /// The admin port keeps answering during the drain, except that new reloads are refused
    /// (503); a reload already running is answered once it ends, or 503 if the drain timeout
    /// passes first.
    public func shutdown() async {
        logger.notice("shutting down: draining in-flight requests")
        let drain = Duration.milliseconds(Int64(configuration.timeouts.drain * 1000))
        let deadline = ContinuousClock.now + drain
        admin?.beginDraining()
        await scoring.shutdown(drain: drain)
        await admin?.shutdown(deadline: deadline)
        pool.shutdown()
        do {
            try audit.close()
        } catch {
            logger.error("audit log close failed: \(error)")
        }
        memory.stop()
        memoryTask.cancel()
        await memoryTask.value
        try? await group.shutdownGracefully()
        logger.notice("stopped")
    }

    /// The `/health` document: `status` is `ok`, or `degraded` while the audit log cannot record
    /// decisions (the process is alive, but answers every request UNAVAILABLE); always HTTP 200.
    static func health(state: ServerState) -> String {
        let generation = state.generation
        let object: [String: Any] = [
            "status": state.audit.isAvailable ? "ok" : "degraded",
            "model": ["name": generation.modelName, "version": generation.modelVersion],
            "audit": state.audit.health,
            "version": ["version": LoanScoreVersion.number, "commit": LoanScoreVersion.commit],
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])) ?? Data()
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// The `/model` document: the champion's identity, members, policy and lineage (at the top
    /// level, as before challengers existed), with `role` and `bundle` (its folder), and, when
    /// a challenger is configured, `challenger`: the same keys for it plus `mode` and
    /// `fraction` (null in shadow mode).
    static func modelSummary(_ generation: ModelGeneration) -> String {
        var object = summary(generation.bundle)
        if let challenger = generation.challenger {
            object["role"] = ModelRole.champion.rawValue
            var other = summary(challenger.bundle)
            other["role"] = ModelRole.challenger.rawValue
            other["mode"] = challenger.mode.rawValue
            other["fraction"] = challenger.mode == .split ? challenger.fraction : NSNull()
            other["bundle"] = challenger.path
            object["challenger"] = other
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])) ?? Data()
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// One bundle's `/model` keys.
    private static func summary(_ bundle: ModelBundle) -> [String: Any] {
        let manifest = bundle.manifest
        return [
            "name": manifest.model.name, "version": manifest.model.version, "created_at": manifest.createdAt,
            "members": manifest.members.map { ["name": $0.name, "kind": $0.kind.rawValue, "weight": $0.weight] },
            "features": manifest.features.count, "fields": bundle.schema.fields.map(\.name),
            "policy": ["approve_below": manifest.policy.approveBelow, "decline_at": manifest.policy.declineAt],
            "training_data_sha256": manifest.lineage.trainingData.sha256, "libraries": manifest.lineage.libraries,
            "bundle": bundle.directory.path,
        ]
    }
}

/// `loanscored`'s main loop: start, tell systemd READY=1, reload on SIGHUP, wait for SIGTERM
/// or SIGINT, tell systemd STOPPING=1, drain, exit.
public struct Daemon: Sendable {
    let configuration: ServerConfiguration
    let logger: Logger

    public init(configuration: ServerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        // Every handle is made from MetricsCatalog straight in this registry (with its HELP
        // text); nothing goes through swift-metrics' global factory.
        let registry = PrometheusCollectorRegistry()
        let server = try await RunningServer.start(configuration: configuration, registry: registry, logger: logger)
        // Trap SIGHUP before telling systemd we are ready: from then on `systemctl reload` may send it.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        // READY=1 is sent from inside the group, once it traps SIGTERM: systemd may stop us
        // the moment we say we are ready, and that must drain, not kill.
        // Services shut down in reverse order: the SIGHUP listener stops first, then the drain runs.
        let group = ServiceGroup(services: [DrainOnShutdown(server: server), ReloadOnSignal(server: server, signals: hangups, logger: logger),
                                            AnnounceReady(server: server)],
                                 gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}

/// Tells systemd the server is ready (from inside the running service group, whose signal
/// handlers are in place), then waits for shutdown.
private struct AnnounceReady: Service {
    let server: RunningServer

    func run() async throws {
        server.reloader.notifySystemd(["READY=1", "STATUS=\(server.statusLine)"])
        try? await gracefulShutdown()
    }
}

/// Waits for graceful shutdown (a signal), then drains the server.
private struct DrainOnShutdown: Service {
    let server: RunningServer

    func run() async throws {
        try? await gracefulShutdown()
        server.reloader.notifySystemd(["STOPPING=1", "STATUS=draining in-flight requests"])
        await server.shutdown()
    }
}

/// The server could not start: a bundle, certificate, audit folder or address problem.
public struct StartupError: Error, CustomStringConvertible {
    /// Which exit status it deserves (README's table).
    public enum Kind: Sendable {
        /// A bundle, certificate or audit folder that is missing, malformed, damaged or in use: exit 3.
        case invalidData
        /// Settings this machine cannot honour (an address already in use, not present, not
        /// permitted): exit 2, as a usage error.
        case configuration
    }

    public var message: String
    public var kind: Kind
    public init(_ message: String, kind: Kind = .invalidData) {
        self.message = message
        self.kind = kind
    }
    public var description: String { message }

    /// A listener that could not be bound, in plain words (no NIO debug text).
    static func cannotListen(on address: String, setting: String, _ error: any Error) -> StartupError {
        let reason: String
        switch (error as? IOError)?.errnoCode {
        case EADDRINUSE?:
            reason = "the address is already in use (another loanscored, or another program, listens there): stop it or choose another port"
        case EACCES?:
            reason = "permission denied (ports below 1024 need privileges): choose a port above 1023"
        case EADDRNOTAVAIL?:
            reason = "this machine has no such address: use one of its own addresses, 127.0.0.1 or 0.0.0.0"
        case let code?:
            reason = String(cString: strerror(code))
        case nil:
            reason = "\(error)"
        }
        return StartupError("cannot listen on \(address) (\(setting)): \(reason)", kind: .configuration)
    }
}
