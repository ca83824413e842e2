public import LoanScoreProtocol
import LoanScoreTLS
import Logging
public import NIOCore
import NIOPosix
import NIOConcurrencyHelpers

/// The LoanScore client SDK: scores batches of loan applications on a LoanScore server.
///
/// A client keeps a small pool of TLS connections (``Configuration/connections``), each
/// pipelining many requests (up to WELCOME's maximum in flight). Every call has a deadline
/// and is retried with exponential backoff and jitter on `BUSY`, on a dropped connection and
/// on a schema change (scoring is idempotent). Connections open on the first call, or
/// up front with ``connect()``; ``close()`` says GOODBYE and waits for the answers in flight.
///
/// ```swift
/// import LoanScoreClient
///
/// let client = try LoanScoreClient(configuration: .init(
///     host: "scoring.internal", port: 7443,
///     tls: .init(caFile: "/etc/loanscore/ca.pem",
///                certificateFile: "/etc/loanscore/client.pem",   // mutual TLS, if the server requires it
///                privateKeyFile: "/etc/loanscore/client.key")))
/// let welcome = try await client.connect()
/// print("scoring with \(welcome.modelName) \(welcome.modelVersion)")
///
/// let response = try await client.score([
///     ApplicationInput(id: "app-001", values: ["Seniority": .number(9), "Home": .text("rent"), "Income": .number(130)]),
/// ])
/// for result in response.results {
///     switch result {
///     case .scored(let score): print(score.pd, score.decision, score.reasons)
///     case .invalid(_, let message): print("invalid:", message)
///     }
/// }
/// try await client.close()
/// ```
///
/// Failures are ``LoanScoreClientError``s; match on their ``LoanScoreClientError/code-swift.property``.
/// A client is `Sendable`: share one across tasks.
///
/// ## Backing off
///
/// The client never loops hot on a server that answers errors: each retry of a call waits
/// longer than the one before (``RetryPolicy``: exponential from 10 ms, doubled per failed
/// attempt, capped at 1 s, each wait drawn in [d/2, d] so that clients refused together do not
/// come back together), a call makes at most ``RetryPolicy/maximumAttempts`` attempts within its
/// ``Configuration/deadline``, and each call starts the schedule again (a success resets it).
/// A caller that loops over calls itself should back off the same way after consecutive
/// failures: ``RetryPolicy/backoff(after:)`` gives the schedule (`loanscore-load`'s closed
/// loop uses it).
///
/// ## A fleet
///
/// Give several servers (``Configuration/init(endpoints:tls:connections:maximumInFlightPerConnection:compressionThreshold:deadline:retry:connectTimeout:clientName:logger:)``)
/// and at least as many ``Configuration/connections``: the pool spreads its connections over
/// them, keeps an endpoint that refused a connection or dropped one out of use for a while
/// (``Failover``), and sends a request that got no answer to another one within the call's
/// deadline. A request whose connection dropped after it was sent may have been scored and
/// audited already: sent again, it is scored at least once (the default); with
/// ``Failover/resendsUnansweredRequests`` false the call fails instead, at most once
/// (PROTOCOL.md §2.1).
///
/// ```swift
/// var configuration = LoanScoreClient.Configuration(
///     endpoints: [HostPort(host: "10.0.1.11", port: 7443), HostPort(host: "10.0.1.12", port: 7443)],
///     tls: .init(caFile: "/etc/loanscore/ca.pem"), connections: 4)
/// configuration.failover.resendsUnansweredRequests = false   // at most once
/// ```
///
/// ## Schema changes
///
/// When the server reloads a bundle with another schema, a request laid out for the old one is
/// answered SCHEMA_MISMATCH. The client then closes its connections that announced the old
/// schema, reconnects for the new WELCOME, lays the batch out again and sends it, once per
/// schema change and without backing off. A field the new schema dropped fails the call
/// under ``UnknownFieldPolicy/reject`` (the default) and is left out, and counted in
/// ``ScoredBatch/ignoredFields``, under ``UnknownFieldPolicy/ignore``
/// (``Configuration/unknownFields``).
public final class LoanScoreClient: Sendable {
    /// The configuration the client was made with.
    public let configuration: Configuration
    private let tlsContext: TLSContext
    private let group: any EventLoopGroup
    /// Guarded by a pthread mutex (NIOLockedValueBox), which the thread sanitizer understands.
    private let pool: NIOLockedValueBox<Pool>

