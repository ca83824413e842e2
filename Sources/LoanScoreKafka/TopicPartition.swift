internal import CKafka

/// A topic's partition, and an offset where one is meant (the next offset to consume, when
/// committed; Kafka's convention).
public struct TopicPartition: Sendable, Hashable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32
    public var offset: Int64

    public init(topic: String, partition: Int32, offset: Int64 = -1001) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }

    public var description: String { "\(topic)[\(partition)]" + (offset >= 0 ? "@\(offset)" : "") }
}

extension TopicPartition {
    /// The elements of a librdkafka partition list, copied out (the list stays the caller's).
    static func array(from list: UnsafePointer<rd_kafka_topic_partition_list_t>?) -> [TopicPartition] {
        guard let list, let elements = list.pointee.elems else { return [] }
        // `elems` points at `cnt` initialised elements owned by the list; each `topic` is a
        // NUL-terminated string owned by the list. Both are only read here, while the caller
        // holds the list.
        return (0..<Int(list.pointee.cnt)).map { index in
            let element = elements[index]
            return TopicPartition(topic: String(cString: element.topic), partition: element.partition, offset: element.offset)
        }
    }

    /// A new librdkafka partition list holding `partitions` (and their offsets); the caller
    /// destroys it with `rd_kafka_topic_partition_list_destroy`.
    static func makeList(_ partitions: [TopicPartition]) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
        let list = rd_kafka_topic_partition_list_new(Int32(max(partitions.count, 1)))!
        for partition in partitions {
            // _add copies the topic name and returns the element it appended, owned by the list.
            let element = rd_kafka_topic_partition_list_add(list, partition.topic, partition.partition)!
            element.pointee.offset = partition.offset
        }
        return list
    }
}
