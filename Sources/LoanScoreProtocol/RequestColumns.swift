public import NIOCore

/// A decoded SCORE_REQUEST held as columns in buffers that are reused from one request to the
/// next (PROTOCOL.md §5.4): the server decodes every request of a connection into the same
/// instance, so after the first few requests decoding allocates nothing, whatever the number
/// of applications.
///
/// Layout, for `count` applications and `fieldCount` schema fields, slot `field × count +
/// application`:
/// - ``isPresent(application:field:)``: one `Bool` per slot (the presence bitmap, unpacked);
/// - numbers: a NUMBER value, or 1/0 for a BOOL (0 when missing);
/// - text: a STRING value's UTF-8 bytes, copied out of the payload into one byte arena
///   (validated UTF-8); application ids live in the same arena.
///
/// Values are copied out of the payload, so the payload buffer can be reused (or released) as
/// soon as ``decode(from:schema:maximumBatch:)`` returns.
public struct RequestColumns: Sendable {
    /// A range of the text arena: `count` bytes from `start`.
    struct Span: Sendable {
        var start: Int
        var count: Int
        static let empty = Span(start: 0, count: 0)
    }

    /// The number of applications of the last successful decode (0 before the first, and
    /// after a failed decode).
    public private(set) var count = 0
    /// The wire types of the schema's fields, in WELCOME order.
    public private(set) var types: [WireType] = []
    private var present: [Bool] = []
    private var numbers: [Double] = []
    private var spans: [Span] = []
    private var ids: [Span] = []
    private var text: [UInt8] = []

    /// Empty buffers; they grow on the first decodes and are kept.
    public init() {}

    /// The number of schema fields of the last decode.
    public var fieldCount: Int { types.count }

    /// An estimate of the heap bytes the buffers keep between decodes (their capacities), for
    /// pools that bound what they retain. O(1).
    public var retainedBytes: Int {
        types.capacity * MemoryLayout<WireType>.stride + present.capacity + numbers.capacity * MemoryLayout<Double>.stride
            + (spans.capacity + ids.capacity) * MemoryLayout<Span>.stride + text.capacity
    }

    /// Whether application `application` has a value for field `field` (preconditions: both
    /// in range). O(1).
    public func isPresent(application: Int, field: Int) -> Bool {
        present[field * count + application]
    }

    /// A NUMBER field's value (NaN and ±inf as sent), a BOOL field's value as 1 or 0, or
    /// `nil` when missing or a STRING field. O(1).
    public func number(application: Int, field: Int) -> Double? {
        let slot = field * count + application
        guard present[slot], types[field] != .string else { return nil }
        return numbers[slot]
    }

    /// A STRING field's value as UTF-8 bytes (a slice of the reused arena: no copy), or `nil`
    /// when missing or not a STRING field. O(1).
    public func utf8(application: Int, field: Int) -> ArraySlice<UInt8>? {
        let slot = field * count + application
        guard present[slot], types[field] == .string else { return nil }
        return slice(spans[slot])
    }

    /// Application `application`'s id as UTF-8 bytes. O(1).
    public func idUTF8(application: Int) -> ArraySlice<UInt8> {
        slice(ids[application])
    }

    /// Application `application`'s id. Allocates a `String` when it is over 15 bytes.
    public func id(application: Int) -> String {
        String(decoding: idUTF8(application: application), as: UTF8.self)
    }

    /// Application `application`'s value of field `field` as a ``WireValue`` (allocates for
    /// STRING values over 15 bytes; the scoring path reads the typed accessors instead). O(1).
    public func value(application: Int, field: Int) -> WireValue {
        let slot = field * count + application
        guard present[slot] else { return .missing }
        switch types[field] {
        case .number: return .number(numbers[slot])
        case .bool: return .bool(numbers[slot] != 0)
        case .string: return .text(String(decoding: slice(spans[slot]), as: UTF8.self))
        }
    }

    private func slice(_ span: Span) -> ArraySlice<UInt8> {
        text[span.start..<(span.start + span.count)]
    }

