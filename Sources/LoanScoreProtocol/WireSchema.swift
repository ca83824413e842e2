internal import Crypto
import NIOCore

/// How a schema field's values travel (PROTOCOL.md §5.2).
///
/// Bundle schema types map as: `number`, `integer` → ``number``; `boolean` → ``bool``;
/// `category` → ``string`` (categories travel as their level's text).
public enum WireType: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// IEEE 754 binary64, big-endian (8 bytes).
    case number = 1
    /// One byte, 0 or 1.
    case bool = 2
    /// u16 length + UTF-8 bytes.
    case string = 3

    public var description: String {
        switch self {
        case .number: return "NUMBER"
        case .bool: return "BOOL"
        case .string: return "STRING"
        }
    }
}

/// One field of the served schema, as WELCOME announces it.
public struct WireField: Hashable, Sendable {
    /// The field's name (UTF-8, 1...65,535 bytes).
    public var name: String
    /// How its values travel.
    public var type: WireType

    public init(name: String, type: WireType) {
        self.name = name
        self.type = type
    }
}

/// The SHA-256 that identifies a schema's wire layout (PROTOCOL.md §5.3). 32 bytes.
public struct SchemaHash: Hashable, Sendable, CustomStringConvertible {
    /// The 32 digest bytes.
    public let bytes: [UInt8]

    /// Wraps 32 digest bytes (precondition: exactly 32).
    public init(bytes: [UInt8]) {
        precondition(bytes.count == 32, "a schema hash is 32 bytes")
        self.bytes = bytes
    }

    /// Computes the hash of a field list: SHA-256 over the field list exactly as WELCOME
    /// encodes it, i.e. `u16 field count`, then per field `u16 name length`, the name's
    /// UTF-8 bytes, `u8 wire type`, all big-endian.
    ///
    /// - Parameter fields: the schema's fields in order, names of 1...65,535 UTF-8 bytes and at
    ///   most 65,535 fields (preconditions).
    /// - Complexity: O(total bytes of the names).
    public static func compute(_ fields: [(name: String, type: WireType)]) -> SchemaHash {
        var buffer = ByteBuffer()
        writeFieldList(fields.map { WireField(name: $0.name, type: $0.type) }, into: &buffer)
        return SchemaHash(bytes: buffer.withUnsafeReadableBytes { Array(SHA256.hash(data: $0)) })
    }

    /// Lowercase hex, 64 characters.
    public var description: String {
        bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }
}

/// Computes the schema hash of `fields` (same as ``SchemaHash/compute(_:)``), for a server
/// building WELCOME from a bundle's schema.
public func schemaHash(of fields: [(name: String, type: WireType)]) -> SchemaHash {
    SchemaHash.compute(fields)
}

/// The served schema: fields in order and their hash. SCORE_REQUEST columns follow it.
public struct WireSchema: Hashable, Sendable {
    /// The fields, in the order columns travel.
    public let fields: [WireField]
    /// ``SchemaHash/compute(_:)`` of ``fields``.
    public let hash: SchemaHash

    /// Creates the schema and computes its hash.
    public init(fields: [WireField]) {
        self.fields = fields
        self.hash = SchemaHash.compute(fields.map { ($0.name, $0.type) })
    }
}

func writeFieldList(_ fields: [WireField], into buffer: inout ByteBuffer) {
    precondition(fields.count <= Int(UInt16.max), "at most 65,535 schema fields")
    buffer.writeInteger(UInt16(fields.count))
    for field in fields {
        precondition(!field.name.isEmpty && field.name.utf8.count <= Int(UInt16.max), "field names are 1...65,535 bytes")
        buffer.writeString(field.name, prefix: UInt16.self)
        buffer.writeInteger(field.type.rawValue)
    }
}

extension PayloadReader {
    mutating func readFieldList() throws(ProtocolError) -> [WireField] {
        let count = Int(try readInteger("field count", as: UInt16.self))
        try require(count * 3, for: "\(count) schema fields")  // each is at least 2 + 1 + 1 bytes
        var fields: [WireField] = []
        fields.reserveCapacity(count)
        for index in 0..<count {
            let at = offset
            let name = try readString("name of field \(index)", prefix: UInt16.self)
            guard !name.isEmpty else { throw error(.malformedFrame, "field \(index) has an empty name", at: at) }
            let typeAt = offset
            let raw = try readInteger("type of field '\(name)'", as: UInt8.self)
            guard let type = WireType(rawValue: raw) else {
                throw error(.malformedFrame, "field '\(name)' has unknown wire type \(raw)", at: typeAt)
            }
            fields.append(WireField(name: name, type: type))
        }
        return fields
    }
}
