import Prometheus

/// The bridge's Prometheus metrics (`--metrics HOST:PORT`, `GET /metrics`): handles made once.
struct StreamMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let applicationsIn: Counter
    let decisionsOut: Counter
    let deadLettersOut: Counter
    let batchDuration: DurationHistogram
    let batchSize: ValueHistogram
    let busy: Counter
    let scoringFailures: Counter
    let commits: Counter
    let paused: Gauge
    let inFlight: Gauge

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        applicationsIn = registry.makeCounter(descriptor: Self.family("loanscore_stream_applications_in_total", "Input messages consumed (applications, valid or not)."))
        decisionsOut = registry.makeCounter(descriptor: Self.family("loanscore_stream_decisions_out_total", "Decisions produced and acknowledged by the broker."))
        deadLettersOut = registry.makeCounter(descriptor: Self.family("loanscore_stream_dead_letters_total", "Dead letters produced and acknowledged by the broker."))
        batchDuration = registry.makeDurationHistogram(
            descriptor: Self.family("loanscore_stream_batch_duration_seconds", "Time from sending a batch to the appliance to its answer (retries included)."),
            buckets: [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                      .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10)])
        batchSize = registry.makeValueHistogram(
            descriptor: Self.family("loanscore_stream_batch_applications", "Applications per batch sent to the appliance."),
            buckets: [1, 8, 32, 64, 128, 256, 512, 1024, 4096])
        busy = registry.makeCounter(descriptor: Self.family("loanscore_stream_busy_total", "Batches every appliance refused (BUSY or unreachable); consumption paused meanwhile."))
        scoringFailures = registry.makeCounter(descriptor: Self.family("loanscore_stream_scoring_failures_total", "Scoring attempts that failed on an appliance and went to the next one or were retried."))
        commits = registry.makeCounter(descriptor: Self.family("loanscore_stream_commits_total", "Offset commits sent to the group coordinator."))
        paused = registry.makeGauge(descriptor: Self.family("loanscore_stream_paused", "1 while consumption is paused (back-pressure), else 0."))
        inFlight = registry.makeGauge(descriptor: Self.family("loanscore_stream_in_flight_applications", "Applications consumed and not yet answered and acknowledged."))
    }

    /// A metric family's name (complete, unit suffix included) and HELP text.
    private static func family(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// The lag gauge of one partition: high watermark − next offset to consume.
    func lag(topic: String, partition: Int32) -> Gauge {
        registry.makeGauge(
            descriptor: Self.family("loanscore_stream_consumer_lag", "Messages in the partition after the bridge's position (high watermark − next offset)."),
            labels: [("topic", topic), ("partition", String(partition))])
    }
}
