public import NIOCore

/// One decoded frame: its header as received and its payload, decompressed when the header
/// carries ``FrameFlags/lz4``.
public struct Frame: Hashable, Sendable {
    /// The header as it arrived (flags and lengths describe the wire form).
    public var header: FrameHeader
    /// The payload: exactly `header.uncompressedLength` readable bytes.
    public var payload: ByteBuffer

    /// Wraps a received header and payload.
    public init(header: FrameHeader, payload: ByteBuffer) {
        self.header = header
        self.payload = payload
    }

    /// A frame to send: version 1, no flags; ``FrameEncoder`` computes lengths and flags.
    public init(type: MessageType, requestID: UInt64, payload: ByteBuffer) {
        self.header = FrameHeader(
            type: type, requestID: requestID, payloadLength: UInt32(truncatingIfNeeded: payload.readableBytes),
            uncompressedLength: UInt32(truncatingIfNeeded: payload.readableBytes))
        self.payload = payload
    }

    /// The header's message type.
    public var type: MessageType { header.type }
    /// The header's request id.
    public var requestID: UInt64 { header.requestID }
}
