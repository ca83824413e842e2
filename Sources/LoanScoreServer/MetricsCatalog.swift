public import Prometheus

/// One metric family LoanScore exports: its name, type, label names and HELP text.
///
/// ``MetricsCatalog`` lists every family once; handles are made from it (through the
/// ``PrometheusCollectorRegistry`` helpers below), so a family's HELP text and labels cannot
/// differ between the places that use it. `deploy/METRICS.md` documents the same table, and a
/// test checks a live scrape against that document.
public struct MetricFamily: Sendable, Hashable {
    /// The Prometheus type of the family.
    public enum Kind: String, Sendable, Hashable {
        /// A value that only grows (reset by a restart).
        case counter
        /// A value that goes up and down.
        case gauge
        /// Observations counted into buckets, with their sum and count.
        case histogram
    }

    /// When the family appears in a scrape.
    public enum Presence: String, Sendable, Hashable {
        /// From start-up on.
        case always
        /// Once the event it counts has happened (label values not known in advance).
        case onEvent = "on event"
        /// Only when the serving bundle's schema marks an exposure field.
        case withExposure = "with exposure field"
        /// Only when the serving bundle carries reference bins (`reference.json`).
        case withReference = "with reference bins"
        /// Only when a challenger is configured.
        case withChallenger = "with challenger"
    }

    /// The family's name (`loanscore_…`, or the standard `process_…`).
    public let name: String
    /// Counter, gauge or histogram.
    public let kind: Kind
    /// Label names, in the order every series of the family uses them.
    public let labels: [String]
    /// The `# HELP` text.
    public let help: String
    /// When it appears in a scrape.
    public let presence: Presence

    /// A family of the catalog.
    public init(_ name: String, _ kind: Kind, labels: [String] = [], presence: Presence = .always, help: String) {
        self.name = name
        self.kind = kind
        self.labels = labels
        self.help = help
        self.presence = presence
    }
}

/// Every metric family LoanScore exports (the table `deploy/METRICS.md` documents).
public enum MetricsCatalog {
    // MARK: Connections and requests
    /// `loanscore_connections`: see `deploy/METRICS.md`.
    public static let connections = MetricFamily("loanscore_connections", .gauge, help: "Scoring connections open now.")
    /// `loanscore_queue_depth`: see `deploy/METRICS.md`.
    public static let queueDepth = MetricFamily(
        "loanscore_queue_depth", .gauge, help: "Requests waiting for a worker, as of the last request submitted or answered.")
    /// `loanscore_request_duration_seconds`: see `deploy/METRICS.md`.
    public static let requestDuration = MetricFamily(
        "loanscore_request_duration_seconds", .histogram,
        help: "Time from a scoring request decoded to its response written, in seconds.")
    /// `loanscore_queue_delay_seconds`: see `deploy/METRICS.md`.
    public static let queueDelay = MetricFamily(
        "loanscore_queue_delay_seconds", .histogram,
        help: "Time a scoring request waited in the worker queue, from admission to a worker starting it, in seconds.")
    /// `loanscore_frames_total`: see `deploy/METRICS.md`.
    public static let frames = MetricFamily(
        "loanscore_frames_total", .counter, labels: ["type", "outcome"],
        help: "Frames received or sent on scoring connections, by message type and outcome (received, sent).")
    /// `loanscore_applications_total`: see `deploy/METRICS.md`.
    public static let applications = MetricFamily(
        "loanscore_applications_total", .counter, labels: ["outcome"],
        help: "Applications by outcome: scored, invalid, busy, quota_exceeded, deadline_exceeded.")
    /// `loanscore_busy_total`: see `deploy/METRICS.md`.
    public static let busy = MetricFamily(
        "loanscore_busy_total", .counter, labels: ["reason"], help: "Requests answered BUSY, by the limit that refused them.")
    /// `loanscore_quota_rejections_total`: see `deploy/METRICS.md`.
    public static let quotaRejections = MetricFamily(
        "loanscore_quota_rejections_total", .counter, labels: ["client"], presence: .onEvent,
        help: "Requests refused QUOTA_EXCEEDED, by client identity (certificate subject or source address).")
    /// `loanscore_errors_total`: see `deploy/METRICS.md`.
    public static let errors = MetricFamily(
        "loanscore_errors_total", .counter, labels: ["code"], help: "Protocol and server errors sent, by error code name.")

