internal import CKafka

/// A consumer-group rebalance, as the consumer's rebalance handler sees it.
public enum RebalanceEvent: Sendable {
    /// These partitions are now this consumer's (consumption starts at their committed offsets).
    case assigned([TopicPartition])
    /// These partitions are about to be given up: commit what is done now, before returning.
    case revoked([TopicPartition])
    /// The rebalance failed; the assignment is cleared.
    case failed(KafkaError)
}

/// A message as consumed: copied out of librdkafka, so it outlives the poll that returned it.
public struct KafkaMessage: Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]?
    public var value: [UInt8]
}

/// What one poll of the consumer returned.
public enum ConsumerEvent: Sendable {
    case message(KafkaMessage)
    /// A consumer error that carries no message: end of partition (when enabled), a topic
    /// that does not exist, a failed fetch. Consumption goes on unless the caller stops it.
    case error(KafkaError, TopicPartition?)
}

/// A consumer-group member with manual offset commits (`enable.auto.commit` is forced off),
/// over librdkafka's high-level consumer.
///
/// Threads: ``poll(timeout:)`` must be called from one thread at a time, and the rebalance
/// handler runs inside it, on that thread. ``commit(_:synchronously:)``, ``pause(_:)`` and
/// ``resume(_:)`` are thread-safe in librdkafka but are meant to be called from the polling
/// thread (then nothing races the rebalance handler).
///
/// `@unchecked Sendable`: the handle is librdkafka's, which is thread-safe for the calls above;
/// the class holds no Swift state that changes after init.
public final class KafkaConsumer: @unchecked Sendable {
    private let handle: OpaquePointer
    private let callbacks: KafkaCallbacks
    private var closed = false

    /// A consumer for `configuration` (`bootstrap.servers`, `group.id` and any other
    /// librdkafka property); `enable.auto.commit` and `enable.auto.offset.store` are set off.
    ///
    /// - Parameter rebalance: Called inside ``poll(timeout:)`` on every rebalance; the
    ///   assignment is applied (or cleared) after it returns.
    /// - Throws: ``KafkaError`` naming a property librdkafka refuses.
    public init(configuration: KafkaConfiguration, diagnostics: KafkaDiagnostics, rebalance: @escaping (RebalanceEvent) -> Void) throws(KafkaError) {
        var configuration = configuration
        configuration["enable.auto.commit"] = "false"
        configuration["enable.auto.offset.store"] = "false"
        let conf = try configuration.makeHandle()
        callbacks = KafkaCallbacks(diagnostics: diagnostics)
        callbacks.rebalance = rebalance
        callbacks.install(on: conf)
        rd_kafka_conf_set_rebalance_cb(conf) { client, error, partitions, opaque in
            guard let client else { preconditionFailure("librdkafka rebalance callback without its client") }
            let box = KafkaCallbacks.from(opaque)
            // `partitions` is librdkafka's, valid during this call: copied before the handler runs.
            let list = TopicPartition.array(from: partitions)
            let cooperative = String(cString: rd_kafka_rebalance_protocol(client)) == "COOPERATIVE"
            switch error {
            case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
                box.rebalance?(.assigned(list))
                if cooperative { if let failure = rd_kafka_incremental_assign(client, partitions) { rd_kafka_error_destroy(failure) } } else { _ = rd_kafka_assign(client, partitions) }
            case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
                box.rebalance?(.revoked(list))
                if cooperative { if let failure = rd_kafka_incremental_unassign(client, partitions) { rd_kafka_error_destroy(failure) } } else { _ = rd_kafka_assign(client, nil) }
            default:
                box.rebalance?(.failed(KafkaError(error, "consumer-group rebalance")))
                _ = rd_kafka_assign(client, nil)
            }
        }
        handle = try makeClient(RD_KAFKA_CONSUMER, configuration: conf)
        // Client-wide events (errors) are served by the consumer's poll, not a separate rd_kafka_poll.
        _ = rd_kafka_poll_set_consumer(handle)
    }

    deinit {
        if !closed { _ = rd_kafka_consumer_close(handle) }
        rd_kafka_destroy(handle)
    }

