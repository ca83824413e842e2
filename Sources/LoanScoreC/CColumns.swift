import CLoanScoreABI
import LoanScoreFeatures

/// The caller's `loanscore_column` descriptors, checked, as a ``ApplicationColumns`` batch
/// that ``FeaturePipeline`` reads cell by cell.
///
/// Checking happens once, in `init`: every pointer a kind needs is non-NULL, offsets are in
/// range and non-decreasing, text is UTF-8. Reading a cell afterwards cannot go out of bounds
/// (given the caller's promise that each array holds `rowCount` elements). Text is copied once
/// per column into a Swift array (``RawCell/utf8(_:)`` holds an `ArraySlice`).
struct CColumns: ApplicationColumns {
    private enum Column {
        case missing
        case doubles(UnsafePointer<Double>, valid: UnsafePointer<UInt8>?)
        case booleans(UnsafePointer<UInt8>, valid: UnsafePointer<UInt8>?)
        case text(bytes: [UInt8], offsets: UnsafePointer<Int64>, valid: UnsafePointer<UInt8>?)
    }

    let applicationCount: Int
    var fieldCount: Int { columns.count }
    private let columns: [Column]
    /// The first application of this view (a block of a larger batch), for ``block(_:)``.
    private let first: Int

    /// Checks the descriptors against the schema's field names (for messages).
    ///
    /// - Throws: ``CAPIError`` with the `LOANSCORE_E_*` status of the first problem.
    init(_ descriptors: UnsafePointer<loanscore_column>?, count: Int, rows: Int, fieldNames: [String]) throws {
        guard count == fieldNames.count else {
            throw CAPIError(LOANSCORE_E_BAD_LENGTH, "column_count is \(count); the schema has \(fieldNames.count) fields (one column per field, in schema order)")
        }
        // Bounded so that a result's memory stays bounded even when no input array backs the
        // rows (all-missing columns): an allocation Swift cannot make would abort the caller.
        guard rows >= 0, rows <= Int(LOANSCORE_MAX_ROWS) else {
            throw CAPIError(LOANSCORE_E_TOO_LARGE, "row_count is \(rows); at most \(LOANSCORE_MAX_ROWS) applications per call (LOANSCORE_MAX_ROWS): score larger batches in several calls")
        }
        if count > 0 && descriptors == nil { throw CAPIError.null("columns") }
        var columns: [Column] = []
        columns.reserveCapacity(count)
        for (index, name) in fieldNames.enumerated() {
            columns.append(try Self.check(descriptors![index], field: name, rows: rows))
        }
        self.columns = columns
        applicationCount = rows
        first = 0
    }

    private init(columns: [Column], first: Int, count: Int) {
        self.columns = columns
        self.first = first
        applicationCount = count
    }

    /// Applications `range` of this batch as a batch of their own (no copy).
    func block(_ range: Range<Int>) -> CColumns {
        CColumns(columns: columns, first: first + range.lowerBound, count: range.count)
    }

    private static func check(_ column: loanscore_column, field: String, rows: Int) throws -> Column {
        func required<T>(_ pointer: UnsafePointer<T>?, _ name: String) throws -> UnsafePointer<T> {
            guard let pointer else { throw CAPIError.null("column '\(field)': \(name)") }
            return pointer
        }
        // With no rows nothing is read: NULL arrays are fine then.
        let valid = column.valid
        switch column.kind {
        case LOANSCORE_COLUMN_MISSING:
            return .missing
        case LOANSCORE_COLUMN_DOUBLE:
            if rows == 0 { return .missing }
            return .doubles(try required(column.values, "values"), valid: valid)
        case LOANSCORE_COLUMN_BOOL:
            if rows == 0 { return .missing }
            return .booleans(try required(column.booleans, "booleans"), valid: valid)
        case LOANSCORE_COLUMN_UTF8:
            let offsets = try required(column.offsets, "offsets")
            let length = column.data_length
            guard length >= 0 else {  // a size_t above Int.max arrives negative
                throw CAPIError(LOANSCORE_E_BAD_LENGTH, "column '\(field)': data_length \(UInt(bitPattern: length)) is too large")
            }
            if length > 0 && column.data == nil { throw CAPIError.null("column '\(field)': data (data_length is \(length))") }
            var previous = offsets[0]
            guard previous >= 0, previous <= Int64(length) else {
                throw CAPIError(LOANSCORE_E_BAD_LENGTH, "column '\(field)': offsets[0] is \(previous), outside 0...\(length) (data_length)")
            }
            for row in 0..<rows {
                let next = offsets[row + 1]
                guard next >= previous, next <= Int64(length) else {
                    throw CAPIError(LOANSCORE_E_BAD_LENGTH, "column '\(field)': offsets[\(row + 1)] is \(next); offsets must be non-decreasing "
                        + "and at most data_length (\(length)); offsets[\(row)] is \(previous)")
                }
                previous = next
            }
            let bytes = length == 0 ? [] : Array(UnsafeBufferPointer(start: column.data!, count: Int(length)))
            // Text must be UTF-8: checked value by value (a multi-byte character may not span
            // two values), skipped when the whole column is ASCII.
            if bytes.contains(where: { $0 >= 0x80 }) {
                for row in 0..<rows where valid.map({ $0[row] != 0 }) ?? true {
                    let range = Int(offsets[row])..<Int(offsets[row + 1])
                    if let bad = StrictJSON.firstInvalidUTF8(in: bytes[range]) {
                        throw CAPIError(LOANSCORE_E_BAD_UTF8, "column '\(field)', row \(row + 1) (index \(row)): the text is not UTF-8 (byte \(bad) of the value)")
                    }
                }
            }
            return .text(bytes: bytes, offsets: offsets, valid: valid)
        default:
            throw CAPIError(LOANSCORE_E_BAD_COLUMN, "column '\(field)': kind \(column.kind) is not one of LOANSCORE_COLUMN_MISSING (0), _DOUBLE (1), _UTF8 (2), _BOOL (3)")
        }
    }

    /// A value masked missing reads as an empty cell: missing, exactly as an empty CSV cell is
    /// for `loanscore score` (a required field's message shows the value as ""). A column the
    /// input does not have (`LOANSCORE_COLUMN_MISSING`) reads as the CLI reads an absent
    /// column: ``RawCell/missing``.
    private static let emptyCell = RawCell.utf8([UInt8]()[...])

    func cell(application: Int, field: Int) -> RawCell {
        let row = first + application
        switch columns[field] {
        case .missing:
            return .missing
        case .doubles(let values, let valid):
            if let valid, valid[row] == 0 { return Self.emptyCell }
            return .number(values[row])
        case .booleans(let values, let valid):
            if let valid, valid[row] == 0 { return Self.emptyCell }
            return .bool(values[row] != 0)
        case .text(let bytes, let offsets, let valid):
            if let valid, valid[row] == 0 { return Self.emptyCell }
            return .utf8(bytes[Int(offsets[row])..<Int(offsets[row + 1])])
        }
    }
}
