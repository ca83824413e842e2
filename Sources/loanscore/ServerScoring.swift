import Foundation
import LoanScoreClient
import LoanScoreFeatures
import LoanScoreProtocol

/// `loanscore score --server`: the same input, outputs, summary and exit codes as offline
/// scoring, with the scoring done by a LoanScore server through the client SDK.
///
/// Rows are read in order and grouped into chunks of up to `batchSize` valid applications;
/// several chunks are in flight at once (pipelined), and each chunk's scored rows and rejects
/// are written, in input order, as soon as every earlier chunk has been written. Cells that
/// cannot travel (text in a NUMBER field, NaN, infinity, an unknown boolean label) are rejected
/// here with the offline message shape; the server validates everything else exactly as offline.
struct ServerScoring {
    /// The servers (`--server`, repeatable): the SDK spreads its connections over them and
    /// fails over between them.
    var servers: [String]
    /// The servers as one text, for messages.
    var server: String { servers.joined(separator: ", ") }
    var tls: LoanScoreClient.TLS
    var input: String
    var output: String
    var rejects: String?
    var json: Bool
    var batchSize: Int
    var ignoredColumns: [String]
    /// `--ignore-unknown-fields`: the SDK's ``LoanScoreClient/UnknownFieldPolicy/ignore``, so
    /// that a reload dropping a field the file has does not fail the batches sent after it.
    var ignoreUnknownFields = false

    /// One input row after local checks.
    struct Row: Sendable {
        var row: Int
        var id: String
        var cells: [String]
        /// Nil when the row was rejected locally.
        var values: [String: WireValue]?
        var violations: [Violation]
    }

    /// Consecutive input rows: those sent as one batch, and those rejected locally between them.
    struct Chunk: Sendable {
        var index: Int
        var rows: [Row]
    }

    func run() async throws {
        let endpoints = try servers.map { text in
            let (host, port) = try parseServerAddress(text)
            return HostPort(host: host, port: port)
        }
        var configuration = LoanScoreClient.Configuration(
            endpoints: endpoints, tls: tls, connections: LoanScoreClient.Configuration.connections(for: endpoints, atLeast: 2))
        configuration.deadline = .seconds(60)
        configuration.clientName = "loanscore-cli/1"
        configuration.unknownFields = ignoreUnknownFields ? .ignore : .reject
        let client: LoanScoreClient
        do {
            client = try LoanScoreClient(configuration: configuration)
        } catch let error as LoanScoreClientError {
            throw Failure.invalidData("cannot set up TLS for \(server): \(error.message)")
        }
        do {
            try await run(client: client)
        } catch {
            await client.close()
            throw error
        }
        await client.close()
    }

