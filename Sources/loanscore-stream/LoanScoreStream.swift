import ArgumentParser
import Foundation
import Logging
import LoanScoreClient
import LoanScoreCommandLine
import LoanScoreKafka
import LoanScoreProtocol
import LoanScoreVersion
import NIOCore
import Prometheus
import Synchronization
import UnixSignals

/// `loanscore-stream`: the Kafka bridge (Protocol/STREAM.md).
@main
struct LoanScoreStream: AsyncParsableCommand {
    /// Parses and runs with the README's exit codes (usage errors 2, an ``ExitMessage`` its status).
    static func main() async { await mainWithExitCodes() }

    static let configuration = CommandConfiguration(
        commandName: "loanscore-stream",
        abstract: "Score loan applications from a Kafka topic through loanscored, producing decisions and dead letters (at least once).",
        discussion: """
            Consumes one JSON application per message from --input-topic in consumer group \
            --group, scores batches (up to --batch applications or --linger-ms) through the \
            client SDK on the --server appliances over TLS (so each decision is audited), and \
            produces one decision per application to --output-topic, keyed by application id. \
            A message that is not valid JSON, is over the size limit, or holds an application \
            the schema refuses goes to --dead-letter-topic with the field, value and \
            expectation at fault and its source offset. An input offset is committed only \
            after its decision or dead letter was acknowledged by the broker: after a crash \
            the bridge resumes from the last committed offset, and consumers de-duplicate by \
            key (Protocol/STREAM.md). While the appliances answer BUSY or cannot be reached, \
            consumption pauses. SIGTERM (or SIGINT) stops consuming, finishes what is in \
            flight, commits and exits 0.

            Every flag may instead be a key of a JSON --config file (brokers, group, \
            input_topic, output_topic, dead_letter_topic, server, ca, cert, key, batch, \
            linger_ms, metrics, max_message_bytes, broker_wait_seconds, drain_seconds, \
            max_in_flight_batches, log_level, and kafka: librdkafka properties for both \
            clients); flags win.

            Exit statuses: 0 stopped cleanly (SIGTERM), 1 internal error, 2 usage or \
            configuration error (a bad flag or file, a topic that does not exist, an address \
            that cannot be bound), 3 a CA, certificate or key file that cannot be read, 4 the \
            brokers or appliances could not be reached or trusted (after --broker-wait-seconds; \
            a TLS handshake refused; a decision the broker would not take).
            """,
        version: LoanScoreVersion.versionLine(executable: "loanscore-stream")
    )

