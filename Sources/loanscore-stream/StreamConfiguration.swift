import Foundation
import LoanScoreFeatures
import LoanScoreProtocol

/// Everything the bridge runs with: the flags of `loanscore-stream --help`, or the same keys
/// in a JSON configuration file (`--config`; flags given on the command line win).
///
/// JSON keys: `brokers` (string "HOST:PORT,..." or an array), `group`, `input_topic`,
/// `output_topic`, `dead_letter_topic`, `server` (string or array), `ca`, `cert`, `key`,
/// `batch`, `linger_ms`, `metrics`, `max_message_bytes`, `broker_wait_seconds`,
/// `drain_seconds`, `max_in_flight_batches`, `kafka` (an object of librdkafka properties for
/// both clients, strings), `log_level`.
struct StreamConfiguration: Sendable {
    var brokers: [String] = []
    var group: String?
    var inputTopic: String?
    var outputTopic: String?
    var deadLetterTopic: String?
    var servers: [HostPort] = []
    var ca: String?
    var cert: String?
    var key: String?
    var batch = 256
    var lingerMilliseconds = 20
    var metrics: HostPort?
    var maximumMessageBytes = 1_048_576
    /// Give up (exit 4) when no broker answered within this many seconds at start; nil: keep trying.
    var brokerWaitSeconds: Double?
    /// How long SIGTERM waits for work in flight before committing what is done and exiting.
    var drainSeconds: Double = 20
    var maximumInFlightBatches = 4
    var kafka: [String: String] = [:]
    var logLevel = "info"

    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    /// Reads the configuration file's keys over the defaults.
    static func load(file path: String) throws(Invalid) -> StreamConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else { throw Invalid(description: "\(path): cannot read the configuration file") }
        let text = String(decoding: data, as: UTF8.self)
        do { try StrictJSON.validate(text) } catch { throw Invalid(description: "\(path): not strict JSON: \(error)") }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw Invalid(description: "\(path): the configuration must be a JSON object")
        }
        var configuration = StreamConfiguration()
        func string(_ key: String) throws(Invalid) -> String? {
            guard let value = object[key] else { return nil }
            guard let text = value as? String else { throw Invalid(description: "\(path): '\(key)' must be a string") }
            return text
        }
        func strings(_ key: String) throws(Invalid) -> [String]? {
            guard let value = object[key] else { return nil }
            if let text = value as? String { return text.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
            guard let list = value as? [String] else { throw Invalid(description: "\(path): '\(key)' must be a string or an array of strings") }
            return list
        }
        func number(_ key: String) throws(Invalid) -> Double? {
            guard let value = object[key] else { return nil }
            guard let number = value as? NSNumber, !(value is Bool) else {
                throw Invalid(description: "\(path): '\(key)' must be a number")
            }
            return number.doubleValue
        }
        func integer(_ key: String) throws(Invalid) -> Int? {
            guard let value = try number(key) else { return nil }
            guard value == value.rounded(), abs(value) < 1e15 else { throw Invalid(description: "\(path): '\(key)' must be a whole number") }
            return Int(value)
        }
        let known: Set<String> = [
            "brokers", "group", "input_topic", "output_topic", "dead_letter_topic", "server", "ca", "cert", "key", "batch", "linger_ms",
            "metrics", "max_message_bytes", "broker_wait_seconds", "drain_seconds", "max_in_flight_batches", "kafka", "log_level",
        ]
        if let unknown = object.keys.filter({ !known.contains($0) }).sorted().first {
            throw Invalid(description: "\(path): unknown key '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))")
        }
        if let value = try strings("brokers") { configuration.brokers = value }
        configuration.group = try string("group")
        configuration.inputTopic = try string("input_topic")
        configuration.outputTopic = try string("output_topic")
        configuration.deadLetterTopic = try string("dead_letter_topic")
        if let value = try strings("server") {
            do { configuration.servers = try value.map { try HostPort(parsing: $0) } } catch { throw Invalid(description: "\(path): 'server': \(error)") }
        }
        configuration.ca = try string("ca")
        configuration.cert = try string("cert")
        configuration.key = try string("key")
        if let value = try integer("batch") { configuration.batch = value }
        if let value = try integer("linger_ms") { configuration.lingerMilliseconds = value }
        if let value = try string("metrics") {
            do { configuration.metrics = try HostPort(parsing: value) } catch { throw Invalid(description: "\(path): 'metrics': \(error)") }
        }
        if let value = try integer("max_message_bytes") { configuration.maximumMessageBytes = value }
        configuration.brokerWaitSeconds = try number("broker_wait_seconds")
        if let value = try number("drain_seconds") { configuration.drainSeconds = value }
        if let value = try integer("max_in_flight_batches") { configuration.maximumInFlightBatches = value }
        if let value = object["kafka"] {
            guard let properties = value as? [String: String] else { throw Invalid(description: "\(path): 'kafka' must be an object of string values (librdkafka properties)") }
            configuration.kafka = properties
        }
        if let value = try string("log_level") { configuration.logLevel = value }
        return configuration
    }

    /// Checks what is required and in range; the message names the flag and the JSON key.
    func validated() throws(Invalid) -> StreamConfiguration {
        func require(_ value: String?, _ flag: String, _ key: String) throws(Invalid) {
            guard let value, !value.isEmpty else { throw Invalid(description: "missing \(flag) (configuration key '\(key)')") }
        }
        guard !brokers.isEmpty, brokers.allSatisfy({ !$0.isEmpty }) else { throw Invalid(description: "missing --brokers HOST:PORT[,...] (configuration key 'brokers')") }
        try require(group, "--group", "group")
        try require(inputTopic, "--input-topic", "input_topic")
        try require(outputTopic, "--output-topic", "output_topic")
        try require(deadLetterTopic, "--dead-letter-topic", "dead_letter_topic")
        guard !servers.isEmpty else { throw Invalid(description: "missing --server HOST:PORT (configuration key 'server')") }
        guard Set([inputTopic, outputTopic, deadLetterTopic]).count == 3 else {
            throw Invalid(description: "--input-topic, --output-topic and --dead-letter-topic must be three different topics")
        }
        guard (cert == nil) == (key == nil) else { throw Invalid(description: "--cert and --key go together") }
        guard batch >= 1 else { throw Invalid(description: "--batch must be at least 1, not \(batch)") }
        guard lingerMilliseconds >= 0 else { throw Invalid(description: "--linger-ms must not be negative") }
        guard maximumMessageBytes >= 64 else { throw Invalid(description: "max_message_bytes must be at least 64") }
        if let brokerWaitSeconds, !(brokerWaitSeconds > 0) { throw Invalid(description: "--broker-wait-seconds must be positive") }
        guard drainSeconds > 0 else { throw Invalid(description: "drain_seconds must be positive") }
        guard maximumInFlightBatches >= 1 else { throw Invalid(description: "max_in_flight_batches must be at least 1") }
        guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(logLevel) else {
            throw Invalid(description: "--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        return self
    }
}
