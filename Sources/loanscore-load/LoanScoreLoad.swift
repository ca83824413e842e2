import ArgumentParser
import Foundation
import Histogram
import LoanScoreClient
import LoanScoreCommandLine
import LoanScoreFeatures
import LoanScoreProtocol
import LoanScoreVersion
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Synchronization

/// `loanscore-load`: a load generator for a LoanScore server.
///
/// Closed loop (the default): connections × pipeline workers, each sending its next batch as
/// soon as the previous answer arrives. Open loop (`--rate`): requests are sent at fixed
/// intended times whatever the server does, and latency is measured from the intended send
/// time, so a stalled server shows up in the percentiles (no coordinated omission).
/// Connection churn (`--reconnect-every`): each connection is closed and replaced by a new one
/// (new TCP connection, TLS handshake, HELLO) after that many requests.
@main
struct LoanScoreLoad: AsyncParsableCommand {
    /// Parses and runs with the README's exit codes: ArgumentParser's usage failures (its 64)
    /// become 2, and an ``ExitMessage`` prints its text and exits with its status.
    static func main() async { await mainWithExitCodes() }

    static let configuration = CommandConfiguration(
        commandName: "loanscore-load",
        abstract: "Drive a LoanScore server with applications from a CSV file and report throughput and latency.",
        discussion: """
            Applications are read once from --input (columns matched by name to the served \
            schema's fields; other columns are ignored) and sent round and round. The warm-up \
            is excluded from every figure. Requests are not retried (unless --retries N): BUSY \
            and other errors are counted by code; in closed loop each worker backs off after an error (10 ms, \
            doubled per consecutive error up to 1 s, jittered; reset by an answer) instead of \
            sending again at once. A reload that changes the served schema is followed: on \
            SCHEMA_MISMATCH the connection reconnects for the new WELCOME and the file is laid \
            out again (fields the new schema lacks dropped, new fields without a column sent \
            missing) and the run goes on; in closed loop the first SCHEMA_MISMATCH on each \
            connection counts as an error and the requests in flight with it are sent again. \
            A required field the file has no column for stops the run (status 3) once the \
            server refuses an application for it. With --reconnect-every N each connection is closed (GOODBYE, after \
            its answers arrive) and replaced by a new one after N requests, so the server sees \
            connections come and go under load; a replacement connects on its first request, \
            and that request's latency includes the TCP and TLS handshakes. With --json the \
            report is one JSON object: applications_per_s, requests_per_s, latency_ms {p50, p90, \
            p99, p999, max}, errors {CODE: count}, first_error_s {CODE: seconds from the start of the run to \
            the first answer with that error}, longest_gap_ms (the longest wait between two \
            answers, warm-up included: a failover's pause), connections {opened, reconnected}, schema_changes \
            {relayouts, resent, changes}, overload \
            {overloaded, reasons, failed_fraction, target_applications_per_s}, settings.

            A fleet: --server repeated spreads the connections over the servers (connection i \
            prefers server i); a connection whose server dies reconnects to another, and with \
            --retries N (closed loop only) a request that got no answer (connection refused or dropped), BUSY or \
            another retryable error is sent again, there, within --timeout (so a retried request \
            may be scored, and audited, twice: PROTOCOL.md §2.1). --answered-ids FILE lists the id \
            of every application answered, to check against the servers' audit logs. A server \
            marked down (a refused or dropped connection) and up again is logged on standard \
            error.

            An overloaded run — open loop answered below 90 % of the applications/s asked for \
            (--rate × --batch), or more than 1 % of the requests failed (BUSY, TIMEOUT, \
            DROPPED, …) — says so in its report and exits with status 5. Exit statuses: 0 \
            success, 1 internal error, 2 usage error, 3 unreadable input (or a required field \
            it has no column for), 4 the server could not \
            be reached or trusted, 5 overloaded (the report is still printed).
            """,
        version: LoanScoreVersion.versionLine(executable: "loanscore-load")
    )

    @Option(help: ArgumentHelp(
        "The server; repeat it for a fleet: the connections are spread over the servers, and with --retries a request whose server died goes to another.",
        valueName: "host:port"))
    var server: [String]

    @Option(help: ArgumentHelp(
        "Send a failed request again up to this many times (default 0: failures are counted, never retried): a connection refused or dropped before the answer, BUSY and the other retryable errors, on another connection (and server) within --timeout; a request retried and answered counts as answered.",
        valueName: "count"))
    var retries: Int = 0

