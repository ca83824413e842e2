import Foundation
import LoanScoreFeatures
import LoanScoreMonitoring

/// The realised-outcomes file that `loanscore outcomes` and `loanscore audit compare
/// --outcomes` read (CSV columns `id`, `defaulted` (0 or 1) and `observed_at` (ISO 8601), any
/// others ignored), and the `--since` bound both take.
enum OutcomesFile {
    /// One row of the outcomes file.
    struct Row {
        var id: String
        var defaulted: Bool
        var row: Int
    }

    /// Reads and checks the outcomes file: the three columns present, one row per id, 0/1
    /// outcomes, readable dates.
    ///
    /// - Throws: ``Failure`` (exit 3) naming the file, row, field and value.
    static func read(path: String) throws -> [Row] {
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
        var rows: [Row] = []
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
            rows.append(Row(id: id, defaulted: defaulted, row: dataRow))
        }
        guard !rows.isEmpty else { throw Failure.invalidData("\(path): no outcome rows after the header") }
        return rows
    }

    /// `--since` as milliseconds since 1970 (ISO 8601 date or date-time, UTC unless an offset
    /// is given; see ``ISO8601Time``).
    ///
    /// - Throws: ``Failure`` (exit 2) saying what form is expected.
    static func sinceMilliseconds(_ text: String) throws -> Int64 {
        do {
            return Int64((try ISO8601Time.parse(text).timeIntervalSince1970 * 1000).rounded(.down))
        } catch {
            throw Failure.usage("--since: \(quoted(text)) is not an ISO 8601 date (2026-01-31) or date-time (2026-01-31T12:00:00Z): \(error)")
        }
    }
}

/// `text` right-aligned in `width` columns.
func right(_ text: String, _ width: Int) -> String {
    text.count >= width ? " " + text : String(repeating: " ", count: width - text.count) + text
}

/// A value quoted for a message, control and invisible format characters (a byte-order mark,
/// a line separator) escaped and long values cut.
func quoted(_ text: String) -> String {
    let shown = text.count > 40 ? String(text.prefix(40)) + "…" : text
    return "\"" + shown.unicodeScalars.map { scalar in
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: "\\u{\(String(scalar.value, radix: 16))}"
        default: String(scalar)
        }
    }.joined() + "\""
}
