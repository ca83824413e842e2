import Foundation
import Logging
import LoanScoreClient
import LoanScoreFeatures
import LoanScoreKafka
import LoanScoreProtocol
import Prometheus
import Synchronization

/// The bridge's loop, on a thread of its own (librdkafka's polls block): consume, batch,
/// score through the SDK, produce decisions and dead letters, commit what is done.
///
/// At least once (Protocol/STREAM.md §5): an input offset counts as done only when its
/// decision or dead letter was acknowledged by the broker (delivery report), and a decision
/// exists only once the appliance answered; a partition's offset is committed up to its first
/// offset not done. Everything here runs on the bridge thread, except the scoring tasks,
/// which hand their outcomes back through ``completions``.
final class Bridge: @unchecked Sendable {  // confined to the bridge thread, but for `completions` and `stopRequested` (Mutex / Atomic)
    struct Settings {
        var inputTopic: String
        var outputTopic: String
        var deadLetterTopic: String
        var batch: Int
        var linger: Duration
        var maximumInFlightBatches: Int
        var drain: Duration
    }

    /// An input message waiting to be scored or answered.
    struct Pending: Sendable {
        var application: ApplicationInput
        var source: SourcePosition
        var key: [UInt8]?
        var original: [UInt8]
        var generation: Int
    }

    private struct PartitionKey: Hashable {
        var topic: String
        var partition: Int32
    }

    /// A produced message waiting for its delivery report.
    private struct Delivery {
        var key: PartitionKey
        var generation: Int
        var offset: Int64
        var isDecision: Bool
        var id: String
    }

    private enum Completion: Sendable {
        case scored([Pending], ScoreResponse, Duration)
        case refused([Pending], index: Int, message: String)
        case unavailable([Pending], LoanScoreClientError, busy: Bool)
    }

    private let settings: Settings
    private let consumer: KafkaConsumer
    private let producer: KafkaProducer
    private let scorer: Scorer
    private var decoder: ApplicationDecoder
    private let metrics: StreamMetrics
    private let logger: Logger

    private var partitions: [PartitionKey: PartitionProgress] = [:]
    private var lagGauges: [PartitionKey: Gauge] = [:]
    private var generation = 0
    private var batch: [Pending] = []
    private var batchStarted: ContinuousClock.Instant?
    private var inFlightBatches = 0
    private var inFlightApplications = 0
    private var deliveries: [Int: Delivery] = [:]
    private var nextToken = 1
    private var retryQueue: [(batch: [Pending], at: ContinuousClock.Instant, attempt: Int)] = []
    private var backoffAttempt: [Int: Int] = [:]
    private var paused = false
    /// Partitions just assigned, whose pause flag must be set to ``paused`` after the poll
    /// that assigned them returns.
    private var pauseStateToApply: [TopicPartition] = []
    private var busyUntil: ContinuousClock.Instant?
    private var lastCommit = ContinuousClock.now
    private var lastMetrics = ContinuousClock.now
    private(set) var fatal: (message: String, status: Int32)?
    private let completions = Mutex<[Completion]>([])
    let stopRequested = Atomic<Bool>(false)
    private var draining: ContinuousClock.Instant?

    /// Above this many applications consumed and not answered, consumption pauses.
    private var highWater: Int { settings.batch * (settings.maximumInFlightBatches + 2) }

    init(settings: Settings, consumer: KafkaConsumer, producer: KafkaProducer, scorer: Scorer, decoder: ApplicationDecoder,
         metrics: StreamMetrics, logger: Logger) {
        self.settings = settings
        self.consumer = consumer
        self.producer = producer
        self.scorer = scorer
        self.decoder = decoder
        self.metrics = metrics
        self.logger = logger
    }

    // MARK: - Callbacks (called by librdkafka inside the polls, on this thread)

