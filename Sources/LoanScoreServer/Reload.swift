import Atomics
import Dispatch
import Foundation
import LoanScoreProtocol
import Logging
import NIOConcurrencyHelpers
import LoanScoreTLS
import ServiceLifecycle
import UnixSignals

// Hot reload (SIGHUP, `POST /reload` on the admin port, `loanscore admin reload`).
//
// A reload loads the configured bundle folder and certificate files again, off the event
// loops, into a new immutable ``ModelGeneration``, and swaps it into ``ServerState`` with one
// atomic exchange. Nothing is closed:
//
// - New TLS connections are set up with the new generation's TLS context; connections that
//   are open keep the session they negotiated.
// - Each SCORE_REQUEST reads the current generation once, when it arrives, and keeps it:
//   requests in flight during a swap finish on the model they started on, and every
//   SCORE_RESPONSE and audit record names the version that produced it.
// - A request laid out with the WELCOME of a replaced generation is decoded against the new
//   schema: if the schema hash is the same (only the model changed) it is scored by the new
//   model; if it differs it is answered SCHEMA_MISMATCH, and the client reconnects for the new
//   WELCOME and sends it again (the SDK does this by itself; PROTOCOL.md §7). No connection is
//   pinned to an old generation, so an old model is freed once its last request is answered.
//
// With a challenger configured, a reload reads both bundle folders again: the new generation
// pairs the champion and the challenger as the files are now (either may change alone; the
// champion's drift window carries on when its version and reference are unchanged, and each
// model's metrics series carry on when its version and role are unchanged). A challenger
// whose schema no longer accepts the champion's input refuses the whole reload, like a bad
// bundle, and the serving pair stays.
//
// A bundle or certificate that fails its checks is refused with a log line and
// `loanscore_reload_total{outcome="refused"}`, and the previous generation keeps serving.
// A reload also reopens an audit log that failed (a full disk, an I/O error; see
// ``AuditSink``): after freeing space, an operator reloads and the server answers again.
// Reloads do not overlap: one that arrives while another is loading is refused ("busy").
// Under systemd, `RELOADING=1` is sent when a reload starts and `READY=1` when it ends.

/// What a reload did.
public struct ReloadOutcome: Sendable, Equatable, CustomStringConvertible {
    public enum Status: String, Sendable {
        /// The new bundle and certificates are serving.
        case reloaded
        /// They failed their checks; the previous ones keep serving.
        case refused
        /// Another reload was in progress.
        case busy
        /// The server is shutting down.
        case shuttingDown = "shutting_down"
    }

    public var status: Status
    public var message: String
    /// The model serving after the reload (the new one, or the one that kept serving).
    public var modelName: String
    public var modelVersion: String
    /// The model that served before.
    public var previousVersion: String
    /// The challenger serving after the reload, if any.
    public var challengerVersion: String?
    /// What the reload did to an audit log that had failed: reopened it (and what it
    /// repaired), or why it is still unavailable; nil when the log was available.
    public var audit: String?

    public var succeeded: Bool { status == .reloaded }
    public var description: String { "\(status.rawValue): \(message)" }

    /// The admin endpoint's answer: 200, 422 (refused), 409 (busy) or 503 (shutting down),
    /// with a JSON body.
    var adminResponse: (status: Int, body: String) {
        var object: [String: String] = ["outcome": status.rawValue, "message": message, "model": modelName,
                                        "version": modelVersion, "previous_version": previousVersion]
        if let audit { object["audit"] = audit }
        if let challengerVersion { object["challenger_version"] = challengerVersion }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        let code = switch status {
        case .reloaded: 200
        case .refused: 422
        case .busy: 409
        case .shuttingDown: 503
        }
        return (code, String(decoding: data, as: UTF8.self) + "\n")
    }
}

/// Loads and installs new generations, one at a time, and tells systemd about it.
final class Reloader: Sendable {
    private let state: ServerState
    private let logger: Logger
    private let busy = ManagedAtomic<Bool>(false)
    /// Where the server listens, for STATUS= lines; set once the listeners are bound.
    let listening = NIOLockedValueBox<String>("")

    init(state: ServerState, logger: Logger) {
        self.state = state
        self.logger = logger
    }

    func reload() async -> ReloadOutcome {
        let old = state.generation
        func outcome(_ status: ReloadOutcome.Status, _ message: String, serving: ModelGeneration) -> ReloadOutcome {
            ReloadOutcome(status: status, message: message, modelName: serving.modelName, modelVersion: serving.modelVersion,
                          previousVersion: old.modelVersion, challengerVersion: serving.challenger?.modelVersion)
        }
        guard !state.shuttingDown.load(ordering: .relaxed) else {
            state.metrics.reload(outcome: "busy")
            return outcome(.shuttingDown, "the server is shutting down", serving: old)
        }
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            logger.warning("reload refused: another reload is in progress")
            state.metrics.reload(outcome: "busy")
            return outcome(.busy, "another reload is in progress", serving: old)
        }
        defer { busy.store(false, ordering: .releasing) }

