import NIOConcurrencyHelpers

/// Per-client quotas: a token bucket of applications per client identity (the mutual-TLS
/// certificate subject, else the source address), refilled at the client's rate up to its
/// burst (``ServerConfiguration/Quotas``). Shared by every connection; one lock around a
/// dictionary of buckets, held for a few arithmetic operations per request.
///
/// A request of `n` applications is admitted when the bucket holds `n` tokens (or is full,
/// for a batch larger than the burst: the bucket then goes into debt, so the average rate
/// still holds) and takes them; otherwise it is refused with the time after which it would be
/// admitted. Buckets of idle clients (full again) are dropped when there are many, so the
/// table stays bounded by the clients active within about one burst's refill time.
final class ClientQuotas: Sendable {
    /// A client's rate and burst, in applications per second and applications.
    struct Limit: Sendable, Equatable {
        var rate: Double
        var burst: Double
    }

    private struct Bucket {
        var tokens: Double
        var updated: UInt64  // ns, AdmissionControl.now
        var limit: Limit
    }

    private let configuration: ServerConfiguration.Quotas
    private let buckets = NIOLockedValueBox([String: Bucket]())
    /// Above this many buckets, full (idle) ones are dropped on the next insertion.
    static let sweepThreshold = 4096

    init(configuration: ServerConfiguration.Quotas) {
        self.configuration = configuration
    }

    /// Whether any client has a quota (else ``take(_:client:now:)`` always admits).
    var isEnabled: Bool {
        configuration.applicationsPerSecond > 0 || configuration.clients.values.contains { $0.applicationsPerSecond > 0 }
    }

    /// The limit of `client`, nil when it has none (unlimited).
    func limit(for client: String) -> Limit? {
        let rate: Double, burst: Double
        if let override = configuration.clients[client] {
            (rate, burst) = (override.applicationsPerSecond, override.burstApplications)
        } else {
            (rate, burst) = (configuration.applicationsPerSecond, configuration.burstApplications)
        }
        guard rate > 0 else { return nil }
        return Limit(rate: rate, burst: burst > 0 ? burst : rate)  // default burst: one second's worth
    }

    /// Takes `applications` tokens from `client`'s bucket; returns nil when admitted, else
    /// how long (ns) until the request would be admitted.
    func take(_ applications: Int, client: String, now: UInt64) -> UInt64? {
        guard let limit = limit(for: client) else { return nil }
        let wanted = Double(applications)
        return buckets.withLockedValue { buckets -> UInt64? in
            var bucket = buckets[client] ?? Bucket(tokens: limit.burst, updated: now, limit: limit)
            if buckets[client] == nil && buckets.count >= Self.sweepThreshold { Self.sweep(&buckets, now: now) }
            let elapsed = now > bucket.updated ? Double(now - bucket.updated) / 1e9 : 0
            bucket.tokens = min(limit.burst, bucket.tokens + elapsed * limit.rate)
            bucket.updated = now
            bucket.limit = limit
            let needed = min(wanted, limit.burst)
            guard bucket.tokens >= needed else {
                buckets[client] = bucket
                return UInt64(((needed - bucket.tokens) / limit.rate * 1e9).rounded(.up))
            }
            bucket.tokens -= wanted
            buckets[client] = bucket
            return nil
        }
    }

    /// Gives back the tokens of a request that was admitted here but refused afterwards (BUSY).
    func refund(_ applications: Int, client: String) {
        buckets.withLockedValue { buckets in
            guard var bucket = buckets[client] else { return }
            bucket.tokens = min(bucket.limit.burst, bucket.tokens + Double(applications))
            buckets[client] = bucket
        }
    }

    /// Buckets currently held (for tests).
    var bucketCount: Int { buckets.withLockedValue { $0.count } }

    private static func sweep(_ buckets: inout [String: Bucket], now: UInt64) {
        buckets = buckets.filter { _, bucket in
            let elapsed = now > bucket.updated ? Double(now - bucket.updated) / 1e9 : 0
            return bucket.tokens + elapsed * bucket.limit.rate < bucket.limit.burst
        }
    }
}