    private enum Slot {
        case empty
        case connecting(Task<Connection, any Error>)
        case connected(Connection)
    }

    private struct Pool {
        var slots: [Slot]
        var next = 0
        var closed = false
        var welcome: Welcome?
        /// Increases each time a slot is replaced, so a stale completion cannot overwrite a newer one.
        var generation: [Int]
        /// The endpoint (index in ``Configuration/endpoints``) of each slot's connection, open or opening.
        var endpointOfSlot: [Int]
        var health: EndpointHealth

        /// Connections open (and usable) or opening to each of `count` endpoints, `except` one slot.
        func load(endpoints count: Int, except: Int) -> [Int] {
            var load = Array(repeating: 0, count: count)
            for (index, slot) in slots.enumerated() where index != except {
                switch slot {
                case .connecting: load[endpointOfSlot[index]] += 1
                case .connected(let connection) where connection.isUsable: load[endpointOfSlot[index]] += 1
                case .connected, .empty: break
                }
            }
            return load
        }

        /// A slot with no usable connection and none opening, while some endpoint is up: one to
        /// open again in the background, so a dead endpoint's connections move to the others.
        func slotToRevive(now: NIODeadline) -> Int? {
            guard !closed, health.anyUp(now: now) else { return nil }
            return slots.indices.first { index in
                switch slots[index] {
                case .empty: return true
                case .connected(let connection): return !connection.isUsable
                case .connecting: return false
                }
            }
        }

        /// The next slot, round-robin from ``next``, whose connection is open and usable (and
        /// moves ``next`` past it); nil when there is none.
        ///
        /// - Throws: `connectionClosed` once the client is closed.
        mutating func nextUsableSlot() throws(LoanScoreClientError) -> Int? {
            guard !closed else { throw LoanScoreClientError(.connectionClosed, "the client is closed") }
            let count = slots.count
            for offset in 0..<count {
                let index = (next + offset) % count
                if case .connected(let connection) = slots[index], connection.isUsable {
                    next = (index + 1) % count
                    return index
                }
            }
            return nil
        }

        /// The connection of ``nextUsableSlot()``.
        mutating func nextUsable() throws(LoanScoreClientError) -> Connection? {
            guard let index = try nextUsableSlot(), case .connected(let connection) = slots[index] else { return nil }
            return connection
        }
    }

    /// Creates a client; no connection is opened until ``connect()`` or the first call.
    ///
    /// - Parameters:
    ///   - configuration: Where to connect and how.
    ///   - eventLoopGroup: The NIO event loops the connections run on; `nil` (the default)
    ///     uses NIO's shared `MultiThreadedEventLoopGroup.singleton`.
    /// - Throws: ``LoanScoreClientError`` `tlsFailed` when the CA, certificate or key file
    ///   cannot be loaded or OpenSSL refuses the ``TLS/policy`` (naming the setting); `invalidInput` for a configuration that cannot work (no connections,
    ///   a port out of range, no endpoint). An endpoint given more than once counts once.
    public init(configuration: Configuration, eventLoopGroup: (any EventLoopGroup)? = nil) throws {
        var configuration = configuration
        var named = Set<HostPort>()
        configuration.endpoints = configuration.endpoints.filter { named.insert($0).inserted }  // a repeat counts once
        guard configuration.connections >= 1 else {
            throw LoanScoreClientError(.invalidInput, "connections must be at least 1, not \(configuration.connections)")
        }
        guard !configuration.endpoints.isEmpty else {
            throw LoanScoreClientError(.invalidInput, "no endpoint: give at least one server's HOST:PORT")
        }
        for endpoint in configuration.endpoints where !(0...65_535).contains(endpoint.port) {
            throw LoanScoreClientError(.invalidInput, "port \(endpoint.port) of \(endpoint) is not a TCP port")
        }
        guard configuration.retry.maximumAttempts >= 1 else {
            throw LoanScoreClientError(.invalidInput, "retry.maximumAttempts must be at least 1")
        }
        do {
            tlsContext = try TLSContext(configuration: configuration.tls.makeTLSConfiguration(host: configuration.host))
        } catch {
            throw LoanScoreClientError(.tlsFailed, "cannot load the TLS configuration: \(error)")
        }
        self.configuration = configuration
        self.group = eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton
        let count = configuration.connections
        pool = NIOLockedValueBox(Pool(
            slots: Array(repeating: .empty, count: count), generation: Array(repeating: 0, count: count),
            endpointOfSlot: Array(repeating: 0, count: count), health: EndpointHealth(count: configuration.endpoints.count)))
    }