    // MARK: Model and build
    /// `loanscore_decisions_total`: see `deploy/METRICS.md`.
    public static let decisions = MetricFamily(
        "loanscore_decisions_total", .counter, labels: ["decision", "model_version", "role"],
        help: "Decisions made (approve, review, decline), by model version and role (champion, challenger; a shadow challenger's are what it would have decided).")
    /// `loanscore_pd`: see `deploy/METRICS.md`.
    public static let pd = MetricFamily(
        "loanscore_pd", .histogram, labels: ["model_version", "role"],
        help: "Probability of default of scored applications, by model version and role (champion, challenger).")
    /// `loanscore_approved_exposure_total`: see `deploy/METRICS.md`.
    public static let approvedExposure = MetricFamily(
        "loanscore_approved_exposure_total", .counter, labels: ["model_version", "role"], presence: .withExposure,
        help: "Sum of the schema's exposure field over approved applications, by model version and role.")
    /// `loanscore_approved_expected_loss_total`: see `deploy/METRICS.md`.
    public static let approvedExpectedLoss = MetricFamily(
        "loanscore_approved_expected_loss_total", .counter, labels: ["model_version", "role"],
        help: "Sum of PD x LGD x exposure over approved applications (exposure 1 without an exposure field), by model version and role.")
    /// `loanscore_model_info`: see `deploy/METRICS.md`.
    public static let modelInfo = MetricFamily(
        "loanscore_model_info", .gauge, labels: ["name", "version", "role"],
        help: "The model bundle loaded, by role (champion, challenger): 1 while it serves, 0 once a reload replaced it.")
    /// `loanscore_challenger_skipped_total`: see `deploy/METRICS.md`.
    public static let challengerSkipped = MetricFamily(
        "loanscore_challenger_skipped_total", .counter, labels: ["reason"], presence: .withChallenger,
        help: "Applications a configured challenger did not judge, by reason: invalid_for_challenger (the champion answered; no shadow verdict), protocol_version_1 (split mode, routed by hash but the connection speaks version 1: the champion decided).")
    /// `loanscore_build_info`: see `deploy/METRICS.md`.
    public static let buildInfo = MetricFamily(
        "loanscore_build_info", .gauge, labels: ["version", "commit"], help: "The running loanscored build (always 1).")
    /// `loanscore_reload_total`: see `deploy/METRICS.md`.
    public static let reloads = MetricFamily(
        "loanscore_reload_total", .counter, labels: ["outcome"], help: "Reloads by outcome: success, refused, busy.")

    // MARK: Drift (created per model generation by the drift monitor)
    /// `loanscore_drift_psi`: see `deploy/METRICS.md`.
    public static let driftPSI = MetricFamily(
        "loanscore_drift_psi", .gauge, labels: ["field", "model_version"], presence: .withReference,
        help: "Population stability index of a field (field pd: the PD) over the drift window against the bundle's reference bins.")
    /// `loanscore_drift_window_applications`: see `deploy/METRICS.md`.
    public static let driftWindowApplications = MetricFamily(
        "loanscore_drift_window_applications", .gauge, labels: ["model_version"], presence: .withReference,
        help: "Applications in the drift window.")
    /// `loanscore_anomalies_total`: see `deploy/METRICS.md`.
    public static let anomalies = MetricFamily(
        "loanscore_anomalies_total", .counter, labels: ["field", "kind"], presence: .withReference,
        help: "Applications with a value outside the field's training range (out_of_range) or in a bin unseen in training (unseen_bin).")
    /// `loanscore_approval_rate`: see `deploy/METRICS.md`.
    public static let approvalRate = MetricFamily(
        "loanscore_approval_rate", .gauge, labels: ["model_version"], presence: .withReference,
        help: "Approved share of the decisions in the drift window.")
    /// `loanscore_reference_approval_rate`: see `deploy/METRICS.md`.
    public static let referenceApprovalRate = MetricFamily(
        "loanscore_reference_approval_rate", .gauge, labels: ["model_version"], presence: .withReference,
        help: "Approval rate of the bundle's reference (holdout) PDs.")

