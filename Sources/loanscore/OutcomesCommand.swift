import ArgumentParser
import Foundation
import LoanScoreAudit
import LoanScoreFeatures
import LoanScoreMonitoring

/// `loanscore outcomes`: realised defaults, as loans mature, against the PDs the audit log
/// recorded when they were decided.
struct OutcomesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outcomes",
        abstract: "Compare realised outcomes with the audited decisions' PDs.",
        discussion: """
            Joins a file of realised outcomes (CSV columns id, defaulted (0 or 1) and observed_at \
            (ISO 8601 date or time), any others ignored) to the audit log's decisions, the latest \
            decision per application id, and reports per model version and per risk level: loans, \
            mean predicted PD, observed default rate, ROC AUC, KS, Brier score, calibration by PD \
            decile (expected against observed), and a two-sided exact binomial test of each risk \
            level's defaults against its mean PD, flagged at p < 0.05.

            Outcome ids with no audited decision are counted and the first ten listed, never \
            dropped silently; decisions without an outcome yet are counted. Exit code 3 for an \
            outcomes file with a missing column, a repeated id, a defaulted value other than 0 or \
            1 or an unreadable date (with file, row and field), for a damaged audit log, and when \
            no outcome id at all is in the audit log.
            """
    )

    @Option(name: .customLong("audit-dir"), help: "The audit log folder (audit-*.log segments).")
    var auditDir: String

    @Option(name: .customLong("archive-dir"), help: "The archive folder of compressed segments, when not DIR/archive.")
    var archiveDir: String?

    @Option(help: "CSV of realised outcomes: id, defaulted (0/1), observed_at.")
    var outcomes: String

    @Option(help: "Only decisions made at or after this time (ISO 8601 date or date-time, UTC unless an offset is given).")
    var since: String?

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() throws {
        let sinceMilliseconds = try since.map { text -> Int64 in
            do {
                return Int64((try ISO8601Time.parse(text).timeIntervalSince1970 * 1000).rounded(.down))
            } catch {
                throw Failure.usage("--since: \(quoted(text)) is not an ISO 8601 date (2026-01-31) or date-time (2026-01-31T12:00:00Z): \(error)")
            }
        }
        let outcomeRows = try readOutcomes(path: outcomes)
        let reader = try AuditReader(directory: URL(fileURLWithPath: auditDir), archive: archiveDir.map { URL(fileURLWithPath: $0) })
        let progress = ProgressReporter(label: "reading \(auditDir)", totalBytes: 0)
        defer { progress.finish() }
        // The latest decision per application id (by time, then by sequence number).
        var latest: [String: AuditRecord] = [:]
        var order: [String] = []
        try reader.forEachRecord(progress: { read, total in progress.update(bytes: read, totalBytes: total) }) { record in
            if let sinceMilliseconds, record.timeMilliseconds < sinceMilliseconds { return }
            if let previous = latest[record.applicationID] {
                if (record.timeMilliseconds, record.sequence) >= (previous.timeMilliseconds, previous.sequence) {
                    latest[record.applicationID] = record
                }
            } else {
                latest[record.applicationID] = record
                order.append(record.applicationID)
            }
        }
        progress.finish()
        var loans: [(position: Int, loan: OutcomeReport.Loan)] = []
        var unmatched: [OutcomeReport.Unmatched] = []
        let position = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
        loans.reserveCapacity(outcomeRows.count)
        for outcome in outcomeRows {
            guard let record = latest[outcome.id], let at = position[outcome.id] else {
                unmatched.append(.init(id: outcome.id, row: outcome.row))
                continue
            }
            loans.append((at, OutcomeReport.Loan(modelName: record.modelName, modelVersion: record.modelVersion,
                                                 riskLevel: record.riskLevel, pd: record.pd, defaulted: outcome.defaulted)))
        }
        guard !loans.isEmpty else {
            let bound = since.map { " at or after \($0)" } ?? ""
            throw Failure.invalidData("\(outcomes): none of its \(outcomeRows.count) outcome id(s) has a decision in \(auditDir)\(bound) "
                + "(\(latest.count) audited application(s)); check the audit folder, the --since bound and that 'id' holds the application ids sent for scoring")
        }
        // Loans in audit order, so model versions appear in the order they decided.
        let sortedLoans = loans.sorted { $0.position < $1.position }.map(\.loan)
        let report = OutcomeReport(loans: sortedLoans, unmatched: unmatched,
                                   decisionsWithoutOutcome: latest.count - loans.count, since: since)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            FileHandle.standardOutput.write(try encoder.encode(report) + Data("\n".utf8))
        } else {
            print(Self.render(report), terminator: "")
        }
    }

    /// One row of the outcomes file.
    struct OutcomeRow {
        var id: String
        var defaulted: Bool
        var row: Int
    }

    /// Reads and checks the outcomes file: the three columns present, one row per id, 0/1
    /// outcomes, readable dates.
    ///
    /// - Throws: ``Failure`` (exit 3) naming the file, row, field and value.
    func readOutcomes(path: String) throws -> [OutcomeRow] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw Failure.invalidData("\(path): no such outcomes file")
        }
        let reader: CSVReader
        do {
            reader = try CSVReader(url: URL(fileURLWithPath: path))
        } catch {
            throw Failure.invalidData("\(path): cannot read the outcomes file (permission denied or unreadable)")
        }
        guard let header = try reader.next() else {
            throw Failure.invalidData("\(path): empty file; expected a header row with id, defaulted, observed_at")
        }
        var column: [String: Int] = [:]
        for (index, name) in header.fields.enumerated() where column[name.trimmingCharacters(in: .whitespaces)] == nil {
            column[name.trimmingCharacters(in: .whitespaces)] = index
        }
        let required = ["id", "defaulted", "observed_at"]
        let missing = required.filter { column[$0] == nil }
        guard missing.isEmpty, let idColumn = column["id"], let outcomeColumn = column["defaulted"], let dateColumn = column["observed_at"] else {
            throw Failure.invalidData("\(path): missing column(s) \(missing.map { "'\($0)'" }.joined(separator: ", ")) "
                + "(header: \(header.fields.prefix(12).map(quoted).joined(separator: ", "))); expected id, defaulted (0 or 1) and observed_at (ISO 8601)")
        }
        var rows: [OutcomeRow] = []
        var firstRow: [String: Int] = [:]
        var dataRow = 0
        while let record = try reader.next() {
            dataRow += 1
            let fields = record.fields
            if fields.count == 1, fields[0].isEmpty { continue }  // a blank line
            func cell(_ index: Int, _ name: String) throws -> String {
                guard index < fields.count else {
                    throw Failure.invalidData("\(path): row \(dataRow) (line \(record.line)): field '\(name)': missing (the row has \(fields.count) cells, the header \(header.fields.count))")
                }
                return fields[index].trimmingCharacters(in: .whitespaces)
            }
            let id = try cell(idColumn, "id"), outcome = try cell(outcomeColumn, "defaulted"), observed = try cell(dateColumn, "observed_at")
            guard !id.isEmpty else {
                throw Failure.invalidData("\(path): row \(dataRow) (line \(record.line)): field 'id': empty; every outcome needs the application id it belongs to")
            }
            let defaulted: Bool
            switch outcome {
            case "0": defaulted = false
            case "1": defaulted = true
            default:
                throw Failure.invalidData("\(path): row \(dataRow) (line \(record.line)): field 'defaulted': \(quoted(outcome)) is not 0 or 1 (1 = the loan defaulted)")
            }
            do {
                _ = try ISO8601Time.parse(observed)
            } catch {
                throw Failure.invalidData("\(path): row \(dataRow) (line \(record.line)): field 'observed_at': \(quoted(observed)) is not an ISO 8601 date or date-time "
                    + "(e.g. 2026-01-31 or 2026-01-31T12:00:00Z): \(error)")
            }
            if let first = firstRow[id] {
                throw Failure.invalidData("\(path): row \(dataRow) (line \(record.line)): field 'id': \(quoted(id)) repeats row \(first); one outcome per loan")
            }
            firstRow[id] = dataRow
            rows.append(OutcomeRow(id: id, defaulted: defaulted, row: dataRow))
        }
        guard !rows.isEmpty else { throw Failure.invalidData("\(path): no outcome rows after the header") }
        return rows
    }

    /// The report as text: one block per model version.
    static func render(_ report: OutcomeReport) -> String {
        func number(_ value: Double?, _ digits: Int = 4) -> String {
            value.map { String(format: "%.\(digits)f", $0) } ?? "–"
        }
        func percent(_ value: Double) -> String { String(format: "%.2f %%", value * 100) }
        var out = "Realised outcomes: \(report.loans) loan(s) matched"
        if let since = report.since { out += " (decided at or after \(since))" }
        out += "; \(report.unmatchedOutcomes) outcome(s) without a decision; \(report.decisionsWithoutOutcome) decision(s) without an outcome yet\n"
        if !report.unmatchedExamples.isEmpty {
            out += "  unmatched ids (first \(report.unmatchedExamples.count)): "
                + report.unmatchedExamples.map { "\(quoted($0.id)) (row \($0.row))" }.joined(separator: ", ") + "\n"
        }
        for model in report.models {
            let s = model.summary
            out += "\n\(model.modelName) \(model.modelVersion): \(s.loans) loans, \(s.defaults) defaults\n"
            out += "  mean PD \(percent(s.meanPD)), observed default rate \(percent(s.observedDefaultRate)), "
                + "ROC AUC \(number(s.rocAUC)), KS \(number(s.ks)), Brier \(number(s.brier))\n\n"
            out += "  risk level        loans   mean PD  observed   ROC AUC  binomial p\n"
            for level in model.riskLevels {
                let l = level.summary
                out += "  " + level.riskLevel.padding(toLength: 15, withPad: " ", startingAt: 0) + right(String(l.loans), 8)
                    + right(percent(l.meanPD), 10) + right(percent(l.observedDefaultRate), 10) + right(number(l.rocAUC), 10)
                    + right(level.binomialPValue < 0.0001 ? "< 0.0001" : String(format: "%.4f", level.binomialPValue), 12)
                    + (level.flagged ? "  <- PDs not borne out (p < 0.05)" : "") + "\n"
            }
            out += "\n  PD decile  loans        PD range     expected  observed\n"
            for bin in model.calibration {
                out += right(String(bin.decile), 11) + right(String(bin.loans), 7)
                    + right(String(format: "%.4f - %.4f", bin.pdMin, bin.pdMax), 17) + right(percent(bin.expected), 11)
                    + right(percent(bin.observed), 10) + "\n"
            }
        }
        return out
    }
}

/// `text` right-aligned in `width` columns.
private func right(_ text: String, _ width: Int) -> String {
    text.count >= width ? " " + text : String(repeating: " ", count: width - text.count) + text
}

/// A value quoted for a message, control and invisible format characters (a byte-order mark,
/// a line separator) escaped and long values cut.
private func quoted(_ text: String) -> String {
    let shown = text.count > 40 ? String(text.prefix(40)) + "…" : text
    return "\"" + shown.unicodeScalars.map { scalar in
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: "\\u{\(String(scalar.value, radix: 16))}"
        default: String(scalar)
        }
    }.joined() + "\""
}