    /// How many endpoints an "every endpoint is down" message names (``LoanScoreClientError/endpointFailures`` has them all).
    static let endpointsNamedInMessages = 5

    /// The WELCOME of the most recently opened connection: the served model's name and
    /// version, its ``LoanScoreProtocol/WireSchema`` (field names and wire types in column
    /// order) and the server's limits. `nil` until a connection has been opened.
    public var welcome: Welcome? {
        pool.withLock { $0.welcome }
    }

    /// Opens every connection of the pool (those not open yet) and waits for their WELCOMEs.
    /// With several ``Configuration/endpoints``, the connections are spread over them, and a
    /// connection an endpoint refuses is opened on another one that is up.
    ///
    /// - Returns: The WELCOME of the first connection.
    /// - Throws: ``LoanScoreClientError`` `connectFailed`, `tlsFailed`, `handshakeFailed` or
    ///   `connectionClosed` (the first failure, after every endpoint was tried for it;
    ///   connections that did open stay open). With every endpoint down, the error's
    ///   ``LoanScoreClientError/endpointFailures`` names each one and its last failure.
    @discardableResult
    public func connect() async throws(LoanScoreClientError) -> Welcome {
        let count = configuration.connections
        var first: Welcome?
        var firstError: LoanScoreClientError?
        for index in 0..<count {
            do {
                let connection = try await connectionSkippingDownEndpoints(slot: index)
                if first == nil { first = connection.welcome }
            } catch {
                if firstError == nil { firstError = error }
            }
        }
        if let firstError { throw firstError }
        return first!
    }

    /// Scores one batch of applications.
    ///
    /// The batch is laid out in the served schema's column order (WELCOME), sent on one of the
    /// pool's connections (LZ4-compressed above ``Configuration/compressionThreshold``) and
    /// answered with one result per application, in the batch's order: *scored* (PD, risk
    /// level, decision, confidence, reason codes) or *invalid* (the server's message naming
    /// the field and value). One invalid application never fails its batch. Batches are not
    /// split: send at most WELCOME's maximum batch.
    ///
    /// Retryable failures (see ``LoanScoreClientError/isRetryable``) are retried under
    /// ``Configuration/retry`` within ``Configuration/deadline``, backing off exponentially
    /// with jitter (``RetryPolicy``). When the server's schema changed (a reload), the batch
    /// is laid out again for the new WELCOME and sent at once, once per schema change, without
    /// using up an attempt; a field the new schema dropped then fails the call
    /// (``UnknownFieldPolicy/reject``) or is left out (``UnknownFieldPolicy/ignore``; see
    /// ``scoreDetailed(_:)`` for what was left out).
    ///
    /// - Parameter batch: One or more applications.
    /// - Returns: The server's SCORE_RESPONSE: the version of the model that scored the batch
    ///   and the results. A result a challenger decided (a server in split mode; the client
    ///   speaks protocol version 2) names its own version in ``LoanScoreProtocol/ScoredApplication/modelVersion``;
    ///   nil there means the response's.
    /// - Throws: ``LoanScoreClientError``: `invalidInput` (empty batch, unknown field under
    ///   `.reject`, wrong wire type) and `batchTooLarge` before anything is sent; `timeout` when
    ///   the deadline passes; otherwise the last attempt's error (`busy`, `connectionClosed`,
    ///   `schemaMismatch`, `server(code)`, `connectFailed`, `tlsFailed`, `handshakeFailed`).
    public func score(_ batch: [ApplicationInput]) async throws(LoanScoreClientError) -> ScoreResponse {
        try await scoreDetailed(batch).response
    }

