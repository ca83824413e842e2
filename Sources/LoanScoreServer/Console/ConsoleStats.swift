import Foundation
import NIOConcurrencyHelpers

/// `GET /stats`: the traffic figures the console's Overview shows, read from the very text
/// `/metrics` emits (so the two always agree): applications by outcome and per second,
/// request latency p50/p99 (interpolated in the histogram's buckets, as Prometheus'
/// `histogram_quantile` does), errors by code, BUSY answers by reason, decisions by kind and
/// the approval rate (approve ÷ all decisions, every model version and role together).
final class ConsoleStats: Sendable {
    /// One sample of the application counter, for the rate.
    private struct Sample { var time: ContinuousClock.Instant; var applications: Double }
    private struct Rate { var last: Sample?; var perSecond: Double?; var window: Double? }

    private let started = ContinuousClock.now
    private let rate = NIOLockedValueBox(Rate())
    /// The shortest span a rate is computed over; samples are replaced once older than twice that.
    private let window: Duration

    init(window: Duration = .seconds(5)) {
        self.window = window
    }

    /// The `/stats` JSON object for the metrics text `exposition`; `models` lists the
    /// serving models (role, name, version).
    func document(exposition: String, models: [[String: String]]) -> [String: Any] {
        let samples = PrometheusText.parse(exposition)
        let applications = samples.sum("loanscore_applications_total", by: "outcome")
        let decisions = samples.sum("loanscore_decisions_total", by: "decision")
        let errors = samples.sum("loanscore_errors_total", by: "code")
        let busy = samples.sum("loanscore_busy_total", by: "reason")
        let decided = decisions.values.reduce(0, +)
        let total = applications.values.reduce(0, +)
        let (perSecond, span) = applicationRate(total: total)
        let buckets = samples.buckets("loanscore_request_duration_seconds")
        return [
            "uptime_seconds": (ContinuousClock.now - started).seconds,
            "models": models,
            "applications": applications, "applications_total": total,
            "applications_per_second": perSecond.map { $0 as Any } ?? NSNull(),
            "rate_window_seconds": span.map { $0 as Any } ?? NSNull(),
            "latency_seconds": [
                "p50": Self.quantile(0.5, buckets).map { $0 as Any } ?? NSNull(),
                "p99": Self.quantile(0.99, buckets).map { $0 as Any } ?? NSNull(),
                "requests": buckets.last?.count ?? 0,
            ] as [String: Any],
            "errors": errors, "busy": busy, "busy_total": busy.values.reduce(0, +),
            "decisions": decisions, "decisions_total": decided,
            "approval_rate": decided > 0 ? (decisions["approve", default: 0] / decided) as Any : NSNull(),
        ]
    }

    /// Applications per second since a sample at least ``window`` old (nil until one is),
    /// with the span it covers in seconds; whoever asks, the samples are shared.
    private func applicationRate(total: Double) -> (Double?, Double?) {
        let now = ContinuousClock.now
        return rate.withLockedValue { rate in
            guard let last = rate.last else {
                rate.last = Sample(time: now, applications: total)
                return (nil, nil)
            }
            let span = (now - last.time).seconds
            if now - last.time >= window {
                rate.perSecond = max(0, total - last.applications) / span
                rate.window = span
                rate.last = Sample(time: now, applications: total)
            }
            return (rate.perSecond, rate.window)
        }
    }

    /// The `q` quantile of a cumulative histogram (`le` ascending, the last +Inf), linearly
    /// interpolated within its bucket; nil without observations. A quantile in the +Inf
    /// bucket is the largest finite bound.
    static func quantile(_ q: Double, _ buckets: [(le: Double, count: Double)]) -> Double? {
        guard let total = buckets.last?.count, total > 0 else { return nil }
        let rank = q * total
        var lower = 0.0, below = 0.0
        for bucket in buckets {
            if bucket.count >= rank {
                guard bucket.le.isFinite else { return lower }
                let inBucket = bucket.count - below
                return inBucket > 0 ? lower + (bucket.le - lower) * (rank - below) / inBucket : bucket.le
            }
            lower = bucket.le
            below = bucket.count
        }
        return lower
    }
}

/// Samples of a Prometheus text exposition (version 0.0.4): name, labels and value per line.
struct PrometheusText {
    struct Sample { var name: String; var labels: [String: String]; var value: Double }
    var samples: [Sample]

    /// Parses every sample line (comments and malformed lines are skipped). O(text).
    static func parse(_ text: String) -> PrometheusText {
        var samples: [Sample] = []
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            let series = line[..<space]
            guard let brace = series.firstIndex(of: "{") else {
                samples.append(Sample(name: String(series), labels: [:], value: value))
                continue
            }
            samples.append(Sample(name: String(series[..<brace]), labels: labels(series[series.index(after: brace)...]), value: value))
        }
        return PrometheusText(samples: samples)
    }

    /// `key="value",…}` into a dictionary (backslash escapes kept as the one escaped character).
    private static func labels(_ text: Substring) -> [String: String] {
        var labels: [String: String] = [:]
        var key = "", value = "", inValue = false, escaped = false
        for character in text {
            if inValue {
                if escaped { value.append(character); escaped = false }
                else if character == "\\" { escaped = true }
                else if character == "\"" { labels[key] = value; key = ""; value = ""; inValue = false }
                else { value.append(character) }
            } else if character == "\"" {
                inValue = true
            } else if character != "=" && character != "," && character != "}" && character != " " {
                key.append(character)
            }
        }
        return labels
    }

    /// The family's samples summed per value of `label`.
    func sum(_ name: String, by label: String) -> [String: Double] {
        var sums: [String: Double] = [:]
        for sample in samples where sample.name == name {
            sums[sample.labels[label] ?? "", default: 0] += sample.value
        }
        return sums
    }

    /// A histogram's cumulative buckets over every label set, `le` ascending (+Inf last).
    func buckets(_ name: String) -> [(le: Double, count: Double)] {
        var counts: [Double: Double] = [:]
        for sample in samples where sample.name == name + "_bucket" {
            guard let bound = sample.labels["le"], let le = bound == "+Inf" ? Double.infinity : Double(bound) else { continue }
            counts[le, default: 0] += sample.value
        }
        return counts.sorted { $0.key < $1.key }.map { (le: $0.key, count: $0.value) }
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