    /// Decodes a SCORE_REQUEST payload against the served schema into these buffers,
    /// consuming all of `buffer`. The previous request's values are replaced.
    ///
    /// - Parameters:
    ///   - buffer: the (decompressed) payload; on success its reader index is at the end, on
    ///     error it is unchanged.
    ///   - schema: the schema announced in WELCOME; its hash must equal the request's.
    ///   - maximumBatch: the most applications accepted (WELCOME's maximum batch).
    /// - Throws: ``ProtocolError`` with `SCHEMA_MISMATCH` (offset 0), `BATCH_TOO_LARGE`
    ///   (offset 32), or `MALFORMED_FRAME` (count 0, truncated, bool not 0/1, set padding bits,
    ///   invalid UTF-8, trailing bytes) naming the payload offset, field and application. After
    ///   an error ``count`` is 0 and the buffers are ready for the next decode.
    ///   NaN and infinite numbers are not errors here; the schema check refuses them per
    ///   application (INVALID_APPLICATION).
    /// - Complexity: O(payload). Allocates only when a buffer must grow past its largest size so
    ///   far; buffers are sized only after the remaining bytes are known to hold at least the
    ///   minimum encoding of that many elements.
    public mutating func decode(from buffer: inout ByteBuffer, schema: WireSchema, maximumBatch: Int) throws(ProtocolError) {
        count = 0
        var reader = PayloadReader(buffer)
        try reader.expectSchemaHash(schema.hash)
        let countAt = reader.offset
        let count = Int(try reader.readInteger("application count", as: UInt32.self))
        guard count > 0 else { throw reader.error(.malformedFrame, "application count is 0", at: countAt) }
        guard count <= maximumBatch else {
            throw reader.error(.batchTooLarge, "\(count) applications; the maximum batch is \(maximumBatch)", at: countAt)
        }
        try reader.require(count * 2, for: "\(count) application ids")  // each id has a 2-byte length
        // From here every buffer holds at most O(payload) elements.
        let fields = schema.fields
        types.removeAll(keepingCapacity: true)
        for field in fields { types.append(field.type) }
        text.removeAll(keepingCapacity: true)
        ids.removeAll(keepingCapacity: true)
        for index in 0..<count {
            reader.applicationIndex = index
            ids.append(try reader.readText("application id", into: &text))
        }
        reader.applicationIndex = nil
        let slots = fields.count * count
        present.removeAll(keepingCapacity: true)
        present.append(contentsOf: repeatElement(false, count: slots))
        numbers.removeAll(keepingCapacity: true)
        numbers.append(contentsOf: repeatElement(0, count: slots))
        spans.removeAll(keepingCapacity: true)
        spans.append(contentsOf: repeatElement(.empty, count: slots))
        for (f, field) in fields.enumerated() {
            reader.field = field.name
            let base = f * count
            let presentCount = try reader.readBitmap(count: count, into: &present, at: base)
            switch field.type {
            case .number:
                try reader.require(presentCount * 8, for: "\(presentCount) NUMBER values")
                for index in 0..<count where present[base + index] {
                    reader.applicationIndex = index
                    numbers[base + index] = try reader.readFloat64("NUMBER value")
                }
            case .bool:
                try reader.require(presentCount, for: "\(presentCount) BOOL values")
                for index in 0..<count where present[base + index] {
                    reader.applicationIndex = index
                    numbers[base + index] = try reader.readBool("BOOL value") ? 1 : 0
                }
            case .string:
                try reader.require(presentCount * 2, for: "\(presentCount) STRING values")
                for index in 0..<count where present[base + index] {
                    reader.applicationIndex = index
                    spans[base + index] = try reader.readText("STRING value", into: &text)
                }
            }
            reader.applicationIndex = nil
        }
        reader.field = nil
        try reader.finish("SCORE_REQUEST")
        buffer = reader.buffer
        self.count = count
    }
}

extension PayloadReader {
    /// Reads the 32-byte schema hash without copying it; a different hash is SCHEMA_MISMATCH
    /// at offset 0 (the message names both hashes).
    mutating func expectSchemaHash(_ expected: SchemaHash) throws(ProtocolError) {
        try require(32, for: "schema hash")
        let matches = buffer.readableBytesView.prefix(32).elementsEqual(expected.bytes)
        guard matches else {
            let hash = SchemaHash(bytes: try readBytes(32, "schema hash"))
            throw error(.schemaMismatch, "request schema hash \(hash) is not the served schema's \(expected)", at: 0)
        }
        skip(32)
    }

    /// Reads a presence bitmap of `count` bits (LSB-first) into `present[base..<base+count]`
    /// and returns the number of set bits. Padding bits past the last application must be 0.
    mutating func readBitmap(count: Int, into present: inout [Bool], at base: Int) throws(ProtocolError) -> Int {
        let size = (count + 7) / 8
        let at = offset
        try require(size, for: "presence bitmap")
        let bytes = buffer.readableBytesView
        let first = bytes.startIndex
        var set = 0
        for index in 0..<count where bytes[first + (index >> 3)] & (1 << UInt8(index & 7)) != 0 {
            present[base + index] = true
            set += 1
        }
        if count & 7 != 0, bytes[first + size - 1] >> UInt8(count & 7) != 0 {
            throw error(.malformedFrame, "presence bitmap sets bits past application \(count - 1)", at: at + size - 1)
        }
        skip(size)
        return set
    }

    /// Reads a u16-length-prefixed UTF-8 string by appending its bytes to `arena`; returns
    /// where they are. Invalid UTF-8 is MALFORMED_FRAME (at the length prefix), and leaves
    /// `arena` as it was.
    mutating func readText(_ what: String, into arena: inout [UInt8]) throws(ProtocolError) -> RequestColumns.Span {
        let at = offset
        let length = Int(try readInteger("length of \(what)", as: UInt16.self))
        try require(length, for: what)
        let start = arena.count
        // One copy of the `length` readable bytes (checked by `require` above).
        buffer.withUnsafeReadableBytes { arena.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0.prefix(length))) }
        guard isValidUTF8(arena[start...]) else {
            arena.removeSubrange(start...)
            throw error(.malformedFrame, "\(what) is not valid UTF-8", at: at)
        }
        skip(length)
        return RequestColumns.Span(start: start, count: length)
    }
}

/// Whether `bytes` are valid UTF-8. ASCII is checked byte by byte without allocating; other
/// text goes through the standard library's validation.
func isValidUTF8(_ bytes: ArraySlice<UInt8>) -> Bool {
    if bytes.allSatisfy({ $0 < 0x80 }) { return true }
    return String(validating: bytes, as: UTF8.self) != nil
}