    @Option(name: .customLong("answered-ids"), help: ArgumentHelp(
        "Write the id of every application answered (warm-up included) to this file, one per line, in no particular order: to check them against the audit logs.",
        valueName: "file"))
    var answeredIDs: String?

    @Option(help: ArgumentHelp("The CA certificate (PEM) the server's certificate must chain to; default: the system's trust store.", valueName: "file"))
    var ca: String?

    @Option(help: ArgumentHelp("The client certificate (PEM) for mutual TLS.", valueName: "file"))
    var cert: String?

    @Option(help: ArgumentHelp("The client certificate's private key (PEM).", valueName: "file"))
    var key: String?

    @Option(help: "Input CSV of applications (header row naming the served schema's fields).")
    var input: String

    @Option(help: "Seconds of measurement.")
    var duration: Double = 10

    @Option(help: "Seconds of warm-up before measuring (excluded from the figures).")
    var warmup: Double = 2

    @Option(help: "Connections to open.")
    var connections: Int = 1

    @Option(help: "Closed loop: requests in flight per connection (workers per connection).")
    var pipeline: Int = 8

    @Option(help: "Applications per request.")
    var batch: Int = 1

    @Option(help: ArgumentHelp("Open loop: requests per second, sent at fixed intended times.", valueName: "per_s"))
    var rate: Double?

    @Option(
        name: .customLong("reconnect-every"),
        help: ArgumentHelp("Connection churn: close each connection and open a new one after this many requests on it (default: never).", valueName: "requests"))
    var reconnectEvery: Int?

    @Option(help: "Seconds one request may take before it counts as a TIMEOUT error.")
    var timeout: Double = 10

    @Flag(name: .customLong("no-deadline"),
          help: "Send requests without their deadline (PROTOCOL.md §5.4), for a server older than the deadline field.")
    var noDeadline = false

    @Flag(help: "Print the report as JSON on standard output.")
    var json = false

    /// Open loop: the most requests in flight before new ones are counted as DROPPED.
    static let maximumOpenLoopInFlight = 10_000

