public import Foundation
import LoanScoreFeatures
import LoanScoreProtocol
import LoanScoreTLS

/// Everything `loanscored` needs to run: where to listen, TLS material, limits, timeouts,
/// the audit log. Read from a JSON file (`--config`), then overridden by flags.
///
/// Every limit is enforced before memory is committed: a frame's declared length is checked
/// against ``Limits-swift.struct/maximumFramePayload`` before its payload is awaited.
public struct ServerConfiguration: Codable, Sendable, Equatable {
    /// The model bundle folder.
    public var bundle: String
    /// `HOST:PORT` of the scoring listener (TLS).
    public var listen: String = "127.0.0.1:7443"
    /// PEM certificate chain presented to clients.
    public var certificate: String
    /// PEM private key of the certificate.
    public var privateKey: String
    /// When set, clients must present a certificate signed by this CA (mutual TLS).
    public var clientCA: String?
    /// `HOST:PORT` of the admin HTTP listener (health, readiness, metrics); nil disables it.
    public var admin: String? = "127.0.0.1:9090"
    /// Folder of the decision audit log.
    public var auditDirectory: String = "audit"
    /// Audit durability: `group` (group commit, default), `always` or `never` (tests only).
    public var auditFsync: AuditFsync = .group
    /// Longest deliberate wait before a group commit, in milliseconds; 0 (the default) writes
    /// at once, each batch being what arrived during the previous fsync.
    public var auditGroupCommitMilliseconds: Int = 0
    /// Worker threads; 0 means one per core.
    public var workers: Int = 0
    /// Reason codes in responses and audit records: `all` (the default: up to four per scored
    /// application) or `none` (PD, risk level, decision and confidence only, for uses that
    /// need no adverse-action reasons, such as pre-screening or re-scoring a portfolio; a
    /// batch then scores about twice as fast). Changing it needs a restart.
    public var reasonCodes: ReasonCodes = .all
    public var limits = Limits()
    public var timeouts = Timeouts()
    /// When the server gives freed memory back to the system.
    public var memory = Memory()
    /// Audit log retention: archiving sealed segments, and (only when asked) deleting them.
    public var audit = AuditSettings()

    /// Which TLS versions and cipher suites clients may use (Mozilla "intermediate" by default).
    public var tls = TLS()
    /// Connection limit, deadlines and request size limits of the admin listener.
    public var adminLimits = AdminLimits()
    /// Per-client quotas (applications per second); none by default.
    public var quotas = Quotas()
    /// Drift tracking of live applications against the bundle's reference bins.
    public var drift = Drift()
    /// The log's format: readable `text` (the default) or `json`, one object per line.
    public var logFormat: LogFormat = .text
    /// A challenger bundle served beside the champion (``bundle``); nil (the default): none.
    public var challenger: Challenger?
    /// Whether the admin port serves the operator's web console (`/console`) and its JSON
    /// endpoints (`/stats`, `/decisions/…`, `POST /score`, `/model/card`); off by default
    /// (`--console` turns it on).
    public var console = false
    /// Whether a `POST /score` from the console is appended to the audit log like a wire
    /// decision; off by default (the Score page is a what-if tool, not a decision).
    public var consoleScoreAudited = false
    /// The secret the admin port's console, console endpoints and `POST /reload` require
    /// (a bearer token and/or basic auth, stored as SHA-256 hashes); nil: none required.
    /// Required when the console is on and the admin port listens beyond loopback.
    public var adminAuth: AdminAuth?

    enum CodingKeys: String, CodingKey {
        case bundle, listen, certificate, admin, workers, limits, timeouts, memory, audit, tls, quotas, drift
        case privateKey = "private_key", clientCA = "client_ca", auditDirectory = "audit_dir"
        case auditFsync = "audit_fsync", auditGroupCommitMilliseconds = "audit_group_commit_ms"
        case reasonCodes = "reason_codes", adminLimits = "admin_limits"
        case logFormat = "log_format"
        case challenger, console
        case consoleScoreAudited = "console_score_audited", adminAuth = "admin_auth"
    }

