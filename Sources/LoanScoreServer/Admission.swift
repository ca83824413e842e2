import Atomics
import NIOCore

/// Why a request was answered BUSY (the `reason` label of `loanscore_busy_total`).
enum BusyReason: String, Sendable, CaseIterable {
    /// The connection has `limits.max_in_flight_per_connection` requests unanswered.
    case connectionInFlight = "connection_in_flight"
    /// The server has `limits.max_in_flight` requests unanswered.
    case serverInFlight = "server_in_flight"
    /// The oldest queued request has waited longer than `limits.max_queue_delay_ms`.
    case queueDelay = "queue_delay"
    /// Admitting the request would put more than `limits.max_queued_applications` applications
    /// in the worker queue.
    case queuedApplications = "queued_applications"
    /// The worker queue refused the job (its capacity is `limits.max_in_flight`).
    case queueFull = "queue_full"

    /// The BUSY message the client reads.
    var message: String {
        switch self {
        case .connectionInFlight: "too many requests in flight on this connection; retry later"
        case .serverInFlight: "too many requests in flight; retry later"
        case .queueDelay: "overloaded: the oldest queued request has waited longer than the queue delay limit; retry later or elsewhere"
        case .queuedApplications: "overloaded: too many applications queued; retry later or elsewhere"
        case .queueFull: "the worker queue is full; retry later"
        }
    }
}

/// Admission by work: how many applications wait for a worker, how long they will take, and
/// how long the oldest waiting request has waited. Shared by every connection; lock-free.
///
/// Two estimates of the queue delay, either of which refuses a request once it passes the
/// limit: the *predicted* wait of a new request (applications queued × the measured worker
/// time per application ÷ workers), which reacts at once to work just admitted — an event
/// loop that reads a backlog of frames in one go would otherwise admit all of them before
/// the queue has had time to age — and the *observed* age of the oldest queued request, which
/// catches what the prediction misses (a stalled worker, a slow audit append).
///
/// A request is admitted (``admit(applications:now:)``) before its columns are decoded, from
/// the count in its first 36 bytes, and leaves the queue when a worker starts it
/// (``started(applications:enqueuedAt:now:)``). While requests are queued, the age of the
/// oldest is estimated as the time since the enqueue instant of the last request a worker
/// started (the queue is FIFO, so every request still queued arrived at or after it): an
/// overestimate by at most one inter-arrival gap, which is small exactly when it matters
/// (under load). When the queue empties the age is 0, and the first request to arrive at an
/// empty queue starts the clock again.
///
/// Instants are `NIODeadline.uptimeNanoseconds` (monotonic).
final class AdmissionControl: Sendable {
    /// Applications admitted and not yet started by a worker.
    private let queuedApplications = ManagedAtomic<Int>(0)
    /// Requests admitted and not yet started.
    private let queuedRequests = ManagedAtomic<Int>(0)
    /// A lower bound of the enqueue instant of the oldest queued request (only grows).
    private let head = ManagedAtomic<UInt64>(0)
    /// Most applications allowed to wait for a worker.
    let maximumQueuedApplications: Int
    /// Longest the oldest queued request may wait before new ones are refused, in nanoseconds.
    let maximumQueueDelay: UInt64
    /// Worker threads sharing the queue.
    let workers: Int
    /// Worker time per application in picoseconds (an exponentially weighted moving average of
    /// finished requests; 0 until the first). Updated without a lock: a lost update only
    /// delays the average by one sample.
    private let picosecondsPerApplication = ManagedAtomic<Int>(0)

    /// - Parameters:
    ///   - maximumQueuedApplications: applications allowed to wait (at least one batch).
    ///   - maximumQueueDelayMilliseconds: age of the oldest queued request beyond which new
    ///     requests are answered BUSY; 0 disables the check.
    ///   - workers: the worker threads that take requests from the queue.
    init(maximumQueuedApplications: Int, maximumQueueDelayMilliseconds: Int, workers: Int = 1) {
        self.maximumQueuedApplications = maximumQueuedApplications
        self.workers = max(1, workers)
        maximumQueueDelay = UInt64(max(0, maximumQueueDelayMilliseconds)) * 1_000_000
    }

