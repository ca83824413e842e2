public import NIOCore

/// One application's value for one field, as it arrived on the wire. The server maps it to
/// its own raw value and validates it against the schema.
public enum WireValue: Hashable, Sendable {
    /// The presence bit was clear.
    case missing
    /// A NUMBER field's value (may be NaN or ±inf: the schema check refuses those).
    case number(Double)
    /// A BOOL field's value.
    case bool(Bool)
    /// A STRING field's value (categories travel as their level's text).
    case text(String)
}

/// One field's values for every application of a batch, in application order.
///
/// Storage is dense (one slot per application, missing slots hold 0, `false` or `""`), so
/// reading a value is O(1); only present values travel.
public struct Column: Hashable, Sendable {
    /// The dense values.
    public enum Values: Hashable, Sendable {
        case numbers([Double])
        case bools([Bool])
        case strings([String])
    }

    /// `present[i]` is whether application `i` has a value.
    public let present: [Bool]
    /// One slot per application; a missing slot holds the type's zero value.
    public let values: Values

    /// A NUMBER column; `nil` is missing.
    public init(numbers: [Double?]) {
        present = numbers.map { $0 != nil }
        values = .numbers(numbers.map { $0 ?? 0 })
    }

    /// A BOOL column; `nil` is missing.
    public init(bools: [Bool?]) {
        present = bools.map { $0 != nil }
        values = .bools(bools.map { $0 ?? false })
    }

    /// A STRING column; `nil` is missing.
    public init(strings: [String?]) {
        present = strings.map { $0 != nil }
        values = .strings(strings.map { $0 ?? "" })
    }

    /// A column from dense storage, as ``present`` and ``values`` hold it: for a caller that
    /// already keeps its data this way (the load generator slices a file laid out once).
    ///
    /// - Throws: ``ProtocolError`` `MALFORMED_FRAME` when `values` does not hold one slot per
    ///   entry of `present`.
    public init(present: [Bool], values: Values) throws(ProtocolError) {
        let slots: Int
        switch values {
        case .numbers(let numbers): slots = numbers.count
        case .bools(let bools): slots = bools.count
        case .strings(let strings): slots = strings.count
        }
        guard slots == present.count else {
            throw ProtocolError(.malformedFrame, "a column has \(slots) value slots for \(present.count) presence flags")
        }
        self.present = present
        self.values = values
    }

    /// The wire type of the column.
    public var type: WireType {
        switch values {
        case .numbers: return .number
        case .bools: return .bool
        case .strings: return .string
        }
    }

    /// The number of applications.
    public var count: Int { present.count }

    /// Application `index`'s value (precondition: `index < count`). O(1).
    public subscript(index: Int) -> WireValue {
        guard present[index] else { return .missing }
        switch values {
        case .numbers(let numbers): return .number(numbers[index])
        case .bools(let bools): return .bool(bools[index])
        case .strings(let strings): return .text(strings[index])
        }
    }
}

/// SCORE_REQUEST (0x10), client → server: a columnar batch of applications (PROTOCOL.md §5.4).
///
/// Payload: `schema hash (32) · count u32 · count × application id (u16 string) ·` then per
/// schema field in WELCOME order: `presence bitmap (ceil(count/8) bytes, LSB-first) ·` the
/// present values only (NUMBER: f64 BE; BOOL: u8 0/1; STRING: u16 length + UTF-8).
public struct ScoreRequest: ProtocolMessage, Hashable {
    public static let messageType = MessageType.scoreRequest

    /// WELCOME's schema hash; the server refuses a batch for another schema.
    public let schemaHash: SchemaHash
    /// The applications' ids, in order (echoed by position in the response).
    public let applicationIDs: [String]
    /// One column per schema field, in WELCOME order.
    public let columns: [Column]
    /// The request's deadline: its time budget in microseconds, counted by the server from
    /// when it has received the frame; nil sends none (PROTOCOL.md §5.4). A server answers
    /// DEADLINE_EXCEEDED, without scoring or recording the request, once it has passed.
    public var deadline: UInt32?

