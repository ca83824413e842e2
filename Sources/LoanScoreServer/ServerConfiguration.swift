public import Foundation

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
    public var auditFsync: String = "group"
    /// Longest deliberate wait before a group commit, in milliseconds; 0 (the default) writes
    /// at once, each batch being what arrived during the previous fsync.
    public var auditGroupCommitMilliseconds: Int = 0
    /// Worker threads; 0 means one per core.
    public var workers: Int = 0
    /// Reason codes in responses and audit records: `all` (the default: up to four per scored
    /// application) or `none` (PD, risk level, decision and confidence only, for uses that
    /// need no adverse-action reasons, such as pre-screening or re-scoring a portfolio; a
    /// batch then scores about twice as fast). Changing it needs a restart.
    public var reasonCodes: String = "all"
    public var limits = Limits()
    public var timeouts = Timeouts()
    /// When the server gives freed memory back to the system.
    public var memory = Memory()
    /// Per-client quotas (applications per second); none by default.
    public var quotas = Quotas()

    enum CodingKeys: String, CodingKey {
        case bundle, listen, certificate, admin, workers, limits, timeouts, memory, quotas
        case privateKey = "private_key", clientCA = "client_ca", auditDirectory = "audit_dir"
        case auditFsync = "audit_fsync", auditGroupCommitMilliseconds = "audit_group_commit_ms"
        case reasonCodes = "reason_codes"
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
            handshake = try c.decodeIfPresent(Double.self, forKey: .handshake) ?? handshake
            idle = try c.decodeIfPresent(Double.self, forKey: .idle) ?? idle
            drain = try c.decodeIfPresent(Double.self, forKey: .drain) ?? drain
            frame = try c.decodeIfPresent(Double.self, forKey: .frame) ?? frame
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

    public init(bundle: String, certificate: String, privateKey: String) {
        self.bundle = bundle
        self.certificate = certificate
        self.privateKey = privateKey
    }

    /// Encodes every key; a disabled admin listener is an explicit `null` (an absent key
    /// would mean the default).
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
        try c.encode(quotas, forKey: .quotas)
    }

    /// Decodes a configuration file: `bundle`, `certificate` and `private_key` are required;
    /// every other key may be left out and keeps its default.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(bundle: try c.decode(String.self, forKey: .bundle), certificate: try c.decode(String.self, forKey: .certificate),
                  privateKey: try c.decode(String.self, forKey: .privateKey))
        listen = try c.decodeIfPresent(String.self, forKey: .listen) ?? listen
        clientCA = try c.decodeIfPresent(String.self, forKey: .clientCA)
        if c.contains(.admin) { admin = try c.decodeIfPresent(String.self, forKey: .admin) }  // null disables
        auditDirectory = try c.decodeIfPresent(String.self, forKey: .auditDirectory) ?? auditDirectory
        auditFsync = try c.decodeIfPresent(String.self, forKey: .auditFsync) ?? auditFsync
        auditGroupCommitMilliseconds = try c.decodeIfPresent(Int.self, forKey: .auditGroupCommitMilliseconds) ?? auditGroupCommitMilliseconds
        workers = try c.decodeIfPresent(Int.self, forKey: .workers) ?? workers
        reasonCodes = try c.decodeIfPresent(String.self, forKey: .reasonCodes) ?? reasonCodes
        limits = try c.decodeIfPresent(Limits.self, forKey: .limits) ?? limits
        timeouts = try c.decodeIfPresent(Timeouts.self, forKey: .timeouts) ?? timeouts
        memory = try c.decodeIfPresent(Memory.self, forKey: .memory) ?? memory
        quotas = try c.decodeIfPresent(Quotas.self, forKey: .quotas) ?? quotas
    }

    /// Reads a configuration file; absent keys keep their defaults.
    ///
    /// - Throws: ``ConfigurationError`` naming the file and the key that is wrong.
    public static func load(from url: URL) throws -> ServerConfiguration {
        guard let data = try? Data(contentsOf: url) else {
            throw ConfigurationError("\(url.path): cannot read the configuration file")
        }
        do {
            return try JSONDecoder().decode(ServerConfiguration.self, from: data)
        } catch {
            throw ConfigurationError("\(url.path): \(error)")
        }
    }

    /// Checks values that a file or flag could get wrong.
    ///
    /// - Throws: ``ConfigurationError`` naming the setting.
    public func validate() throws {
        _ = try HostPort(listen, setting: "listen")
        if let admin { _ = try HostPort(admin, setting: "admin") }
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
        guard ["group", "always", "never"].contains(auditFsync) else {
            throw ConfigurationError("audit_fsync must be group, always or never, got '\(auditFsync)'")
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
        guard workers >= 0 else { throw ConfigurationError("workers must be 0 (one per core) or more") }
        guard ["all", "none"].contains(reasonCodes) else {
            throw ConfigurationError("reason_codes must be all or none, got '\(reasonCodes)'")
        }
    }
}

/// A `HOST:PORT` setting.
public struct HostPort: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    /// - Throws: ``ConfigurationError`` when the text is not `HOST:PORT` with a port in 0...65535.
    public init(_ text: String, setting: String) throws {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw ConfigurationError("\(setting) must be HOST:PORT, got '\(text)'")
        }
        host = String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        self.port = port
    }

    public var description: String { "\(host):\(port)" }
}

/// A configuration that cannot be used.
public struct ConfigurationError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