    /// Subscribes to `topics` (the group assigns partitions on a following poll).
    public func subscribe(_ topics: [String]) throws(KafkaError) {
        let list = TopicPartition.makeList(topics.map { TopicPartition(topic: $0, partition: -1) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let result = rd_kafka_subscribe(handle, list)
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(result, "subscribe to \(topics)") }
    }

    /// Waits up to `timeout` milliseconds for a message or a consumer error; serves rebalances
    /// and client-wide errors meanwhile. `nil`: nothing arrived.
    public func poll(timeout milliseconds: Int32) -> ConsumerEvent? {
        guard let message = rd_kafka_consumer_poll(handle, milliseconds) else { return nil }
        // The message is ours until rd_kafka_message_destroy; its key, payload and topic are
        // copied out first.
        defer { rd_kafka_message_destroy(message) }
        let topic = message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        if message.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            // For an error event the payload, when present, is the error text.
            let text = message.pointee.payload.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: message.pointee.len), as: UTF8.self) }
            let where_ = topic.isEmpty ? nil : TopicPartition(topic: topic, partition: message.pointee.partition, offset: message.pointee.offset)
            return .error(KafkaError(message.pointee.err, text), where_)
        }
        let value = message.pointee.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: message.pointee.len)) } ?? []
        let key = message.pointee.key.map { Array(UnsafeRawBufferPointer(start: $0, count: message.pointee.key_len)) }
        return .message(KafkaMessage(topic: topic, partition: message.pointee.partition, offset: message.pointee.offset, key: key, value: value))
    }

    /// Commits `offsets` (each the next offset to consume of its partition).
    ///
    /// - Parameter synchronously: Wait for the group coordinator's answer (rebalances, shutdown);
    ///   otherwise the commit is sent and its result logged by librdkafka.
    public func commit(_ offsets: [TopicPartition], synchronously: Bool) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let list = TopicPartition.makeList(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let result = rd_kafka_commit(handle, list, synchronously ? 0 : 1)
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(result, "commit \(offsets)") }
        if synchronously, let failed = TopicPartition.firstError(in: list) { throw failed }
    }

    /// Stops fetching from `partitions` (poll keeps serving rebalances and errors).
    public func pause(_ partitions: [TopicPartition]) {
        guard !partitions.isEmpty else { return }
        let list = TopicPartition.makeList(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        _ = rd_kafka_pause_partitions(handle, list)
    }

    /// Fetches from `partitions` again, from where consumption stopped.
    public func resume(_ partitions: [TopicPartition]) {
        guard !partitions.isEmpty else { return }
        let list = TopicPartition.makeList(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        _ = rd_kafka_resume_partitions(handle, list)
    }

    /// The partition's low and high watermarks as last fetched (no request is sent); nil when
    /// unknown yet.
    public func cachedWatermarks(_ partition: TopicPartition) -> (low: Int64, high: Int64)? {
        var low: Int64 = -1, high: Int64 = -1
        let result = rd_kafka_get_watermark_offsets(handle, partition.topic, partition.partition, &low, &high)
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 else { return nil }
        return (low, high)
    }

    /// The committed offsets of `partitions` (asks the group coordinator).
    public func committed(_ partitions: [TopicPartition], timeout milliseconds: Int32) throws(KafkaError) -> [TopicPartition] {
        let list = TopicPartition.makeList(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let result = rd_kafka_committed(handle, list, milliseconds)
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(result, "committed offsets") }
        return TopicPartition.array(from: list)
    }

    /// The topics the brokers know and their partition counts (asks a broker).
    ///
    /// - Throws: ``KafkaError`` (`_TRANSPORT`, `_TIMED_OUT`, …) when no broker answered in time.
    public func topics(timeout milliseconds: Int32) throws(KafkaError) -> [String: Int] {
        try listTopics(handle, timeout: milliseconds)
    }

    /// Leaves the group: revokes the assignment (the rebalance handler commits) and stops.
    public func close() {
        guard !closed else { return }
        closed = true
        _ = rd_kafka_consumer_close(handle)
    }
}

extension TopicPartition {
    /// The first per-partition error a librdkafka call left in `list`.
    static func firstError(in list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> KafkaError? {
        guard let elements = list.pointee.elems else { return nil }
        // `elems` holds `cnt` initialised elements owned by `list`.
        for index in 0..<Int(list.pointee.cnt) where elements[index].err != RD_KAFKA_RESP_ERR_NO_ERROR {
            return KafkaError(elements[index].err, "\(String(cString: elements[index].topic))[\(elements[index].partition)]")
        }
        return nil
    }
}

/// The topics the brokers know, by name, with their partition counts.
func listTopics(_ handle: OpaquePointer, timeout milliseconds: Int32) throws(KafkaError) -> [String: Int] {
    var metadata: UnsafePointer<rd_kafka_metadata>?
    let result = rd_kafka_metadata(handle, 1, nil, &metadata, milliseconds)
    guard result == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else { throw KafkaError(result, "cannot read the brokers' metadata") }
    // The metadata is ours until rd_kafka_metadata_destroy; names are copied out first.
    defer { rd_kafka_metadata_destroy(metadata) }
    var topics: [String: Int] = [:]
    for index in 0..<Int(metadata.pointee.topic_cnt) {
        let topic = metadata.pointee.topics[index]
        guard topic.err == RD_KAFKA_RESP_ERR_NO_ERROR else { continue }
        topics[String(cString: topic.topic)] = Int(topic.partition_cnt)
    }
    return topics
}