        let configuration = state.configuration
        notifySystemd(["RELOADING=1", "MONOTONIC_USEC=\(SystemdNotifier.monotonicMicroseconds)",
                       "STATUS=reloading \(configuration.bundle)"])
        logger.notice("reloading bundle \(configuration.bundle) and certificate \(configuration.certificate)")
        let limits = state.protocolLimits
        let audit = state.audit
        let workspaces = state.workspaces
        let logger = logger
        let registry = state.metrics.registry
        let current = state.generation
        // Bundle loading (and reopening a failed audit log) is blocking file I/O and model
        // compilation: keep it off the event loops and the cooperative pool.
        let (loaded, auditNote): (Result<ModelGeneration, StartupError>, String?) = await withCheckedContinuation {
            (continuation: CheckedContinuation<(Result<ModelGeneration, StartupError>, String?), Never>) in
            DispatchQueue.global(qos: .utility).async {
                // A reload is also how an operator brings back an audit log that failed (after
                // freeing space): reopen it first, whatever becomes of the bundle.
                var auditNote: String?
                do {
                    auditNote = try audit.reopen()
                } catch {
                    logger.critical("audit log still unavailable after reload: \(error)")
                    auditNote = "audit log still unavailable: \(error)"
                }
                do {
                    let generation = try ModelGeneration.load(configuration, limits: limits, registry: registry,
                                                              previous: current)
                    // Warmed before it is installed: the first requests on the new model are as
                    // fast as the last ones on the old.
                    WarmUp.run(generation, workspaces: workspaces, maximumBatch: limits.maximumBatch)
                    continuation.resume(returning: (.success(generation), auditNote))
                } catch {
                    continuation.resume(returning: (.failure(error as? StartupError ?? StartupError("\(error)")), auditNote))
                }
            }
        }
        switch loaded {
        case .success(let new):
            let previous = state.install(new)
            state.metrics.model(name: previous.modelName, version: previous.modelVersion, serving: false)
            state.metrics.model(name: new.modelName, version: new.modelVersion, serving: true)
            if let gone = previous.challenger {
                state.metrics.model(name: gone.modelName, version: gone.modelVersion, role: .challenger, serving: false)
            }
            if let challenger = new.challenger {
                state.metrics.model(name: challenger.modelName, version: challenger.modelVersion, role: .challenger, serving: true)
            }
            // The retired version's series leave the scrape (requests still in flight on it
            // update handles no longer emitted); a reload of the same version keeps them.
            previous.retireMetrics(keeping: new)
            state.metrics.certificateExpiry(new.tls.certificateNotAfter)
            state.metrics.reload(outcome: "success")
            let pairing = new.challenger.map { " with challenger \($0.modelName) \($0.modelVersion) (\($0.mode.rawValue))" } ?? ""
            let message = "now serving \(new.modelName) \(new.modelVersion)\(pairing) (was \(previous.modelName) \(previous.modelVersion)"
                + (previous.challenger.map { " with challenger \($0.modelVersion)" } ?? "") + "); "
                + "requests in flight finish on the previous model"
            logger.notice("reloaded: \(message)")
            notifyReloadEnded(["READY=1", "STATUS=\(statusLine)"])
            var result = outcome(.reloaded, message, serving: new)
            result.audit = auditNote
            return result
        case .failure(let error):
            state.metrics.reload(outcome: "refused")
            logger.error("reload refused: \(error.message); still serving \(old.modelName) \(old.modelVersion)")
            notifyReloadEnded(["READY=1", "STATUS=\(statusLine); last reload refused: \(error.message)"])
            var result = outcome(.refused, error.message, serving: old)
            result.audit = auditNote
            return result
        }
    }

    /// READY=1 after a reload, unless shutdown began meanwhile (systemd has been told
    /// STOPPING=1, and READY=1 would take that back).
    private func notifyReloadEnded(_ assignments: [String]) {
        guard !state.shuttingDown.load(ordering: .relaxed) else { return }
        notifySystemd(assignments)
    }

    /// `serving <model> <version> on HOST:PORT, admin on HOST:PORT`.
    var statusLine: String {
        let generation = state.generation
        return "serving \(generation.modelName) \(generation.modelVersion)" + listening.withLockedValue { $0 }
    }

    /// Sends a readiness notification when run under systemd (`$NOTIFY_SOCKET` set); a failure
    /// is logged, never fatal.
    func notifySystemd(_ assignments: [String]) {
        guard let notifier = SystemdNotifier.fromEnvironment else { return }
        do {
            try notifier.notify(assignments)
        } catch {
            logger.warning("systemd notification failed: \(error)")
        }
    }
}

extension RunningServer {
    /// Reloads the configured bundle and certificates without dropping connections (see
    /// `Reload.swift`). Never throws: a refusal is an outcome, and the old model keeps serving.
    public func reload() async -> ReloadOutcome {
        await reloader.reload()
    }

    /// The systemd STATUS= text: the serving model and where it listens.
    public var statusLine: String { reloader.statusLine }
}

/// Reloads on SIGHUP (`systemctl reload`, via the unit's ExecReload) until graceful shutdown.
///
/// Signals that arrive while a reload runs are coalesced into one more reload after it: a
/// burst of SIGHUPs costs at most two reloads, and the last one reads the files as they are
/// after the burst.
struct ReloadOnSignal: Service {
    let server: RunningServer
    let signals: UnixSignalsSequence
    let logger: Logger

    func run() async throws {
        let logger = logger, server = server
        await ReloadCoalescer.run(triggers: signals.cancelOnGracefulShutdown()) {
            logger.notice("SIGHUP received: reloading")
            let outcome = await server.reload()
            logger.info("SIGHUP reload \(outcome)")
        }
    }
}
