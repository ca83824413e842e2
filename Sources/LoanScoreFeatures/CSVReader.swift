public import Foundation

/// A streaming RFC 4180 CSV reader: comma separated, fields optionally in double quotes
/// (`""` is a quote inside them, and they may span lines), LF or CRLF line ends, an optional
/// UTF-8 byte-order mark. Memory is bounded by the longest record, not the file size.
public final class CSVReader {
    /// One record with where it starts in the file.
    public struct Record: Sendable {
        public var fields: [String]
        /// 1-based line on which the record starts.
        public var line: Int
    }

    /// A file that is not valid CSV, with the line where it went wrong.
    public struct FormatError: Error, CustomStringConvertible {
        public var path: String
        public var line: Int
        public var problem: String
        public var description: String { "\(path): line \(line): \(problem)" }
    }

    private let handle: FileHandle
    private let path: String
    private var buffer: [UInt8] = []
    private var position = 0
    private var atEnd = false
    private var line = 1
    private var firstChunk = true
    /// The longest record accepted, in bytes (defends against a file with no line ends).
    public let maximumRecordBytes: Int

    /// Bytes read from the file so far (in chunks of 64 KiB: a little ahead of the records
    /// returned), for progress reports.
    public private(set) var bytesRead: Int64 = 0

    /// Opens a file for reading.
    ///
    /// - Throws: `CocoaError` when the file cannot be opened.
    public init(url: URL, maximumRecordBytes: Int = 1 << 20) throws {
        handle = try FileHandle(forReadingFrom: url)
        path = url.path
        self.maximumRecordBytes = maximumRecordBytes
    }

    deinit { try? handle.close() }

    private func fill() throws -> Bool {
        if atEnd { return false }
        if position > 0 {
            buffer.removeSubrange(0..<position)
            position = 0
        }
        guard let chunk = try handle.read(upToCount: 1 << 16), !chunk.isEmpty else {
            atEnd = true
            return false
        }
        buffer.append(contentsOf: chunk)
        bytesRead += Int64(chunk.count)
        if firstChunk {
            firstChunk = false
            if buffer.starts(with: [0xEF, 0xBB, 0xBF]) { buffer.removeFirst(3) }
        }
        return true
    }

    /// Reads the next record, or `nil` at the end of the file. Blank lines are skipped.
    ///
    /// - Throws: ``FormatError`` on an unterminated quote, a quote inside an unquoted field,
    ///   text after a closing quote, invalid UTF-8, or a record over `maximumRecordBytes`.
    public func next() throws -> Record? {
        var fields: [String] = []
        var field: [UInt8] = []
        var inQuotes = false, wasQuoted = false, afterQuote = false
        let startLine = line
        var recordBytes = 0
        var sawAnything = false

        func finishField() throws {
            guard let text = String(validating: field, as: UTF8.self) else {
                throw FormatError(path: path, line: line, problem: "a field is not valid UTF-8")
            }
            fields.append(text)
            field.removeAll(keepingCapacity: true)
            wasQuoted = false
            afterQuote = false
        }

        while true {
            if position >= buffer.count {
                if try !fill() {
                    if inQuotes {
                        throw FormatError(path: path, line: startLine, problem: "a quoted field is not closed before the end of the file")
                    }
                    if !sawAnything { return nil }
                    try finishField()
                    return Record(fields: fields, line: startLine)
                }
            }
            let byte = buffer[position]
            position += 1
            recordBytes += 1
            if recordBytes > maximumRecordBytes {
                throw FormatError(path: path, line: startLine, problem: "a record is longer than \(maximumRecordBytes) bytes")
            }
            if inQuotes {
                if byte == UInt8(ascii: "\"") {
                    if position >= buffer.count { _ = try fill() }
                    if position < buffer.count, buffer[position] == UInt8(ascii: "\"") {
                        field.append(byte)
                        position += 1
                    } else {
                        inQuotes = false
                        afterQuote = true
                    }
                } else {
                    if byte == UInt8(ascii: "\n") { line += 1 }
                    field.append(byte)
                }
                continue
            }
            switch byte {
            case UInt8(ascii: ","):
                sawAnything = true
                try finishField()
            case UInt8(ascii: "\n"):
                line += 1
                if !sawAnything && field.isEmpty { continue }  // blank line
                if field.last == UInt8(ascii: "\r") { field.removeLast() }
                try finishField()
                return Record(fields: fields, line: startLine)
            case UInt8(ascii: "\""):
                guard field.isEmpty, !wasQuoted, !afterQuote else {
                    throw FormatError(path: path, line: line, problem: "a quote inside an unquoted field (quote the whole field and double inner quotes)")
                }
                sawAnything = true
                inQuotes = true
                wasQuoted = true
            case UInt8(ascii: "\r") where afterQuote:
                continue
            default:
                if afterQuote {
                    throw FormatError(path: path, line: line, problem: "text after a closing quote")
                }
                if byte != UInt8(ascii: "\r") { sawAnything = true }
                field.append(byte)
            }
        }
    }
}

/// Writes CSV fields, quoting those that need it (RFC 4180).
public func csvEscape(_ field: String) -> String {
    guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
    return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}
