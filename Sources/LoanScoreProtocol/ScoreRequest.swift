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

    init(present: [Bool], values: Values) {
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

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeBytes(schemaHash.bytes)
        buffer.writeInteger(UInt32(count))
        for id in applicationIDs { buffer.writeString(id, prefix: UInt16.self) }
        for column in columns {
            writeBitmap(column.present, into: &buffer)
            switch column.values {
            case .numbers(let numbers):
                for (index, number) in numbers.enumerated() where column.present[index] { buffer.writeFloat64(number) }
            case .bools(let bools):
                for (index, bool) in bools.enumerated() where column.present[index] { buffer.writeInteger(UInt8(bool ? 1 : 0)) }
            case .strings(let strings):
                for (index, string) in strings.enumerated() where column.present[index] {
                    buffer.writeString(string, prefix: UInt16.self)
                }
            }
        }
    }

    /// Decodes a SCORE_REQUEST payload against the served schema, consuming all of `buffer`.
    ///
    /// - Parameters:
    ///   - buffer: the (decompressed) payload.
    ///   - schema: the schema announced in WELCOME; its hash must equal the request's.
    ///   - maximumBatch: the most applications accepted (WELCOME's maximum batch).
    /// - Throws: ``ProtocolError`` with `SCHEMA_MISMATCH` (offset 0), `BATCH_TOO_LARGE`
    ///   (offset 32), or `MALFORMED_FRAME` (count 0, truncated, bool not 0/1, set padding bits,
    ///   invalid UTF-8, trailing bytes) naming the payload offset, field and application.
    ///   NaN and infinite numbers are not errors here; the schema check refuses them per
    ///   application (INVALID_APPLICATION).
    /// - Complexity: O(payload). Arrays are reserved only after the remaining bytes are known to
    ///   hold at least the minimum encoding of that many elements.
    public static func decode(from buffer: inout ByteBuffer, schema: WireSchema, maximumBatch: Int) throws(ProtocolError) -> ScoreRequest {
        var reader = PayloadReader(buffer)
        let hash = SchemaHash(bytes: try reader.readBytes(32, "schema hash"))
        guard hash == schema.hash else {
            throw reader.error(.schemaMismatch, "request schema hash \(hash) is not the served schema's \(schema.hash)", at: 0)
        }
        let countAt = reader.offset
        let count = Int(try reader.readInteger("application count", as: UInt32.self))
        guard count > 0 else { throw reader.error(.malformedFrame, "application count is 0", at: countAt) }
        guard count <= maximumBatch else {
            throw reader.error(.batchTooLarge, "\(count) applications; the maximum batch is \(maximumBatch)", at: countAt)
        }
        try reader.require(count * 2, for: "\(count) application ids")  // each id has a 2-byte length
        var ids: [String] = []
        ids.reserveCapacity(count)
        for index in 0..<count {
            reader.applicationIndex = index
            ids.append(try reader.readString("application id", prefix: UInt16.self))
        }
        reader.applicationIndex = nil

        let bitmapSize = (count + 7) / 8
        var columns: [Column] = []
        columns.reserveCapacity(schema.fields.count)
        for field in schema.fields {
            reader.field = field.name
            let bitmapAt = reader.offset
            let bitmap = try reader.readBytes(bitmapSize, "presence bitmap")
            let present = (0..<count).map { bitmap[$0 >> 3] & (1 << UInt8($0 & 7)) != 0 }
            if count & 7 != 0, bitmap[bitmapSize - 1] >> UInt8(count & 7) != 0 {
                throw reader.error(.malformedFrame, "presence bitmap sets bits past application \(count - 1)", at: bitmapAt + bitmapSize - 1)
            }
            let presentCount = present.lazy.filter { $0 }.count
            let values: Column.Values
            switch field.type {
            case .number:
                try reader.require(presentCount * 8, for: "\(presentCount) NUMBER values")
                var numbers = [Double](repeating: 0, count: count)
                for index in 0..<count where present[index] {
                    reader.applicationIndex = index
                    numbers[index] = try reader.readFloat64("NUMBER value")
                }
                values = .numbers(numbers)
            case .bool:
                try reader.require(presentCount, for: "\(presentCount) BOOL values")
                var bools = [Bool](repeating: false, count: count)
                for index in 0..<count where present[index] {
                    reader.applicationIndex = index
                    bools[index] = try reader.readBool("BOOL value")
                }
                values = .bools(bools)
            case .string:
                try reader.require(presentCount * 2, for: "\(presentCount) STRING values")
                var strings = [String](repeating: "", count: count)
                for index in 0..<count where present[index] {
                    reader.applicationIndex = index
                    strings[index] = try reader.readString("STRING value", prefix: UInt16.self)
                }
                values = .strings(strings)
            }
            reader.applicationIndex = nil
            columns.append(Column(present: present, values: values))
        }
        reader.field = nil
        try reader.finish("SCORE_REQUEST")
        buffer = reader.buffer
        // Every invariant `init` checks holds by construction here.
        return try ScoreRequest(schemaHash: hash, applicationIDs: ids, columns: columns)
    }
}

func writeBitmap(_ bits: [Bool], into buffer: inout ByteBuffer) {
    var byte: UInt8 = 0
    for (index, bit) in bits.enumerated() {
        if bit { byte |= 1 << UInt8(index & 7) }
        if index & 7 == 7 {
            buffer.writeInteger(byte)
            byte = 0
        }
    }
    if bits.count & 7 != 0 { buffer.writeInteger(byte) }
}