    func validate() throws {
        guard duration > 0 else { throw ValidationError("--duration must be positive.") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative.") }
        guard connections >= 1, pipeline >= 1, batch >= 1 else {
            throw ValidationError("--connections, --pipeline and --batch must be at least 1.")
        }
        if let rate, !(rate > 0 && rate.isFinite) { throw ValidationError("--rate must be a positive number of requests per second.") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive.") }
        if let reconnectEvery, reconnectEvery < 1 { throw ValidationError("--reconnect-every must be at least 1 request.") }
        guard (cert == nil) == (key == nil) else { throw ValidationError("--cert and --key go together.") }
        guard !server.isEmpty else { throw ValidationError("Give --server HOST:PORT (repeat it for several servers).") }
        guard retries >= 0 else { throw ValidationError("--retries must not be negative.") }
        if retries > 0, rate != nil { throw ValidationError("--retries is for the closed loop: the open loop (--rate) sends each request once, at its time.") }
        for address in server { _ = try parseAddress(address) }
    }

    /// The servers as one text, for messages and the report.
    var servers: String { server.joined(separator: ", ") }

    func run() async throws {
        let endpoints = try server.map { address in
            let (host, port) = try parseAddress(address)
            return HostPort(host: host, port: port)
        }
        // One single-connection client per connection, so each can be replaced on its own.
        var configuration = LoanScoreClient.Configuration(
            endpoints: endpoints, tls: .init(caFile: ca, certificateFile: cert, privateKeyFile: key), connections: 1)
        configuration.retry = retries == 0 ? .none : LoanScoreClient.RetryPolicy(maximumAttempts: retries + 1)
        // The SDK's notices (a server marked down after a refused or dropped connection, and up
        // again) on standard error, so a run that lost a server says so beside its figures.
        var logger = Logger(label: "loanscore-load", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = .notice
        configuration.logger = logger
        configuration.deadline = .milliseconds(Int64(timeout * 1000))
        configuration.clientName = "loanscore-load/1"
        configuration.sendsDeadline = !noDeadline
        if rate == nil { configuration.maximumInFlightPerConnection = pipeline }
        // Open loop: the connections and the pacer share one event loop (see OpenLoopPacer).
        let openLoopGroup = rate == nil ? nil : MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            try await run(configuration: configuration, group: openLoopGroup)
        } catch {
            try? await openLoopGroup?.shutdownGracefully()
            throw error
        }
        try? await openLoopGroup?.shutdownGracefully()
    }

    /// Connects, loads the file, drives the server and prints the report; `group` is the open
    /// loop's event loop (nil in closed loop).
    private func run(configuration: LoanScoreClient.Configuration, group openLoopGroup: MultiThreadedEventLoopGroup?) async throws {
        let client: ChurningConnections
        let welcome: Welcome
        do {
            client = try ChurningConnections(
                configuration: configuration, count: connections, reconnectEvery: reconnectEvery, group: openLoopGroup)
            welcome = try await client.connect()
        } catch let error as LoanScoreClientError {
            switch error.code {
            case .connectFailed, .tlsFailed, .handshakeFailed, .connectionClosed: throw ExitMessage(error.message, status: 4)
            default: throw ExitMessage("cannot start the run against \(servers): \(error.message)")
            }
        }
        guard batch <= welcome.limits.maximumBatch else {
            await client.close()
            throw ValidationError("--batch \(batch) is above the server's maximum batch of \(welcome.limits.maximumBatch).")
        }
        let layouts: FileLayouts
        do {
            layouts = try FileLayouts(file: try LoadFile.read(path: input), welcome: welcome, batchSize: batch)
        } catch {
            await client.close()
            throw error
        }
        guard let firstLayout = layouts.layout(for: welcome) else {
            await client.close()
            throw ExitMessage(layouts.stopReason ?? "\(input): no application to send", status: 3)
        }
        let batches = firstLayout.source

        let start = ContinuousClock.now
        let measureFrom = start + .milliseconds(Int64(warmup * 1000))
        let end = measureFrom + .milliseconds(Int64(duration * 1000))
        let recorder = Recorder(measureFrom: measureFrom, end: end, start: start, keepsIDs: answeredIDs != nil)
        let progress = isatty(2) == 1 ? Task { await recorder.printProgress(start: start) } : nil

        if let rate, let loop = openLoopGroup?.next() {
            try? await OpenLoopPacer.run(
                on: loop, client: client, batches: batches, recorder: recorder, rate: rate, start: start, end: end,
                maximumInFlight: Self.maximumOpenLoopInFlight, layouts: layouts, layout: firstLayout
            ).get()
        } else {
            await closedLoop(client: client, layouts: layouts, recorder: recorder, end: end)
        }
        progress?.cancel()
        await client.close()

        // A run stopped early (a required field the file lacks) is measured over the time it ran.
        let stoppedEarly = layouts.stopReason != nil
        let ran = ContinuousClock.now - measureFrom
        let measured = stoppedEarly ? max(0.001, min(duration, Double(ran.components.seconds) + Double(ran.components.attoseconds) / 1e18)) : duration
        let settings: [String: Any] = [
            "server": servers, "model": "\(welcome.modelName) \(welcome.modelVersion)",
            "mode": rate == nil ? "closed" : "open", "connections": connections, "pipeline": pipeline, "batch": batch,
            "rate": rate.map { $0 as Any } ?? NSNull(), "duration_s": duration, "warmup_s": warmup,
            "reconnect_every": reconnectEvery.map { $0 as Any } ?? NSNull(), "retries": retries,
            "applications_in_file": batches.count,
        ]
        let report = recorder.report(duration: measured)
        let verdict = OverloadVerdict(target: rate.map { $0 * Double(batch) }, achieved: report.applicationsPerSecond,
                                      answered: report.answered, failed: report.failed)
        let (opened, reconnected) = client.connectionCounts
        if let answeredIDs { try recorder.writeAnsweredIDs(to: answeredIDs) }
        if json {
            var object = report.json
            object["connections"] = ["opened": opened, "reconnected": reconnected]
            object["schema_changes"] = ["relayouts": layouts.relayouts, "resent": layouts.resent, "changes": layouts.changes] as [String: Any]
            object["overload"] = verdict.json
            object["settings"] = settings
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            FileHandle.standardOutput.write(data + Data("\n".utf8))
        } else {
            let mode = rate.map { "open loop at \(format($0)) requests/s" } ?? "closed loop, \(pipeline) in flight per connection"
            let churn = reconnectEvery.map { ", each replaced after \($0) requests" } ?? ""
            print("loanscore-load: \(servers), \(welcome.modelName) \(welcome.modelVersion); \(mode); \(connections) connection(s)\(churn), batch \(batch); \(format(measured)) s measured after \(format(warmup)) s warm-up\(stoppedEarly ? " (stopped early)" : "")")
            print(report.text)
            print("connections: \(opened) opened, \(reconnected) of them replacing a closed one (whole run, warm-up included)")
            print(Self.schemaChangesText(relayouts: layouts.relayouts, resent: layouts.resent, changes: layouts.changes))
            print(verdict.text)
        }
        if let stop = layouts.stopReason { throw ExitMessage(stop, status: 3) }
        if verdict.overloaded { throw ExitCode(OverloadVerdict.exitCode) }
    }

    // MARK: - Loops

    private func closedLoop(client: ChurningConnections, layouts: FileLayouts, recorder: Recorder, end: ContinuousClock.Instant) async {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<(connections * pipeline) {
                group.addTask {
                    var streak = ErrorStreak()
                    while ContinuousClock.now < end {
                        let sent = ContinuousClock.now
                        switch await client.withNextClient({ await layouts.scoreNext(on: $0) }) {
                        case .answered(let ids):
                            recorder.success(sentAt: sent, applications: ids.count, ids: ids)
                            streak.succeeded()
                        case .failed(let error):
                            recorder.failure(sentAt: sent, error: error)
                            // Back off (exponential, jittered, capped) instead of looping hot on errors.
                            let wait = min(streak.failed(), end - ContinuousClock.now)
                            if wait > .zero { try? await Task.sleep(for: wait) }
                        case .stopped:
                            return
                        }
                    }
                }
            }
        }
    }

    /// The report's line on schema changes followed during the run.
    static func schemaChangesText(relayouts: Int, resent: Int, changes: [String]) -> String {
        guard relayouts > 0 || resent > 0 else { return "schema changes: none" }
        return "schema changes: \(relayouts) re-layout(s) of the file, \(resent) request(s) sent again with the new layout after SCHEMA_MISMATCH"
            + changes.map { "\n  \($0)" }.joined()
    }
}

/// A cell as a wire value (empty = missing), or nil when it cannot travel as the field's type.
func loadValue(_ cell: String, type: WireType) -> WireValue? {
    let folded = normalizedLabel(cell)
    if folded.isEmpty { return .missing }
    switch type {
    case .number: return strictNumber(folded).map { .number($0) }
    case .bool:
        if ["true", "yes", "y", "t", "1"].contains(folded) { return .bool(true) }
        if ["false", "no", "n", "f", "0"].contains(folded) { return .bool(false) }
        return nil
    case .string: return .text(cell)
    }
}

/// The applications, cut into batches round and round. Thread-safe.
///
/// The file is laid out once in the schema's columns, `batchSize` applications longer than the
/// file (the first ones again), so every batch is one contiguous slice of each column: a batch
/// is a copy per column, not a lookup and a match per value.
final class BatchSource: Sendable {
    private let ids: [String]
    private let columns: [Column]
    /// Applications in the file (the layout is `count + batchSize` long).
    let count: Int
    let schemaHash: SchemaHash
    let batchSize: Int
    private let position = Atomic<Int>(0)