    private func run(client: LoanScoreClient) async throws {
        let welcome: Welcome
        do {
            welcome = try await client.connect()
        } catch {
            switch error.code {
            case .connectFailed, .tlsFailed, .handshakeFailed, .connectionClosed: throw Failure.unreachable(error.message)
            default: throw Failure.internalError("cannot start scoring with \(server): \(error.message)")
            }
        }
        guard batchSize <= welcome.limits.maximumBatch else {
            throw Failure.usage("--batch \(batchSize) is above the server's maximum batch of \(welcome.limits.maximumBatch)")
        }

        let url = URL(fileURLWithPath: input)
        let reader: CSVReader
        do { reader = try CSVReader(url: url) } catch { throw Failure.invalidData("\(input): cannot open the file") }
        guard let first = try reader.next() else {
            throw Failure.invalidData("\(input): the file is empty (expected a header row naming the served schema's fields)")
        }
        let header = first.fields.map { $0.trimmingCharacters(in: .whitespaces) }
        let layout = try ColumnLayout(header: header, schema: welcome.schema, ignoring: ignoredColumns, path: input)
        if !layout.leftOut.isEmpty {
            printError("note: \(input): leaving out column(s) \(layout.leftOut.map { "'\($0)'" }.joined(separator: ", ")), "
                       + "not fields of the served schema (--ignore-column NAME leaves a column out without this note)")
        }

        let out = try AtomicOutputFile(path: output)
        let rejectsFile = try rejects.map { try RejectsFile(path: $0, header: header) }
        try out.writeRecord(["id", "pd", "risk_level", "decision", "confidence", "reasons", "reason_texts", "flags", "model_version"])

        let progress = ProgressReporter(label: "scoring \(input) on \(server)", totalBytes: ProgressReporter.fileSize(input), itemName: "rows")
        defer { progress.finish() }
        var rowsIn = 0, scored = 0, rejected = 0
        var rejectedMessages: [String] = []
        var modelVersion = welcome.modelVersion
        /// Values left out under --ignore-unknown-fields, by field.
        var ignoredValues: [String: Int] = [:]

        // Writes one answered chunk in input order.
        func write(_ chunk: Chunk, _ answer: ScoredBatch?) throws {
            let response = answer?.response
            var results = response?.results.makeIterator()
            if let response { modelVersion = response.modelVersion }
            if let answer, !answer.ignoredFields.isEmpty {
                // Every application with a key for an ignored field lost that value.
                for application in chunk.rows.compactMap(\.values) {
                    for field in answer.ignoredFields where application[field] != nil { ignoredValues[field, default: 0] += 1 }
                }
            }
            for row in chunk.rows {
                var message: String?
                if row.values != nil, let result = results?.next() {
                    switch result {
                    case .scored(let score):
                        try out.writeRecord([
                            row.id, "\(score.pd)", score.riskLevel, score.decision.rawValue, "\(score.confidence)",
                            score.reasons.joined(separator: ";"), "", "", score.modelVersion ?? response?.modelVersion ?? modelVersion,
                        ])
                        scored += 1
                        continue
                    case .invalid(let code, let text):
                        message = code == .invalidApplication ? text : "\(code.name): \(text)"
                    }
                }
                rejected += 1
                let reasons = message ?? row.violations.map(\.description).joined(separator: "; ")
                try rejectsFile?.write(row: row.row, cells: row.cells, reasons: reasons)
                if rejectedMessages.count < 20 { rejectedMessages.append("\(input): row \(row.row): \(reasons)") }
            }
        }

        let maximumInFlight = max(1, min(8, welcome.limits.maximumInFlight == 0 ? 8 : welcome.limits.maximumInFlight) * 2)
        try await withThrowingTaskGroup(of: (Chunk, ScoredBatch?).self) { group in
            var finished: [Int: (Chunk, ScoredBatch?)] = [:]
            var nextToWrite = 0, nextIndex = 0, inFlight = 0

            func drain(_ completed: (Chunk, ScoredBatch?)) throws {
                finished[completed.0.index] = completed
                while let ready = finished.removeValue(forKey: nextToWrite) {
                    try write(ready.0, ready.1)
                    nextToWrite += 1
                }
            }
            func submit(_ rows: [Row]) async throws {
                let chunk = Chunk(index: nextIndex, rows: rows)
                nextIndex += 1
                let batch = rows.compactMap { row in row.values.map { ApplicationInput(id: row.id, values: $0) } }
                if inFlight >= maximumInFlight, let completed = try await group.next() {
                    inFlight -= 1
                    try drain(completed)
                }
                inFlight += 1
                group.addTask {
                    guard !batch.isEmpty else { return (chunk, nil) }
                    let span = "rows \(rows.first?.row ?? 0)-\(rows.last?.row ?? 0)"
                    do {
                        return (chunk, try await client.scoreDetailed(batch))
                    } catch let error as LoanScoreClientError where error.code == .invalidInput && error.field != nil {
                        // Every row was checked against the schema served at the start: a reload
                        // changed it, dropping the field (the flag helps) or changing its type.
                        let dropped = error.field.map { field in client.welcome?.schema.fields.contains { $0.name == field } == false } ?? false
                        throw Failure.invalidData(
                            "scoring \(span) on \(server) failed: \(error.message); the server's schema changed during the run"
                                + (dropped ? " (give --ignore-unknown-fields to leave such fields out)" : ""))
                    } catch {
                        throw Failure.internalError("scoring \(span) on \(server) failed: \((error as? LoanScoreClientError)?.message ?? "\(error)")")
                    }
                }
            }

            var pending: [Row] = []
            var valid = 0
            while let record = try reader.next() {
                rowsIn += 1
                guard record.fields.count == header.count else {
                    throw Failure.invalidData(
                        "\(input): row \(rowsIn) (line \(record.line)) has \(record.fields.count) cells, the header has \(header.count)")
                }
                let row = layout.row(rowsIn, record.fields)
                if row.values != nil { valid += 1 }
                pending.append(row)
                if valid == batchSize {
                    try await submit(pending)
                    pending = []
                    valid = 0
                }
                progress.update(bytes: reader.bytesRead, items: rowsIn)
            }
            if !pending.isEmpty { try await submit(pending) }
            while let completed = try await group.next() { try drain(completed) }
        }
        try out.commit()
        try rejectsFile?.commit()
        progress.finish()
        if !ignoredValues.isEmpty {
            printError("note: left out " + ignoredValues.sorted { $0.key < $1.key }.map { "\($0.value) value(s) of '\($0.key)'" }.joined(separator: ", ")
                       + ": not fields of the schema served after a reload (--ignore-unknown-fields)")
        }
        if json {
            try printJSON(["rows_in": rowsIn, "rows_scored": scored, "rows_rejected": rejected,
                           "output": output, "rejects": rejects.map { $0 as Any } ?? NSNull(), "ignored_fields": ignoredValues])
        } else {
            print("\(scored) of \(rowsIn) application(s) scored with \(welcome.modelName) \(modelVersion) on \(server) -> \(output)"
                  + (rejected > 0 ? "; \(rejected) rejected" + (rejects.map { " -> \($0)" } ?? "") : ""))
        }
        if rejected > 0 && rejects == nil {
            for message in rejectedMessages { printError("rejected: \(message)") }
            if rejected > rejectedMessages.count { printError("… and \(rejected - rejectedMessages.count) more; use --rejects FILE to keep them all") }
            throw Failure.invalidData("\(rejected) of \(rowsIn) row(s) of \(input) are invalid")
        }
    }
}