    /// Scores one batch of applications as ``score(_:)-([ApplicationInput])`` does, and says
    /// what the client did to send it: the WELCOME (model version and schema) the batch was
    /// laid out for, the fields left out under ``UnknownFieldPolicy/ignore``, and how many
    /// schema changes it went through.
    ///
    /// - Parameter batch: One or more applications.
    /// - Returns: The answer and how it was sent (``ScoredBatch``).
    /// - Throws: ``LoanScoreClientError``, as ``score(_:)-([ApplicationInput])``.
    /// - Complexity: O(applications × fields) per attempt to lay the batch out.
    public func scoreDetailed(_ batch: [ApplicationInput]) async throws(LoanScoreClientError) -> ScoredBatch {
        guard !batch.isEmpty else {
            throw LoanScoreClientError(.invalidInput, "the batch is empty: send at least one application")
        }
        let (scored, schemaChanges) = try await withRetries { deadline throws(LoanScoreClientError) in
            try await self.attemptScore(batch, deadline: deadline)
        }
        var result = scored
        result.schemaChanges = schemaChanges
        return result
    }

    /// Sends a batch already laid out in the served schema's columns: a ``ScoreRequest`` built
    /// against ``welcome``'s schema (``LoanScoreProtocol/ScoreRequest/init(schemaHash:applicationIDs:columns:)``:
    /// one column per field, in WELCOME's order, of the field's wire type), for a caller that
    /// sends the same batches many times (a load generator, a replay) and would otherwise pay
    /// for laying them out on every call. Retried as ``score(_:)-([ApplicationInput])`` is,
    /// except that a batch laid out for another schema is not laid out again: that fails at
    /// once.
    ///
    /// - Throws: ``LoanScoreClientError``: `schemaMismatch`, not retried, when the request's
    ///   schema hash is not that of the connection it would go on (the model was reloaded:
    ///   lay it out again against the new ``welcome``) or the server says so;
    ///   `invalidInput` when its columns do not match the schema (count or wire types) and
    ///   `batchTooLarge` before anything is sent; otherwise as
    ///   ``score(_:)-([ApplicationInput])``.
    public func score(_ request: ScoreRequest) async throws(LoanScoreClientError) -> ScoreResponse {
        try await withRetries(retrying: { $0.code != .schemaMismatch }) { deadline throws(LoanScoreClientError) in
            let connection = try await self.leaseConnection()
            try Self.check(request, against: connection.welcome)
            return try await self.send(request, on: connection, deadline: deadline)
        }.result
    }

    /// Sends a batch laid out in the served schema's columns once, without retries, and
    /// returns a future of its answer. For callers that drive requests from a NIO event loop
    /// themselves (a load generator sending at fixed times): called on the loop of the
    /// connection the request goes on, nothing hops between threads.
    ///
    /// The request goes on the next open, usable connection of the pool, round-robin, and the
    /// future completes on that connection's event loop. When no connection is open yet, one
    /// is opened first (within ``Configuration/connectTimeout``), and the future, made before
    /// the connection exists, completes on one of the client's event loops; so does the
    /// failure of a closed client. The answer's deadline is ``Configuration/deadline`` from
    /// this call.
    ///
    /// A request handed to a connection that started closing before the request left it (see
    /// ``LoanScoreClientError/closingBeforeSent``) was never sent; it goes on the next usable
    /// connection instead (up to ``closingResends`` times), so it is still sent at most once.
    ///
    /// - Returns: A future of the server's SCORE_RESPONSE, or failed with
    ///   ``LoanScoreClientError``: as ``score(_:)-(ScoreRequest)`` throws, but the first
    ///   failure, never retried (`attempts` 1 once sent, 0 when refused before sending; a
    ///   `schemaMismatch` still retires the stale connections).
    public func submit(_ request: ScoreRequest) -> EventLoopFuture<ScoreResponse> {
        submit(request, deadline: NIODeadline.now() + configuration.deadline.timeAmount, resendsLeft: Self.closingResends)
    }