    // MARK: Audit log
    /// `loanscore_audit_commit_duration_seconds`: see `deploy/METRICS.md`.
    public static let auditCommitDuration = MetricFamily(
        "loanscore_audit_commit_duration_seconds", .histogram,
        help: "Time from an audit commit's start to its records being durable (writes and fsync), in seconds.")
    /// `loanscore_audit_commit_records`: see `deploy/METRICS.md`.
    public static let auditCommitRecords = MetricFamily(
        "loanscore_audit_commit_records", .histogram, help: "Records written by one audit commit.")
    /// `loanscore_audit_bytes_total`: see `deploy/METRICS.md`.
    public static let auditBytes = MetricFamily("loanscore_audit_bytes_total", .counter, help: "Bytes written to the audit log.")
    /// `loanscore_audit_commit_failures_total`: see `deploy/METRICS.md`.
    public static let auditCommitFailures = MetricFamily(
        "loanscore_audit_commit_failures_total", .counter, help: "Audit commits that failed.")
    /// `loanscore_audit_available`: see `deploy/METRICS.md`.
    public static let auditAvailable = MetricFamily(
        "loanscore_audit_available", .gauge, help: "1 while the audit log can record decisions, 0 after a failure until it is reopened.")
    /// `loanscore_audit_archived_segments_total`: see `deploy/METRICS.md`.
    public static let auditArchived = MetricFamily(
        "loanscore_audit_archived_segments_total", .counter, help: "Sealed audit segments compressed into the archive.")
    /// `loanscore_audit_deleted_segments_total`: see `deploy/METRICS.md`.
    public static let auditDeleted = MetricFamily(
        "loanscore_audit_deleted_segments_total", .counter, help: "Audit segments deleted past audit.delete_after.")
    /// `loanscore_audit_archive_failures_total`: see `deploy/METRICS.md`.
    public static let auditArchiveFailures = MetricFamily(
        "loanscore_audit_archive_failures_total", .counter, help: "Audit archiving runs that failed (retried at the next check).")
    /// `loanscore_audit_live_bytes`: see `deploy/METRICS.md`.
    public static let auditLiveBytes = MetricFamily(
        "loanscore_audit_live_bytes", .gauge, help: "Bytes of the audit log's live segments (read on every scrape).")
    /// `loanscore_audit_free_bytes`: see `deploy/METRICS.md`.
    public static let auditFreeBytes = MetricFamily(
        "loanscore_audit_free_bytes", .gauge, help: "Free bytes on the audit folder's filesystem, for unprivileged users (read on every scrape).")

    // MARK: Admin listener
    /// `loanscore_admin_connections_refused_total`: see `deploy/METRICS.md`.
    public static let adminConnectionsRefused = MetricFamily(
        "loanscore_admin_connections_refused_total", .counter,
        help: "Admin connections closed at once because the admin listener had its maximum open.")
    /// `loanscore_admin_errors_total`: see `deploy/METRICS.md`.
    public static let adminErrors = MetricFamily(
        "loanscore_admin_errors_total", .counter, labels: ["status"], presence: .onEvent,
        help: "Admin requests answered with an error status (4xx or 5xx), by status.")

    // MARK: Memory, TLS and process
    /// `loanscore_heap_in_use_bytes`: see `deploy/METRICS.md`.
    public static let heapInUse = MetricFamily(
        "loanscore_heap_in_use_bytes", .gauge, help: "Bytes malloc has handed out and not had back (read on every scrape).")
    /// `loanscore_heap_free_bytes`: see `deploy/METRICS.md`.
    public static let heapFree = MetricFamily(
        "loanscore_heap_free_bytes", .gauge, help: "Bytes freed to malloc and kept in its arenas (read on every scrape).")
    /// `loanscore_tls_connections`: see `deploy/METRICS.md`.
    public static let tlsConnections = MetricFamily(
        "loanscore_tls_connections", .gauge, help: "TLS connection objects alive in the process (read on every scrape).")
    /// `loanscore_malloc_trim_total`: see `deploy/METRICS.md`.
    public static let mallocTrims = MetricFamily("loanscore_malloc_trim_total", .counter, help: "malloc_trim runs.")
    /// `loanscore_malloc_trim_released_bytes_total`: see `deploy/METRICS.md`.
    public static let mallocTrimReleased = MetricFamily(
        "loanscore_malloc_trim_released_bytes_total", .counter, help: "Resident bytes that malloc_trim runs gave back to the system.")
    /// `loanscore_tls_certificate_expiry_timestamp_seconds`: see `deploy/METRICS.md`.
    public static let tlsCertificateExpiry = MetricFamily(
        "loanscore_tls_certificate_expiry_timestamp_seconds", .gauge,
        help: "The serving certificate's notAfter, in Unix seconds (refreshed at start and reload).")
    /// `process_resident_memory_bytes`: see `deploy/METRICS.md`.
    public static let processResidentMemory = MetricFamily(
        "process_resident_memory_bytes", .gauge, help: "Resident memory size in bytes.")
    /// `process_virtual_memory_bytes`: see `deploy/METRICS.md`.
    public static let processVirtualMemory = MetricFamily(
        "process_virtual_memory_bytes", .gauge, help: "Virtual memory size in bytes.")
    /// `process_open_fds`: see `deploy/METRICS.md`.
    public static let processOpenFDs = MetricFamily("process_open_fds", .gauge, help: "Number of open file descriptors.")
    /// `process_max_fds`: see `deploy/METRICS.md`.
    public static let processMaxFDs = MetricFamily("process_max_fds", .gauge, help: "Maximum number of open file descriptors.")
    /// `process_cpu_seconds_total`: see `deploy/METRICS.md`.
    public static let processCPUSeconds = MetricFamily(
        "process_cpu_seconds_total", .counter, help: "Total user and system CPU time spent in seconds.")
    /// `process_start_time_seconds`: see `deploy/METRICS.md`.
    public static let processStartTime = MetricFamily(
        "process_start_time_seconds", .gauge, help: "Start time of the process since unix epoch in seconds.")