    /// A challenger model beside the champion (the `challenger` object; `--challenger`,
    /// `--challenger-mode`, `--challenger-fraction`).
    ///
    /// - `shadow`: every application is scored by both; the answer is the champion's, and
    ///   the audit record adds the challenger's verdict (`shadow`). `fraction` is refused in
    ///   this mode (every application is shadowed; a fraction would suggest sampling).
    /// - `split`: the challenger decides an application when the FNV-1a 64-bit hash of its id's
    ///   UTF-8 bytes, mixed by MurmurHash3's `fmix64` and mapped to [0, 1) as
    ///   `Double(h >> 11) / 2^53`, is below `fraction` (PROTOCOL.md §5.5.1)
    ///   (required in this mode): deterministic and sticky (the same id always goes to the
    ///   same role), whatever the batch or connection. Only connections that negotiated
    ///   protocol version 2 are routed (a version-1 client cannot be told which model decided).
    ///
    /// The challenger's schema must accept the champion's input: its fields a subset of the
    /// champion's, with the same types, and a field the challenger requires (not nullable)
    /// required by the champion too. Checked at start (exit 3) and at every reload (the
    /// reload is refused and the serving pair stays).
    public struct Challenger: Codable, Sendable, Equatable {
        /// How the challenger takes part.
        public enum Mode: String, ConfigurationChoice {
            /// Scores every application beside the champion; decides nothing.
            case shadow
            /// Decides a deterministic fraction of applications (by the hash of their id).
            case split
        }

        /// The challenger's bundle folder.
        public var bundle: String
        /// `shadow` (the default) or `split`.
        public var mode: Mode = .shadow
        /// In split mode, the share of applications the challenger decides, in [0, 1].
        public var fraction: Double?

        /// A challenger at `bundle`; ``validate()`` (through ``ServerConfiguration/validate()``)
        /// checks that `fraction` is given in split mode only, within [0, 1].
        public init(bundle: String, mode: Mode = .shadow, fraction: Double? = nil) {
            self.bundle = bundle
            self.mode = mode
            self.fraction = fraction
        }

        enum CodingKeys: String, CodingKey { case bundle, mode, fraction }

        /// `bundle` is required; `mode` defaults to shadow.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            bundle = try c.decode(String.self, forKey: .bundle)
            mode = try c.decodeIfPresent(Mode.self, forKey: .mode) ?? mode
            fraction = try c.decodeIfPresent(Double.self, forKey: .fraction)
        }

        /// The share of applications routed to the challenger: `fraction` in split mode, 0 in shadow.
        public var splitFraction: Double { mode == .split ? (fraction ?? 0) : 0 }

