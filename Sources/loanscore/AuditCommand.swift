import ArgumentParser
import Foundation
import LoanScoreAudit

/// `loanscore audit`: export, verify and compare the server's decision audit log.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Export, verify or compare (champion against challenger) a decision audit log.",
        subcommands: [Export.self, Verify.self, Compare.self]
    )

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write every audit record to a CSV or JSON Lines file.",
            discussion: "The format follows the output's extension: .csv or .jsonl. A damaged log (checksum, length or unreadable record) is refused with exit code 3; run 'loanscore audit verify' for details. A torn last record is left out."
        )

        @Option(help: "The audit log folder (audit-*.log segments).")
        var dir: String

        @Option(name: .customLong("archive-dir"), help: "The archive folder of compressed segments, when not DIR/archive (the server's audit.archive_dir).")
        var archiveDir: String?

        @Option(help: "The file to write: .csv or .jsonl.")
        var output: String

        @Flag(help: "Print {\"rows\": N, \"output\": PATH} as JSON.")
        var json = false

        func run() throws {
            let url = URL(fileURLWithPath: output)
            guard let format = AuditExporter.Format(pathExtension: url.pathExtension) else {
                throw Failure.usage("\(output): the output must end in .csv or .jsonl")
            }
            let reader = try AuditReader(directory: URL(fileURLWithPath: dir), archive: archiveDir.map { URL(fileURLWithPath: $0) })
            let progress = ProgressReporter(label: "exporting \(dir)", totalBytes: 0)
            defer { progress.finish() }
            let rows = try AuditExporter.export(reader, to: url, format: format) { read, total in progress.update(bytes: read, totalBytes: total) }
            progress.finish()
            if json {
                try printJSON(["rows": rows, "output": output])
            } else {
                print("Exported \(rows) audit record(s) to \(output)")
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every frame's checksum and the sequence numbers of an audit log.",
            discussion: "Reports checksum failures (segment and byte offset), damaged frames, sequence gaps and a torn last record; exit code 3 when anything is wrong."
        )

        @Option(help: "The audit log folder (audit-*.log segments).")
        var dir: String

        @Option(name: .customLong("archive-dir"), help: "The archive folder of compressed segments, when not DIR/archive (the server's audit.archive_dir).")
        var archiveDir: String?

        @Flag(help: "Print the report as JSON.")
        var json = false

        func run() throws {
            let reader = try AuditReader(directory: URL(fileURLWithPath: dir), archive: archiveDir.map { URL(fileURLWithPath: $0) })
            let progress = ProgressReporter(label: "verifying \(dir)", totalBytes: 0)
            defer { progress.finish() }
            let report = try reader.verify { read, total in progress.update(bytes: read, totalBytes: total) }
            progress.finish()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                var object = try JSONSerialization.jsonObject(with: encoder.encode(report)) as? [String: Any] ?? [:]
                object["clean"] = report.isClean
                try printJSON(object)
            } else {
                printReport(report)
            }
            if !report.isClean {
                throw Failure.invalidData("\(dir): the audit log has problems (see the report above)")
            }
        }

        private func printReport(_ report: AuditVerifyReport) {
            let range = report.firstSequence.map { "sequences \($0)...\(report.lastSequence ?? $0)" } ?? "no records"
            let archived = report.archivedSegments > 0 ? " (\(report.archivedSegments) archived)" : ""
            print("Audit log   \(dir): \(report.records) record(s) in \(report.segments) segment(s)\(archived), \(range)")
            if let writer = report.liveWriter {
                print("  live      written now by process \(writer): records appended after this read are not counted")
            }
            for failure in report.checksumFailures { print("  checksum  \(failure.segment) byte \(failure.offset): \(failure.problem)") }
            for bad in report.unreadableRecords { print("  unreadable \(bad.segment) byte \(bad.offset): \(bad.problem)") }
            for damage in report.damagedFrames { print("  damaged   \(damage.segment) byte \(damage.offset): \(damage.problem)") }
            for gap in report.sequenceGaps { print("  gap       \(gap.segment) byte \(gap.offset): expected \(gap.expected), found \(gap.found)") }
            for name in report.misnamedSegments { print("  name      \(name.segment): \(name.problem)") }
            if let torn = report.tornTail {
                if report.liveWriter != nil {
                    print("  writing   \(torn.segment) byte \(torn.offset): a record being written (not a problem while the server runs)")
                } else {
                    print("  torn tail \(torn.segment) byte \(torn.offset): \(torn.problem) (cut when the log is next opened)")
                }
            }
            print(report.isClean ? "OK: every checksum matches and the sequence has no gaps." : "PROBLEMS FOUND")
        }
    }
}
