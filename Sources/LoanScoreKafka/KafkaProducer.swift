internal import CKafka

/// The broker's answer about one produced message, in ``KafkaProducer/poll(timeout:)``.
public struct DeliveryReport: Sendable {
    /// The token given to ``KafkaProducer/produce(topic:key:value:token:)``.
    public var token: Int
    /// nil: the broker acknowledged the message (under `acks=all`, every in-sync replica has it).
    public var error: KafkaError?
    public var partition: Int32
    public var offset: Int64
}

/// A producer with per-message delivery reports (librdkafka's `dr_msg_cb`).
///
/// Threads: ``poll(timeout:)`` runs the delivery handler on the calling thread; call it from
/// one thread. ``produce(topic:key:value:token:)`` copies key and value.
///
/// `@unchecked Sendable`: the handle is librdkafka's (thread-safe); the topic handles are
/// created on the polling thread and only read afterwards.
public final class KafkaProducer: @unchecked Sendable {
    private let handle: OpaquePointer
    private let callbacks: KafkaCallbacks
    /// `rd_kafka_topic_t` handles by name, destroyed before the client.
    private var topicHandles: [String: OpaquePointer] = [:]

    /// A producer for `configuration`; `delivery` is called inside ``poll(timeout:)`` once per
    /// produced message, with the message's token.
    public init(configuration: KafkaConfiguration, diagnostics: KafkaDiagnostics, delivery: @escaping (DeliveryReport) -> Void) throws(KafkaError) {
        let conf = try configuration.makeHandle()
        callbacks = KafkaCallbacks(diagnostics: diagnostics)
        callbacks.delivery = delivery
        callbacks.install(on: conf)
        rd_kafka_conf_set_dr_msg_cb(conf) { _, message, opaque in
            guard let message else { return }
            // `message` is librdkafka's, valid during this call; `_private` is the token
            // given to rd_kafka_produce (an integer in a pointer's bits, never dereferenced).
            let token = Int(bitPattern: message.pointee._private)
            let error = message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError(message.pointee.err, "delivery")
            KafkaCallbacks.from(opaque).delivery?(
                DeliveryReport(token: token, error: error, partition: message.pointee.partition, offset: message.pointee.offset))
        }
        handle = try makeClient(RD_KAFKA_PRODUCER, configuration: conf)
    }

    deinit {
        for topic in topicHandles.values { rd_kafka_topic_destroy(topic) }
        rd_kafka_destroy(handle)
    }

    /// Queues a message for `topic`, partitioned by `key` (librdkafka's `partitioner`).
    ///
    /// - Throws: ``KafkaError``: `MSG_SIZE_TOO_LARGE` (over `message.max.bytes`),
    ///   `_QUEUE_FULL` (over `queue.buffering.max.messages`; poll and try again),
    ///   `_UNKNOWN_TOPIC`. The delivery report of a queued message comes from ``poll(timeout:)``.
    public func produce(topic: String, key: [UInt8], value: [UInt8], token: Int) throws(KafkaError) {
        let topicHandle: OpaquePointer
        if let existing = topicHandles[topic] {
            topicHandle = existing
        } else {
            guard let created = rd_kafka_topic_new(handle, topic, nil) else {
                throw KafkaError(rd_kafka_last_error(), "topic '\(topic)'")
            }
            topicHandles[topic] = created
            topicHandle = created
        }
        // RD_KAFKA_MSG_F_COPY: librdkafka copies payload and key before returning, so the
        // array buffers need live only for the call. The token travels as the message's opaque
        // (an integer in a pointer's bits, never dereferenced).
        let result = value.withUnsafeBytes { payload in
            key.withUnsafeBytes { keyBytes in
                rd_kafka_produce(
                    topicHandle, -1 /* RD_KAFKA_PARTITION_UA: the partitioner chooses */, RD_KAFKA_MSG_F_COPY,
                    UnsafeMutableRawPointer(mutating: payload.baseAddress), payload.count,
                    keyBytes.baseAddress, keyBytes.count, UnsafeMutableRawPointer(bitPattern: token))
            }
        }
        guard result == 0 else { throw KafkaError(rd_kafka_last_error(), "produce to '\(topic)'") }
    }

    /// Serves delivery reports (and client-wide errors) for up to `timeout` milliseconds.
    @discardableResult
    public func poll(timeout milliseconds: Int32) -> Int {
        Int(rd_kafka_poll(handle, milliseconds))
    }

    /// Messages produced and not yet reported.
    public var outstanding: Int { Int(rd_kafka_outq_len(handle)) }

    /// Waits up to `timeout` milliseconds for every queued message's delivery report.
    public func flush(timeout milliseconds: Int32) -> Bool {
        rd_kafka_flush(handle, milliseconds) == RD_KAFKA_RESP_ERR_NO_ERROR
    }

    /// The topics the brokers know, with their partition counts.
    public func topics(timeout milliseconds: Int32) throws(KafkaError) -> [String: Int] {
        try listTopics(handle, timeout: milliseconds)
    }
}