    /// ``submit(_:)`` with its deadline, and how many more times a request refused by a closing
    /// connection may go on another.
    private func submit(_ request: ScoreRequest, deadline: NIODeadline, resendsLeft: Int) -> EventLoopFuture<ScoreResponse> {
        let open: Connection?
        do {
            open = try pool.withLock { pool throws(LoanScoreClientError) in try pool.nextUsable() }
        } catch {
            return group.next().makeFailedFuture(error)
        }
        let answer: EventLoopFuture<ScoreResponse>
        if let open {
            answer = submit(request, on: open, deadline: deadline)
        } else {
            let promise = group.next().makePromise(of: ScoreResponse.self)
            Task {
                do {
                    let connection = try await leaseConnection()
                    submit(request, on: connection, deadline: deadline).cascade(to: promise)
                } catch {
                    promise.fail(error)
                }
            }
            answer = promise.futureResult
        }
        guard resendsLeft > 0 else { return answer }
        return answer.flatMapError { error in
            guard let error = error as? LoanScoreClientError, error.closingBeforeSent else { return answer }
            return self.submit(request, deadline: deadline, resendsLeft: resendsLeft - 1)
        }
    }

    /// ``submit(_:)`` on `connection`: the checks of ``score(_:)-(ScoreRequest)``, then one send.
    private func submit(_ request: ScoreRequest, on connection: Connection, deadline: NIODeadline) -> EventLoopFuture<ScoreResponse> {
        let welcome = connection.welcome
        do {
            try Self.check(request, against: welcome)
            try Self.refuseAboveMaximumBatch(request.count, welcome)
        } catch {
            return connection.channel.eventLoop.makeFailedFuture(error)
        }
        return connection.submit(request, deadline: deadline).flatMapErrorThrowing { error in
            var error = error as? LoanScoreClientError ?? LoanScoreClientError(.connectionClosed, "\(error)")
            if error.code != .batchTooLarge, !error.closingBeforeSent { error.attempts = 1 }  // it was sent (once)
            if error.code == .schemaMismatch { self.retireConnections(schema: welcome.schema.hash) }
            throw error
        }
    }

    /// Refuses a request laid out for another schema than `welcome`'s, or whose columns
    /// disagree with it (which the server would take as a malformed frame, closing the
    /// connection under every request pipelined on it).
    ///
    /// - Throws: `schemaMismatch` (another schema hash) or `invalidInput` (column count or
    ///   wire type, naming the field).
    private static func check(_ request: ScoreRequest, against welcome: Welcome) throws(LoanScoreClientError) {
        let fields = welcome.schema.fields
        guard request.schemaHash == welcome.schema.hash else {
            throw LoanScoreClientError(.schemaMismatch, "the request was laid out for another schema than the server's WELCOME")
        }
        guard request.columns.count == fields.count else {
            throw LoanScoreClientError(
                .invalidInput, "the request has \(request.columns.count) columns; the served schema has \(fields.count) fields")
        }
        for (column, field) in zip(request.columns, fields) where column.type != field.type {
            throw LoanScoreClientError(
                .invalidInput, "column '\(field.name)' is \(column.type) on the wire; the served schema has \(field.type)",
                field: field.name)
        }
    }

