public import Foundation

/// Reads applications from a CSV file laid out by a schema: columns are matched by header
/// name (their order does not matter), every field must have a column (except a protected
/// field that is not a feature, which reads as missing when its column is left out), and no
/// column may be unknown (the schema's `id_column` and target column are known).
public final class ApplicationFile {
    /// A file-level problem: empty file, missing or unknown columns, malformed CSV, a record
    /// with the wrong number of cells. Scoring stops on these (exit code 3).
    public struct FileError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// One application read from the file.
    public struct Application: Sendable {
        /// 1-based data row (the header is row 0).
        public var row: Int
        /// The id column's value, or the row number.
        public var id: String
        /// One value per schema field.
        public var values: [RawValue]
        /// The record's cells as they were, in file order (for the rejects file).
        public var cells: [String]
    }

    public let header: [String]

    /// Bytes of the file read so far (see ``CSVReader/bytesRead``), for progress reports.
    public var bytesRead: Int64 { reader.bytesRead }
    private let reader: CSVReader
    private let path: String
    /// Each field's column; `nil` for an optional (protected, non-feature) field left out.
    private let columnOfField: [Int?]
    private let idColumn: Int?
    private var row = 0

    /// Opens a file and checks its header against the schema.
    ///
    /// - Throws: ``FileError`` naming the file and the missing, unknown or repeated columns,
    ///   or an empty file; `CSVReader.FormatError` for malformed CSV.
    public init(url: URL, schema: Schema) throws {
        path = url.path
        do {
            reader = try CSVReader(url: url)
        } catch {
            throw FileError(message: "\(url.path): cannot open the file")
        }
        guard let first = try reader.next() else {
            throw FileError(message: "\(url.path): the file is empty (expected a header row naming the schema's fields)")
        }
        header = first.fields.map { $0.trimmingCharacters(in: .whitespaces) }
        var position: [String: Int] = [:]
        for (i, name) in header.enumerated() {
            guard position[name] == nil else {
                throw FileError(message: "\(url.path): column '\(name)' appears twice in the header")
            }
            position[name] = i
        }
        // A protected field that is not a feature is optional: its column may be left out.
        let missing = schema.fields.filter { position[$0.name] == nil && !($0.isProtected && !$0.isFeature) }.map(\.name)
        guard missing.isEmpty else {
            throw FileError(message: "\(url.path): missing column(s) \(missing.map { "'\($0)'" }.joined(separator: ", ")) required by schema '\(schema.name)'")
        }
        let known = Set(schema.fields.map(\.name) + [schema.idColumn, schema.target?.column].compactMap { $0 })
        let unknown = header.filter { !known.contains($0) }
        guard unknown.isEmpty else {
            throw FileError(message: "\(url.path): unknown column(s) \(unknown.map { "'\($0)'" }.joined(separator: ", ")); schema '\(schema.name)' has fields \(schema.fields.map(\.name).joined(separator: ", "))")
        }
        columnOfField = schema.fields.map { position[$0.name] }
        idColumn = schema.idColumn.flatMap { position[$0] }
    }

    /// Reads the next application, or `nil` at the end of the file.
    ///
    /// - Throws: ``FileError`` when a record has a different number of cells than the header;
    ///   `CSVReader.FormatError` for malformed CSV.
    public func next() throws -> Application? {
        guard let record = try reader.next() else { return nil }
        row += 1
        guard record.fields.count == header.count else {
            throw FileError(message: "\(path): row \(row) (line \(record.line)) has \(record.fields.count) cells, the header has \(header.count)")
        }
        let values = columnOfField.map { $0.map { RawValue.text(record.fields[$0]) } ?? .missing }
        let id = idColumn.map { record.fields[$0] } ?? String(row)
        return Application(row: row, id: id, values: values, cells: record.fields)
    }
}
