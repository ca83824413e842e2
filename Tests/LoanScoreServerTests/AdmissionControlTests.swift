@testable import LoanScoreServer
import Testing

/// Admission by queued work, with instants given by the test (nanoseconds).
@Suite("admission control")
struct AdmissionControlTests {
    static let ms: UInt64 = 1_000_000

    @Test func refusesOnceTheOldestQueuedRequestIsOlderThanTheLimit() {
        let admission = AdmissionControl(maximumQueuedApplications: 10_000, maximumQueueDelayMilliseconds: 50)
        let t0: UInt64 = 1_000 * Self.ms
        #expect(admission.admit(applications: 256, now: t0) == nil)
        #expect(admission.admit(applications: 256, now: t0 + 10 * Self.ms) == nil)
        #expect(admission.oldestAge(now: t0 + 40 * Self.ms) == 40 * Self.ms)
        #expect(admission.admit(applications: 256, now: t0 + 51 * Self.ms) == .queueDelay)
        // A worker starts the first: the oldest still queued arrived at t0 + 10 ms or later.
        admission.started(applications: 256, enqueuedAt: t0, now: t0 + 52 * Self.ms)
        #expect(admission.oldestAge(now: t0 + 52 * Self.ms) == 52 * Self.ms)  // bounded by the started one's enqueue instant
        admission.started(applications: 256, enqueuedAt: t0 + 10 * Self.ms, now: t0 + 53 * Self.ms)
        #expect(admission.oldestAge(now: t0 + 53 * Self.ms) == nil)  // empty: no age
        // An empty queue admits at once, however long ago the last request waited.
        #expect(admission.admit(applications: 256, now: t0 + 500 * Self.ms) == nil)
        #expect(admission.oldestAge(now: t0 + 501 * Self.ms) == Self.ms)
    }

    @Test func boundsTheQueuedApplicationsButAlwaysAdmitsALoneRequest() {
        let admission = AdmissionControl(maximumQueuedApplications: 1_000, maximumQueueDelayMilliseconds: 0)
        #expect(admission.admit(applications: 600, now: 1) == nil)
        #expect(admission.admit(applications: 600, now: 2) == .queuedApplications)
        #expect(admission.applicationsQueued == 600)
        #expect(admission.admit(applications: 400, now: 3) == nil)
        admission.withdraw(applications: 400)
        admission.started(applications: 600, enqueuedAt: 1, now: 4)
        #expect(admission.applicationsQueued == 0)
        #expect(admission.admit(applications: 4_096, now: 5) == nil)  // alone in the queue
        #expect(admission.oldestAge(now: 10_000 * Self.ms) != nil)  // delay check off: no refusal below
        #expect(admission.admit(applications: 1, now: 10_000 * Self.ms) == .queuedApplications)
    }
}

/// Per-client token buckets, with instants given by the test (nanoseconds).
@Suite("client quotas")
struct ClientQuotasTests {
    static let second: UInt64 = 1_000_000_000

    func quotas() -> ClientQuotas {
        var configuration = ServerConfiguration.Quotas()
        configuration.applicationsPerSecond = 100
        configuration.burstApplications = 200
        configuration.clients["/CN=big"] = .init(applicationsPerSecond: 10_000)
        configuration.clients["/CN=exempt"] = .init(applicationsPerSecond: 0)
        return ClientQuotas(configuration: configuration)
    }

    @Test func aBucketRefillsAtTheClientsRateAndSaysWhenToRetry() {
        let quotas = quotas()
        let t0 = 10 * Self.second
        #expect(quotas.take(150, client: "10.0.0.1", now: t0) == nil)
        #expect(quotas.take(100, client: "10.0.0.1", now: t0) == Self.second / 2)  // 50 left, 50 more at 100/s
        #expect(quotas.take(100, client: "10.0.0.2", now: t0) == nil)  // another client: its own bucket
        #expect(quotas.take(100, client: "10.0.0.1", now: t0 + Self.second / 2) == nil)
        quotas.refund(100, client: "10.0.0.1")
        #expect(quotas.take(100, client: "10.0.0.1", now: t0 + Self.second / 2) == nil)
    }

    @Test func overridesAndExemptionsAndLargeBatches() {
        let quotas = quotas()
        #expect(quotas.limit(for: "/CN=big") == .init(rate: 10_000, burst: 10_000))
        #expect(quotas.limit(for: "/CN=exempt") == nil)
        #expect(quotas.take(1_000_000, client: "/CN=exempt", now: 1) == nil)
        // A batch above the burst is admitted from a full bucket, then the client owes it.
        #expect(quotas.take(500, client: "10.0.0.3", now: Self.second) == nil)
        #expect(quotas.take(1, client: "10.0.0.3", now: Self.second) == UInt64(3.01 * Double(Self.second)))
    }
}

/// The predicted wait: queued applications at the measured worker time each, per worker.
@Suite("admission prediction")
struct AdmissionPredictionTests {
    @Test func refusesWorkThatWouldWaitLongerThanTheLimitBeforeTheQueueHasAged() {
        let admission = AdmissionControl(maximumQueuedApplications: 100_000, maximumQueueDelayMilliseconds: 50, workers: 2)
        admission.finished(applications: 256, nanoseconds: 256 * 20_000)  // 20 µs per application
        #expect(admission.predictedDelay() == 0)
        // 4,096 applications: 4096 × 20 µs ÷ 2 workers = 41 ms; admitted at one instant.
        for _ in 0..<16 { #expect(admission.admit(applications: 256, now: 1_000) == nil) }
        #expect(admission.predictedDelay() == 40_960_000)
        // A request's predicted wait is the work queued before it: refused once that passes
        // 50 ms, at once, though the oldest has not aged at all.
        for _ in 0..<4 { #expect(admission.admit(applications: 256, now: 1_000) == nil) }  // waits 41.0 ... 48.6 ms
        #expect(admission.admit(applications: 256, now: 1_000) == .queueDelay)  // would wait 51.2 ms
    }
}