    /// ``FrameFlags/deadline`` when the request carries a deadline.
    public var frameFlags: FrameFlags { deadline == nil ? [] : .deadline }

    /// Creates a batch.
    /// - Throws: ``ProtocolError`` `MALFORMED_FRAME` if there are no applications, a column's
    ///   length differs from the number of ids, or an id or string value is over 65,535 bytes.
    public init(schemaHash: SchemaHash, applicationIDs: [String], columns: [Column]) throws(ProtocolError) {
        guard !applicationIDs.isEmpty, applicationIDs.count <= Int(UInt32.max) else {
            throw ProtocolError(.malformedFrame, "a batch holds 1...2^32-1 applications, not \(applicationIDs.count)")
        }
        for (index, id) in applicationIDs.enumerated() where id.utf8.count > Int(UInt16.max) {
            throw ProtocolError(.malformedFrame, "application id is over 65,535 bytes", applicationIndex: index)
        }
        for (fieldIndex, column) in columns.enumerated() {
            guard column.count == applicationIDs.count else {
                throw ProtocolError(
                    .malformedFrame, "column \(fieldIndex) has \(column.count) values for \(applicationIDs.count) applications")
            }
            if case .strings(let strings) = column.values, let index = strings.firstIndex(where: { $0.utf8.count > Int(UInt16.max) }) {
                throw ProtocolError(.malformedFrame, "string value is over 65,535 bytes", applicationIndex: index)
            }
        }
        self.schemaHash = schemaHash
        self.applicationIDs = applicationIDs
        self.columns = columns
    }

    /// Number of applications.
    public var count: Int { applicationIDs.count }

    /// Application `application`'s value of field `field` (preconditions: both in range). O(1).
    public func value(application: Int, field: Int) -> WireValue {
        columns[field][application]
    }

    /// Appends the payload to `buffer` in one reservation: the exact size is counted first,
    /// then every value is stored through one pointer (a ByteBuffer call per value was a
    /// quarter of the load generator's CPU at batch 256).
    ///
    /// - Complexity: O(payload bytes).
    public func encode(into buffer: inout ByteBuffer) {
        let size = encodedSize
        let written = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw -> Int in
            var out = PayloadCursor(raw.prefix(size))
            if let deadline { out.put(deadline) }
            out.put(schemaHash.bytes)
            out.put(UInt32(count))
            for id in applicationIDs { out.put(string: id) }
            for column in columns {
                out.putBitmap(column.present)
                switch column.values {
                case .numbers(let numbers):
                    for (index, number) in numbers.enumerated() where column.present[index] { out.put(number.bitPattern) }
                case .bools(let bools):
                    for (index, bool) in bools.enumerated() where column.present[index] { out.put(UInt8(bool ? 1 : 0)) }
                case .strings(let strings):
                    for (index, string) in strings.enumerated() where column.present[index] { out.put(string: string) }
                }
            }
            return out.offset
        }
        precondition(written == size, "the payload is exactly the size counted")
    }

    /// The payload's size in bytes (``encode(into:)`` writes exactly this many).
    var encodedSize: Int {
        // Ids and strings are at most 65,535 bytes (checked by init), so each takes 2 + its length.
        var size = (deadline == nil ? 0 : 4) + schemaHash.bytes.count + 4 + applicationIDs.reduce(0) { $0 + 2 + $1.utf8.count }
        for column in columns {
            size += (column.count + 7) / 8
            switch column.values {
            case .numbers: size += 8 * column.present.count { $0 }
            case .bools: size += column.present.count { $0 }
            case .strings(let strings):
                for (index, string) in strings.enumerated() where column.present[index] { size += 2 + string.utf8.count }
            }
        }
        return size
    }
}

