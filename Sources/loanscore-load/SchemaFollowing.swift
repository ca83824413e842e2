import Foundation
import LoanScoreClient
import LoanScoreCommandLine
import LoanScoreFeatures
import LoanScoreProtocol
import NIOConcurrencyHelpers

/// The input file as read once: its header and the rows of cells, kept so that the file can be
/// laid out again when a reload changes the served schema.
struct LoadFile: Sendable {
    var path: String
    var header: [String]
    /// Rows with as many cells as the header.
    var rows: [[String]]
    /// Rows with another number of cells (skipped in every layout).
    var unevenRows = 0

    /// Reads `path`.
    ///
    /// - Throws: ``ExitMessage`` (status 3) when the file cannot be opened or is empty.
    static func read(path: String) throws -> LoadFile {
        let reader: CSVReader
        do { reader = try CSVReader(url: URL(fileURLWithPath: path)) } catch { throw ExitMessage("\(path): cannot open the file", status: 3) }
        guard let first = try reader.next() else { throw ExitMessage("\(path): the file is empty", status: 3) }
        var file = LoadFile(path: path, header: first.fields.map { $0.trimmingCharacters(in: .whitespaces) }, rows: [])
        while let record = try reader.next() {
            if record.fields.count == file.header.count { file.rows.append(record.fields) } else { file.unevenRows += 1 }
        }
        return file
    }

    /// The file laid out in `schema`'s fields: columns matched by name (others left out),
    /// fields without a column sent missing, rows with a cell that cannot travel as its
    /// field's wire type skipped.
    ///
    /// - Complexity: O(rows × fields).
    func layOut(for schema: WireSchema) -> (applications: [LoadApplication], lacking: [String], skipped: Int) {
        let columns = schema.fields.map { field in (header.firstIndex(of: field.name), field) }
        let lacking = columns.filter { $0.0 == nil }.map(\.1.name)
        let idColumn = header.firstIndex { $0 == "id" || $0 == "application_id" }
        var applications: [LoadApplication] = []
        var skipped = unevenRows
        for (number, cells) in rows.enumerated() {
            var values: [WireValue] = []
            var usable = true
            for (column, field) in columns {
                guard let column else { values.append(.missing); continue }
                guard let value = loadValue(cells[column], type: field.type) else { usable = false; break }
                values.append(value)
            }
            guard usable else { skipped += 1; continue }
            applications.append(LoadApplication(id: idColumn.map { cells[$0] } ?? String(number + 1), values: values))
        }
        return (applications, lacking, skipped)
    }
}

/// The file's layouts, one per served schema met, and what following schema changes cost:
/// the load generator's answer to a reload that changes the schema. Thread-safe.
///
/// Requests are laid out for the WELCOME of the connection they go on. A request answered
/// SCHEMA_MISMATCH means the server reloaded a bundle with another schema: the connection is
/// replaced (the SDK retires it; reconnecting brings the new WELCOME), the file is laid out
/// again for the new schema (once per schema: fields the new schema lacks are dropped, fields
/// the file lacks are sent missing) and the run goes on. The first SCHEMA_MISMATCH answer on
/// each connection counts as an error; the other requests that were in flight on it with the
/// old layout, and requests refused by the SDK before sending because their layout is not
/// the connection's, are sent again with the new layout (counted in ``resent``) instead.
/// So across a schema-changing reload the closed loop records at most one error per
/// connection.
///
/// A field the served schema requires (not nullable) and the file has no column for cannot
/// be told from WELCOME, which does not carry nullability: the first answer that refuses an
/// application as missing such a field stops the run (``stopReason``; exit status 3).
final class FileLayouts: Sendable {
    let file: LoadFile
    let batchSize: Int

    /// One schema's layout, with the model that announced it (for messages).
    struct Layout: Sendable {
        var source: BatchSource
        var lacking: [String]
        var model: String
    }

    private struct State {
        var layouts: [SchemaHash: Layout] = [:]
        /// The schema of the most recent layout.
        var current: WireSchema
        var relayouts = 0
        var resent = 0
        var changes: [String] = []
        var stopReason: String?
        /// (client, schema) pairs whose first SCHEMA_MISMATCH was counted as an error.
        var countedMismatches: Set<MismatchKey> = []
    }

    private struct MismatchKey: Hashable {
        var client: ObjectIdentifier
        var schema: SchemaHash
    }

    private let state: NIOLockedValueBox<State>

    /// Lays the file out for the first WELCOME.
    ///
    /// - Throws: ``ExitMessage`` (status 3) when no row of the file can be sent.
    init(file: LoadFile, welcome: Welcome, batchSize: Int) throws {
        self.file = file
        self.batchSize = batchSize
        let first = file.layOut(for: welcome.schema)
        if !first.lacking.isEmpty {
            printError("loanscore-load: \(file.path) has no column for \(first.lacking.joined(separator: ", ")); sent as missing")
        }
        if first.skipped > 0 { printError("loanscore-load: skipped \(first.skipped) row(s) of \(file.path) whose cells cannot be sent") }
        guard !first.applications.isEmpty else { throw ExitMessage("\(file.path): no application to send", status: 3) }
        let layout = Layout(
            source: BatchSource(applications: first.applications, schema: welcome.schema, batchSize: batchSize),
            lacking: first.lacking, model: "\(welcome.modelName) \(welcome.modelVersion)")
        var state = State(current: welcome.schema)
        state.layouts[welcome.schema.hash] = layout
        self.state = NIOLockedValueBox(state)
    }