    /// - Precondition: `applications` is not empty (`readApplications` refuses an empty file).
    init(applications: [LoadApplication], schema: WireSchema, batchSize: Int) {
        precondition(!applications.isEmpty, "at least one application")
        count = applications.count
        let cyclic = (0..<(count + batchSize)).map { applications[$0 % applications.count] }
        ids = cyclic.map(\.id)
        columns = schema.fields.indices.map { field -> Column in
            switch schema.fields[field].type {
            case .number: Column(numbers: cyclic.map { if case .number(let x) = $0.values[field] { x } else { nil } })
            case .bool: Column(bools: cyclic.map { if case .bool(let x) = $0.values[field] { x } else { nil } })
            case .string: Column(strings: cyclic.map { if case .text(let x) = $0.values[field] { x } else { nil } })
            }
        }
        schemaHash = schema.hash
        self.batchSize = batchSize
    }

    /// The next `batchSize` applications, round and round the file, so that the SDK sends them
    /// as they are. A failure is the SDK's `invalidInput` (an id or text over 65,535 bytes).
    /// The layout is one schema's: after a reload that changes the schema, ``FileLayouts``
    /// lays the file out again in a new source.
    func next() -> Result<ScoreRequest, LoanScoreClientError> {
        let start = position.wrappingAdd(batchSize, ordering: .relaxed).oldValue
        let first = (start % count + count) % count
        let slice = first..<(first + batchSize)  // inside the layout: first < count
        return Result { () throws(ProtocolError) in
            let sliced = try columns.map { column throws(ProtocolError) -> Column in
                let present = Array(column.present[slice])
                switch column.values {
                case .numbers(let numbers): return try Column(present: present, values: .numbers(Array(numbers[slice])))
                case .bools(let bools): return try Column(present: present, values: .bools(Array(bools[slice])))
                case .strings(let strings): return try Column(present: present, values: .strings(Array(strings[slice])))
                }
            }
            return try ScoreRequest(schemaHash: schemaHash, applicationIDs: Array(ids[slice]), columns: sliced)
        }.mapError { LoanScoreClientError(.invalidInput, $0.message, applicationIndex: $0.applicationIndex) }
    }
}

/// One application of the input file: its id and its values in the served schema's field
/// order (read and typed once).
struct LoadApplication: Sendable {
    var id: String
    var values: [WireValue]
}

/// Latencies and counts of the measurement window (requests intended after the warm-up and
/// before the end). Thread-safe.
final class Recorder: Sendable {
    struct State {
        var histogram = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)  // µs
        var requests = 0
        var applications = 0
        var errors: [String: Int] = [:]
        /// Seconds from the start of the run (warm-up included) to the first answer of each error code.
        var firstFailure: [String: Double] = [:]
        /// Every completion, warm-up included, for the progress line.
        var completedTotal = 0
        /// The ids of every application answered, warm-up included (only when asked for).
        var answeredIDs: [String] = []
        /// When the last answer came, and the longest wait between two answers (warm-up included).
        var lastAnswer: ContinuousClock.Instant?
        var longestGap: Duration = .zero
    }