        /// Checks mode and fraction.
        ///
        /// - Throws: ``ConfigurationError`` naming the setting.
        func validate() throws {
            guard !bundle.isEmpty else {
                throw ConfigurationError("challenger.bundle is required: give --challenger PATH or 'bundle' in the 'challenger' object")
            }
            switch mode {
            case .shadow:
                if let fraction {
                    throw ConfigurationError("challenger.fraction (\(fraction)) applies to split mode only: in shadow mode every "
                        + "application is scored by both models; remove it, or set mode to split")
                }
            case .split:
                guard let fraction else {
                    throw ConfigurationError("challenger.fraction is required in split mode: the share of applications the "
                        + "challenger decides, from 0 to 1 (--challenger-fraction)")
                }
                guard fraction.isFinite, (0...1).contains(fraction) else {
                    throw ConfigurationError("challenger.fraction must be from 0 to 1, got \(fraction)")
                }
            }
        }
    }

    /// Resource limits. Sizes in bytes.
    public struct Limits: Codable, Sendable, Equatable {
        /// Largest payload of one frame on the wire.
        public var maximumFramePayload: Int = 4 << 20
        /// Largest decompressed payload of an LZ4 frame.
        public var maximumUncompressedPayload: Int = 16 << 20
        /// Most applications in one scoring request.
        public var maximumBatch: Int = 4096
        /// Most simultaneous connections; further ones are closed at once.
        public var maximumConnections: Int = 1024
        /// Most requests in flight on one connection; beyond it the server answers BUSY.
        public var maximumInFlightPerConnection: Int = 64
        /// Most requests in flight in the whole server (the worker queue's capacity).
        public var maximumInFlight: Int = 4096
        /// Most simultaneous connections from one source address; further ones are closed at once.
        public var maximumConnectionsPerAddress: Int = 256
        /// Most applications waiting for a worker (server-wide); a request that would queue more
        /// is answered BUSY. At least `max_batch`. Bounds the queued work, and so memory and
        /// the wait, whatever the batch sizes.
        public var maximumQueuedApplications: Int = 16384
        /// Milliseconds a request may wait for a worker: a new request is answered BUSY at once
        /// (a fast "no" the client can route around) when the work queued before it would take
        /// longer (queued applications × measured worker time ÷ workers) or the oldest queued
        /// request has already waited longer. 0 disables both checks.
        ///
        /// 50 by measurement (2 shared cores, about 30,000 applications/s, open loop at 8× that):
        /// answered requests kept p50 82 ms and p99 0.26 s, where with 100 ms they took 0.19 s and
        /// 0.55 s; with 25 ms, 2 % of a modest closed loop (1,024 applications in flight) was
        /// refused. A client that keeps more than 50 ms of work in flight is told BUSY for the
        /// excess; raise it for clients that pipeline deeply and can wait.
        public var maximumQueueDelayMilliseconds: Int = 50

        public init() {}

        enum CodingKeys: String, CodingKey {
            case maximumFramePayload = "max_frame_bytes", maximumUncompressedPayload = "max_uncompressed_bytes"
            case maximumBatch = "max_batch", maximumConnections = "max_connections"
            case maximumInFlightPerConnection = "max_in_flight_per_connection", maximumInFlight = "max_in_flight"
            case maximumConnectionsPerAddress = "max_connections_per_address"
            case maximumQueuedApplications = "max_queued_applications", maximumQueueDelayMilliseconds = "max_queue_delay_ms"
        }

        /// Absent keys keep their defaults.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            maximumFramePayload = try c.decodeIfPresent(Int.self, forKey: .maximumFramePayload) ?? maximumFramePayload
            maximumUncompressedPayload = try c.decodeIfPresent(Int.self, forKey: .maximumUncompressedPayload) ?? maximumUncompressedPayload
            maximumBatch = try c.decodeIfPresent(Int.self, forKey: .maximumBatch) ?? maximumBatch
            maximumConnections = try c.decodeIfPresent(Int.self, forKey: .maximumConnections) ?? maximumConnections
            maximumInFlightPerConnection = try c.decodeIfPresent(Int.self, forKey: .maximumInFlightPerConnection) ?? maximumInFlightPerConnection
            maximumInFlight = try c.decodeIfPresent(Int.self, forKey: .maximumInFlight) ?? maximumInFlight
            maximumConnectionsPerAddress = try c.decodeIfPresent(Int.self, forKey: .maximumConnectionsPerAddress) ?? maximumConnectionsPerAddress
            maximumQueuedApplications = try c.decodeIfPresent(Int.self, forKey: .maximumQueuedApplications) ?? maximumQueuedApplications
            maximumQueueDelayMilliseconds = try c.decodeIfPresent(Int.self, forKey: .maximumQueueDelayMilliseconds) ?? maximumQueueDelayMilliseconds
        }
    }

    /// Timeouts, in seconds.
    public struct Timeouts: Codable, Sendable, Equatable {
        /// A TLS handshake and HELLO must complete within this.
        public var handshake: Double = 10
        /// A connection with nothing in flight and no traffic is closed after this.
        public var idle: Double = 300
        /// On shutdown, in-flight work gets this long before connections are closed.
        public var drain: Double = 10
        /// A frame whose first byte has arrived must be complete within this (slow clients).
        public var frame: Double = 10

        public init() {}

        enum CodingKeys: String, CodingKey { case handshake, idle, drain, frame }

        /// Absent keys keep their defaults.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            // Each a number of seconds or a duration text ("10s", "500ms", "5m").
            handshake = try c.decodeIfPresent(ConfigurationDuration.self, forKey: .handshake)?.seconds ?? handshake
            idle = try c.decodeIfPresent(ConfigurationDuration.self, forKey: .idle)?.seconds ?? idle
            drain = try c.decodeIfPresent(ConfigurationDuration.self, forKey: .drain)?.seconds ?? drain
            frame = try c.decodeIfPresent(ConfigurationDuration.self, forKey: .frame)?.seconds ?? frame
        }
    }

    /// Returning freed memory to the system (glibc's `malloc_trim`). After a connection
    /// storm, malloc keeps the memory of thousands of closed connections in its arenas; the
    /// server trims once at startup (what loading the bundle freed), when its last connection
    /// closes and, every ``trimInterval`` seconds, when the allocator holds more than
    /// ``trimThreshold`` MiB of free memory — each time only if the process has grown since the
    /// last trim.
    public struct Memory: Codable, Sendable, Equatable {
        /// Seconds between memory checks (and updates of the memory metrics); 0 disables both.
        public var trimInterval: Double = 10
        /// Free memory kept by malloc, in MiB, above which a check trims with connections open
        /// (if the process has grown since the last trim).
        public var trimThreshold: Double = 16

        public init() {}

        enum CodingKeys: String, CodingKey {
            case trimInterval = "trim_interval", trimThreshold = "trim_threshold_mb"
        }

        /// Absent keys keep their defaults.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            trimInterval = try c.decodeIfPresent(Double.self, forKey: .trimInterval) ?? trimInterval
            trimThreshold = try c.decodeIfPresent(Double.self, forKey: .trimThreshold) ?? trimThreshold
        }
    }

    /// Drift tracking (the `drift` object): every scored application's fields, derived
    /// features and PD are counted into the bins of the bundle's reference distributions
    /// (BUNDLE.md, `reference.json`) over a rolling window per model version, from which the
    /// admin port's `/drift` and the `loanscore_drift_psi` gauges compute the stability index.
    public struct Drift: Codable, Sendable, Equatable {
        /// Whether live applications are counted at all (`--no-drift` turns it off).
        public var enabled = true
        /// The window: the most recent this many scored applications (per model version).
        public var window = 10_000
        /// When set, applications older than this many seconds also leave the window.
        public var windowSeconds: Double?

        public init() {}

        enum CodingKeys: String, CodingKey {
            case enabled, window
            case windowSeconds = "window_seconds"
        }

        /// Absent keys keep their defaults; `window_seconds: null` means no age bound.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? enabled
            window = try c.decodeIfPresent(Int.self, forKey: .window) ?? window
            windowSeconds = try c.decodeIfPresent(Double.self, forKey: .windowSeconds)
        }

        /// Every key, `window_seconds` as an explicit `null` when there is no age bound.
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(enabled, forKey: .enabled)
            try c.encode(window, forKey: .window)
            try c.encode(windowSeconds, forKey: .windowSeconds)
        }
    }

    /// Per-client quotas, as API gateways rate-limit: a token bucket of applications per
    /// client identity — the subject of its mutual-TLS certificate as OpenSSL prints it on one
    /// line (`/O=Acme/CN=gateway`), else its source IP address. A request over its client's
    /// quota is answered QUOTA_EXCEEDED (PROTOCOL.md §7) with the time after which it would be
    /// admitted, and counted in `loanscore_quota_rejections_total{client}`; other clients are
    /// unaffected. Requests refused BUSY give their applications back to the bucket.
    public struct Quotas: Codable, Sendable, Equatable {
        /// Applications per second each client may send; 0 (the default) means no quota.
        public var applicationsPerSecond: Double = 0
        /// The bucket's size in applications (how far a client may run ahead of its rate);
        /// 0 means one second's worth. A batch larger than the burst is admitted when the
        /// bucket is full, and the client then waits for the difference.
        public var burstApplications: Double = 0
        /// Overrides by client identity; `applications_per_second` 0 exempts a client.
        public var clients: [String: Client] = [:]

        /// One client's quota.
        public struct Client: Codable, Sendable, Equatable {
            public var applicationsPerSecond: Double
            public var burstApplications: Double = 0

            public init(applicationsPerSecond: Double, burstApplications: Double = 0) {
                self.applicationsPerSecond = applicationsPerSecond
                self.burstApplications = burstApplications
            }

            enum CodingKeys: String, CodingKey {
                case applicationsPerSecond = "applications_per_second", burstApplications = "burst_applications"
            }

            /// `applications_per_second` is required; `burst_applications` defaults to one second's worth.
            public init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                applicationsPerSecond = try c.decode(Double.self, forKey: .applicationsPerSecond)
                burstApplications = try c.decodeIfPresent(Double.self, forKey: .burstApplications) ?? 0
            }
        }

        public init() {}

        enum CodingKeys: String, CodingKey {
            case applicationsPerSecond = "applications_per_second", burstApplications = "burst_applications", clients
        }

        /// Absent keys keep their defaults.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            applicationsPerSecond = try c.decodeIfPresent(Double.self, forKey: .applicationsPerSecond) ?? applicationsPerSecond
            burstApplications = try c.decodeIfPresent(Double.self, forKey: .burstApplications) ?? burstApplications
            clients = try c.decodeIfPresent([String: Client].self, forKey: .clients) ?? clients
        }
    }

    /// Audit log retention (the `audit` object). Nothing is ever deleted unless
    /// ``deleteAfter`` is set: lenders keep adverse-action records for years (Regulation B:
    /// 25 months). Sealed segments are compressed (LZ4 frame format: `lz4 -d` reads them) into
    /// ``archiveDirectory`` once older than ``archiveAfter``, or, oldest first, while the live
    /// folder holds more than ``maxLiveBytes``; `loanscore audit verify/export` read them
    /// transparently.
    public struct AuditSettings: Codable, Sendable, Equatable {
        /// The archive folder; nil: `archive` inside the audit folder.
        public var archiveDirectory: String?
        /// Archive a sealed segment this long after its last write; nil: never by age.
        public var archiveAfter: ConfigurationDuration? = ConfigurationDuration(seconds: 86_400)
        /// Archive the oldest sealed segments while the live folder is larger than this (bytes);
        /// nil: no size bound.
        public var maxLiveBytes: Int? = 1 << 30
        /// Delete archived segments this long after their last record; nil (the default): never.
        public var deleteAfter: ConfigurationDuration?
        /// How often the server applies the policy.
        public var checkInterval = ConfigurationDuration(seconds: 60)
        /// A live segment is sealed, and a new one started, before it would grow past this
        /// many bytes; only sealed segments are archived.
        public var maxSegmentBytes = 64 << 20

        public init() {}

        enum CodingKeys: String, CodingKey {
            case archiveDirectory = "archive_dir", archiveAfter = "archive_after", maxLiveBytes = "max_live_bytes"
            case deleteAfter = "delete_after", checkInterval = "check_interval", maxSegmentBytes = "max_segment_bytes"
        }

        /// Absent keys keep their defaults; an explicit `null` turns a rule off.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            archiveDirectory = try c.decodeIfPresent(String.self, forKey: .archiveDirectory)
            if c.contains(.archiveAfter) { archiveAfter = try c.decodeIfPresent(ConfigurationDuration.self, forKey: .archiveAfter) }
            if c.contains(.maxLiveBytes) { maxLiveBytes = try c.decodeIfPresent(Int.self, forKey: .maxLiveBytes) }
            deleteAfter = try c.decodeIfPresent(ConfigurationDuration.self, forKey: .deleteAfter)
            checkInterval = try c.decodeIfPresent(ConfigurationDuration.self, forKey: .checkInterval) ?? checkInterval
            maxSegmentBytes = try c.decodeIfPresent(Int.self, forKey: .maxSegmentBytes) ?? maxSegmentBytes
        }

        /// Every key, a rule that is off as an explicit `null`.
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(archiveDirectory, forKey: .archiveDirectory)
            try c.encode(archiveAfter, forKey: .archiveAfter)
            try c.encode(maxLiveBytes, forKey: .maxLiveBytes)
            try c.encode(deleteAfter, forKey: .deleteAfter)
            try c.encode(checkInterval, forKey: .checkInterval)
            try c.encode(maxSegmentBytes, forKey: .maxSegmentBytes)
        }
    }

    /// The TLS policy: the lowest protocol version and the cipher suites accepted, in OpenSSL's
    /// syntax. The defaults are Mozilla's "intermediate" configuration without DHE: TLS 1.2
    /// with ECDHE key exchange and AES-GCM or ChaCha20-Poly1305 only (no static RSA, no CBC, no
    /// SHA-1 MACs), and TLS 1.3. `min_version: "1.3"` accepts TLS 1.3 only. TLS 1.1 and older
    /// are never accepted. Applied at startup and on every reload; changing it needs a restart.
    public struct TLS: Codable, Sendable, Equatable {
        /// `"1.2"` (the default) or `"1.3"`.
        public var minimumVersion: String = TLSPolicy.intermediate.minimumVersion.rawValue
        /// TLS 1.2 cipher list (`SSL_CTX_set_cipher_list` syntax). Default: the six ECDHE
        /// AES-GCM and ChaCha20-Poly1305 suites of Mozilla intermediate.
        public var ciphers: String = TLSPolicy.intermediateCiphers
        /// TLS 1.3 suites, colon-separated (`SSL_CTX_set_ciphersuites`). Default:
        /// `TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256`; empty
        /// turns TLS 1.3 off (not allowed with `min_version` 1.3).
        public var ciphersuites: String = TLSPolicy.intermediateCiphersuites

        /// Mozilla intermediate: the defaults above.
        public init() {}

        enum CodingKeys: String, CodingKey {
            case ciphers, ciphersuites, minimumVersion = "min_version"
        }

        /// Absent keys keep their defaults.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            minimumVersion = try c.decodeIfPresent(String.self, forKey: .minimumVersion) ?? minimumVersion
            ciphers = try c.decodeIfPresent(String.self, forKey: .ciphers) ?? ciphers
            ciphersuites = try c.decodeIfPresent(String.self, forKey: .ciphersuites) ?? ciphersuites
        }

        /// The typed policy, checked against the system's OpenSSL.
        ///
        /// - Throws: ``ConfigurationError`` naming the `tls.` setting and its value.
        func policy() throws(ConfigurationError) -> TLSPolicy {
            do {
                let policy = try TLSPolicy(minimumVersion: minimumVersion, ciphers: ciphers, ciphersuites: ciphersuites)
                try policy.validate()
                return policy
            } catch {
                throw ConfigurationError(error.message)
            }
        }
    }

    public init(bundle: String, certificate: String, privateKey: String) {
        self.bundle = bundle
        self.certificate = certificate
        self.privateKey = privateKey
    }

    /// Encodes every key; a disabled admin listener is an explicit `null` (an absent key
    /// would mean the default), and so is the absence of a challenger.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(bundle, forKey: .bundle)
        try c.encode(listen, forKey: .listen)
        try c.encode(certificate, forKey: .certificate)
        try c.encode(privateKey, forKey: .privateKey)
        try c.encodeIfPresent(clientCA, forKey: .clientCA)
        try c.encode(admin, forKey: .admin)
        try c.encode(auditDirectory, forKey: .auditDirectory)
        try c.encode(auditFsync, forKey: .auditFsync)
        try c.encode(auditGroupCommitMilliseconds, forKey: .auditGroupCommitMilliseconds)
        try c.encode(workers, forKey: .workers)
        try c.encode(reasonCodes, forKey: .reasonCodes)
        try c.encode(limits, forKey: .limits)
        try c.encode(timeouts, forKey: .timeouts)
        try c.encode(memory, forKey: .memory)
        try c.encode(audit, forKey: .audit)
        try c.encode(tls, forKey: .tls)
        try c.encode(adminLimits, forKey: .adminLimits)
        try c.encode(quotas, forKey: .quotas)
        try c.encode(drift, forKey: .drift)
        try c.encode(logFormat, forKey: .logFormat)
        try c.encode(challenger, forKey: .challenger)  // null: no challenger
        try c.encode(console, forKey: .console)
        try c.encode(consoleScoreAudited, forKey: .consoleScoreAudited)
        try c.encode(adminAuth, forKey: .adminAuth)  // null: no secret
    }

    /// Decodes a configuration file. Every key may be left out: absent ones keep their
    /// defaults, and `bundle`, `certificate` and `private_key` (empty until given) may come from
    /// flags instead; ``validate()`` requires them in the end.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(bundle: try c.decodeIfPresent(String.self, forKey: .bundle) ?? "",
                  certificate: try c.decodeIfPresent(String.self, forKey: .certificate) ?? "",
                  privateKey: try c.decodeIfPresent(String.self, forKey: .privateKey) ?? "")
        listen = try c.decodeIfPresent(String.self, forKey: .listen) ?? listen
        clientCA = try c.decodeIfPresent(String.self, forKey: .clientCA)
        if c.contains(.admin) { admin = try c.decodeIfPresent(String.self, forKey: .admin) }  // null disables
        auditDirectory = try c.decodeIfPresent(String.self, forKey: .auditDirectory) ?? auditDirectory
        auditFsync = try c.decodeIfPresent(AuditFsync.self, forKey: .auditFsync) ?? auditFsync
        auditGroupCommitMilliseconds = try c.decodeIfPresent(Int.self, forKey: .auditGroupCommitMilliseconds) ?? auditGroupCommitMilliseconds
        workers = try c.decodeIfPresent(Int.self, forKey: .workers) ?? workers
        reasonCodes = try c.decodeIfPresent(ReasonCodes.self, forKey: .reasonCodes) ?? reasonCodes
        limits = try c.decodeIfPresent(Limits.self, forKey: .limits) ?? limits
        timeouts = try c.decodeIfPresent(Timeouts.self, forKey: .timeouts) ?? timeouts
        memory = try c.decodeIfPresent(Memory.self, forKey: .memory) ?? memory
        audit = try c.decodeIfPresent(AuditSettings.self, forKey: .audit) ?? audit
        tls = try c.decodeIfPresent(TLS.self, forKey: .tls) ?? tls
        adminLimits = try c.decodeIfPresent(AdminLimits.self, forKey: .adminLimits) ?? adminLimits
        quotas = try c.decodeIfPresent(Quotas.self, forKey: .quotas) ?? quotas
        drift = try c.decodeIfPresent(Drift.self, forKey: .drift) ?? drift
        logFormat = try c.decodeIfPresent(LogFormat.self, forKey: .logFormat) ?? logFormat
        challenger = try c.decodeIfPresent(Challenger.self, forKey: .challenger)
        console = try c.decodeIfPresent(Bool.self, forKey: .console) ?? console
        consoleScoreAudited = try c.decodeIfPresent(Bool.self, forKey: .consoleScoreAudited) ?? consoleScoreAudited
        adminAuth = try c.decodeIfPresent(AdminAuth.self, forKey: .adminAuth)
    }

    /// Reads a configuration file; absent keys keep their defaults, and a key that names no
    /// setting is refused (``unknownKey(in:decodedAs:)``).
    ///
    /// The text is checked as strict JSON first (``StrictJSON``: a duplicate key or a trailing
    /// comma is refused with its line and column, not silently resolved).
    ///
    /// - Throws: ``ConfigurationError`` naming the file and the key that is wrong.
    public static func load(from url: URL) throws -> ServerConfiguration {
        guard let data = try? Data(contentsOf: url) else {
            throw ConfigurationError("\(url.path): cannot read the configuration file")
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            let offset = StrictJSON.firstInvalidUTF8(in: data) ?? 0
            throw ConfigurationError("\(url.path): not UTF-8 at byte offset \(offset); write the file as UTF-8")
        }
        do {
            try StrictJSON.validate(text)
        } catch {
            throw ConfigurationError("\(url.path): \(error)")
        }
        let configuration: ServerConfiguration
        do {
            configuration = try JSONDecoder().decode(ServerConfiguration.self, from: data)
        } catch let error as ConfigurationError {
            throw ConfigurationError("\(url.path): \(error.message)")
        } catch let error as DecodingError {
            throw ConfigurationError("\(url.path): \(ConfigurationError.describe(error))")
        }
        if let unknown = unknownKey(in: data, decodedAs: configuration) {
            let level = unknown.path.contains(".") ? "there" : "at the top level"
            throw ConfigurationError("\(url.path): unknown key '\(unknown.path)': no setting has that name, and loanscored would ignore it; "
                + "correct or remove it (the keys \(level): \(unknown.known.joined(separator: ", ")); Systemd/loanscored.json shows them all)")
        }
        return configuration
    }

    /// Checks values that a file or flag could get wrong.
    ///
    /// - Throws: ``ConfigurationError`` naming the setting.
    public func validate() throws {
        _ = try HostPort(listen, setting: "listen")
        if let admin { _ = try HostPort(admin, setting: "admin") }
        try validateConsole()
        let positive = [("max_frame_bytes", limits.maximumFramePayload), ("max_uncompressed_bytes", limits.maximumUncompressedPayload),
                        ("max_batch", limits.maximumBatch), ("max_connections", limits.maximumConnections),
                        ("max_in_flight_per_connection", limits.maximumInFlightPerConnection), ("max_in_flight", limits.maximumInFlight),
                        ("max_connections_per_address", limits.maximumConnectionsPerAddress)]
        for (name, value) in positive where value <= 0 {
            throw ConfigurationError("limits.\(name) must be positive, got \(value)")
        }
        guard limits.maximumQueuedApplications >= limits.maximumBatch else {
            throw ConfigurationError("limits.max_queued_applications must be at least max_batch (\(limits.maximumBatch)), got \(limits.maximumQueuedApplications)")
        }
        guard limits.maximumQueueDelayMilliseconds >= 0 else {
            throw ConfigurationError("limits.max_queue_delay_ms must be 0 (off) or a positive number of milliseconds, got \(limits.maximumQueueDelayMilliseconds)")
        }
        guard limits.maximumFramePayload <= Int(UInt32.max), limits.maximumUncompressedPayload <= Int(UInt32.max) else {
            throw ConfigurationError("frame limits must fit in 32 bits")
        }
        let required = [("bundle", "--bundle", bundle), ("certificate", "--cert", certificate), ("private_key", "--key", privateKey)]
        for (key, flag, value) in required where value.isEmpty {
            throw ConfigurationError("\(key) is required: give \(flag) or '\(key)' in the configuration file")
        }
        guard (1...10_000_000).contains(drift.window) else {
            throw ConfigurationError("drift.window must be 1 to 10000000 applications, got \(drift.window)")
        }
        if let seconds = drift.windowSeconds, !(seconds > 0 && seconds.isFinite) {
            throw ConfigurationError("drift.window_seconds must be a positive number of seconds (or null for no age bound), got \(seconds)")
        }
        guard memory.trimInterval >= 0, memory.trimInterval.isFinite else {
            throw ConfigurationError("memory.trim_interval must be 0 (off) or a positive number of seconds, got \(memory.trimInterval)")
        }
        guard memory.trimThreshold >= 0, memory.trimThreshold.isFinite else {
            throw ConfigurationError("memory.trim_threshold_mb must not be negative, got \(memory.trimThreshold)")
        }
        let quotaSettings = [("quotas", quotas.applicationsPerSecond, quotas.burstApplications)]
            + quotas.clients.sorted { $0.key < $1.key }.map { ("quotas.clients[\"\($0.key)\"]", $0.value.applicationsPerSecond, $0.value.burstApplications) }
        for (name, rate, burst) in quotaSettings where !(rate >= 0 && rate.isFinite && burst >= 0 && burst.isFinite) {
            throw ConfigurationError("\(name): applications_per_second and burst_applications must be 0 or positive numbers, got \(rate) and \(burst)")
        }
        try adminLimits.validate()
        if let maxLiveBytes = audit.maxLiveBytes, maxLiveBytes <= 0 {
            throw ConfigurationError("audit.max_live_bytes must be positive (or null for no size bound), got \(maxLiveBytes)")
        }
        guard audit.maxSegmentBytes >= 4096 else {
            throw ConfigurationError("audit.max_segment_bytes must be at least 4096, got \(audit.maxSegmentBytes)")
        }
        guard audit.checkInterval.seconds > 0 else {
            throw ConfigurationError("audit.check_interval must be positive, got \(audit.checkInterval)")
        }
        guard workers >= 0 else { throw ConfigurationError("workers must be 0 (one per core) or more") }
        try challenger?.validate()
        _ = try tls.policy()
    }
}