/// How the input's columns map onto the served schema's fields.
///
/// Columns that are not fields are left out, not refused: WELCOME announces the served
/// schema's fields but not its target column, so the holdout file of the very bundle being
/// served (which carries the target, a known column offline) could not be told apart from a
/// file with some other extra column. Every field must still have its column, so a misspelt
/// field name is still refused as a missing column.
struct ColumnLayout: Sendable {
    let fields: [(column: Int, field: WireField)]
    let idColumn: Int?
    /// Columns left out that were not named with --ignore-column, in header order.
    let leftOut: [String]

    /// - Throws: ``Failure`` (invalid data) for a repeated or missing column.
    init(header: [String], schema: WireSchema, ignoring ignored: [String], path: String) throws {
        var position: [String: Int] = [:]
        for (index, name) in header.enumerated() {
            guard position[name] == nil else { throw Failure.invalidData("\(path): column '\(name)' appears twice in the header") }
            position[name] = index
        }
        let missing = schema.fields.map(\.name).filter { position[$0] == nil }
        guard missing.isEmpty else {
            throw Failure.invalidData(
                "\(path): missing column(s) \(missing.map { "'\($0)'" }.joined(separator: ", ")) required by the served schema")
        }
        let fieldNames = Set(schema.fields.map(\.name))
        let idColumn = header.firstIndex { ($0 == "id" || $0 == "application_id") && !fieldNames.contains($0) }
        leftOut = header.enumerated().filter { index, name in
            !fieldNames.contains(name) && index != idColumn && !ignored.contains(name)
        }.map(\.element)
        fields = schema.fields.compactMap { field in position[field.name].map { ($0, field) } }
        self.idColumn = idColumn
    }

    /// Maps one record's cells to wire values, rejecting cells that cannot travel.
    func row(_ row: Int, _ cells: [String]) -> ServerScoring.Row {
        var values: [String: WireValue] = [:]
        var violations: [Violation] = []
        for (column, field) in fields {
            switch wireValue(cells[column], field: field) {
            case .success(let value): values[field.name] = value
            case .failure(let violation): violations.append(violation)
            }
        }
        let id = idColumn.map { cells[$0] } ?? String(row)
        return ServerScoring.Row(row: row, id: id, cells: cells, values: violations.isEmpty ? values : nil, violations: violations)
    }
}

/// A cell mapped for the wire, or why it cannot travel.
enum CellValue {
    case success(WireValue)
    case failure(Violation)
}

/// A CSV cell as the value of a field of the served schema: empty is missing; NUMBER cells are
/// parsed with the offline rules (`strictNumber`); BOOL cells take the usual labels; STRING
/// cells travel as they are (the server folds and checks levels exactly as offline).
func wireValue(_ cell: String, field: WireField) -> CellValue {
    let folded = normalizedLabel(cell)
    if folded.isEmpty { return .success(.missing) }
    switch field.type {
    case .number:
        if let number = strictNumber(folded) { return .success(.number(number)) }
        let problem = ["nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"].contains(folded)
            ? "is not a finite number (write missing values as an empty cell)" : "is not a number"
        return .failure(Violation(field: field.name, value: cell, problem: problem, expected: "a number"))
    case .bool:
        if ["true", "yes", "y", "t", "1"].contains(folded) { return .success(.bool(true)) }
        if ["false", "no", "n", "f", "0"].contains(folded) { return .success(.bool(false)) }
        return .failure(Violation(field: field.name, value: cell, problem: "is not a known boolean label", expected: "one of \"true\", \"false\", \"yes\", \"no\", \"1\", \"0\""))
    case .string:
        return .success(.text(cell))
    }
}

/// `HOST:PORT` (or `[IPv6]:PORT`) as host and port, for the flag `flag`.
func parseServerAddress(_ text: String, flag: String = "--server") throws -> (String, Int) {
    do {
        let address = try HostPort(parsing: text)
        return (address.host, address.port)
    } catch {
        throw Failure.usage("\(flag) must be HOST:PORT: \(error.message)")
    }
}

/// Runs async work from the synchronous command entry point and waits for it.
func runBlocking(_ body: @escaping @Sendable () async throws -> Void) throws {
    final class Box: @unchecked Sendable { var error: (any Error)? }
    let box = Box()
    let done = DispatchSemaphore(value: 0)
    Task {
        do { try await body() } catch { box.error = error }
        done.signal()
    }
    done.wait()
    if let error = box.error { throw error }
}
