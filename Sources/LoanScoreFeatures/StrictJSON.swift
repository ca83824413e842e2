/// A strict check of JSON text (RFC 8259) before it is decoded: what lenient parsers let
/// through silently is refused, with its line and column.
///
/// Refused: a duplicate key in one object (a parser keeps one of the two values, so an
/// application with `Seniority` twice would be scored with either), a trailing comma, comments,
/// single quotes, unquoted keys, leading zeros, `NaN` and `Infinity`, a number beyond a
/// 64-bit float's range (`1e400`, which decoders refuse only as "not valid JSON", without a
/// place), control characters in strings, anything after the value. Used for `loanscore predict --application` and the
/// server's configuration file, whose values a person types.
///
/// - Complexity: O(n) in the text's bytes, one pass; nesting is limited to ``maximumDepth``.
public enum StrictJSON {
    /// Deepest nesting of objects and arrays accepted (guards the recursion).
    public static let maximumDepth = 64

    /// Why the text is not strict JSON, and where (1-based line and column, in bytes).
    public struct Violation: Error, Sendable, Equatable, CustomStringConvertible {
        public var line: Int
        public var column: Int
        public var problem: String
        public var description: String { "line \(line), column \(column): \(problem)" }
    }

    /// The byte offset of the first invalid UTF-8 sequence in `bytes`, or `nil` when they are
    /// UTF-8 (for a message: a file read with `String(decoding:)` would show U+FFFD instead).
    /// O(n).
    public static func firstInvalidUTF8<Bytes: Collection<UInt8>>(in bytes: Bytes) -> Int? {
        var iterator = bytes.makeIterator(), parser = Unicode.UTF8.ForwardParser(), offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let scalar): offset += scalar.count
            case .error: return offset
            case .emptyInput: return nil
            }
        }
    }

    /// Checks `text`; returns normally when it is one strict JSON value.
    ///
    /// - Throws: ``Violation`` at the first problem.
    public static func validate(_ text: String) throws(Violation) {
        var parser = Parser(bytes: Array(text.utf8))
        parser.skipSpace()
        try parser.value(depth: 0)
        parser.skipSpace()
        if parser.index < parser.bytes.count { throw parser.violation("unexpected text after the JSON value") }
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        func violation(_ problem: String, at offset: Int? = nil) -> Violation {
            let end = min(offset ?? index, bytes.count)
            var line = 1, column = 1
            for byte in bytes[..<end] {
                if byte == UInt8(ascii: "\n") { line += 1; column = 1 } else { column += 1 }
            }
            return Violation(line: line, column: column, problem: problem)
        }

        mutating func skipSpace() {
            while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        }

        mutating func value(depth: Int) throws(Violation) {
            guard depth < StrictJSON.maximumDepth else { throw violation("nested deeper than \(StrictJSON.maximumDepth) levels") }
            guard let byte = current else { throw violation("the text ends where a value was expected") }
            switch byte {
            case UInt8(ascii: "{"): try object(depth: depth)
            case UInt8(ascii: "["): try array(depth: depth)
            case UInt8(ascii: "\""): _ = try string()
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            case UInt8(ascii: "'"): throw violation("strings must be in double quotes, not single quotes")
            case UInt8(ascii: "/"): throw violation("comments are not allowed in JSON")
            default: throw violation("unexpected character '\(Self.show(byte))' where a value was expected")
            }
        }

        mutating func object(depth: Int) throws(Violation) {
            index += 1
            skipSpace()
            if current == UInt8(ascii: "}") { index += 1; return }
            var seen: [String: Int] = [:]
            while true {
                guard current == UInt8(ascii: "\"") else {
                    if current == UInt8(ascii: "}") { throw violation("trailing comma before '}'") }
                    throw violation(current == nil ? "the text ends inside an object" : "object keys must be strings in double quotes")
                }
                let keyStart = index
                let key = try string()
                if let first = seen[key] {
                    let place = violation("", at: first)
                    throw violation("duplicate key \"\(key)\" (first at line \(place.line), column \(place.column))", at: keyStart)
                }
                seen[key] = keyStart
                skipSpace()
                guard current == UInt8(ascii: ":") else { throw violation("expected ':' after the key \"\(key)\"") }
                index += 1
                skipSpace()
                try value(depth: depth + 1)
                skipSpace()
                switch current {
                case UInt8(ascii: ","):
                    index += 1
                    skipSpace()
                case UInt8(ascii: "}"):
                    index += 1
                    return
                case nil: throw violation("the text ends inside an object (missing '}')")
                default: throw violation("expected ',' or '}' after the value of \"\(key)\"")
                }
            }
        }

        mutating func array(depth: Int) throws(Violation) {
            index += 1
            skipSpace()
            if current == UInt8(ascii: "]") { index += 1; return }
            while true {
                if current == UInt8(ascii: "]") { throw violation("trailing comma before ']'") }
                try value(depth: depth + 1)
                skipSpace()
                switch current {
                case UInt8(ascii: ","):
                    index += 1
                    skipSpace()
                case UInt8(ascii: "]"):
                    index += 1
                    return
                case nil: throw violation("the text ends inside an array (missing ']')")
                default: throw violation("expected ',' or ']' in an array")
                }
            }
        }

        /// A string; returns its text with escapes decoded (for duplicate-key checks).
        mutating func string() throws(Violation) -> String {
            let start = index
            index += 1
            var scalars = String.UnicodeScalarView()
            var run = index
            func flush(_ parser: Parser, upTo end: Int, into scalars: inout String.UnicodeScalarView) {
                scalars.append(contentsOf: String(decoding: parser.bytes[run..<end], as: UTF8.self).unicodeScalars)
            }
            while true {
                guard let byte = current else { throw violation("the string that starts here is not closed", at: start) }
                if byte == UInt8(ascii: "\"") {
                    flush(self, upTo: index, into: &scalars)
                    index += 1
                    return String(scalars)
                }
                if byte < 0x20 { throw violation("a control character (0x\(String(byte, radix: 16))) inside a string must be escaped") }
                if byte == UInt8(ascii: "\\") {
                    flush(self, upTo: index, into: &scalars)
                    index += 1
                    guard let escape = current else { throw violation("the string ends in an escape") }
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"):
                        scalars.append(Unicode.Scalar(escape))
                    case UInt8(ascii: "b"): scalars.append("\u{08}")
                    case UInt8(ascii: "f"): scalars.append("\u{0C}")
                    case UInt8(ascii: "n"): scalars.append("\n")
                    case UInt8(ascii: "r"): scalars.append("\r")
                    case UInt8(ascii: "t"): scalars.append("\t")
                    case UInt8(ascii: "u"):
                        guard index + 4 < bytes.count,
                              let code = UInt32(String(decoding: bytes[(index + 1)...(index + 4)], as: UTF8.self), radix: 16)
                        else { throw violation("\\u must be followed by four hexadecimal digits") }
                        // Surrogate halves stand for themselves here: only key equality needs this text.
                        scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
                        index += 4
                    default: throw violation("'\\\(Self.show(escape))' is not a JSON escape")
                    }
                    index += 1
                    run = index
                    continue
                }
                index += 1
            }
        }

        mutating func number() throws(Violation) {
            let start = index
            if current == UInt8(ascii: "-") { index += 1 }
            guard let first = current, Self.isDigit(first) else { throw violation("a number needs digits after '-'", at: start) }
            index += 1
            if first == UInt8(ascii: "0"), let next = current, Self.isDigit(next) {
                throw violation("numbers must not have leading zeros", at: start)
            }
            while let byte = current, Self.isDigit(byte) { index += 1 }
            if current == UInt8(ascii: ".") {
                index += 1
                guard let byte = current, Self.isDigit(byte) else { throw violation("a number needs digits after '.'") }
                while let byte = current, Self.isDigit(byte) { index += 1 }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                index += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
                guard let byte = current, Self.isDigit(byte) else { throw violation("a number needs digits in its exponent") }
                while let byte = current, Self.isDigit(byte) { index += 1 }
            }
            // Only an exponent or over 300 digits can leave a Double's range: parse just those.
            if index - start > 300 || bytes[start..<index].contains(where: { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
                let text = String(decoding: bytes[start..<index], as: UTF8.self)
                if let value = Double(text), !value.isFinite {
                    throw violation("the number \(text.prefix(40)) is beyond the range of a 64-bit float (about ±1.8e308)", at: start)
                }
            }
        }

        mutating func literal(_ word: String) throws(Violation) {
            let expected = Array(word.utf8)
            guard index + expected.count <= bytes.count, Array(bytes[index..<(index + expected.count)]) == expected else {
                throw violation("unexpected word: JSON knows true, false and null (and no NaN or Infinity)")
            }
            index += expected.count
        }

        static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

        static func show(_ byte: UInt8) -> String {
            byte >= 0x20 && byte < 0x7F ? String(UnicodeScalar(byte)) : "0x" + String(byte, radix: 16)
        }
    }
}