    let measureFrom: ContinuousClock.Instant
    let end: ContinuousClock.Instant
    // A pthread mutex (NIOLockedValueBox): the thread sanitizer reported Synchronization.Mutex here.
    private let state = NIOLockedValueBox(State())

    /// When the run began (for ``State/firstFailure``).
    let start: ContinuousClock.Instant

    /// Whether ``success(sentAt:applications:ids:)`` keeps the ids (`--answered-ids`).
    let keepsIDs: Bool

    init(measureFrom: ContinuousClock.Instant, end: ContinuousClock.Instant, start: ContinuousClock.Instant? = nil, keepsIDs: Bool = false) {
        self.keepsIDs = keepsIDs
        self.measureFrom = measureFrom
        self.end = end
        self.start = start ?? measureFrom
    }

    /// Records an answered request; latency runs from `sentAt` to now (in open loop, the
    /// intended send time, so that a late send counts against the server).
    func success(sentAt: ContinuousClock.Instant, applications: Int, ids: [String] = []) {
        let now = ContinuousClock.now
        let latency = now - sentAt
        let measured = sentAt >= measureFrom && sentAt < end
        let micros = UInt64(max(0, latency.components.seconds)) * 1_000_000 + UInt64(max(0, latency.components.attoseconds / 1_000_000_000_000))
        state.withLockedValue { state in
            state.completedTotal += 1
            if keepsIDs { state.answeredIDs.append(contentsOf: ids) }
            if let last = state.lastAnswer { state.longestGap = max(state.longestGap, now - last) }
            state.lastAnswer = now
            guard measured else { return }
            state.requests += 1
            state.applications += applications
            _ = state.histogram.record(max(micros, 1))
        }
    }

    /// Records a failed request under its error's code (`OTHER` for an error not the SDK's).
    func failure(sentAt: ContinuousClock.Instant, error: any Error) {
        failure(sentAt: sentAt, code: (error as? LoanScoreClientError)?.code.name ?? "OTHER")
    }

    /// Records a failed (or dropped) request under `code`.
    func failure(sentAt: ContinuousClock.Instant, code: String) {
        let measured = sentAt >= measureFrom && sentAt < end
        let since = ContinuousClock.now - start
        state.withLockedValue { state in
            state.completedTotal += 1
            if measured { state.errors[code, default: 0] += 1 }
            if state.firstFailure[code] == nil {
                state.firstFailure[code] = Double(since.components.seconds) + Double(since.components.attoseconds) / 1e18
            }
        }
    }