/// Big-endian stores into a payload being written, each checked against the space given.
private struct PayloadCursor {
    private let bytes: UnsafeMutableRawBufferPointer
    private(set) var offset = 0

    init(_ bytes: UnsafeMutableRawBufferPointer.SubSequence) {
        self.bytes = UnsafeMutableRawBufferPointer(rebasing: bytes)
    }

    /// Stores `value` big-endian at the cursor (checked to fit) and moves past it.
    mutating func put<Value: FixedWidthInteger>(_ value: Value) {
        let size = MemoryLayout<Value>.size
        precondition(offset + size <= bytes.count, "payload space")
        bytes.storeBytes(of: value.bigEndian, toByteOffset: offset, as: Value.self)
        offset += size
    }

    /// Copies `source` at the cursor (checked to fit).
    mutating func put(_ source: some Collection<UInt8>) {
        let end = offset + source.count
        precondition(end <= bytes.count, "payload space")
        UnsafeMutableRawBufferPointer(rebasing: bytes[offset..<end]).copyBytes(from: source)
        offset = end
    }

    /// A u16 length and the UTF-8 bytes (the caller keeps strings under 65,536 bytes).
    mutating func put(string: String) {
        var string = string
        string.withUTF8 { utf8 in
            put(UInt16(utf8.count))
            put(utf8)
        }
    }

    /// A presence bitmap: ceil(count / 8) bytes, LSB-first (PROTOCOL.md §5.4).
    mutating func putBitmap(_ bits: [Bool]) {
        var byte: UInt8 = 0
        for (index, bit) in bits.enumerated() {
            if bit { byte |= 1 << UInt8(index & 7) }
            if index & 7 == 7 {
                put(byte)
                byte = 0
            }
        }
        if bits.count & 7 != 0 { put(byte) }
    }
}

extension ScoreRequest {
    /// Decodes a SCORE_REQUEST payload against the served schema, consuming all of `buffer`.
    ///
    /// The server decodes into reused ``RequestColumns`` instead; this builds a value of its
    /// own (arrays and a `String` per id and STRING value) through the same decoder.
    ///
    /// - Parameters:
    ///   - buffer: the (decompressed) payload.
    ///   - schema: the schema announced in WELCOME; its hash must equal the request's.
    ///   - maximumBatch: the most applications accepted (WELCOME's maximum batch).
    /// - Throws: as ``RequestColumns/decode(from:schema:maximumBatch:)``.
    /// - Complexity: O(payload).
    ///   - flags: the frame's header flags; with ``FrameFlags/deadline`` the payload starts with
    ///     the deadline.
    public static func decode(from buffer: inout ByteBuffer, schema: WireSchema, maximumBatch: Int,
                              flags: FrameFlags = []) throws(ProtocolError) -> ScoreRequest {
        var deadline: UInt32?
        if flags.contains(.deadline) {
            guard let budget = buffer.readInteger(as: UInt32.self) else {
                throw ProtocolError(.malformedFrame, "payload ends inside the deadline", region: .payload, offset: 0)
            }
            deadline = budget
        }
        var decoded = RequestColumns()
        try decoded.decode(from: &buffer, schema: schema, maximumBatch: maximumBatch)
        let applications = 0..<decoded.count
        let columns = decoded.types.indices.map { field -> Column in
            switch decoded.types[field] {
            case .number:
                return Column(numbers: applications.map { decoded.number(application: $0, field: field) })
            case .bool:
                return Column(bools: applications.map { decoded.number(application: $0, field: field).map { $0 != 0 } })
            case .string:
                return Column(strings: applications.map { application in
                    decoded.utf8(application: application, field: field).map { String(decoding: $0, as: UTF8.self) }
                })
            }
        }
        // Every invariant `init` checks holds by construction here.
        var request = try ScoreRequest(schemaHash: schema.hash, applicationIDs: applications.map { decoded.id(application: $0) }, columns: columns)
        request.deadline = deadline
        return request
    }
}
