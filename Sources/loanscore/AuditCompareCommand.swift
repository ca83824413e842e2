import ArgumentParser
import Foundation
import LoanScoreAudit
import LoanScoreMonitoring

extension AuditCommand {
    /// `loanscore audit compare`: champion against challenger from the audit log (see
    /// ``AuditComparison``, which does the work; this reads, filters and prints).
    struct Compare: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare the model versions that decided (champion, challenger) from an audit log.",
            discussion: """
                Per deciding model version (and its role when the server ran a challenger): \
                applications decided, mean PD, approval rate and the decisions mix. For shadow \
                records (the challenger scored beside the champion, which decided): per champion/\
                challenger pair, the agreement rate, the decision swap matrix (rows: the \
                champion's decision; columns: the challenger's), the Pearson and Spearman \
                correlations of their PDs, the mean PD difference (challenger − champion) and the \
                largest disagreements: decision swaps first (they change the lender's answer), \
                then by |PD difference|, --top of them. Without shadow records it says "no shadow \
                records". Counts are of audited decisions: an application scored twice counts \
                twice.

                --outcomes FILE (the CSV of 'loanscore outcomes': id, defaulted (0/1), \
                observed_at) adds ROC AUC, KS and Brier per version on the matured loans (each \
                application's latest decision, as 'loanscore outcomes' joins them) and, for \
                shadow pairs, the challenger's figures on the same loans as the champion's.

                --json prints one object: {"audit_dir", "since" (or null), "first_time", \
                "last_time", "records", "versions": [{"model_name", "model_version", "role" (or \
                null), "applications", "mean_pd", "approval_rate", "decisions": {"approve", \
                "review", "decline", "other", "approve_share", "review_share", \
                "decline_share"}}], "shadow": [{"model_name", "champion_version", \
                "challenger_version", "applications", "agreements", "agreement_rate", \
                "swap_matrix": {CHAMPION_DECISION: {CHALLENGER_DECISION: count}}, "unclassified", \
                "mean_champion_pd", "mean_challenger_pd", "mean_pd_difference", "pd_pearson", \
                "pd_spearman" (null when undefined), "largest_disagreements": [{"application_id", \
                "sequence", "champion_pd", "champion_decision", "challenger_pd", \
                "challenger_decision", "pd_difference", "decision_swap"}]}], "outcomes_file" and \
                "outcomes" (null without --outcomes): {"outcome_rows", "matched", \
                "unmatched_outcomes", "versions": [{"model_name", "model_version", "role", \
                "summary"}], "shadow": [{"champion_version", "challenger_version", "champion", \
                "challenger"}]}, each summary {"loans", "defaults", "mean_pd", \
                "observed_default_rate", "roc_auc" and "ks" (both left out when the loans all \
                defaulted or none did), "brier"}}. PDs and rates are fractions in [0, 1].

                Exit code 3 for a missing, unreadable or damaged audit folder, for a log with no \
                records (or none at or after --since), for an unreadable outcomes file (with \
                file, row and field) and when none of its ids has a decision; 2 for a bad flag.
                """
        )

        @Option(help: "The audit log folder (audit-*.log segments).")
        var dir: String

        @Option(name: .customLong("archive-dir"), help: "The archive folder of compressed segments, when not DIR/archive (the server's audit.archive_dir).")
        var archiveDir: String?

        @Option(help: "Only decisions made at or after this time (ISO 8601 date or date-time, UTC unless an offset is given).")
        var since: String?

        @Option(help: "CSV of realised outcomes (id, defaulted (0/1), observed_at), as 'loanscore outcomes' reads.")
        var outcomes: String?

        @Option(help: "How many of the largest disagreements to list per shadow pair.")
        var top: Int = AuditComparison.defaultTop

        @Flag(help: "Print the comparison as JSON (shape in the discussion above).")
        var json = false

        func validate() throws {
            guard top >= 0 else { throw ValidationError("--top must be 0 or more, not \(top)") }
        }

        func run() throws {
            let sinceMilliseconds = try since.map(OutcomesFile.sinceMilliseconds)
            let outcomeRows = try outcomes.map { try OutcomesFile.read(path: $0) }
            let reader = try AuditReader(directory: URL(fileURLWithPath: dir), archive: archiveDir.map { URL(fileURLWithPath: $0) })
            var builder = AuditComparison.Builder(
                top: top, outcomes: outcomeRows.map { rows in Dictionary(rows.map { ($0.id, $0.defaulted) }, uniquingKeysWith: { first, _ in first }) })
            var earlier = 0
            var firstTime: String?, lastTime: String?
            let progress = ProgressReporter(label: "reading \(dir)", totalBytes: 0)
            defer { progress.finish() }
            try reader.forEachRecord(progress: { read, total in progress.update(bytes: read, totalBytes: total) }) { record in
                if let sinceMilliseconds, record.timeMilliseconds < sinceMilliseconds {
                    earlier += 1
                    return
                }
                if firstTime == nil { firstTime = record.timeText }
                lastTime = record.timeText
                builder.add(AuditComparison.Decision(
                    sequence: record.sequence, timeMilliseconds: record.timeMilliseconds, applicationID: record.applicationID,
                    modelName: record.modelName, modelVersion: record.modelVersion, role: record.role, pd: record.pd,
                    decision: record.decision,
                    shadow: record.shadow.map { .init(modelVersion: $0.modelVersion, pd: $0.pd, decision: $0.decision) }))
            }
            progress.finish()
            guard builder.count > 0 else {
                if let since {
                    throw Failure.invalidData("\(dir): no audit records at or after \(since) (\(earlier) before it); nothing to compare: check --since")
                }
                throw Failure.invalidData("\(dir): the audit log has no records; nothing to compare (is this the server's audit.dir?)")
            }
            let comparison = builder.finish()
            if let outcomes, let joined = comparison.outcomes, joined.matched == 0 {
                let bound = since.map { " at or after \($0)" } ?? ""
                throw Failure.invalidData("\(outcomes): none of its \(joined.outcomeRows) outcome id(s) has a decision in \(dir)\(bound) "
                    + "(\(comparison.records) audited decision(s)); check the audit folder, the --since bound and that 'id' holds the application ids sent for scoring")
            }
            let output = Output(auditDirectory: dir, since: since, firstTime: firstTime, lastTime: lastTime,
                                outcomesFile: outcomes, comparison: comparison)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
                FileHandle.standardOutput.write(try encoder.encode(output) + Data("\n".utf8))
            } else {
                print(Self.render(output), terminator: "")
            }
        }

        /// The comparison with where it came from; encodes as one flat object.
        struct Output: Encodable {
            var auditDirectory: String
            var since: String?
            var firstTime: String?
            var lastTime: String?
            var outcomesFile: String?
            var comparison: AuditComparison

            enum CodingKeys: String, CodingKey {
                case since
                case auditDirectory = "audit_dir", firstTime = "first_time", lastTime = "last_time", outcomesFile = "outcomes_file"
            }

            func encode(to encoder: any Encoder) throws {
                try comparison.encode(to: encoder)
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(auditDirectory, forKey: .auditDirectory)
                try container.encode(since, forKey: .since)
                try container.encode(firstTime, forKey: .firstTime)
                try container.encode(lastTime, forKey: .lastTime)
                try container.encode(outcomesFile, forKey: .outcomesFile)
            }
        }

        /// The comparison as text: aligned tables, one section per question.
        static func render(_ output: Output) -> String {
            let report = output.comparison
            func percent(_ value: Double) -> String { String(format: "%.2f %%", value * 100) }
            func share(_ count: Int, _ fraction: Double) -> String { "\(count) (\(String(format: "%.1f", fraction * 100)) %)" }
            func number(_ value: Double?) -> String { value.map { String(format: "%.4f", $0) } ?? "–" }
            func signed(_ value: Double) -> String { String(format: "%+.4f", value) }

            var out = "Audit log \(output.auditDirectory): \(report.records) decision(s)"
            if let first = output.firstTime, let last = output.lastTime { out += ", \(first) to \(last)" }
            if let since = output.since { out += " (at or after \(since))" }
            out += "\n\nDecisions by model version\n"
            out += table(["model", "version", "role", "applications", "mean PD", "approval", "approve", "review", "decline"],
                         report.versions.map { v in
                             [v.modelName, v.modelVersion, v.role ?? "–", String(v.applications), percent(v.meanPD), percent(v.approvalRate),
                              share(v.decisions.approve, v.decisions.approveShare), share(v.decisions.review, v.decisions.reviewShare),
                              share(v.decisions.decline, v.decisions.declineShare)]
                         }, left: 3)
            let other = report.versions.reduce(0) { $0 + $1.decisions.other }
            if other > 0 { out += "  (\(other) decision(s) other than approve, review or decline; see --json)\n" }

            if report.shadow.isEmpty {
                out += "\nShadow: no shadow records (no challenger scored beside the champion in this log)\n"
            }
            for pair in report.shadow {
                out += "\nShadow: challenger \(pair.challengerVersion) beside champion \(pair.championVersion) (\(pair.modelName)): "
                    + "\(pair.applications) application(s) scored by both\n"
                out += "  agreement     \(percent(pair.agreementRate)) (\(pair.agreements) of \(pair.applications) with the same decision)\n"
                out += "  mean PD       champion \(percent(pair.meanChampionPD)), challenger \(percent(pair.meanChallengerPD)), "
                    + "difference (challenger − champion) \(String(format: "%+.2f", pair.meanPDDifference * 100)) points\n"
                out += "  correlation   Pearson \(number(pair.pdPearson)), Spearman \(number(pair.pdSpearman)) (of the two PDs)\n\n"
                out += "  Decision swaps (rows: champion, columns: challenger)\n"
                out += table(["champion \\ challenger"] + AuditComparison.decisionNames,
                             AuditComparison.decisionNames.map { row in
                                 [row] + AuditComparison.decisionNames.map { String(pair.swapMatrix[row]?[$0] ?? 0) }
                             }, left: 1, indent: 4)
                if pair.unclassified > 0 {
                    out += "    (\(pair.unclassified) application(s) with another decision left out)\n"
                }
                if pair.largestDisagreements.isEmpty {
                    out += "\n  No disagreements: the same decision and PD on every application.\n"
                } else {
                    out += "\n  Largest disagreements (decision swaps first, then by |PD difference|; top \(pair.largestDisagreements.count))\n"
                    out += table(["application", "champion PD", "decision", "challenger PD", "decision", "difference"],
                                 pair.largestDisagreements.map { d in
                                     [d.applicationID, number(d.championPD), d.championDecision, number(d.challengerPD), d.challengerDecision,
                                      signed(d.pdDifference)]
                                 }, left: 1, indent: 4, leftAlso: [2, 4])
                }
            }

            if let outcomes = report.outcomes {
                out += "\nMatured loans (\(output.outcomesFile ?? "outcomes")): \(outcomes.matched) of \(outcomes.outcomeRows) outcome(s) "
                    + "matched an audited decision, \(outcomes.unmatchedOutcomes) without one\n"
                func row(_ name: String, _ version: String, _ role: String, _ s: OutcomeReport.Summary) -> [String] {
                    [name, version, role, String(s.loans), String(s.defaults), percent(s.meanPD), percent(s.observedDefaultRate),
                     number(s.rocAUC), number(s.ks), number(s.brier)]
                }
                let header = ["model", "version", "role", "loans", "defaults", "mean PD", "observed", "ROC AUC", "KS", "Brier"]
                out += table(header, outcomes.versions.map { row($0.modelName, $0.modelVersion, $0.role ?? "–", $0.summary) }, left: 3)
                for pair in outcomes.shadow {
                    let name = report.shadow.first { $0.championVersion == pair.championVersion && $0.challengerVersion == pair.challengerVersion }?.modelName ?? ""
                    out += "\n  Shadow: both on the same \(pair.champion.loans) matured loan(s)\n"
                    out += table(header, [row(name, pair.championVersion, "champion", pair.champion),
                                          row(name, pair.challengerVersion, "challenger", pair.challenger)], left: 3, indent: 4)
                }
            }
            return out
        }
    }
}

/// Rows under a header, columns padded to their widest cell: the first `left` columns (and
/// those in `leftAlso`) left-aligned, the others right-aligned; two spaces between columns.
private func table(_ header: [String], _ rows: [[String]], left: Int, indent: Int = 2, leftAlso: Set<Int> = []) -> String {
    var widths = header.map(\.count)
    for row in rows {
        for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
    }
    func line(_ cells: [String]) -> String {
        let padded = cells.enumerated().map { index, cell -> String in
            let pad = String(repeating: " ", count: max(widths[index] - cell.count, 0))
            return index < left || leftAlso.contains(index) ? cell + pad : pad + cell
        }
        var text = String(repeating: " ", count: indent) + padded.joined(separator: "  ")
        while text.hasSuffix(" ") { text.removeLast() }
        return text + "\n"
    }
    return ([line(header)] + rows.map(line)).joined()
}