    /// Writes the ids of every application answered to `path`, one per line.
    ///
    /// - Throws: ``ExitMessage`` (status 1) when the file cannot be written.
    func writeAnsweredIDs(to path: String) throws {
        let text = state.withLockedValue { $0.answeredIDs.map { $0 + "\n" }.joined() }
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        } catch {
            throw ExitMessage("cannot write --answered-ids \(path): \(error.localizedDescription)")
        }
    }

    /// Prints a progress line on standard error every second until cancelled.
    func printProgress(start: ContinuousClock.Instant) async {
        var last = 0
        var second = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            second += 1
            let (total, p99, errors) = state.withLockedValue { ($0.completedTotal, $0.histogram.valueAtPercentile(99), $0.errors.values.reduce(0, +)) }
            let phase = ContinuousClock.now < measureFrom ? "warm-up" : "measuring"
            FileHandle.standardError.write(Data("\r[\(second) s, \(phase)] \(total - last) requests/s, p99 so far \(formatMillis(p99)) ms, \(errors) errors   ".utf8))
            last = total
        }
        FileHandle.standardError.write(Data("\n".utf8))
    }

    struct Report {
        var json: [String: Any]
        var text: String
        /// Requests answered and failed in the measurement window, and applications answered per second.
        var answered = 0
        var failed = 0
        var applicationsPerSecond = 0.0
    }

    func report(duration: Double) -> Report {
        state.withLockedValue { state in
            let percentiles: [(String, String, Double)] = [("p50", "p50", 50), ("p90", "p90", 90), ("p99", "p99", 99), ("p999", "p99.9", 99.9)]
            let empty = state.requests == 0
            var latency: [String: Any] = [:]
            var line: [String] = []
            for (key, label, percentile) in percentiles {
                let value = empty ? 0 : Double(state.histogram.valueAtPercentile(percentile)) / 1000
                latency[key] = value
                line.append("\(label) \(formatMillis(UInt64(value * 1000)))")
            }
            let maximum = empty ? 0 : Double(state.histogram.max) / 1000
            latency["max"] = maximum
            line.append("max \(formatMillis(UInt64(maximum * 1000)))")
            let applicationsPerSecond = Double(state.applications) / duration
            let requestsPerSecond = Double(state.requests) / duration
            let errorCount = state.errors.values.reduce(0, +)
            // Counted in the measurement window, like the throughput; the first errors below cover the
            // warm-up too, so a run whose only errors came during the warm-up says so instead of "none".
            let errorsText = state.errors.isEmpty
                ? (state.firstFailure.isEmpty ? "errors: none" : "errors after the warm-up: none (only during the warm-up)")
                : "errors after the warm-up: " + state.errors.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            let gapMillis = Double(state.longestGap.components.seconds) * 1e3 + Double(state.longestGap.components.attoseconds) / 1e15
            let firsts = state.firstFailure.sorted { $0.key < $1.key }
                .map { "\($0.key) after \(String(format: "%.1f", $0.value * 1000)) ms" }.joined(separator: ", ")
            let text = """
                throughput: \(format(applicationsPerSecond)) applications/s, \(format(requestsPerSecond)) requests/s (\(state.requests) answered, \(errorCount) failed)
                latency ms: \(line.joined(separator: "  "))
                longest wait between two answers: \(String(format: "%.1f", gapMillis)) ms (whole run, warm-up included)
                \(errorsText)\(firsts.isEmpty ? "" : "\nfirst error of each kind (from the start of the run, warm-up included): " + firsts)
                """
            return Report(
                json: ["applications_per_s": applicationsPerSecond, "requests_per_s": requestsPerSecond, "latency_ms": latency, "errors": state.errors,
                       "first_error_s": state.firstFailure, "longest_gap_ms": gapMillis],
                text: text, answered: state.requests, failed: errorCount, applicationsPerSecond: applicationsPerSecond)
        }
    }
}

/// `--server` as host and port (the one HOST:PORT parser, ``HostPort``).
func parseAddress(_ text: String) throws -> (String, Int) {
    do {
        let address = try HostPort(parsing: text)
        return (address.host, address.port)
    } catch {
        throw ValidationError("--server must be HOST:PORT: \(error.message)")
    }
}

func format(_ value: Double) -> String {
    String(format: value >= 100 ? "%.0f" : "%.2f", value)
}

func formatMillis(_ micros: UInt64) -> String {
    String(format: "%.3f", Double(micros) / 1000)
}
