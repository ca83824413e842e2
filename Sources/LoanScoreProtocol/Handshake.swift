public import NIOCore

/// HELLO (0x01), client → server, the first frame of a connection (PROTOCOL.md §5.1).
///
/// Payload: `client name (u16 string) · minimum version u8 · maximum version u8`.
public struct Hello: ProtocolMessage, Hashable {
    public static let messageType = MessageType.hello

    /// Free text naming the client and its version, for logs (e.g. `loanscore-client/1.0`).
    public var clientName: String
    /// The lowest protocol version the client speaks.
    public var minimumVersion: UInt8
    /// The highest protocol version the client speaks (≥ ``minimumVersion``).
    public var maximumVersion: UInt8

    public init(clientName: String, minimumVersion: UInt8 = 1, maximumVersion: UInt8 = 1) {
        self.clientName = clientName
        self.minimumVersion = minimumVersion
        self.maximumVersion = maximumVersion
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeString(clientName, prefix: UInt16.self)
        buffer.writeInteger(minimumVersion)
        buffer.writeInteger(maximumVersion)
    }

    /// Decodes a HELLO payload, consuming all of `buffer`.
    /// - Throws: ``ProtocolError`` `MALFORMED_FRAME` (truncated, invalid UTF-8, minimum above
    ///   maximum, trailing bytes). Version support is the server's check (`UNSUPPORTED_VERSION`).
    public static func decode(from buffer: inout ByteBuffer) throws(ProtocolError) -> Hello {
        var reader = PayloadReader(buffer)
        let name = try reader.readString("client name", prefix: UInt16.self)
        let at = reader.offset
        let minimum = try reader.readInteger("minimum version", as: UInt8.self)
        let maximum = try reader.readInteger("maximum version", as: UInt8.self)
        guard minimum <= maximum else {
            throw reader.error(.malformedFrame, "minimum version \(minimum) is above maximum version \(maximum)", at: at)
        }
        try reader.finish("HELLO")
        buffer = reader.buffer
        return Hello(clientName: name, minimumVersion: minimum, maximumVersion: maximum)
    }

    /// Whether the client speaks `version`.
    public func supports(_ version: UInt8) -> Bool { (minimumVersion...maximumVersion).contains(version) }
}

/// WELCOME (0x02), server → client, the answer to HELLO (PROTOCOL.md §5.2).
///
/// Payload: `protocol version u8 · model name (u16 string) · model version (u16 string) ·
/// schema hash (32 bytes) · field count u16 · per field: name (u16 string), wire type u8 ·
/// max frame payload u32 · max uncompressed payload u32 · max batch u32 · max in flight u32`.
public struct Welcome: ProtocolMessage, Hashable {
    public static let messageType = MessageType.welcome

    /// The protocol version chosen for the connection.
    public var protocolVersion: UInt8
    /// The served model's name (from the bundle manifest).
    public var modelName: String
    /// The served model's version.
    public var modelVersion: String
    /// The input schema: fields in column order, and their hash.
    public var schema: WireSchema
    /// The limits the server enforces on this connection.
    public var limits: ProtocolLimits

    public init(
        protocolVersion: UInt8 = FrameHeader.currentVersion, modelName: String, modelVersion: String, schema: WireSchema,
        limits: ProtocolLimits = .default
    ) {
        self.protocolVersion = protocolVersion
        self.modelName = modelName
        self.modelVersion = modelVersion
        self.schema = schema
        self.limits = limits
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(protocolVersion)
        buffer.writeString(modelName, prefix: UInt16.self)
        buffer.writeString(modelVersion, prefix: UInt16.self)
        buffer.writeBytes(schema.hash.bytes)
        writeFieldList(schema.fields, into: &buffer)
        buffer.writeInteger(UInt32(limits.maximumFramePayload))
        buffer.writeInteger(UInt32(limits.maximumUncompressedPayload))
        buffer.writeInteger(UInt32(limits.maximumBatch))
        buffer.writeInteger(UInt32(limits.maximumInFlight))
    }

    /// Decodes a WELCOME payload, consuming all of `buffer`, and checks that the schema hash
    /// is the hash of the fields sent.
    /// - Throws: ``ProtocolError`` `MALFORMED_FRAME` (truncated, invalid UTF-8, unknown wire
    ///   type, empty field name, hash not matching the fields, a zero limit, trailing bytes).
    /// - Complexity: O(payload) plus one SHA-256 over the field list.
    public static func decode(from buffer: inout ByteBuffer) throws(ProtocolError) -> Welcome {
        var reader = PayloadReader(buffer)
        let version = try reader.readInteger("protocol version", as: UInt8.self)
        let modelName = try reader.readString("model name", prefix: UInt16.self)
        let modelVersion = try reader.readString("model version", prefix: UInt16.self)
        let hashAt = reader.offset
        let hash = SchemaHash(bytes: try reader.readBytes(32, "schema hash"))
        let schema = WireSchema(fields: try reader.readFieldList())
        guard schema.hash == hash else {
            throw reader.error(.malformedFrame, "schema hash \(hash) is not the hash of the fields sent (\(schema.hash))", at: hashAt)
        }
        let limitsAt = reader.offset
        var values: [Int] = []
        for name in ["maximum frame payload", "maximum uncompressed payload", "maximum batch", "maximum in flight"] {
            values.append(Int(try reader.readInteger(name, as: UInt32.self)))
        }
        guard values[0] > 0, values[1] > 0, values[2] > 0 else {
            throw reader.error(.malformedFrame, "a size limit is 0", at: limitsAt)
        }
        try reader.finish("WELCOME")
        buffer = reader.buffer
        let limits = ProtocolLimits(
            maximumFramePayload: values[0], maximumUncompressedPayload: values[1], maximumBatch: values[2],
            maximumInFlight: values[3])
        return Welcome(protocolVersion: version, modelName: modelName, modelVersion: modelVersion, schema: schema, limits: limits)
    }
}