    @Option(help: ArgumentHelp("JSON configuration file with the same keys as the flags.", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("Kafka bootstrap brokers.", valueName: "host:port[,...]"))
    var brokers: String?

    @Option(help: ArgumentHelp("Consumer group.", valueName: "name"))
    var group: String?

    @Option(name: .customLong("input-topic"), help: ArgumentHelp("Topic of applications.", valueName: "topic"))
    var inputTopic: String?

    @Option(name: .customLong("output-topic"), help: ArgumentHelp("Topic for decisions.", valueName: "topic"))
    var outputTopic: String?

    @Option(name: .customLong("dead-letter-topic"), help: ArgumentHelp("Topic for dead letters.", valueName: "topic"))
    var deadLetterTopic: String?

    @Option(help: ArgumentHelp("A loanscored appliance (repeat for several).", valueName: "host:port"))
    var server: [String] = []

    @Option(help: ArgumentHelp("CA certificate (PEM) the appliance's certificate must chain to.", valueName: "file"))
    var ca: String?

    @Option(help: ArgumentHelp("Client certificate (PEM) for mutual TLS.", valueName: "file"))
    var cert: String?

    @Option(help: ArgumentHelp("The client certificate's private key (PEM).", valueName: "file"))
    var key: String?

    @Option(help: ArgumentHelp("Most applications per batch sent to the appliance (default 256; at most the appliance's maximum batch).", valueName: "n"))
    var batch: Int?

    @Option(name: .customLong("linger-ms"), help: ArgumentHelp("Longest wait for a batch to fill, in milliseconds (default 20).", valueName: "ms"))
    var lingerMs: Int?

    @Option(help: ArgumentHelp("Serve Prometheus metrics on this address (GET /metrics).", valueName: "host:port"))
    var metrics: String?

    @Option(name: .customLong("broker-wait-seconds"),
            help: ArgumentHelp("At start, give up (status 4) when no broker answered within this many seconds (default: keep retrying).", valueName: "s"))
    var brokerWaitSeconds: Double?

    @Option(name: .customLong("log-level"), help: ArgumentHelp("trace, debug, info (default), notice, warning, error or critical.", valueName: "level"))
    var logLevel: String?

    func settings() throws -> StreamConfiguration {
        var configuration = StreamConfiguration()
        do {
            if let config { configuration = try StreamConfiguration.load(file: config) }
        } catch {
            throw ExitMessage(error.description, status: 2)
        }
        do {
            if let brokers { configuration.brokers = brokers.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
            if let group { configuration.group = group }
            if let inputTopic { configuration.inputTopic = inputTopic }
            if let outputTopic { configuration.outputTopic = outputTopic }
            if let deadLetterTopic { configuration.deadLetterTopic = deadLetterTopic }
            if !server.isEmpty { configuration.servers = try server.map { try HostPort(parsing: $0) } }
            if let ca { configuration.ca = ca }
            if let cert { configuration.cert = cert }
            if let key { configuration.key = key }
            if let batch { configuration.batch = batch }
            if let lingerMs { configuration.lingerMilliseconds = lingerMs }
            if let metrics { configuration.metrics = try HostPort(parsing: metrics, allowPortZero: true) }
            if let brokerWaitSeconds { configuration.brokerWaitSeconds = brokerWaitSeconds }
            if let logLevel { configuration.logLevel = logLevel }
        } catch let error as HostPortError {
            throw ValidationError("--server and --metrics take HOST:PORT: \(error.message)")
        }
        do {
            return try configuration.validated()
        } catch {
            throw ValidationError(error.description)
        }
    }

    func run() async throws {
        let settings = try settings()
        let level = Logger.Level(rawValue: settings.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "loanscore.stream")
        logger.logLevel = level
        logger.info("\(LoanScoreVersion.versionLine(executable: "loanscore-stream")), librdkafka \(librdkafkaVersion)")
        if let caveat = librdkafkaCaveat { logger.warning("\(caveat)") }
        for file in [settings.ca, settings.cert, settings.key].compactMap({ $0 }) where !FileManager.default.isReadableFile(atPath: file) {
            throw ExitMessage("\(file): cannot read the file (--ca, --cert, --key)", status: 3)
        }

        let kafkaLogger = logger
        let diagnostics = KafkaDiagnostics(
            log: { level, facility, text in
                if level <= 3 { kafkaLogger.error("librdkafka \(facility): \(text)") } else if level <= 4 { kafkaLogger.warning("librdkafka \(facility): \(text)") } else { kafkaLogger.debug("librdkafka \(facility): \(text)") }
            },
            error: { error in kafkaLogger.warning("Kafka: \(error.message) (\(error.name))") })
        var common = KafkaConfiguration(["bootstrap.servers": settings.brokers.joined(separator: ","), "client.id": "loanscore-stream",
                                         "log.connection.close": "false"])
        for (key, value) in settings.kafka { common[key] = value }
        var consumerConfiguration = common
        consumerConfiguration["group.id"] = settings.group!
        if settings.kafka["auto.offset.reset"] == nil { consumerConfiguration["auto.offset.reset"] = "earliest" }
        consumerConfiguration["fetch.message.max.bytes"] = settings.kafka["fetch.message.max.bytes"] ?? "1048576"
        var producerConfiguration = common
        if settings.kafka["acks"] == nil { producerConfiguration["acks"] = "all" }
        if settings.kafka["linger.ms"] == nil { producerConfiguration["linger.ms"] = "5" }
        // Java clients' partitioner, so that a decision lands where a Java producer would put its key.
        if settings.kafka["partitioner"] == nil { producerConfiguration["partitioner"] = "murmur2_random" }
        for key in ["group.id", "auto.offset.reset", "fetch.message.max.bytes", "session.timeout.ms", "heartbeat.interval.ms",
                    "max.poll.interval.ms", "partition.assignment.strategy", "enable.auto.commit", "enable.auto.offset.store"] {
            producerConfiguration[key] = nil
        }
        for key in ["acks", "linger.ms", "partitioner", "message.timeout.ms", "enable.idempotence", "queue.buffering.max.messages",
                    "compression.type", "retries", "message.send.max.retries"] {
            consumerConfiguration[key] = nil
        }

        logger.debug("Kafka consumer properties: \(consumerConfiguration.properties.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))")
        logger.debug("Kafka producer properties: \(producerConfiguration.properties.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))")
        // The bridge thread's object, set once the consumer exists (the rebalance callback
        // needs it and the consumer needs the callback first).
        let bridgeBox = BridgeBox()
        let consumer: KafkaConsumer
        let producer: KafkaProducer
        do {
            consumer = try KafkaConsumer(configuration: consumerConfiguration, diagnostics: diagnostics) { event in bridgeBox.bridge?.rebalanced(event) }
            producer = try KafkaProducer(configuration: producerConfiguration, diagnostics: diagnostics) { report in bridgeBox.bridge?.delivered(report) }
        } catch {
            throw ExitMessage("\(error.message)", status: 2)
        }

        // The brokers, with back-off, then the topics.
        let topics = try await waitForBrokers(producer, settings: settings, logger: logger)
        for (flag, topic) in [("--input-topic", settings.inputTopic!), ("--output-topic", settings.outputTopic!), ("--dead-letter-topic", settings.deadLetterTopic!)]
        where topics[topic] == nil {
            throw ExitMessage("\(flag) '\(topic)': the topic does not exist on the brokers \(settings.brokers.joined(separator: ",")) "
                              + "(the bridge creates no topics; create it, e.g. with as many partitions as the input topic)", status: 2)
        }
        logger.info("brokers answered: '\(settings.inputTopic!)' has \(topics[settings.inputTopic!]!) partition(s)")

        // The appliances.
        let scorer: Scorer
        let welcome: Welcome
        do {
            scorer = try Scorer(servers: settings.servers, ca: settings.ca, cert: settings.cert, key: settings.key, logger: logger)
        } catch let error as LoanScoreClientError {
            throw ExitMessage("cannot load the TLS files: \(error.message)", status: 3)
        }
        do {
            welcome = try await scorer.connect()
        } catch {
            await scorer.close()
            throw ExitMessage("no appliance could be used (\(settings.servers.map(\.description).joined(separator: ", "))): \(Scorer.explain(error)); "
                              + "nothing was consumed", status: 4)
        }
        var batchSize = settings.batch
        if batchSize > welcome.limits.maximumBatch {
            logger.warning("--batch \(batchSize) is above the appliance's maximum batch; using \(welcome.limits.maximumBatch)")
            batchSize = welcome.limits.maximumBatch
        }

        let registry = PrometheusCollectorRegistry()
        let metrics = StreamMetrics(registry: registry)
        var metricsChannel: (any Channel)?
        if let address = settings.metrics {
            do {
                metricsChannel = try await MetricsServer.start(host: address.host, port: address.port, registry: registry)
                logger.info("metrics on http://\(address.host):\(metricsChannel?.localAddress?.port ?? address.port)/metrics")
            } catch {
                await scorer.close()
                throw ExitMessage("--metrics \(address): cannot listen: \(error)", status: 2)
            }
        }

        let bridge = Bridge(
            settings: .init(inputTopic: settings.inputTopic!, outputTopic: settings.outputTopic!, deadLetterTopic: settings.deadLetterTopic!,
                            batch: batchSize, linger: .milliseconds(settings.lingerMilliseconds),
                            maximumInFlightBatches: settings.maximumInFlightBatches, drain: .milliseconds(Int64(settings.drainSeconds * 1000))),
            consumer: consumer, producer: producer, scorer: scorer,
            decoder: ApplicationDecoder(schema: welcome.schema, maximumMessageBytes: settings.maximumMessageBytes),
            metrics: metrics, logger: logger)
        bridgeBox.bridge = bridge

        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let signalTask = Task {
            for await signal in signals {
                logger.notice("received \(signal)")
                bridge.stopRequested.store(true, ordering: .releasing)
            }
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let thread = Thread {
                bridge.run()
                continuation.resume()
            }
            thread.name = "kafka-bridge"
            thread.start()
        }
        signalTask.cancel()
        try? await metricsChannel?.close()
        await scorer.close()
        bridgeBox.bridge = nil
        if let fatal = bridge.fatal { throw ExitMessage(fatal.message, status: fatal.status) }
        logger.notice("stopped: every finished application committed")
    }

    /// Asks the brokers for their topics until one answers, backing off 1 s, 2 s, 4 s … 30 s;
    /// gives up with status 4 after --broker-wait-seconds when given.
    private func waitForBrokers(_ producer: KafkaProducer, settings: StreamConfiguration, logger: Logger) async throws -> [String: Int] {
        let start = ContinuousClock.now
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try producer.topics(timeout: 2000)
            } catch {
                let waited = ContinuousClock.now - start
                let backoff = Duration.seconds(min(30, 1 << min(attempt - 1, 5)))
                let brokers = settings.brokers.joined(separator: ",")
                if let limit = settings.brokerWaitSeconds, waited + backoff > .milliseconds(Int64(limit * 1000)) {
                    logger.error("cannot reach the Kafka brokers \(brokers) (attempt \(attempt)): \(error.message); giving up (--broker-wait-seconds \(limit))")
                    throw ExitMessage("cannot reach the Kafka brokers \(brokers) within \(limit) s "
                                      + "(\(attempt) attempt(s)): \(error.message); nothing was consumed", status: 4)
                }
                logger.error("cannot reach the Kafka brokers \(brokers) (attempt \(attempt)): \(error.message); retrying in \(backoff)")
                try await Task.sleep(for: backoff)
            }
        }
    }
}

/// Lets the Kafka callbacks reach the bridge made after the clients.
/// `@unchecked Sendable`: set once before the bridge thread starts, cleared after it ends.
final class BridgeBox: @unchecked Sendable {
    var bridge: Bridge?
}

