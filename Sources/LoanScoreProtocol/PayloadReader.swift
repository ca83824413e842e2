import NIOCore

/// Reads a payload field by field, turning every shortfall into a `MALFORMED_FRAME`
/// ``ProtocolError`` that names the field and the payload offset. Never traps, and never
/// reserves memory for a count before checking that the remaining bytes can hold it.
struct PayloadReader {
    private(set) var buffer: ByteBuffer
    private let start: Int
    /// Set by the caller while decoding a column or an application, for error locations.
    var field: String?
    var applicationIndex: Int?

    init(_ buffer: ByteBuffer) {
        self.buffer = buffer
        self.start = buffer.readerIndex
    }

    /// Offset of the next byte within the payload.
    var offset: Int { buffer.readerIndex - start }
    var remaining: Int { buffer.readableBytes }

    func error(_ code: ErrorCode, _ message: String, at offset: Int? = nil) -> ProtocolError {
        ProtocolError(code, message, region: .payload, offset: offset ?? self.offset, field: field, applicationIndex: applicationIndex)
    }

    /// Throws unless `count` more bytes are readable. `what` (and `readInteger`'s) is an
    /// autoclosure: descriptions such as "length of \(field)" are built only for an error,
    /// never per value read.
    func require(_ count: Int, for what: @autoclosure () -> String) throws(ProtocolError) {
        guard count <= remaining else {
            throw error(.malformedFrame, "payload ends inside \(what()): needs \(count) bytes, \(remaining) left")
        }
    }

    mutating func readInteger<T: FixedWidthInteger>(_ what: @autoclosure () -> String, as: T.Type = T.self) throws(ProtocolError) -> T {
        try require(MemoryLayout<T>.size, for: what())
        return buffer.readInteger(as: T.self)!  // size checked above
    }

    /// An IEEE 754 binary64, big-endian. NaN and infinities are returned as they are.
    mutating func readFloat64(_ what: String) throws(ProtocolError) -> Double {
        Double(bitPattern: try readInteger(what, as: UInt64.self))
    }

    mutating func readBool(_ what: String) throws(ProtocolError) -> Bool {
        let at = offset
        switch try readInteger(what, as: UInt8.self) {
        case 0: return false
        case 1: return true
        case let other: throw error(.malformedFrame, "\(what) is \(other); a bool is 0 or 1", at: at)
        }
    }

    mutating func readBytes(_ count: Int, _ what: String) throws(ProtocolError) -> [UInt8] {
        try require(count, for: what)
        return buffer.readBytes(length: count)!  // length checked above
    }

    /// A length-prefixed UTF-8 string (u8 or u16 prefix); invalid UTF-8 is MALFORMED_FRAME.
    mutating func readString<Length: FixedWidthInteger & UnsignedInteger>(_ what: String, prefix: Length.Type) throws(ProtocolError) -> String {
        let at = offset
        let length = Int(try readInteger("length of \(what)", as: Length.self))
        try require(length, for: what)
        // Validated straight from the readable bytes (`length` of them, checked above): a
        // slice's byte view went through a generic iterator (a tenth of the SDK's decoding).
        let string = buffer.withUnsafeReadableBytes { bytes in
            UnsafeRawBufferPointer(rebasing: bytes.prefix(length)).withMemoryRebound(to: UInt8.self) {
                String(validating: $0, as: UTF8.self)
            }
        }
        guard let string else { throw error(.malformedFrame, "\(what) is not valid UTF-8", at: at) }
        skip(length)
        return string
    }

    /// Moves past `count` bytes already checked with ``require(_:for:)`` and read in place.
    mutating func skip(_ count: Int) {
        buffer.moveReaderIndex(forwardBy: count)
    }

    /// Throws MALFORMED_FRAME if bytes remain after the message.
    func finish(_ message: String) throws(ProtocolError) {
        guard remaining == 0 else {
            throw ProtocolError(
                .malformedFrame, "\(remaining) trailing bytes after the \(message) payload", region: .payload, offset: offset)
        }
    }
}

extension ByteBuffer {
    /// Writes a UTF-8 string after a length prefix of type `Length`. A string longer than the
    /// prefix can express is cut at the last whole character that fits.
    @discardableResult
    mutating func writeString<Length: FixedWidthInteger & UnsignedInteger>(_ string: String, prefix: Length.Type) -> Int {
        let utf8 = string.utf8
        if utf8.count <= Int(Length.max) {
            writeInteger(Length(utf8.count))
            return MemoryLayout<Length>.size + writeString(string)
        }
        var cut = utf8.index(utf8.startIndex, offsetBy: Int(Length.max))
        while cut > utf8.startIndex, UTF8.isContinuation(utf8[cut]) { cut = utf8.index(before: cut) }
        let prefix = utf8[..<cut]
        writeInteger(Length(prefix.count))
        return MemoryLayout<Length>.size + writeBytes(prefix)
    }

    /// Writes an IEEE 754 binary64, big-endian.
    mutating func writeFloat64(_ value: Double) {
        writeInteger(value.bitPattern)
    }
}
