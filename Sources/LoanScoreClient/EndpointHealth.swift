import LoanScoreProtocol
import NIOCore

/// Which of a configuration's endpoints are down, until when, and why: the pool's view of a
/// fleet (``LoanScoreClient/Failover``). A value kept under the pool's lock.
struct EndpointHealth {
    private struct Endpoint {
        /// Failures in a row (a successful connection resets it).
        var failures = 0
        /// Out of use until then; nil when up.
        var downUntil: NIODeadline?
        /// The last failure, in words.
        var lastFailure: String?
    }

    private var endpoints: [Endpoint]
    /// Where the next tie between equally loaded endpoints starts, so ties go round-robin.
    private var nextTie = 0

    init(count: Int) {
        endpoints = Array(repeating: Endpoint(), count: count)
    }

    /// Whether endpoint `index` may be given a new connection at `now`.
    func isUp(_ index: Int, now: NIODeadline) -> Bool {
        endpoints[index].downUntil.map { $0 <= now } ?? true
    }

    /// Whether some endpoint is up at `now`.
    func anyUp(now: NIODeadline) -> Bool {
        endpoints.indices.contains { isUp($0, now: now) }
    }

    /// The endpoint a new connection goes to: the least loaded of those up (`load[i]`:
    /// connections open or opening to endpoint i), ties taken in turn; when every endpoint is
    /// down, the one whose down period ends first (a probe).
    ///
    /// - Precondition: `load.count` is the number of endpoints, at least 1.
    mutating func choose(load: [Int], now: NIODeadline) -> Int {
        let count = endpoints.count
        var best: Int?
        for offset in 0..<count {
            let index = (nextTie + offset) % count
            guard isUp(index, now: now) else { continue }
            if best.map({ load[index] < load[$0] }) ?? true { best = index }
        }
        if let best {
            nextTie = (best + 1) % count
            return best
        }
        return endpoints.indices.min { (endpoints[$0].downUntil ?? now) < (endpoints[$1].downUntil ?? now) } ?? 0
    }

    /// Marks endpoint `index` down after `failure`, for ``LoanScoreClient/Failover/downTime(after:)``
    /// of its failures in a row; a failure while it is already down (another connection to it
    /// dropping) only updates the reason.
    ///
    /// - Returns: How long it is now down, nil when it already was.
    mutating func markDown(_ index: Int, failure: String, policy: LoanScoreClient.Failover, now: NIODeadline) -> Duration? {
        endpoints[index].lastFailure = failure
        guard isUp(index, now: now) else { return nil }
        endpoints[index].failures += 1
        let downTime = policy.downTime(after: endpoints[index].failures)
        endpoints[index].downUntil = now + downTime.timeAmount
        return downTime
    }

    /// Marks endpoint `index` up after a successful connection.
    ///
    /// - Returns: Whether it had failed before (so that coming back is logged).
    mutating func markUp(_ index: Int) -> Bool {
        let wasFailing = endpoints[index].failures > 0
        endpoints[index] = Endpoint()
        return wasFailing
    }

    /// Each endpoint of `addresses` with its last failure (or "not tried").
    func failures(_ addresses: [HostPort]) -> [LoanScoreClientError.EndpointFailure] {
        zip(addresses, endpoints).map { address, endpoint in
            LoanScoreClientError.EndpointFailure(endpoint: address.description, failure: endpoint.lastFailure ?? "not tried")
        }
    }
}
