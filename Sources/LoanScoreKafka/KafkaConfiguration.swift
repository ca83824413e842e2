internal import CKafka

/// librdkafka configuration properties (`bootstrap.servers`, `group.id`, …; librdkafka's
/// CONFIGURATION.md names them), checked by librdkafka when a client is made.
public struct KafkaConfiguration: Sendable, Hashable {
    /// Properties by name, as strings (librdkafka parses them).
    public var properties: [String: String]

    public init(_ properties: [String: String] = [:]) {
        self.properties = properties
    }

    public subscript(key: String) -> String? {
        get { properties[key] }
        set { properties[key] = newValue }
    }

    /// A new `rd_kafka_conf_t` with every property set, in name order (so a message about a bad
    /// one is the same on every run). The caller owns it: it passes it to `rd_kafka_new` (which
    /// takes it on success) or destroys it.
    ///
    /// - Throws: ``KafkaError`` naming the property librdkafka refused and why.
    func makeHandle() throws(KafkaError) -> OpaquePointer {
        let handle = rd_kafka_conf_new()!
        for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
            var reason = [CChar](repeating: 0, count: 512)
            // rd_kafka_conf_set copies key and value; `reason` receives a NUL-terminated message.
            let result = reason.withUnsafeMutableBufferPointer { buffer in
                rd_kafka_conf_set(handle, key, value, buffer.baseAddress, buffer.count)
            }
            guard result == RD_KAFKA_CONF_OK else {
                rd_kafka_conf_destroy(handle)
                let text = reason.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                throw KafkaError.invalidArgument("Kafka property '\(key)' = '\(value)': \(text)")
            }
        }
        return handle
    }
}

/// Makes a client (`rd_kafka_t`) of `type` from `configuration`, whose handle it takes.
func makeClient(_ type: rd_kafka_type_t, configuration handle: OpaquePointer) throws(KafkaError) -> OpaquePointer {
    var reason = [CChar](repeating: 0, count: 512)
    // rd_kafka_new takes ownership of the configuration only when it succeeds.
    let client = reason.withUnsafeMutableBufferPointer { buffer in
        rd_kafka_new(type, handle, buffer.baseAddress, buffer.count)
    }
    guard let client else {
        rd_kafka_conf_destroy(handle)
        let text = reason.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        throw KafkaError.invalidArgument("cannot create the Kafka client: \(text)")
    }
    return client
}

/// How librdkafka's own log lines and client-wide errors reach the caller. The log handler is
/// called from librdkafka's threads; the error handler from the thread that polls.
public struct KafkaDiagnostics: Sendable {
    /// A librdkafka log line: syslog level (0 emergency … 7 debug), facility, text.
    public var log: @Sendable (Int32, String, String) -> Void
    /// A client-wide error (`_TRANSPORT` when a broker cannot be reached, `_ALL_BROKERS_DOWN`, …).
    public var error: @Sendable (KafkaError) -> Void

    public init(log: @escaping @Sendable (Int32, String, String) -> Void, error: @escaping @Sendable (KafkaError) -> Void) {
        self.log = log
        self.error = error
    }
}

/// What a client's C callbacks reach through librdkafka's opaque pointer: a box of its own,
/// not the client object, so that callbacks during `rd_kafka_destroy` (in the client's
/// deinit) still find a live object.
///
/// `@unchecked Sendable`: ``diagnostics`` is immutable; the handlers are set once, before the
/// client polls, and then only read, on the polling thread.
final class KafkaCallbacks: @unchecked Sendable {
    let diagnostics: KafkaDiagnostics
    /// Consumer: called from inside `poll` on a group rebalance.
    var rebalance: ((RebalanceEvent) -> Void)?
    /// Producer: called from inside `poll` once per produced message.
    var delivery: ((DeliveryReport) -> Void)?

    init(diagnostics: KafkaDiagnostics) {
        self.diagnostics = diagnostics
    }

    /// The box a callback's opaque pointer points at.
    static func from(_ opaque: UnsafeMutableRawPointer?) -> KafkaCallbacks {
        guard let opaque else { preconditionFailure("librdkafka callback without its opaque") }
        // The opaque is the box installed by install(on:); the client that calls back holds it.
        return Unmanaged<KafkaCallbacks>.fromOpaque(opaque).takeUnretainedValue()
    }

    /// Installs the log and error callbacks on `conf` and this box as its opaque. The client
    /// made from `conf` must not outlive this box (the client object holds both and destroys
    /// the handle first).
    func install(on conf: OpaquePointer) {
        // Unretained: the owning client object keeps the box alive longer than the handle.
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(self).toOpaque())
        rd_kafka_conf_set_error_cb(conf) { _, error, reason, opaque in
            // `reason` is valid during the call only: copied into the error.
            let text = reason.map { String(cString: $0) } ?? ""
            KafkaCallbacks.from(opaque).diagnostics.error(
                KafkaError(code: error, name: String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(rawValue: error))), message: text))
        }
        rd_kafka_conf_set_log_cb(conf) { client, level, facility, text in
            // rd_kafka_opaque reads the opaque set above; `facility` and `text` are valid during the call.
            guard let client, let opaque = rd_kafka_opaque(client) else { return }
            KafkaCallbacks.from(opaque).diagnostics.log(level, facility.map { String(cString: $0) } ?? "", text.map { String(cString: $0) } ?? "")
        }
    }
}
