import LoanScoreAudit
import LoanScoreProtocol
import NIOConcurrencyHelpers
public import Prometheus

/// The server's metrics: every handle made once, from ``MetricsCatalog`` (so with its HELP
/// text), straight in a ``PrometheusCollectorRegistry`` that the admin port's `/metrics`
/// emits. Labels with a known, finite set of values (message types, outcomes, busy reasons,
/// error codes, reload outcomes) have their series made up front; client identities and admin
/// statuses are made on first use and kept in a locked dictionary. Recording costs an atomic
/// add (plus a dictionary lookup for labelled families), never a new handle.
///
/// Per-model-version families (decisions, PD, exposure, expected loss) belong to the model
/// generation: see ``ModelMetrics``.
public final class ServerMetrics: Sendable {
    /// Histogram buckets of the PD (probability units).
    public static let pdBuckets: [Double] = [0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0]
    /// Request latency buckets, from frame decoded to response written.
    public static let latencyBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
        .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(1000),
    ]

    /// Histogram buckets of the records one audit commit writes.
    public static let commitRecordBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]

    /// The registry every handle lives in (the admin port emits it; model generations and the
    /// drift monitor make their own per-version handles in it).
    public let registry: PrometheusCollectorRegistry

    let connections: Gauge
    /// Jobs waiting for a worker, as of the last request submitted or answered.
    let queueDepth: Gauge
    let latency: DurationHistogram
    /// Time each request waited in the worker queue, from admission to a worker starting it.
    let queueDelay: DurationHistogram
    /// Time from an audit commit's start to its records being durable: its write(2) calls and
    /// its fsync (one sample per commit, not per request). Under group commit a request waits
    /// for the rest of the commit in progress, if any, then for its own (and for the
    /// configured group-commit delay): between one and two of these.
    let auditCommitDuration: DurationHistogram
    /// Records per audit commit (group commit batches the appends that arrive during an fsync).
    let auditCommitRecords: ValueHistogram
    let auditBytes: Counter
    let auditCommitFailures: Counter
    /// 1 while the audit log can record decisions, 0 after a failure until it is reopened
    /// (every request is then answered UNAVAILABLE).
    let auditAvailable: Gauge
    /// Sealed segments compressed into the archive, deleted past `audit.delete_after`, and
    /// archiving runs that failed (retried at the next check).
    let auditArchived: Counter
    let auditDeleted: Counter
    let auditArchiveFailures: Counter
    /// Bytes of the audit log's live segments (updated on every scrape).
    let auditLiveBytes: Gauge
    /// Free bytes (for unprivileged users) on the audit folder's filesystem (updated on every scrape).
    let auditFreeBytes: Gauge
    /// The serving certificate's notAfter (Unix seconds).
    let tlsCertificateExpiry: Gauge
    private let adminRefused: Counter

    /// `loanscore_frames_total` of each defined message type (by type byte): received, sent.
    private let definedFrames: [UInt8: (received: Counter, sent: Counter)]
    /// `loanscore_frames_total` by "TYPE/outcome", for undefined types and other outcomes.
    private let frames: LabeledHandles<Counter>
    /// `loanscore_applications_total` by outcome.
    private let applicationOutcomes: LabeledHandles<Counter>
    private let busyReasons: [BusyReason: Counter]
    private let quotaClients: LabeledHandles<Counter>
    private let errorCodes: LabeledHandles<Counter>
    private let reloadOutcomes: LabeledHandles<Counter>
    private let adminStatuses: LabeledHandles<Counter>
    private let modelInfo: LabeledHandles<Gauge>

    /// Outcomes of `loanscore_applications_total`.
    static let applicationOutcomeNames = ["scored", "invalid", "busy", "quota_exceeded", "deadline_exceeded"]
    /// Codes of `loanscore_errors_total` that are not protocol error codes.
    static let serverErrorNames = ["CONNECTION_LIMIT", "TRANSPORT"]

    /// Makes every handle in `registry`.
    ///
    /// - Parameter registry: where the handles live; a fresh one (which nothing emits) when
    ///   the caller needs none.
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        typealias M = MetricsCatalog
        connections = registry.makeGauge(M.connections)
        queueDepth = registry.makeGauge(M.queueDepth)
        latency = registry.makeDurationHistogram(M.requestDuration, buckets: Self.latencyBuckets)
        queueDelay = registry.makeDurationHistogram(M.queueDelay, buckets: Self.latencyBuckets)
        auditCommitDuration = registry.makeDurationHistogram(M.auditCommitDuration, buckets: Self.latencyBuckets)
        auditCommitRecords = registry.makeValueHistogram(M.auditCommitRecords, buckets: Self.commitRecordBuckets)
        auditBytes = registry.makeCounter(M.auditBytes)
        auditCommitFailures = registry.makeCounter(M.auditCommitFailures)
        auditAvailable = registry.makeGauge(M.auditAvailable)
        auditArchived = registry.makeCounter(M.auditArchived)
        auditDeleted = registry.makeCounter(M.auditDeleted)
        auditArchiveFailures = registry.makeCounter(M.auditArchiveFailures)
        auditLiveBytes = registry.makeGauge(M.auditLiveBytes)
        auditFreeBytes = registry.makeGauge(M.auditFreeBytes)
        tlsCertificateExpiry = registry.makeGauge(M.tlsCertificateExpiry)
        adminRefused = registry.makeCounter(M.adminConnectionsRefused)

        definedFrames = Dictionary(uniqueKeysWithValues: MessageType.allDefined.map { type in
            (type.rawValue, (registry.makeCounter(M.frames, type.description, "received"), registry.makeCounter(M.frames, type.description, "sent")))
        })
        frames = LabeledHandles(known: []) { key in
            let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
            return registry.makeCounter(M.frames, parts[0], parts.count > 1 ? parts[1] : "")
        }
        applicationOutcomes = LabeledHandles(known: Self.applicationOutcomeNames) { registry.makeCounter(M.applications, $0) }
        busyReasons = Dictionary(uniqueKeysWithValues: BusyReason.allCases.map { ($0, registry.makeCounter(M.busy, $0.rawValue)) })
        quotaClients = LabeledHandles(known: []) { registry.makeCounter(M.quotaRejections, $0) }
        errorCodes = LabeledHandles(known: ErrorCode.allDefined.map(\.name) + Self.serverErrorNames) { registry.makeCounter(M.errors, $0) }
        reloadOutcomes = LabeledHandles(known: ["success", "refused", "busy"]) { registry.makeCounter(M.reloads, $0) }
        adminStatuses = LabeledHandles(known: []) { registry.makeCounter(M.adminErrors, $0) }
        modelInfo = LabeledHandles(known: []) { key in
            let parts = key.split(separator: "\u{0}", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            return registry.makeGauge(M.modelInfo, parts[0], parts.count > 1 ? parts[1] : "", parts.count > 2 ? parts[2] : "")
        }
    }

    /// A frame received (`direction` in) or sent (out), by message type and outcome.
    public func frame(type: String, outcome: String) {
        frames["\(type)/\(outcome)"].increment()
    }

    /// A frame received or sent: for a defined type, a dictionary lookup by its byte and an
    /// atomic add (no string is made per frame).
    func frame(_ type: MessageType, received: Bool) {
        guard let counters = definedFrames[type.rawValue] else {
            return frame(type: type.description, outcome: received ? "received" : "sent")
        }
        (received ? counters.received : counters.sent).increment()
    }

    /// Records one audit log commit (``AuditLog/Configuration/onCommit``: on the audit writer
    /// thread under group commit, else on the appending thread).
    @Sendable func auditCommit(_ commit: AuditCommit) {
        guard commit.succeeded else { return auditCommitFailures.increment() }
        auditCommitDuration.recordNanoseconds(Int64(commit.duration / .nanoseconds(1)))
        auditCommitRecords.record(Double(commit.records))
        auditBytes.increment(by: Int64(commit.bytes))
    }

    /// Applications by outcome (`scored`, `invalid`, `busy`, `quota_exceeded`, `deadline_exceeded`).
    public func applications(_ outcome: String, count: Int = 1) {
        guard count > 0 else { return }
        applicationOutcomes[outcome].increment(by: Int64(count))
    }

    /// A request answered BUSY, by the limit that refused it (``BusyReason``); its
    /// applications also count as `busy` in `loanscore_applications_total`.
    func busy(reason: BusyReason, applications: Int) {
        busyReasons[reason]?.increment()
        self.applications("busy", count: applications)
    }

    /// A request refused QUOTA_EXCEEDED, by client identity (certificate subject or source
    /// address); its applications count as `quota_exceeded` in `loanscore_applications_total`.
    func quotaRejected(client: String, applications: Int) {
        quotaClients[client].increment()
        self.applications("quota_exceeded", count: applications)
    }

    /// A protocol or server error sent, by code name.
    public func error(code: String) {
        errorCodes[code].increment()
    }

    /// Publishes the serving model as an info metric (value 1; 0 once a reload replaced it).
    public func model(name: String, version: String, role: ModelRole = .champion, serving: Bool = true) {
        modelInfo["\(name)\u{0}\(version)\u{0}\(role.rawValue)"].set(to: serving ? 1 : 0)
    }

    /// Publishes the running build as an info metric:
    /// `loanscore_build_info{version="0.1.0",commit="0123456789ab"} 1`.
    public func buildInfo(version: String, commit: String) {
        registry.makeGauge(MetricsCatalog.buildInfo, version, commit).set(to: 1)
    }

    /// A reload by outcome: `success`, `refused` (a bundle or certificate failed its checks)
    /// or `busy` (another reload in progress, or shutting down).
    public func reload(outcome: String) {
        reloadOutcomes[outcome].increment()
    }

    /// An admin connection closed at once because the admin listener had
    /// ``ServerConfiguration/AdminLimits-swift.struct/maximumConnections`` open.
    public func adminConnectionRefused() {
        adminRefused.increment()
    }

    /// An admin request answered with an error status (4xx or 5xx) and its connection closed.
    public func adminError(status: Int) {
        adminStatuses[String(status)].increment()
    }

    /// Sets `loanscore_tls_certificate_expiry_timestamp_seconds` (nil: the certificate's date
    /// could not be read; the gauge keeps its value).
    func certificateExpiry(_ unixSeconds: Double?) {
        if let unixSeconds { tlsCertificateExpiry.set(to: unixSeconds) }
    }
}

/// The series of one labelled family: those for label values known in advance are made at
/// once and read without a lock; others are made on first use and kept in a locked
/// dictionary (one lock round trip per use).
final class LabeledHandles<Handle: AnyObject & Sendable>: Sendable {
    private let known: [String: Handle]
    private let made: NIOLockedValueBox<[String: Handle]>
    private let make: @Sendable (String) -> Handle

    init(known keys: [String], make: @escaping @Sendable (String) -> Handle) {
        self.make = make
        known = Dictionary(keys.map { ($0, make($0)) }, uniquingKeysWith: { first, _ in first })
        made = NIOLockedValueBox([:])
    }

    subscript(key: String) -> Handle {
        if let handle = known[key] { return handle }
        return made.withLockedValue { made in
            if let handle = made[key] { return handle }
            let handle = make(key)
            made[key] = handle
            return handle
        }
    }
}
