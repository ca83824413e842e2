internal import CKafka

/// A failure reported by librdkafka (or by this wrapper about its arguments).
///
/// ``code`` is librdkafka's `rd_kafka_resp_err_t` (negative: raised by the client itself, such
/// as `_TRANSPORT` or `_TIMED_OUT`; positive: the broker's Kafka error code), ``name`` its
/// symbolic name (`UNKNOWN_TOPIC_OR_PART`, `_TRANSPORT`, …) and ``message`` what happened.
public struct KafkaError: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: Int32
    public var name: String
    public var message: String

    public init(code: Int32, name: String, message: String) {
        self.code = code
        self.name = name
        self.message = message
    }

    /// The error for a librdkafka error code, with `context` before librdkafka's text.
    init(_ error: rd_kafka_resp_err_t, _ context: String? = nil) {
        code = error.rawValue
        // rd_kafka_err2name / rd_kafka_err2str return static strings owned by librdkafka.
        name = String(cString: rd_kafka_err2name(error))
        let text = String(cString: rd_kafka_err2str(error))
        message = context.map { "\($0): \(text)" } ?? text
    }

    /// A wrapper-level failure (a bad configuration value), under librdkafka's `_INVALID_ARG`.
    static func invalidArgument(_ message: String) -> KafkaError {
        KafkaError(code: RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue, name: "_INVALID_ARG", message: message)
    }

    /// The topic or partition is not known to the brokers.
    public var isUnknownTopic: Bool {
        code == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART.rawValue || code == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC.rawValue
            || code == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION.rawValue
    }

    /// The message (or the request carrying it) is larger than a broker or client limit.
    public var isMessageTooLarge: Bool {
        code == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE.rawValue
    }

    public var description: String { "\(name): \(message)" }
}

/// librdkafka's version as it reports it ("2.0.2").
public var librdkafkaVersion: String { String(cString: rd_kafka_version_str()) }

/// librdkafka's version as a number, 0xMMmmrrxx ("2.0.2" is 0x020002ff).
public var librdkafkaVersionNumber: Int { Int(rd_kafka_version()) }

/// Why this librdkafka may fail against current brokers, or nil. Before 2.1.0, librdkafka
/// skipped one byte too few of each tagged field in an ApiVersions v3 response, so brokers
/// that send feature tags there (tansu 0.6 does; brokers advertising features may) fail the first request with
/// "ApiVersionRequest failed: Local: Read underflow" and are never reached.
public var librdkafkaCaveat: String? {
    librdkafkaVersionNumber < 0x0201_0000
        ? "librdkafka \(librdkafkaVersion) mis-reads tagged fields in ApiVersions responses (fixed in 2.1.0): brokers that send them "
            + "(tansu 0.6; brokers that advertise features) fail with 'ApiVersionRequest failed: Local: Read underflow'; run with librdkafka 2.1 or newer"
        : nil
}
