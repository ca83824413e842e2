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
        let sinceMilliseconds = try since.map(OutcomesFile.sinceMilliseconds)
        let outcomeRows = try OutcomesFile.read(path: outcomes)
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
