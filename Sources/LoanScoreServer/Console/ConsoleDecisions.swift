import Foundation
import LoanScoreAudit
import LoanScoreModel
import NIOConcurrencyHelpers
import NIOPosix

/// The decisions the console shows: the most recent ones this server made (kept in memory
/// as they are recorded durably in the audit log), and any decision looked up in the audit
/// log by application id (`GET /decisions/recent`, `GET /decisions/<id>`).
final class ConsoleDecisions: Sendable {
    /// The most records kept for `/decisions/recent`.
    static let capacity = 100

    /// The most lookups read the audit log at once; more are answered "busy" at once.
    static let concurrentLookups = 2

    private let recent = NIOLockedValueBox<[AuditRecord]>([])
    private let lookupsRunning = NIOLockedValueBox(0)
    private let directory: URL
    private let archive: URL?

    /// - Parameters:
    ///   - directory: the audit log folder (`audit_dir`).
    ///   - archive: its archive folder when configured elsewhere (`audit.archive_dir`).
    init(directory: URL, archive: URL?) {
        self.directory = directory
        self.archive = archive
    }

    /// Keeps `records` (just made durable) as the newest; the oldest beyond ``capacity`` go.
    /// O(records + capacity), one lock.
    func recorded(_ records: [AuditRecord]) {
        recent.withLockedValue { recent in
            recent.append(contentsOf: records.suffix(Self.capacity))
            if recent.count > Self.capacity { recent.removeFirst(recent.count - Self.capacity) }
        }
    }

    /// Up to `limit` most recent decisions of this server (since it started), newest first.
    func mostRecent(_ limit: Int) -> [AuditRecord] {
        recent.withLockedValue { Array($0.suffix(max(0, limit)).reversed()) }
    }

    /// What a lookup found.
    enum Lookup {
        /// The newest record of the id, and how many records it has (a re-scored application has several).
        case found(AuditRecord, count: Int)
        case notFound
        /// The audit log could not be read (missing folder, unreadable or damaged segment).
        case unreadable(String)
        /// ``concurrentLookups`` lookups were already reading the log.
        case busy
    }

    /// ``lookUp(_:)`` on NIO's blocking-I/O thread pool, never on the Swift concurrency pool
    /// that serves reloads and the other console requests (a lookup of a large log blocked
    /// them for seconds), and at most ``concurrentLookups`` at once.
    func lookUpOffThePool(_ applicationID: String) async -> Lookup {
        let admitted = lookupsRunning.withLockedValue { running in
            guard running < Self.concurrentLookups else { return false }
            running += 1
            return true
        }
        guard admitted else { return .busy }
        defer { lookupsRunning.withLockedValue { $0 -= 1 } }
        do {
            return try await NIOThreadPool.singleton.runIfActive { self.lookUp(applicationID) }
        } catch {
            return .unreadable("the lookup could not run: \(error)")
        }
    }

    /// Reads the whole audit log (live and archived segments) for `applicationID`.
    /// O(log size): meant for an operator's lookups, run off the event loop.
    func lookUp(_ applicationID: String) -> Lookup {
        do {
            let reader = try AuditReader(directory: directory, archive: archive)
            var newest: AuditRecord?
            var count = 0
            try reader.forEachRecord { record in
                guard record.applicationID == applicationID else { return }
                newest = record
                count += 1
            }
            guard let newest else { return .notFound }
            return .found(newest, count: count)
        } catch {
            return .unreadable("\(error)")
        }
    }

    /// One record as the console's JSON: the audit keys, with each reason code's text from
    /// the bundle of the record's model version when it is being served (else `text` is null).
    /// `seq` is null for a record kept in memory (the log numbers its own copy).
    static func json(_ record: AuditRecord, bundles: [ModelBundle]) -> [String: Any] {
        let texts = bundles.first { $0.manifest.model.version == record.modelVersion }.map { bundle in
            Dictionary(bundle.manifest.reasonCodes.values.map { ($0.code, $0.text) }, uniquingKeysWith: { first, _ in first })
        }
        var object: [String: Any] = [
            "seq": record.sequence == 0 ? NSNull() : record.sequence as Any, "time": record.timeText, "request_id": record.requestID, "application_id": record.applicationID,
            "model": record.modelName, "model_version": record.modelVersion, "input_sha256": record.inputHash, "pd": record.pd,
            "decision": record.decision, "risk_level": record.riskLevel, "client": record.client ?? NSNull(),
            "role": record.role ?? NSNull(),
            "reasons": record.reasonCodes.map { code in ["code": code, "text": texts?[code] ?? NSNull()] as [String: Any] },
        ]
        if let shadow = record.shadow {
            object["shadow"] = ["model_version": shadow.modelVersion, "pd": shadow.pd, "decision": shadow.decision, "risk_level": shadow.riskLevel]
        }
        return object
    }
}