    func rebalanced(_ event: RebalanceEvent) {
        switch event {
        case .assigned(let assigned):
            logger.info("assigned \(assigned.map(\.description).joined(separator: ", "))")
            for partition in assigned {
                generation += 1
                let key = PartitionKey(topic: partition.topic, partition: partition.partition)
                partitions[key] = PartitionProgress(generation: generation)
                if lagGauges[key] == nil { lagGauges[key] = metrics.lag(topic: partition.topic, partition: partition.partition) }
            }
            // librdkafka keeps a partition's pause flag across a revocation and a new assignment
            // (confluent-kafka-go#193), and only an assigned partition can be paused or resumed:
            // the loop sets the new partitions' state once the assignment is applied.
            pauseStateToApply.append(contentsOf: assigned)
        case .revoked(let revoked):
            let keys = Set(revoked.map { PartitionKey(topic: $0.topic, partition: $0.partition) })
            logger.info("revoking \(revoked.map(\.description).joined(separator: ", ")): finishing their work in flight, then committing")
            finish(keys, within: .seconds(10))
            commit(synchronously: true, only: keys)
            let positions = keys.sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }.map { key in
                "\(key.topic)[\(key.partition)]@" + (partitions[key]?.committed.map(String.init) ?? "none")
            }
            logger.info("gave up \(positions.joined(separator: ", ")) (the committed offsets: everything before them is done)")
            for key in keys {
                partitions[key] = nil
                if let gauge = lagGauges.removeValue(forKey: key) { metrics.registry.unregisterGauge(gauge) }
            }
        case .failed(let error):
            logger.warning("consumer-group rebalance failed: \(error); the assignment is cleared and will be given again")
            partitions.removeAll()
        }
    }

    func delivered(_ report: DeliveryReport) {
        guard let delivery = deliveries.removeValue(forKey: report.token) else { return }
        if let error = report.error {
            let topic = delivery.isDecision ? settings.outputTopic : settings.deadLetterTopic
            fail("the broker did not accept the \(delivery.isDecision ? "decision" : "dead letter") for application '\(delivery.id)' "
                 + "(\(delivery.key.topic)[\(delivery.key.partition)] offset \(delivery.offset)) on topic '\(topic)': \(error); "
                 + "stopping without committing it, so it is consumed again on restart", status: 4)
            return
        }
        if delivery.isDecision { metrics.decisionsOut.increment() } else { metrics.deadLettersOut.increment() }
        inFlightApplications -= 1
        guard var progress = partitions[delivery.key], progress.generation == delivery.generation else { return }
        progress.done(delivery.offset)
        partitions[delivery.key] = progress
    }

    // MARK: - The loop

    /// Runs until SIGTERM (drained: returns normally) or a fatal error (``fatal`` says which).
    func run() {
        do {
            try consumer.subscribe([settings.inputTopic])
        } catch {
            fail("cannot subscribe to '\(settings.inputTopic)': \(error)", status: 1)
            return
        }
        logger.info("consuming '\(settings.inputTopic)' in group; decisions to '\(settings.outputTopic)', dead letters to '\(settings.deadLetterTopic)'")
        while fatal == nil {
            let now = ContinuousClock.now
            if draining == nil, stopRequested.load(ordering: .acquiring) {
                draining = now + settings.drain
                logger.notice("SIGTERM: stopping consumption, finishing \(inFlightApplications) application(s) in flight (at most \(settings.drain)), then committing")
                pauseAll()
                if !batch.isEmpty { sendBatch() }
            }
            let busyLoop = inFlightApplications > 0 || !batch.isEmpty
            if let event = consumer.poll(timeout: busyLoop ? 2 : 50) {
                handle(event)
                // Whatever else is already fetched, up to a batch, before the bookkeeping below.
                var taken = 1
                while taken < settings.batch, batch.count < settings.batch, let more = consumer.poll(timeout: 0) {
                    handle(more)
                    taken += 1
                }
            }
            applyPauseState()
            producer.poll(timeout: 0)
            serviceCompletions()
            if batch.count >= settings.batch || (!batch.isEmpty && (batchStarted.map { now - $0 >= settings.linger } ?? false)) || (draining != nil && !batch.isEmpty) {
                sendBatch()
            }
            serviceRetries(now: now)
            updateBackpressure(now: now)
            if now - lastCommit >= .milliseconds(200) {
                commit(synchronously: false, only: nil)
                lastCommit = now
            }
            if now - lastMetrics >= .seconds(1) {
                updateLag()
                refreshSchema()
                lastMetrics = now
            }
            if let draining {
                if inFlightApplications == 0 && batch.isEmpty { break }
                if now >= draining {
                    logger.warning("SIGTERM: \(inFlightApplications) application(s) still in flight after \(settings.drain); not committing them (they will be consumed again)")
                    break
                }
            }
        }
        // Whatever is done is committed; what is not is consumed again by whoever comes next.
        _ = producer.flush(timeout: 5000)
        producer.poll(timeout: 0)
        commit(synchronously: true, only: nil)
        consumer.close()
    }

    private func handle(_ event: ConsumerEvent) {
        switch event {
        case .error(let error, let partition):
            if error.isUnknownTopic {
                logger.error("topic '\(partition?.topic ?? settings.inputTopic)' does not exist on the brokers: \(error.message); waiting for it (nothing is consumed meanwhile)")
            } else {
                logger.warning("consumer: \(error)\(partition.map { " (\($0))" } ?? "")")
            }
        case .message(let message):
            let key = PartitionKey(topic: message.topic, partition: message.partition)
            guard var progress = partitions[key] else { return }  // not ours (any more): not tracked, not committed
            if draining != nil { return }  // not started: consumed again by the next owner
            progress.consumed(message.offset)
            partitions[key] = progress
            metrics.applicationsIn.increment()
            inFlightApplications += 1
            let source = SourcePosition(topic: message.topic, partition: message.partition, offset: message.offset)
            switch decoder.decode(key: message.key, value: message.value) {
            case .success(let application):
                if batch.isEmpty { batchStarted = .now }
                batch.append(Pending(application: application, source: source, key: message.key, original: [], generation: progress.generation))
            case .failure(let reason):
                produceDeadLetter(id: Self.bestEffortID(message.value), key: message.key, original: message.value, reason: reason,
                                  source: source, generation: progress.generation, modelVersion: nil)
            }
        }
    }

    /// The `"id"` of a message that failed to decode, when one can be read.
    private static func bestEffortID(_ value: [UInt8]) -> String? {
        guard value.count <= 1_048_576,
              let object = try? JSONSerialization.jsonObject(with: Data(value)) as? [String: Any],
              let id = object["id"] as? String else { return nil }
        return id
    }

    // MARK: - Scoring

    /// Sends the oldest `settings.batch` applications waiting (never more: the appliance's
    /// maximum batch bounds it), unless the batches in flight are at their limit (then the
    /// waiting applications grow until back-pressure pauses consumption).
    private func sendBatch() {
        guard inFlightBatches < settings.maximumInFlightBatches || draining != nil else { return }
        let count = min(batch.count, settings.batch)
        let sending = Array(batch.prefix(count))
        batch.removeFirst(count)
        if batch.isEmpty { batchStarted = nil }  // else the rest keeps its linger clock: it has waited already
        submit(sending)
    }

    private func submit(_ sending: [Pending]) {
        inFlightBatches += 1
        metrics.batchSize.record(Double(sending.count))
        let scorer = scorer
        Task { [weak self] in
            let started = ContinuousClock.now
            let outcome = await scorer.score(sending.map(\.application))
            let completion: Completion = switch outcome {
            case .scored(let response): .scored(sending, response, ContinuousClock.now - started)
            case .refused(let index, let message): .refused(sending, index: index, message: message)
            case .unavailable(let error, let busy): .unavailable(sending, error, busy: busy)
            }
            self?.completions.withLock { $0.append(completion) }
        }
    }

    private func serviceCompletions() {
        let ready = completions.withLock { queue -> [Completion] in
            defer { queue.removeAll() }
            return queue
        }
        for completion in ready {
            inFlightBatches -= 1
            switch completion {
            case .scored(let sent, let response, let elapsed):
                metrics.batchDuration.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
                busyUntil = nil
                backoffAttempt[0] = 0
                guard response.results.count == sent.count else {
                    fail("the appliance answered \(response.results.count) results for a batch of \(sent.count)", status: 1)
                    return
                }
                for (pending, result) in zip(sent, response.results) {
                    switch result {
                    case .scored(let score):
                        produceDecision(pending, score: score, modelVersion: response.modelVersion)
                    case .invalid(let code, let message):
                        let reason = code == .invalidApplication
                            ? DeadLetterReason.invalidApplication(message)
                            : DeadLetterReason(.invalidApplication, "\(code.name): \(message)")
                        produceDeadLetter(id: pending.application.id, key: pending.key, original: Self.reencode(pending), reason: reason,
                                          source: pending.source, generation: pending.generation, modelVersion: response.modelVersion)
                    }
                }
            case .refused(var sent, let index, let message):
                let pending = sent.remove(at: index)
                produceDeadLetter(id: pending.application.id, key: pending.key, original: Self.reencode(pending),
                                  reason: DeadLetterReason(.invalidApplication, message), source: pending.source,
                                  generation: pending.generation, modelVersion: nil)
                if !sent.isEmpty { submit(sent) }
            case .unavailable(let sent, let error, let busy):
                metrics.busy.increment()
                let attempt = (backoffAttempt[0] ?? 0) + 1
                backoffAttempt[0] = attempt
                let wait = Duration.milliseconds(min(5000, 50 << min(attempt - 1, 7)))
                busyUntil = .now + wait
                logger.warning("\(busy ? "the appliances answered BUSY" : "no appliance scored a batch") (\(Scorer.explain(error))); pausing consumption, sending the batch of \(sent.count) again in \(wait)")
                retryQueue.append((sent, .now + wait, attempt))
            }
        }
    }

    /// The original message is not kept for valid applications (memory); a dead letter the
    /// appliance caused echoes the application as the bridge read it instead.
    private static func reencode(_ pending: Pending) -> [UInt8] {
        var fields = ["\"id\":" + JSONText.quoted(pending.application.id)]
        for (name, value) in pending.application.values.sorted(by: { $0.key < $1.key }) {
            let text: String = switch value {
            case .missing: "null"
            case .number(let number): "\(number)"
            case .bool(let flag): flag ? "true" : "false"
            case .text(let text): JSONText.quoted(text)
            }
            fields.append(JSONText.quoted(name) + ":" + text)
        }
        return Array(("{" + fields.joined(separator: ",") + "}").utf8)
    }

    private func serviceRetries(now: ContinuousClock.Instant) {
        guard !retryQueue.isEmpty else { return }
        var remaining: [(batch: [Pending], at: ContinuousClock.Instant, attempt: Int)] = []
        for entry in retryQueue {
            if entry.at <= now { submit(entry.batch) } else { remaining.append(entry) }
        }
        retryQueue = remaining
    }

    // MARK: - Producing

    private func produceDecision(_ pending: Pending, score: ScoredApplication, modelVersion: String) {
        let value = StreamEncoder.decision(id: pending.application.id, score: score, modelVersion: modelVersion, source: pending.source)
        produce(topic: settings.outputTopic, key: Array(pending.application.id.utf8), value: value,
                delivery: Delivery(key: PartitionKey(topic: pending.source.topic, partition: pending.source.partition), generation: pending.generation,
                                   offset: pending.source.offset, isDecision: true, id: pending.application.id))
    }

    private func produceDeadLetter(id: String?, key: [UInt8]?, original: [UInt8], reason: DeadLetterReason, source: SourcePosition, generation: Int,
                                   modelVersion: String?) {
        logger.debug("dead letter for \(source.topic)[\(source.partition)] offset \(source.offset): \(reason.kind.rawValue): \(reason.message)")
        let value = StreamEncoder.deadLetter(id: id, key: key, original: original, reason: reason, source: source, modelVersion: modelVersion)
        produce(topic: settings.deadLetterTopic, key: key ?? [], value: value,
                delivery: Delivery(key: PartitionKey(topic: source.topic, partition: source.partition), generation: generation, offset: source.offset,
                                   isDecision: false, id: id ?? "(no id)"))
    }

    private func produce(topic: String, key: [UInt8], value: [UInt8], delivery: Delivery) {
        let token = nextToken
        nextToken += 1
        deliveries[token] = delivery
        while true {
            do {
                try producer.produce(topic: topic, key: key, value: value, token: token)
                return
            } catch where error.code == -184 /* _QUEUE_FULL */ {
                producer.poll(timeout: 10)  // delivery reports free the queue
            } catch {
                deliveries[token] = nil
                fail("cannot produce the \(delivery.isDecision ? "decision" : "dead letter") for application '\(delivery.id)' "
                     + "(\(delivery.key.topic)[\(delivery.key.partition)] offset \(delivery.offset)) to '\(topic)' (\(value.count) bytes): \(error); "
                     + "stopping without committing it", status: 4)
                return
            }
        }
    }

    // MARK: - Commits, back-pressure, lag

    private func commit(synchronously: Bool, only keys: Set<PartitionKey>?) {
        var offsets: [TopicPartition] = []
        for (key, progress) in partitions where keys?.contains(key) ?? true {
            if let offset = progress.pendingCommit { offsets.append(TopicPartition(topic: key.topic, partition: key.partition, offset: offset)) }
        }
        guard !offsets.isEmpty else { return }
        do {
            try consumer.commit(offsets, synchronously: synchronously)
            metrics.commits.increment()
            for offset in offsets {
                partitions[PartitionKey(topic: offset.topic, partition: offset.partition)]?.committed = offset.offset
            }
            if synchronously { logger.info("committed \(offsets.map(\.description).joined(separator: ", "))") }
        } catch {
            logger.warning("commit of \(offsets.map(\.description).joined(separator: ", ")) failed: \(error) (the work is done; it will be committed later or consumed again)")
        }
    }

    /// Finishes the work of `keys` (sends their unsent applications, waits for answers and
    /// delivery reports) for at most `limit`; used before partitions are revoked.
    private func finish(_ keys: Set<PartitionKey>, within limit: Duration) {
        let deadline = ContinuousClock.now + limit
        func outstanding() -> Int { keys.reduce(0) { $0 + (partitions[$1]?.outstanding ?? 0) } }
        if !batch.isEmpty { sendBatch() }
        while outstanding() > 0, ContinuousClock.now < deadline, fatal == nil {
            producer.poll(timeout: 5)
            serviceCompletions()
            serviceRetries(now: .now)
            if !batch.isEmpty { sendBatch() }
        }
        if outstanding() > 0 {
            logger.warning("\(outstanding()) application(s) of the revoked partitions were not finished in \(limit): the next owner consumes them again")
        }
    }

    /// Gives the partitions assigned in the last poll the bridge's pause state: paused while
    /// back-pressure holds, else resumed (a partition paused before it was revoked would
    /// otherwise stay paused when it comes back).
    private func applyPauseState() {
        guard !pauseStateToApply.isEmpty else { return }
        let assigned = pauseStateToApply.filter { partitions[PartitionKey(topic: $0.topic, partition: $0.partition)] != nil }
        pauseStateToApply = []
        if paused { consumer.pause(assigned) } else { consumer.resume(assigned) }
    }

    private func pauseAll() {
        let assigned = partitions.keys.map { TopicPartition(topic: $0.topic, partition: $0.partition) }
        consumer.pause(assigned)
        paused = true
        metrics.paused.set(1.0)
    }

    private func updateBackpressure(now: ContinuousClock.Instant) {
        guard draining == nil else { return }
        let busy = busyUntil.map { now < $0 } ?? false || !retryQueue.isEmpty
        let full = inFlightApplications >= highWater
        if !paused, busy || full {
            pauseAll()
            if busy { logger.notice("back-pressure: the appliance is BUSY or unreachable; consumption paused") }
        } else if paused, !busy, inFlightApplications <= highWater / 2 {
            consumer.resume(partitions.keys.map { TopicPartition(topic: $0.topic, partition: $0.partition) })
            paused = false
            metrics.paused.set(0.0)
        }
        metrics.inFlight.set(Double(inFlightApplications))
    }

    private func updateLag() {
        for (key, progress) in partitions {
            guard let gauge = lagGauges[key], let marks = consumer.cachedWatermarks(TopicPartition(topic: key.topic, partition: key.partition)) else { continue }
            let position = progress.lastConsumed.map { $0 + 1 } ?? progress.committed ?? marks.low
            gauge.set(Double(max(0, marks.high - position)))
        }
    }

    /// Follows a reload that changed the served schema (the SDK reconnects for the new
    /// WELCOME): new messages are checked against the new fields from then on.
    private func refreshSchema() {
        guard let schema = scorer.client.welcome?.schema, schema.hash != decoder.schema.hash else { return }
        logger.notice("the appliance now serves another schema (\(schema.fields.count) fields): checking new messages against it")
        decoder = ApplicationDecoder(schema: schema, maximumMessageBytes: decoder.maximumMessageBytes)
    }

    private func fail(_ message: String, status: Int32) {
        guard fatal == nil else { return }
        logger.critical("\(message)")
        fatal = (message, status)
    }
}
