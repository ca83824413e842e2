import LoanScoreClient
import LoanScoreProtocol
import NIOConcurrencyHelpers
import NIOCore

/// The load generator's connections: `count` single-connection clients used round and round,
/// each replaced by a fresh one (new TCP connection, TLS handshake and HELLO) after
/// `reconnectEvery` requests when churn is asked for. A replaced client is closed (GOODBYE)
/// once the requests already given to it have their answers, so churn itself causes no
/// errors. With several endpoints (`--server` repeated), slot *i*'s client prefers endpoint
/// *i* mod *n* (its list starts there), so the connections are spread over the servers, and
/// each client fails over to the next endpoints in its list. Thread-safe.
final class ChurningConnections: Sendable {
    /// One client and the requests it is serving.
    private final class Lease: Sendable {
        let client: LoanScoreClient
        init(client: LoanScoreClient) { self.client = client }
    }

    private struct Slot {
        var lease: Lease
        /// Requests given to this slot's current client.
        var requests = 0
    }

    private struct State {
        var slots: [Slot]
        var next = 0
        /// Requests running on each lease, by identity; a retired lease closes at zero.
        var users: [ObjectIdentifier: Int] = [:]
        var retired: Set<ObjectIdentifier> = []
        var opened: Int
        var reconnected = 0
        /// Replacements being made and retired clients being closed, by number, each removed
        /// when done; ``close()`` waits for them.
        var background: [Int: Task<Void, Never>] = [:]
        var nextTask = 0
        var closing = false
    }

    private let configuration: LoanScoreClient.Configuration
    private let reconnectEvery: Int?
    private let group: (any EventLoopGroup)?
    private let state: NIOLockedValueBox<State>

    /// - Parameter group: The event loops the connections run on; nil: the SDK's default.
    /// - Throws: `LoanScoreClientError` when the TLS files cannot be loaded.
    init(configuration: LoanScoreClient.Configuration, count: Int, reconnectEvery: Int?, group: (any EventLoopGroup)? = nil) throws {
        self.configuration = configuration
        self.reconnectEvery = reconnectEvery
        self.group = group
        var slots: [Slot] = []
        for slot in 0..<max(1, count) {
            let configuration = Self.configuration(configuration, forSlot: slot)
            slots.append(Slot(lease: Lease(client: try LoanScoreClient(configuration: configuration, eventLoopGroup: group))))
        }
        state = NIOLockedValueBox(State(slots: slots, opened: slots.count))
    }

    /// `configuration` with its endpoints rotated to start at slot `slot`'s.
    private static func configuration(_ configuration: LoanScoreClient.Configuration, forSlot slot: Int) -> LoanScoreClient.Configuration {
        var rotated = configuration
        let endpoints = configuration.endpoints
        guard endpoints.count > 1 else { return rotated }
        let first = slot % endpoints.count
        rotated.endpoints = Array(endpoints[first...] + endpoints[..<first])
        return rotated
    }

    /// Connections opened so far, and how many of them replaced a closed one.
    var connectionCounts: (opened: Int, reconnected: Int) {
        state.withLockedValue { ($0.opened, $0.reconnected) }
    }

    /// Opens every connection; returns the first WELCOME.
    func connect() async throws(LoanScoreClientError) -> Welcome {
        let clients = state.withLockedValue { $0.slots.map(\.lease.client) }
        var first: Welcome?
        for client in clients {
            let welcome = try await client.connect()
            if first == nil { first = welcome }
        }
        guard let first else { throw LoanScoreClientError(.connectionClosed, "no connection to open") }
        return first
    }

    /// Scores `batch` on the next connection in turn.
    func score(_ request: ScoreRequest) async throws(LoanScoreClientError) -> ScoreResponse {
        let lease = acquire()
        defer { release(lease) }
        return try await lease.client.score(request)
    }

    /// Runs `body` with the next connection's client in turn (one request's worth of use: a
    /// client due for replacement is retired once `body` returns).
    func withNextClient<T>(_ body: (LoanScoreClient) async -> T) async -> T {
        let lease = acquire()
        defer { release(lease) }
        return await body(lease.client)
    }