    /// Runs `attemptOnce` until it succeeds, fails for good, or ``Configuration/retry`` or
    /// ``Configuration/deadline`` say stop (see ``score(_:)-([ApplicationInput])``); an error
    /// is retried when it ``LoanScoreClientError/isRetryable`` and `retrying` agrees.
    ///
    /// A SCHEMA_MISMATCH for a schema not met before in this call is retried at once and
    /// does not count against ``RetryPolicy/maximumAttempts`` (the next attempt lays the batch
    /// out for the new WELCOME); `schemaChanges` counts those retries. So is a request refused
    /// before it was sent because its connection was closing (``LoanScoreClientError/closingBeforeSent``:
    /// retired after a SCHEMA_MISMATCH on another request, or told GOODBYE), up to
    /// ``closingResends`` times per call: nothing was scored, and the next attempt goes on
    /// another connection.
    private func withRetries<T: Sendable>(
        retrying: (LoanScoreClientError) -> Bool = { _ in true },
        _ attemptOnce: @Sendable (NIODeadline) async throws(LoanScoreClientError) -> T
    ) async throws(LoanScoreClientError) -> (result: T, schemaChanges: Int) {
        let deadline = NIODeadline.now() + configuration.deadline.timeAmount
        let policy = configuration.retry
        var attempt = 0
        var schemaChanges = 0
        var resentFromClosing = 0
        var metSchemas: Set<SchemaHash> = []
        var lastError: LoanScoreClientError?
        while true {
            attempt += 1
            do {
                return (try await attemptOnce(deadline), schemaChanges)
            } catch {
                var error = error
                error.attempts = attempt
                // Another endpoint may open where this one refused or failed its TLS handshake.
                let elsewhere = error.endpointFailed && configuration.endpoints.count > 1
                guard error.isRetryable || elsewhere, retrying(error) else { throw error }
                guard !error.mayHaveBeenScored || configuration.failover.resendsUnansweredRequests else {
                    // At most once: the server may have scored it; the caller decides (Failover).
                    throw error
                }
                if error.code == .schemaMismatch, let stale = error.staleSchema, metSchemas.insert(stale).inserted,
                   NIODeadline.now() < deadline {
                    // The server reloaded another schema: not the server failing, so no backoff.
                    schemaChanges += 1
                    configuration.logger.debug("loanscore.client laying the batch out again for a new schema", metadata: ["attempt": "\(attempt)"])
                    continue
                }
                if error.closingBeforeSent, resentFromClosing < Self.closingResends, NIODeadline.now() < deadline {
                    // Not sent, and the connection (not the server) refused it: another connection at once.
                    resentFromClosing += 1
                    configuration.logger.debug("loanscore.client sending again: its connection was closing", metadata: ["attempt": "\(attempt)"])
                    continue
                }
                let counted = attempt - schemaChanges - resentFromClosing
                guard counted < policy.maximumAttempts else { throw error }
                // A quota's hint is a floor: retrying sooner would only be refused again.
                let backoff = max(policy.backoff(after: counted), error.retryAfter ?? .zero)
                let remaining = deadline - NIODeadline.now()
                guard remaining > backoff.timeAmount else {
                    throw LoanScoreClientError(
                        .timeout, "the deadline passes before attempt \(attempt + 1); last error: \(error.message)",
                        attempts: attempt)
                }
                configuration.logger.debug(
                    "loanscore.client retrying", metadata: ["attempt": "\(attempt)", "error": "\(error.code.name)", "backoff": "\(backoff)"])
                lastError = error
                do {
                    try await Task.sleep(for: backoff)
                } catch {
                    throw LoanScoreClientError(.timeout, "cancelled while waiting to retry; last error: \(lastError?.message ?? "")", attempts: attempt)
                }
            }
        }
    }

    /// Closes the client: each connection sends GOODBYE once its waiting requests are sent,
    /// and closes once their answers have arrived. Later calls fail with `connectionClosed`.
    public func close() async {
        let (connections, tasks) = pool.withLock { pool -> ([Connection], [Task<Connection, any Error>]) in
            pool.closed = true
            var connections: [Connection] = []
            var tasks: [Task<Connection, any Error>] = []
            for slot in pool.slots {
                switch slot {
                case .connected(let connection): connections.append(connection)
                case .connecting(let task): tasks.append(task)
                case .empty: break
                }
            }
            pool.slots = pool.slots.map { _ in .empty }
            return (connections, tasks)
        }
        var all = connections
        for task in tasks {
            if let connection = try? await task.value { all.append(connection) }
        }
        for connection in all {
            try? await connection.close().get()
        }
    }

    // MARK: - Private

    private func attemptScore(_ batch: [ApplicationInput], deadline: NIODeadline) async throws(LoanScoreClientError) -> ScoredBatch {
        let connection = try await leaseConnection()
        let welcome = connection.welcome
        try Self.refuseAboveMaximumBatch(batch.count, welcome)  // before laying the batch out
        let laidOut = try ScoreRequest.layOut(batch, schema: welcome.schema, unknownFields: configuration.unknownFields)
        let response = try await send(laidOut.request, on: connection, deadline: deadline)
        return ScoredBatch(response: response, welcome: welcome, ignoredFields: laidOut.ignored.keys.sorted(),
                           ignoredValues: laidOut.ignored.values.reduce(0, +))
    }