    /// Every family, in the order `deploy/METRICS.md` lists them.
    public static let all: [MetricFamily] = [
        connections, queueDepth, requestDuration, queueDelay, frames, applications, busy, quotaRejections, errors,
        decisions, pd, approvedExposure, approvedExpectedLoss, modelInfo, challengerSkipped, buildInfo, reloads,
        driftPSI, driftWindowApplications, anomalies, approvalRate, referenceApprovalRate,
        auditCommitDuration, auditCommitRecords, auditBytes, auditCommitFailures, auditAvailable, auditArchived, auditDeleted,
        auditArchiveFailures, auditLiveBytes, auditFreeBytes,
        adminConnectionsRefused, adminErrors,
        heapInUse, heapFree, tlsConnections, mallocTrims, mallocTrimReleased, tlsCertificateExpiry,
        processResidentMemory, processVirtualMemory, processOpenFDs, processMaxFDs, processCPUSeconds, processStartTime,
    ]
}

extension MetricFamily {
    /// The family's name and HELP text as swift-prometheus describes a metric (the whole name
    /// as `metricName`, no unit suffix added).
    var descriptor: MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}

extension PrometheusCollectorRegistry {
    /// The counter of `family` with these label values (one per ``MetricFamily/labels``, in
    /// order), with the family's HELP text; the registry returns the existing one if any.
    ///
    /// - Precondition: `family` is a counter and `values` has one value per label.
    public func makeCounter(_ family: MetricFamily, _ values: String...) -> Prometheus.Counter {
        precondition(family.kind == .counter && values.count == family.labels.count, "\(family.name): counter with \(family.labels)")
        return makeCounter(descriptor: family.descriptor, labels: Array(zip(family.labels, values)))
    }

    /// The gauge of `family` with these label values, with the family's HELP text.
    ///
    /// - Precondition: `family` is a gauge and `values` has one value per label.
    public func makeGauge(_ family: MetricFamily, _ values: String...) -> Prometheus.Gauge {
        precondition(family.kind == .gauge && values.count == family.labels.count, "\(family.name): gauge with \(family.labels)")
        return makeGauge(descriptor: family.descriptor, labels: Array(zip(family.labels, values)))
    }

    /// The histogram of `family` (values in the family's unit) with these buckets and label values.
    ///
    /// - Precondition: `family` is a histogram and `values` has one value per label.
    public func makeValueHistogram(_ family: MetricFamily, buckets: [Double], _ values: String...) -> ValueHistogram {
        precondition(family.kind == .histogram && values.count == family.labels.count, "\(family.name): histogram with \(family.labels)")
        return makeValueHistogram(descriptor: family.descriptor, labels: Array(zip(family.labels, values)), buckets: buckets)
    }

    /// The histogram of `family` (durations, exported in seconds) with these buckets and label values.
    ///
    /// - Precondition: `family` is a histogram and `values` has one value per label.
    public func makeDurationHistogram(_ family: MetricFamily, buckets: [Duration], _ values: String...) -> DurationHistogram {
        precondition(family.kind == .histogram && values.count == family.labels.count, "\(family.name): histogram with \(family.labels)")
        return makeDurationHistogram(descriptor: family.descriptor, labels: Array(zip(family.labels, values)), buckets: buckets)
    }
}

extension PrometheusCollectorRegistry {
    /// Removes handles (counters, gauges, histograms) from the registry, except those in
    /// `kept` (by identity): what a retiring model generation does with its series, keeping the
    /// ones its successor shares (the registry hands out the same handle for the same name
    /// and labels, so a reload of the same version gets the retiring generation's handles).
    public func unregister(_ handles: [AnyObject], keeping kept: [AnyObject] = []) {
        for handle in handles where !kept.contains(where: { $0 === handle }) {
            switch handle {
            case let counter as Prometheus.Counter: unregisterCounter(counter)
            case let gauge as Prometheus.Gauge: unregisterGauge(gauge)
            case let histogram as ValueHistogram: unregisterValueHistogram(histogram)
            case let histogram as DurationHistogram: unregisterDurationHistogram(histogram)
            default: assertionFailure("not a Prometheus handle: \(type(of: handle))")
            }
        }
    }
}