    /// After a schema change: learns the server's current WELCOME from a new connection, then
    /// replaces every client whose connection still has another schema (one that has not met
    /// the change yet would otherwise refuse the new layout locally, again and again: a CI run
    /// recorded 252 such errors in the open loop), connects them all, and returns that WELCOME.
    /// The replacements count as reconnections in the report.
    func reconnect() async throws(LoanScoreClientError) -> Welcome {
        let probe: LoanScoreClient
        do {
            probe = try LoanScoreClient(configuration: configuration, eventLoopGroup: group)
        } catch {
            throw (error as? LoanScoreClientError) ?? LoanScoreClientError(.connectFailed, "\(error)")
        }
        let current: Welcome
        do {
            current = try await probe.connect()
        } catch {
            await probe.close()
            throw error
        }
        await probe.close()
        let stale = state.withLockedValue { state in
            state.slots.indices.filter { state.slots[$0].lease.client.welcome.map { $0.schema.hash != current.schema.hash } ?? false }
                .map { (state.slots[$0].lease, $0) }
        }
        for (lease, slot) in stale { replace(lease, inSlot: slot) }
        _ = try await connect()
        return current
    }

    /// Sends `request` once on the next connection in turn; the future completes on that
    /// connection's event loop (see `LoanScoreClient.submit(_:)`).
    func submit(_ request: ScoreRequest) -> EventLoopFuture<ScoreResponse> {
        let lease = acquire()
        let answer = lease.client.submit(request)
        answer.whenComplete { _ in self.release(lease) }
        return answer
    }

    /// Closes every connection, once the replacements being made and the retired clients
    /// being closed are done.
    func close() async {
        state.withLockedValue { $0.closing = true }  // no new replacements
        await waitForBackground()
        let clients = state.withLockedValue { state -> [LoanScoreClient] in
            state.retired.formUnion(state.slots.map { ObjectIdentifier($0.lease) })
            return state.slots.map(\.lease.client)
        }
        for client in clients { await client.close() }
        await waitForBackground()
    }

    /// Waits until no replacement or close runs in the background.
    private func waitForBackground() async {
        while let task = state.withLockedValue({ $0.background.values.first }) { await task.value }
    }

    /// Runs `work` in a task that ``close()`` waits for.
    private func inBackground(_ work: @escaping @Sendable () async -> Void) {
        state.withLockedValue { state in
            let number = state.nextTask
            state.nextTask += 1
            // The task removes itself under the lock, which is held until it is registered.
            state.background[number] = Task {
                await work()
                self.state.withLockedValue { _ = $0.background.removeValue(forKey: number) }
            }
        }
    }

    /// Takes the next slot's client for one request; when that client has had its share of
    /// requests, starts making a new client for its slot, which then retires the old one
    /// (closed by ``release(_:)`` after its last request). Never blocks: the open loop calls
    /// this on its event loop.
    private func acquire() -> Lease {
        let (lease, slot, due) = state.withLockedValue { state -> (Lease, Int, Bool) in
            let index = state.next % state.slots.count
            state.next &+= 1
            let lease = state.slots[index].lease
            state.users[ObjectIdentifier(lease), default: 0] += 1
            state.slots[index].requests += 1
            return (lease, index, state.slots[index].requests == reconnectEvery && !state.closing)
        }
        // Made off the caller's thread (loading the TLS files takes a while); until then, and
        // for good if it cannot be made, the old connection stays.
        if due { inBackground { self.replace(lease, inSlot: slot) } }
        return lease
    }

    /// Puts a new client in `slot` in place of `lease` and retires `lease`, closing it now if
    /// no request is using it.
    private func replace(_ lease: Lease, inSlot slot: Int) {
        guard let replacement = try? LoanScoreClient(configuration: Self.configuration(configuration, forSlot: slot), eventLoopGroup: group)
        else { return }
        let idle = state.withLockedValue { state -> Bool in
            guard state.slots[slot].lease === lease else { return false }
            let id = ObjectIdentifier(lease)
            state.slots[slot] = Slot(lease: Lease(client: replacement))
            state.opened += 1
            state.reconnected += 1
            guard state.users[id] != nil else { return true }
            state.retired.insert(id)
            return false
        }
        if idle { closeInBackground(lease) }
    }

    /// Ends one request on `lease`; closes a retired client once its last request is answered.
    private func release(_ lease: Lease) {
        let id = ObjectIdentifier(lease)
        let closeNow = state.withLockedValue { state -> Bool in
            let remaining = (state.users[id] ?? 1) - 1
            state.users[id] = remaining > 0 ? remaining : nil
            guard remaining <= 0, state.retired.contains(id) else { return false }
            state.retired.remove(id)
            return true
        }
        if closeNow { closeInBackground(lease) }
    }

    /// Closes `lease`'s client (GOODBYE) in a task that ``close()`` waits for.
    private func closeInBackground(_ lease: Lease) {
        inBackground { await lease.client.close() }
    }
}
