import Atomics
import Foundation
import LoanScoreAudit
import Logging
import NIOConcurrencyHelpers
import Prometheus

#if canImport(Glibc)
import Glibc
#endif

/// The server's side of the decision audit log: the folder's writer lock, the open
/// ``AuditLog``, and whether it can record decisions now.
///
/// The log fails closed: after a failed write or fsync (a full disk, an I/O error) it takes no
/// more appends, since after a failed fsync the kernel may have dropped written pages. This
/// type makes that failure visible — one critical log line with the cause, `/ready` 503 with
/// the reason, `/health` "degraded", `loanscore_audit_available` 0 — and lets new requests be
/// answered `UNAVAILABLE` at once, without scoring them.
///
/// Recovery (`reopen()`, run by every reload): once the operator has freed space, a reload
/// closes the failed log and opens the folder again, which cuts the unfinished frame a failed
/// write may have left (``AuditLog/recovery``) and continues the sequence after the last
/// record on disk. Restarting does the same.
final class AuditSink: Sendable {
    /// Why the log cannot record decisions, and since when.
    struct Failure: Sendable, Equatable {
        var reason: String
        var since: Date
    }

    let directory: URL
    private let configuration: AuditLog.Configuration
    private let lock: AuditDirectoryLock
    private let logger: Logger
    private let metrics: ServerMetrics
    /// The open log and its failure, swapped together by ``reopen()``.
    private let current: NIOLockedValueBox<(log: AuditLog, failure: Failure?)>
    /// Read on every request: false from the first failed append until a successful reopen.
    private let available = ManagedAtomic<Bool>(true)
    /// Set by ``close()``: appends refused after it are a shutdown, not a failure.
    private let closing = ManagedAtomic<Bool>(false)
    /// Applies the retention policy every `interval` on its own thread; nil when off.
    private let archiving: (archiver: AuditArchiver, interval: Duration)?
    private let archiveStop = DispatchSemaphore(value: 0)
    private let archiveFinished = DispatchSemaphore(value: 0)

    /// Takes the folder's writer lock, then opens the log.
    ///
    /// - Throws: ``StartupError`` naming the folder: another process holds it (with its PID),
    ///   or the log cannot be opened (see ``AuditLog/init(configuration:)``).
    init(configuration: AuditLog.Configuration, retention: AuditRetention?, checkInterval: Duration = .seconds(60),
         metrics: ServerMetrics, logger: Logger) throws {
        directory = configuration.directory
        archiving = retention.map { (AuditArchiver(live: configuration.directory, retention: $0), checkInterval) }
        self.configuration = configuration
        self.logger = logger
        self.metrics = metrics
        do {
            lock = try AuditDirectoryLock(directory: directory)
        } catch {
            throw StartupError("\(error)")  // names the folder, the holder and what to do
        }
        let log: AuditLog
        do {
            log = try AuditLog(configuration: configuration)
        } catch {
            throw StartupError("audit log \(directory.path): \(error)")
        }
        if let recovery = log.recovery {
            logger.warning("audit log recovered at startup: \(recovery)")
        }
        current = NIOLockedValueBox((log, nil))
        metrics.auditAvailable.set(to: 1)
        if let archiving {
            let thread = Thread { [self] in
                runArchiver(archiving.archiver, every: archiving.interval)
                archiveFinished.signal()
            }
            thread.name = "audit-archiver"
            thread.start()
        }
    }

    /// Applies the retention policy now, then every `interval` until ``close()``. A failure is
    /// logged and retried at the next check; archiving never affects appends.
    private func runArchiver(_ archiver: AuditArchiver, every interval: Duration) {
        repeat {
            do {
                let report = try archiver.run()
                if !report.archived.isEmpty {
                    let ratio = report.compressedBytes > 0 ? Double(report.archivedBytes) / Double(report.compressedBytes) : 0
                    let folder = archiver.retention.archiveDirectory.path
                    logger.notice("audit archive: \(report.archived.count) sealed segment(s), \(report.archivedBytes) bytes, compressed \(String(format: "%.1f", ratio))x into \(folder)")
                    metrics.auditArchived.increment(by: Int64(report.archived.count))
                }
                if !report.deleted.isEmpty {
                    logger.notice("audit archive: deleted \(report.deleted.count) archived segment(s) past audit.delete_after")
                    metrics.auditDeleted.increment(by: Int64(report.deleted.count))
                }
            } catch {
                logger.error("audit archive: \(error); the live folder keeps the segments, retrying at the next check")
                metrics.auditArchiveFailures.increment()
            }
        } while archiveStop.wait(timeout: .now() + .milliseconds(Int(interval / .milliseconds(1)))) == .timedOut
    }