extension HostPort {
    /// Parses the configuration setting `setting` (listeners may use port 0).
    ///
    /// - Throws: ``ConfigurationError`` naming the setting.
    init(_ text: String, setting: String) throws(ConfigurationError) {
        do {
            self = try HostPort(parsing: text, allowPortZero: true)
        } catch {
            throw ConfigurationError("\(setting) must be HOST:PORT: \(error.message)")
        }
    }
}

/// A configuration that cannot be used.
public struct ConfigurationError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    /// A decoding failure in plain words, naming the key by its dotted path
    /// (`limits.max_batch: expected a number`), without Foundation's debug text.
    static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        func name(_ type: Any.Type) -> String {
            switch type {
            case is Int.Type, is Double.Type: return "a number"
            case is String.Type: return "a string"
            case is Bool.Type: return "true or false"
            default: return "an object"
            }
        }
        switch error {
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)): expected \(name(type))"
        case .valueNotFound(let type, let context):
            return "\(path(context.codingPath)): expected \(name(type)), found null"
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])) is required"
        case .dataCorrupted(let context):
            // The text passed StrictJSON, so a failure without a place is a number that fits no
            // setting: Foundation reports a fraction or an overflow where a whole number is
            // expected as "not valid JSON" at the top level, without its key.
            return context.codingPath.isEmpty
                ? "a number is not a whole number where one is expected (counts, sizes, milliseconds: e.g. \"window\": 1.5), or is too large"
                : "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}

/// A setting whose value is one of a few words; decoding anything else is refused naming the
/// key and the words accepted.
public protocol ConfigurationChoice: RawRepresentable, CaseIterable, Codable, Sendable where RawValue == String {}

extension ConfigurationChoice {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = Self(rawValue: text) else {
            let key = decoder.codingPath.map(\.stringValue).joined(separator: ".")
            let words = Self.allCases.map(\.rawValue)
            let choices = words.dropLast().joined(separator: ", ") + (words.count > 1 ? " or " : "") + (words.last ?? "")
            throw ConfigurationError("\(key) must be \(choices), got '\(text)'")
        }
        self = value
    }
}

/// When audit records reach stable storage (`audit_fsync`).
public enum AuditFsync: String, ConfigurationChoice {
    /// Group commit (the default): the records arriving during one fdatasync share the next.
    case group
    /// One fdatasync per request, on the worker thread.
    case always
    /// No fsync at all: records survive a crash of the process, not of the machine (tests only).
    case never
}

/// Whether responses and audit records carry reason codes (`reason_codes`).
public enum ReasonCodes: String, ConfigurationChoice {
    /// Up to four reason codes per scored application (the default).
    case all
    /// PD, risk level, decision and confidence only: about half the CPU per batch.
    case none
}
