extension ServerConfiguration {
    /// Limits and deadlines of the admin HTTP listener (`admin_limits` in the configuration
    /// file). They are kept apart from ``Limits-swift.struct`` and ``Timeouts-swift.struct``,
    /// which describe the scoring port (and are partly announced to clients in WELCOME): the
    /// admin port serves a few small requests from a management network and is held to much
    /// tighter bounds, so that a local process cannot exhaust the descriptors the scoring
    /// listener needs.
    ///
    /// Every error answer on the admin port carries `Connection: close`, and the connection is
    /// closed once it is written.
    public struct AdminLimits: Codable, Sendable, Equatable {
        /// Most simultaneous admin connections; further ones are closed as soon as they are
        /// accepted (`loanscore_admin_connections_refused_total`).
        public var maximumConnections: Int = 64
        /// Largest request head: the request line and every header name and value together,
        /// in bytes. A larger head is answered 431 and the connection closed.
        public var maximumHeaderBytes: Int = 16 * 1024
        /// Largest request body, in bytes (no admin endpoint takes one). A larger body, or a
        /// larger `Content-Length`, is answered 413 and the connection closed.
        public var maximumBodyBytes: Int = 64 * 1024
        /// Seconds a connection may wait for its next request, with nothing arriving, before
        /// it is closed (without an answer).
        public var idleTimeout: Double = 30
        /// Seconds within which a request head must be complete once its first byte has
        /// arrived; else 408 and close.
        public var headerTimeout: Double = 5
        /// Seconds within which a request body (as announced by its head) must be complete
        /// once the head has arrived; else 408 and close.
        public var bodyTimeout: Double = 5

        public init() {}

        enum CodingKeys: String, CodingKey {
            case maximumConnections = "max_connections", maximumHeaderBytes = "max_header_bytes"
            case maximumBodyBytes = "max_body_bytes", idleTimeout = "idle_timeout"
            case headerTimeout = "header_timeout", bodyTimeout = "body_timeout"
        }

        /// Absent keys keep their defaults.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            maximumConnections = try c.decodeIfPresent(Int.self, forKey: .maximumConnections) ?? maximumConnections
            maximumHeaderBytes = try c.decodeIfPresent(Int.self, forKey: .maximumHeaderBytes) ?? maximumHeaderBytes
            maximumBodyBytes = try c.decodeIfPresent(Int.self, forKey: .maximumBodyBytes) ?? maximumBodyBytes
            idleTimeout = try c.decodeIfPresent(ConfigurationDuration.self, forKey: .idleTimeout)?.seconds ?? idleTimeout
            headerTimeout = try c.decodeIfPresent(ConfigurationDuration.self, forKey: .headerTimeout)?.seconds ?? headerTimeout
            bodyTimeout = try c.decodeIfPresent(ConfigurationDuration.self, forKey: .bodyTimeout)?.seconds ?? bodyTimeout
        }

        /// Checks every limit is positive and every deadline a positive, finite number of seconds.
        ///
        /// - Throws: ``ConfigurationError`` naming the key.
        func validate() throws {
            for (name, value) in [("max_connections", maximumConnections), ("max_header_bytes", maximumHeaderBytes),
                                  ("max_body_bytes", maximumBodyBytes)] where value <= 0 {
                throw ConfigurationError("admin_limits.\(name) must be positive, got \(value)")
            }
            for (name, value) in [("idle_timeout", idleTimeout), ("header_timeout", headerTimeout), ("body_timeout", bodyTimeout)]
            where !(value > 0 && value.isFinite) {
                throw ConfigurationError("admin_limits.\(name) must be a positive number of seconds, got \(value)")
            }
        }
    }
}