    /// Throws `batchTooLarge` when `count` applications are more than WELCOME allows.
    private static func refuseAboveMaximumBatch(_ count: Int, _ welcome: Welcome) throws(LoanScoreClientError) {
        guard count <= welcome.limits.maximumBatch else {
            throw LoanScoreClientError(
                .batchTooLarge, "\(count) applications; the server's maximum batch is \(welcome.limits.maximumBatch)")
        }
    }

    /// Sends `request` on `connection`; a SCHEMA_MISMATCH retires the stale connections.
    private func send(_ request: ScoreRequest, on connection: Connection, deadline: NIODeadline) async throws(LoanScoreClientError) -> ScoreResponse {
        let welcome = connection.welcome
        try Self.refuseAboveMaximumBatch(request.count, welcome)
        do {
            return try await connection.send(request, deadline: deadline)
        } catch {
            if error.code == .schemaMismatch {
                // The model was reloaded: this connection's WELCOME is stale, and so is that of every
                // pooled connection opened before the reload. Close them all (gracefully) so the retry
                // reconnects for the new WELCOME instead of landing on another stale connection.
                retireConnections(schema: welcome.schema.hash)
                var error = error
                error.staleSchema = request.schemaHash
                throw error
            }
            throw error
        }
    }

    /// How many times one call sends a request again, without using up an attempt, because the
    /// connection it was handed to was closing before it was sent (a bound, so that a server
    /// saying GOODBYE to every new connection cannot keep a call looping).
    static let closingResends = 3

    /// Closes every pooled connection whose WELCOME announced `schema`.
    private func retireConnections(schema: SchemaHash) {
        let stale = pool.withLock { pool in
            pool.slots.compactMap { slot -> Connection? in
                if case .connected(let connection) = slot, connection.welcome.schema.hash == schema { return connection }
                return nil
            }
        }
        for connection in stale { connection.close() }
    }

    /// A usable connection, round-robin over the pool's slots, opening one when needed (on
    /// another endpoint when one refuses). With several endpoints, a slot whose connection
    /// died is opened again in the background while the others serve.
    private func leaseConnection() async throws(LoanScoreClientError) -> Connection {
        let (slot, revive) = try pool.withLock { pool throws(LoanScoreClientError) -> (Int, Int?) in
            if let index = try pool.nextUsableSlot() {
                return (index, configuration.endpoints.count > 1 ? pool.slotToRevive(now: .now()) : nil)
            }
            let index = pool.next
            pool.next = (index + 1) % pool.slots.count
            return (index, nil)
        }
        if let revive {
            Task { _ = try? await self.connection(slot: revive) }
        }
        return try await connectionSkippingDownEndpoints(slot: slot)
    }

    /// ``connection(slot:)``, opened again on the next endpoint chosen while opening fails for
    /// an endpoint's reason (refused, TLS, handshake) and another endpoint is up; at most once
    /// per endpoint.
    private func connectionSkippingDownEndpoints(slot: Int) async throws(LoanScoreClientError) -> Connection {
        var tries = 0
        while true {
            tries += 1
            do {
                return try await connection(slot: slot)
            } catch {
                let another = pool.withLock { $0.health.anyUp(now: .now()) }
                guard error.endpointFailed, another, tries < configuration.endpoints.count else { throw error }
            }
        }
    }

    /// The connection in `slot` dropped without GOODBYE: marks its endpoint down.
    private func endpointDropped(_ endpoint: Int, _ error: LoanScoreClientError) {
        let downTime = pool.withLock { pool in
            pool.health.markDown(endpoint, failure: "connection dropped: \(error.message)", policy: configuration.failover, now: .now())
        }
        if let downTime { logDown(endpoint, downTime, error.message) }
    }

    /// Logs, at notice, that `endpoint` is out of use for `downTime`.
    private func logDown(_ endpoint: Int, _ downTime: Duration, _ reason: String) {
        configuration.logger.notice(
            "loanscore.client endpoint down",
            metadata: ["server": "\(configuration.endpoints[endpoint])", "for_ms": "\(downTime.nanoseconds / 1_000_000)", "error": "\(reason)"])
    }

