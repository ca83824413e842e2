public import NIOCore

/// ERROR (0x20), either direction (PROTOCOL.md §5.6).
///
/// Payload: `error code u16 · message (u16 string)`. The frame's request id names the failed
/// request; 0 means the error concerns the connection. After a connection-fatal code
/// (``ErrorCode/isConnectionFatal``) the sender closes the connection.
public struct ErrorMessage: ProtocolMessage, Hashable {
    public static let messageType = MessageType.error

    /// What went wrong.
    public var code: ErrorCode
    /// A sentence for people and logs (cut to 65,535 bytes).
    public var message: String

    public init(code: ErrorCode, message: String) {
        self.code = code
        self.message = message
    }

    /// The message that reports `error` to the peer.
    public init(_ error: ProtocolError) {
        self.init(code: error.code, message: error.description)
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(code.rawValue)
        buffer.writeString(message, prefix: UInt16.self)
    }

    /// Decodes an ERROR payload, consuming all of `buffer`. Unknown codes are kept as they are.
    /// - Throws: ``ProtocolError`` `MALFORMED_FRAME`.
    public static func decode(from buffer: inout ByteBuffer) throws(ProtocolError) -> ErrorMessage {
        var reader = PayloadReader(buffer)
        let code = ErrorCode(rawValue: try reader.readInteger("error code", as: UInt16.self))
        let message = try reader.readString("error message", prefix: UInt16.self)
        try reader.finish("ERROR")
        buffer = reader.buffer
        return ErrorMessage(code: code, message: message)
    }
}

/// PING (0x30), either direction: the peer answers PONG with the same request id and
/// payload (PROTOCOL.md §5.7). The payload is opaque bytes (e.g. a send timestamp), at most
/// 256 bytes by convention, any length within the frame limit by the codec.
public struct Ping: ProtocolMessage, Hashable {
    public static let messageType = MessageType.ping

    /// Opaque bytes to be echoed.
    public var payload: ByteBuffer

    public init(payload: ByteBuffer = ByteBuffer()) {
        self.payload = payload
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeImmutableBuffer(payload)
    }

    /// Takes all of `buffer` as the payload. Never throws in practice.
    public static func decode(from buffer: inout ByteBuffer) throws(ProtocolError) -> Ping {
        defer { buffer.moveReaderIndex(to: buffer.writerIndex) }
        return Ping(payload: buffer)
    }

    /// The PONG answering this PING.
    public var pong: Pong { Pong(payload: payload) }
}

/// PONG (0x31): the answer to a PING, echoing its payload.
public struct Pong: ProtocolMessage, Hashable {
    public static let messageType = MessageType.pong

    /// The PING's payload, echoed.
    public var payload: ByteBuffer

    public init(payload: ByteBuffer = ByteBuffer()) {
        self.payload = payload
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeImmutableBuffer(payload)
    }

    /// Takes all of `buffer` as the payload. Never throws in practice.
    public static func decode(from buffer: inout ByteBuffer) throws(ProtocolError) -> Pong {
        defer { buffer.moveReaderIndex(to: buffer.writerIndex) }
        return Pong(payload: buffer)
    }
}

/// GOODBYE (0x40), either direction (PROTOCOL.md §5.8): the sender starts no new requests
/// (client) or accepts none (server; later ones get SHUTTING_DOWN); requests in flight are
/// still answered, then the connection closes.
///
/// Payload: `reason (u16 string)`, possibly empty.
public struct Goodbye: ProtocolMessage, Hashable {
    public static let messageType = MessageType.goodbye

    /// Why, for logs (e.g. `draining for shutdown`).
    public var reason: String

    public init(reason: String = "") {
        self.reason = reason
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeString(reason, prefix: UInt16.self)
    }

    /// Decodes a GOODBYE payload, consuming all of `buffer`.
    /// - Throws: ``ProtocolError`` `MALFORMED_FRAME`.
    public static func decode(from buffer: inout ByteBuffer) throws(ProtocolError) -> Goodbye {
        var reader = PayloadReader(buffer)
        let reason = try reader.readString("reason", prefix: UInt16.self)
        try reader.finish("GOODBYE")
        buffer = reader.buffer
        return Goodbye(reason: reason)
    }
}