    /// Times the file was laid out for a schema it had not been laid out for (after the first).
    var relayouts: Int { state.withLockedValue { $0.relayouts } }
    /// Requests sent again, with a new layout, after a SCHEMA_MISMATCH that was not counted as an error.
    var resent: Int { state.withLockedValue { $0.resent } }
    /// One line per re-layout: the model and which fields were dropped or sent missing.
    var changes: [String] { state.withLockedValue { $0.changes } }
    /// Why the run must stop (a required field the file lacks), or nil.
    var stopReason: String? { state.withLockedValue { $0.stopReason } }

    /// The layout for `welcome`'s schema, laying the file out (once) when it is new.
    ///
    /// - Returns: nil when the run stops: no row of the file can travel in the new schema
    ///   (``stopReason`` says so).
    func layout(for welcome: Welcome) -> Layout? {
        state.withLockedValue { state -> Layout? in
            if let stop = state.stopReason, !stop.isEmpty { return nil }
            if let layout = state.layouts[welcome.schema.hash] { return layout }
            let laidOut = file.layOut(for: welcome.schema)
            let model = "\(welcome.modelName) \(welcome.modelVersion)"
            let newNames = Set(welcome.schema.fields.map(\.name))
            let dropped = state.current.fields.map(\.name).filter { !newNames.contains($0) }
            var change = "\(model): laid \(file.path) out again for its \(welcome.schema.fields.count) fields"
            if !dropped.isEmpty { change += "; dropped \(dropped.joined(separator: ", "))" }
            if !laidOut.lacking.isEmpty { change += "; sent missing (no column) \(laidOut.lacking.joined(separator: ", "))" }
            if laidOut.skipped > 0 { change += "; skipped \(laidOut.skipped) row(s) whose cells cannot be sent" }
            state.relayouts += 1
            state.changes.append(change)
            state.current = welcome.schema
            printError("loanscore-load: the server's schema changed: \(change)")
            guard !laidOut.applications.isEmpty else {
                state.stopReason = "\(file.path): no application can be sent in the schema of \(model) (every row has a cell that cannot travel); the run stops"
                return nil
            }
            let layout = Layout(
                source: BatchSource(applications: laidOut.applications, schema: welcome.schema, batchSize: batchSize),
                lacking: laidOut.lacking, model: model)
            state.layouts[welcome.schema.hash] = layout
            return layout
        }
    }

    /// What one closed-loop request came to.
    enum Outcome {
        /// Answered: the applications' ids.
        case answered([String])
        case failed(any Error)
        /// The run stops (``stopReason``).
        case stopped
    }

    /// Sends the next batch on `client`, laid out for its WELCOME, following a schema change
    /// as the type's overview says (at most one resend).
    func scoreNext(on client: LoanScoreClient) async -> Outcome {
        var resending = false
        for round in 0..<2 {
            let welcome: Welcome
            if let known = client.welcome {
                welcome = known
            } else {
                do { welcome = try await client.connect() } catch { return .failed(error) }
            }
            guard let layout = layout(for: welcome) else { return .stopped }
            let request: ScoreRequest
            switch layout.source.next() {
            case .success(let next): request = next
            case .failure(let error): return .failed(error)
            }
            do {
                let response = try await client.score(request)
                if resending { state.withLockedValue { $0.resent += 1 } }
                if !layout.lacking.isEmpty, requiredButLacking(response, layout) { return .stopped }
                return .answered(request.applicationIDs)
            } catch {
                guard error.code == .schemaMismatch, round == 0 else { return .failed(error) }
                // The SDK retired the stale connection; connecting again brings the new WELCOME.
                let fresh: Welcome
                do { fresh = try await client.connect() } catch { return .failed(error) }
                guard fresh.schema.hash != request.schemaHash else { return .failed(error) }
                if error.attempts > 0 {
                    let key = MismatchKey(client: ObjectIdentifier(client), schema: request.schemaHash)
                    let first = state.withLockedValue { $0.countedMismatches.insert(key).inserted }
                    if first { return .failed(error) }
                }
                resending = true
            }
        }
        return .failed(LoanScoreClientError(.schemaMismatch, "the schema changed again while a request was sent again"))
    }

    /// Whether `response` refuses an application for missing a field the file has no column
    /// for (the field is required); records the stop.
    func requiredButLacking(_ response: ScoreResponse, _ layout: Layout) -> Bool {
        for result in response.results {
            guard case .invalid(_, let message) = result else { continue }
            for field in layout.lacking where message.contains("field '\(field)': is missing but the field is required") {
                state.withLockedValue { state in
                    if state.stopReason == nil {
                        state.stopReason = "\(file.path) has no column for field '\(field)', which \(layout.model) requires "
                            + "(the field is not nullable; WELCOME does not say so, the server's answer did); the run stops. "
                            + "Add the column to the file, or run against a model whose schema lets it be missing."
                    }
                }
                return true
            }
        }
        return false
    }
}

/// The closed loop's backoff after consecutive failed requests on one worker: the SDK's
/// retry schedule (``LoanScoreClient/RetryPolicy/backoff(after:)``), exponential from 10 ms,
/// doubled per failure, capped at 1 s, each wait drawn in [d/2, d]; a success resets it. So a
/// server that answers nothing but errors gets at most one request per worker every 0.5 s
/// once the cap is reached, instead of as many as the loop can send.
struct ErrorStreak {
    static let schedule = LoanScoreClient.RetryPolicy(maximumAttempts: 1, initialBackoff: .milliseconds(10), maximumBackoff: .seconds(1))

    /// Consecutive failures so far.
    private(set) var failures = 0

    /// Records a failure; returns how long to wait before the next request.
    mutating func failed() -> Duration {
        failures += 1
        return Self.schedule.backoff(after: failures)
    }

    /// Records a success: the next failure waits the shortest time again.
    mutating func succeeded() { failures = 0 }
}