    /// Whether decisions can be recorded now (one relaxed atomic load).
    var isAvailable: Bool { available.load(ordering: .relaxed) }

    /// Why decisions cannot be recorded, or nil when they can.
    var failure: Failure? { current.withLockedValue { $0.failure } }

    /// Appends records (see ``AuditLog/append(_:completion:)``); a failure other than an
    /// encoding error marks the log unavailable.
    func append(_ records: [AuditRecord], completion: @escaping @Sendable (Result<Void, AuditError>) -> Void) {
        let log = current.withLockedValue { $0.log }
        log.append(records) { [self] result in
            if case .failure(let error) = result, error.code != .encoding {
                markUnavailable(log: log, error)
            }
            completion(result)
        }
    }

    /// Records the first failure of `log` (later ones, and failures of a log already replaced
    /// by ``reopen()``, are ignored): one critical log line, the gauge to 0.
    private func markUnavailable(log: AuditLog, _ error: AuditError) {
        guard !closing.load(ordering: .relaxed) else { return }
        let first = current.withLockedValue { state -> Bool in
            guard state.log === log, state.failure == nil else { return false }
            state.failure = Failure(reason: error.description, since: Date())
            return true
        }
        guard first else { return }
        available.store(false, ordering: .relaxed)
        metrics.auditAvailable.set(to: 0)
        logger.critical("""
            audit log unavailable: \(error); every request is answered UNAVAILABLE until it is repaired: \
            free space (or fix the disk) under \(directory.path), then reload (SIGHUP or POST /reload) or restart
            """)
    }

    /// After a failure, closes the failed log and opens the folder again; does nothing when the
    /// log is available. Returns what was repaired, for the reload's message.
    ///
    /// - Throws: ``AuditError`` when the folder still cannot be opened (the log stays unavailable).
    func reopen() throws -> String? {
        guard let (failed, failure) = current.withLockedValue({ state in state.failure.map { (state.log, $0) } }) else { return nil }
        // Closed outside the lock: closing completes the failed log's pending appends, whose
        // completions take the lock (``markUnavailable(log:_:)``).
        try? failed.close()  // a failed final fsync changes nothing now
        let log = try AuditLog(configuration: configuration)
        current.withLockedValue { $0 = (log, nil) }
        available.store(true, ordering: .relaxed)
        metrics.auditAvailable.set(to: 1)
        let cut = log.recovery.map { "; \($0)" } ?? ""
        let message = "audit log available again (unavailable since \(failure.since): \(failure.reason))\(cut)"
        logger.notice("\(message)")
        return message
    }

    /// Completes pending appends, fsyncs and closes the log, then releases the folder's lock.
    ///
    /// - Throws: ``AuditError`` if the final fsync fails.
    func close() throws {
        closing.store(true, ordering: .relaxed)
        if archiving != nil {
            archiveStop.signal()
            archiveFinished.wait()
        }
        defer { lock.release() }
        try current.withLockedValue { $0.log }.close()
    }

    /// The `audit` object of `/health`: availability, the live folder's size and the free
    /// space of its filesystem.
    var health: [String: Any] {
        var object: [String: Any] = ["directory": directory.path, "available": isAvailable]
        if let failure { object["reason"] = failure.reason }
        let usage = usage
        object["live_bytes"] = usage.liveBytes
        if let free = usage.freeBytes { object["free_bytes"] = free }
        return object
    }

    /// The live folder's segment bytes and the free bytes of its filesystem (for `/health` and
    /// the `loanscore_audit_live_bytes` / `loanscore_audit_free_bytes` gauges).
    var usage: (liveBytes: Int, freeBytes: Int?) {
        let segments = (try? AuditSegmentFormat.segments(in: directory)) ?? []
        let live = segments.reduce(0) { total, segment in
            total + ((try? FileManager.default.attributesOfItem(atPath: segment.url.path)[.size] as? Int) ?? 0)
        }
        var stats = statvfs()
        let free = statvfs(directory.path, &stats) == 0 ? Int(stats.f_bavail) * Int(stats.f_frsize) : nil
        return (live, free)
    }
}