    /// Reserves queue room for a request of `applications`, or says why not. On success the
    /// caller must later call ``started(applications:enqueuedAt:now:)`` (a worker took it) or
    /// ``withdraw(applications:)`` (it never reached the queue) exactly once.
    func admit(applications: Int, now: UInt64) -> BusyReason? {
        if maximumQueueDelay > 0, let age = oldestAge(now: now), age > maximumQueueDelay || predictedDelay() > maximumQueueDelay {
            return .queueDelay
        }
        let queued = queuedApplications.wrappingIncrementThenLoad(by: applications, ordering: .relaxed)
        // A lone request is always admitted (validation keeps the bound ≥ one maximum batch).
        if queued > maximumQueuedApplications && queued != applications {
            queuedApplications.wrappingDecrement(by: applications, ordering: .relaxed)
            return .queuedApplications
        }
        if queuedRequests.loadThenWrappingIncrement(ordering: .acquiringAndReleasing) == 0 {
            advanceHead(to: now)  // an empty queue: the clock starts with this request
        }
        return nil
    }

    /// A worker started a request admitted at `enqueuedAt`; returns how long it waited (ns).
    @discardableResult
    func started(applications: Int, enqueuedAt: UInt64, now: UInt64) -> UInt64 {
        advanceHead(to: enqueuedAt)
        queuedRequests.wrappingDecrement(ordering: .acquiringAndReleasing)
        queuedApplications.wrappingDecrement(by: applications, ordering: .relaxed)
        return now >= enqueuedAt ? now - enqueuedAt : 0
    }

    /// Gives back the room of an admitted request that never reached a worker (its decode
    /// failed or the worker queue refused it).
    func withdraw(applications: Int) {
        queuedRequests.wrappingDecrement(ordering: .acquiringAndReleasing)
        queuedApplications.wrappingDecrement(by: applications, ordering: .relaxed)
    }

    /// A worker finished a request of `applications` that kept it busy `nanoseconds`.
    func finished(applications: Int, nanoseconds: UInt64) {
        guard applications > 0 else { return }
        let sample = Int(clamping: nanoseconds &* 1_000) / applications
        let average = picosecondsPerApplication.load(ordering: .relaxed)
        picosecondsPerApplication.store(average == 0 ? sample : average + (sample - average) / 8, ordering: .relaxed)
    }

    /// How long a request admitted now would wait for a worker, in nanoseconds: the queued
    /// applications at the measured worker time each, shared by the workers.
    func predictedDelay() -> UInt64 {
        let queued = queuedApplications.load(ordering: .relaxed)
        let picoseconds = picosecondsPerApplication.load(ordering: .relaxed)
        guard queued > 0, picoseconds > 0 else { return 0 }
        return UInt64(queued) &* UInt64(picoseconds) / 1_000 / UInt64(workers)
    }

    /// The estimated age of the oldest queued request in nanoseconds; nil when none is queued.
    func oldestAge(now: UInt64) -> UInt64? {
        guard queuedRequests.load(ordering: .acquiring) > 0 else { return nil }
        let since = head.load(ordering: .relaxed)
        return now > since ? now - since : 0
    }

    /// Applications waiting for a worker.
    var applicationsQueued: Int { queuedApplications.load(ordering: .relaxed) }

    /// Raises ``head`` to `instant` (never lowers it: instants from racing threads arrive out of order).
    private func advanceHead(to instant: UInt64) {
        var current = head.load(ordering: .relaxed)
        while current < instant {
            let (exchanged, original) = head.weakCompareExchange(expected: current, desired: instant, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }

    /// Now, in the unit ``admit(applications:now:)`` takes.
    static var now: UInt64 { NIODeadline.now().uptimeNanoseconds }
}
