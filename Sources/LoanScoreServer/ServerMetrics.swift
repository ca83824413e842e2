import LoanScoreAudit
public import Metrics

/// The server's metrics, through swift-metrics (exported in Prometheus text by the admin
/// port). Names follow one lowercase `loanscore_` namespace.
public struct ServerMetrics: Sendable {
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

    public let connections = Gauge(label: "loanscore_connections")
    /// Jobs waiting for a worker, as of the last request submitted or answered.
    public let queueDepth = Gauge(label: "loanscore_queue_depth")
    public let latency = Timer(label: "loanscore_request_duration_seconds")
    /// Time each request waited in the worker queue, from admission to a worker starting it.
    public let queueDelay = Timer(label: "loanscore_queue_delay_seconds")
    public let pd = Recorder(label: "loanscore_pd", aggregate: true)
    /// Time from an audit commit's start to its records being durable: its write(2) calls and
    /// its fsync (one sample per commit, not per request). Under group commit a request waits
    /// for the rest of the commit in progress, if any, then for its own (and for the
    /// configured group-commit delay): between one and two of these.
    let auditCommitDuration = Timer(label: "loanscore_audit_commit_duration_seconds")
    /// Records per audit commit (group commit batches the appends that arrive during an fsync).
    let auditCommitRecords = Recorder(label: "loanscore_audit_commit_records", aggregate: true)
    let auditBytes = Counter(label: "loanscore_audit_bytes_total")
    let auditCommitFailures = Counter(label: "loanscore_audit_commit_failures_total")
    /// 1 while the audit log can record decisions, 0 after a failure until it is reopened
    /// (every request is then answered UNAVAILABLE).
    let auditAvailable = Gauge(label: "loanscore_audit_available")
    /// Sealed segments compressed into the archive, deleted past `audit.delete_after`, and
    /// archiving runs that failed (retried at the next check).
    let auditArchived = Counter(label: "loanscore_audit_archived_segments_total")
    let auditDeleted = Counter(label: "loanscore_audit_deleted_segments_total")
    let auditArchiveFailures = Counter(label: "loanscore_audit_archive_failures_total")
    /// Bytes of the audit log's live segments (updated on every scrape).
    let auditLiveBytes = Gauge(label: "loanscore_audit_live_bytes")
    /// Free bytes (for unprivileged users) on the audit folder's filesystem (updated on every scrape).
    let auditFreeBytes = Gauge(label: "loanscore_audit_free_bytes")

    public init() {}

    /// A frame received (`direction` in) or sent (out), by message type and outcome.
    public func frame(type: String, outcome: String) {
        Counter(label: "loanscore_frames_total", dimensions: [("type", type), ("outcome", outcome)]).increment()
    }

    /// Records one audit log commit (``AuditLog/Configuration/onCommit``: on the audit writer
    /// thread under group commit, else on the appending thread).
    @Sendable func auditCommit(_ commit: AuditCommit) {
        guard commit.succeeded else { return auditCommitFailures.increment() }
        auditCommitDuration.recordNanoseconds(Int64(commit.duration / .nanoseconds(1)))
        auditCommitRecords.record(commit.records)
        auditBytes.increment(by: commit.bytes)
    }

    /// Applications by outcome (`scored`, `invalid`, `busy`).
    public func applications(_ outcome: String, count: Int = 1) {
        Counter(label: "loanscore_applications_total", dimensions: [("outcome", outcome)]).increment(by: count)
    }

    /// A request answered BUSY, by the limit that refused it (``BusyReason``); its
    /// applications also count as `busy` in `loanscore_applications_total`.
    func busy(reason: BusyReason, applications: Int) {
        Counter(label: "loanscore_busy_total", dimensions: [("reason", reason.rawValue)]).increment()
        self.applications("busy", count: applications)
    }

    /// A request refused QUOTA_EXCEEDED, by client identity (certificate subject or source
    /// address); its applications count as `quota_exceeded` in `loanscore_applications_total`.
    func quotaRejected(client: String, applications: Int) {
        Counter(label: "loanscore_quota_rejections_total", dimensions: [("client", client)]).increment()
        self.applications("quota_exceeded", count: applications)
    }

    /// A protocol or server error sent, by code name.
    public func error(code: String) {
        Counter(label: "loanscore_errors_total", dimensions: [("code", code)]).increment()
    }

    /// A decision made (`approve`, `review`, `decline`).
    public func decision(_ decision: String, count: Int = 1) {
        Counter(label: "loanscore_decisions_total", dimensions: [("decision", decision)]).increment(by: count)
    }

    /// Publishes the serving model as an info metric (value 1; 0 once a reload replaced it).
    public func model(name: String, version: String, serving: Bool = true) {
        Gauge(label: "loanscore_model_info", dimensions: [("name", name), ("version", version)]).record(serving ? 1 : 0)
    }

    /// Publishes the running build as an info metric:
    /// `loanscore_build_info{version="0.1.0",commit="0123456789ab"} 1`.
    public func buildInfo(version: String, commit: String) {
        Gauge(label: "loanscore_build_info", dimensions: [("version", version), ("commit", commit)]).record(1)
    }

    /// A reload by outcome: `success`, `refused` (a bundle or certificate failed its checks)
    /// or `busy` (another reload in progress, or shutting down).
    public func reload(outcome: String) {
        Counter(label: "loanscore_reload_total", dimensions: [("outcome", outcome)]).increment()
    }

    /// An admin connection closed at once because the admin listener had
    /// ``ServerConfiguration/AdminLimits-swift.struct/maximumConnections`` open.
    public func adminConnectionRefused() {
        Counter(label: "loanscore_admin_connections_refused_total").increment()
    }

    /// An admin request answered with an error status (4xx or 5xx) and its connection closed.
    public func adminError(status: Int) {
        Counter(label: "loanscore_admin_errors_total", dimensions: [("status", String(status))]).increment()
    }
}