    /// The connection in `slot`, opening it (once, however many callers wait) when it is empty
    /// or no longer usable.
    private func connection(slot index: Int) async throws(LoanScoreClientError) -> Connection {
        enum Step {
            case ready(Connection)
            case wait(Task<Connection, any Error>, generation: Int, endpoint: Int)
        }
        let step = try pool.withLock { pool throws(LoanScoreClientError) -> Step in
            guard !pool.closed else { throw LoanScoreClientError(.connectionClosed, "the client is closed") }
            switch pool.slots[index] {
            case .connected(let connection) where connection.isUsable:
                return .ready(connection)
            case .connecting(let task):
                return .wait(task, generation: pool.generation[index], endpoint: pool.endpointOfSlot[index])
            case .connected, .empty:
                let configuration = self.configuration
                let tlsContext = self.tlsContext
                let group = self.group
                let endpoint = pool.health.choose(load: pool.load(endpoints: configuration.endpoints.count, except: index), now: .now())
                let dropped: @Sendable (LoanScoreClientError) -> Void = { [weak self] error in self?.endpointDropped(endpoint, error) }
                let task = Task { () async throws -> Connection in
                    try await Connection.connect(
                        to: configuration.endpoints[endpoint], configuration: configuration, tlsContext: tlsContext, group: group,
                        dropped: dropped)
                }
                pool.generation[index] += 1
                pool.endpointOfSlot[index] = endpoint
                pool.slots[index] = .connecting(task)
                return .wait(task, generation: pool.generation[index], endpoint: pool.endpointOfSlot[index])
            }
        }
        switch step {
        case .ready(let connection):
            return connection
        case .wait(let task, let generation, let endpoint):
            do {
                let connection = try await task.value
                let (keep, cameBack) = pool.withLock { pool -> (Bool, Bool) in
                    let cameBack = pool.health.markUp(endpoint)
                    guard !pool.closed else { return (false, cameBack) }
                    if pool.generation[index] == generation { pool.slots[index] = .connected(connection) }
                    pool.welcome = connection.welcome
                    return (true, cameBack)
                }
                if cameBack, configuration.endpoints.count > 1 {
                    configuration.logger.notice("loanscore.client endpoint up", metadata: ["server": "\(configuration.endpoints[endpoint])"])
                }
                guard keep else {
                    connection.close()
                    throw LoanScoreClientError(.connectionClosed, "the client is closed")
                }
                return connection
            } catch {
                var failure = error as? LoanScoreClientError ?? LoanScoreClientError(.connectFailed, "\(error)")
                let (downTime, everyFailure) = pool.withLock { pool -> (Duration?, [LoanScoreClientError.EndpointFailure]?) in
                    if pool.generation[index] == generation, case .connecting = pool.slots[index] { pool.slots[index] = .empty }
                    guard failure.endpointFailed, !pool.closed else { return (nil, nil) }
                    let now = NIODeadline.now()
                    let downTime = pool.health.markDown(endpoint, failure: failure.message, policy: configuration.failover, now: now)
                    return (downTime, pool.health.anyUp(now: now) ? nil : pool.health.failures(configuration.endpoints))
                }
                if let downTime { logDown(endpoint, downTime, failure.message) }
                if let everyFailure {
                    failure.endpointFailures = everyFailure
                    if everyFailure.count > 1 {
                        // Bounded: the first few in full; endpointFailures keeps every one.
                        let shown = everyFailure.prefix(Self.endpointsNamedInMessages).map(\.description).joined(separator: "; ")
                        let more = everyFailure.count - Self.endpointsNamedInMessages
                        failure.message = "every endpoint is down (\(everyFailure.count)): " + shown + (more > 0 ? "; and \(more) more" : "")
                    }
                }
                throw failure
            }
        }
    }
}

extension NIOLockedValueBox {
    /// `withLockedValue` for closures with a typed error.
    func withLock<T, E: Error>(_ body: (inout Value) throws(E) -> T) throws(E) -> T {
        let result: Result<T, E> = withLockedValue { value in Result { () throws(E) -> T in try body(&value) } }
        return try result.get()
    }
}
