public import Foundation

/// Writes an audit log's records to one CSV or JSON Lines file, for auditors and analysts.
public enum AuditExporter {
    /// An export file format.
    public enum Format: String, Sendable, CaseIterable {
        /// RFC 4180 CSV with a header row; reason codes joined by `;`, a missing client empty.
        case csv
        /// One record per line, as compact JSON (the same object as in the log's frames).
        case jsonLines = "jsonl"

        /// The format for a file name's extension (`.csv`, `.jsonl`), or `nil`.
        public init?(pathExtension: String) {
            self.init(rawValue: pathExtension.lowercased())
        }
    }

    /// The CSV header row's column names, in order. The `role` and `shadow_*` columns are
    /// empty for records of a server that ran no challenger (and the `shadow_*` ones outside
    /// shadow mode).
    public static let csvColumns = [
        "sequence", "time", "request_id", "application_id", "model_name", "model_version",
        "input_sha256", "pd", "decision", "risk_level", "reason_codes", "client",
        "role", "shadow_model_version", "shadow_pd", "shadow_decision", "shadow_risk_level",
    ]

    /// Exports every record of `reader`'s log to `output`.
    ///
    /// The file is written under a temporary name beside `output` and renamed into place,
    /// so a failed export leaves no partial file.
    /// - Returns: The number of records (rows) written.
    /// - Throws: ``AuditError``: `.corrupt` if the log is damaged (see
    ///   ``AuditReader/forEachRecord(progress:_:)``), `.io` if the file cannot be written.
    /// - Parameter progress: called now and then with the log's bytes read (``AuditReader/Progress``).
    /// - Complexity: O(total log bytes); one segment in memory at a time, plus the output.
    @discardableResult
    public static func export(_ reader: AuditReader, to output: URL, format: Format, progress: AuditReader.Progress? = nil) throws -> Int {
        var text = Data()
        var rows = 0
        if format == .csv { text.append(Data((csvColumns.joined(separator: ",") + "\n").utf8)) }
        try reader.forEachRecord(progress: progress) { record in
            switch format {
            case .csv:
                text.append(Data((csvRow(record) + "\n").utf8))
            case .jsonLines:
                text.append(contentsOf: try record.compactJSON())
                text.append(UInt8(ascii: "\n"))
            }
            rows += 1
        }
        let temporary = output.deletingLastPathComponent()
            .appendingPathComponent(".\(output.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)")
        do {
            try text.write(to: temporary)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw AuditError(.io, "\(output.path): cannot write the export: \(error.localizedDescription)")
        }
        // rename(2) replaces the destination atomically within one file system.
        guard rename(temporary.path, output.path) == 0 else {
            let code = errno
            try? FileManager.default.removeItem(at: temporary)
            throw AuditError(.io, "\(output.path): cannot move the export into place", errno: code)
        }
        return rows
    }

    /// One CSV row (no line end) in ``csvColumns`` order.
    public static func csvRow(_ record: AuditRecord) -> String {
        [
            String(record.sequence), record.timeText, String(record.requestID), record.applicationID,
            record.modelName, record.modelVersion, record.inputHash, "\(record.pd)", record.decision,
            record.riskLevel, record.reasonCodes.joined(separator: ";"), record.client ?? "",
            record.role ?? "", record.shadow?.modelVersion ?? "", record.shadow.map { "\($0.pd)" } ?? "",
            record.shadow?.decision ?? "", record.shadow?.riskLevel ?? "",
        ].map(escape).joined(separator: ",")
    }

    /// Quotes a CSV field when it holds a comma, quote or line break (quotes doubled).
    static func escape(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
