internal import LoanScoreCompression
public import NIOCore

/// Writes frames: header, then the payload, LZ4-compressed when the policy says so.
///
/// Conforms to `MessageToByteEncoder` for use in a pipeline (`MessageToByteHandler`); the
/// outbound ``Frame``'s type and request id are used, its flags and lengths recomputed.
public struct FrameEncoder: MessageToByteEncoder, Sendable {
    public typealias OutboundIn = Frame

    /// When to send a payload as an LZ4 block.
    public enum Compression: Hashable, Sendable {
        /// Never compress.
        case never
        /// Compress every payload (even when LZ4 makes it larger). For tests and vectors.
        case always
        /// Compress payloads of at least `threshold` bytes, and send the block only if it is
        /// smaller than the payload.
        case whenSmaller(threshold: Int)
    }

    /// The compression policy.
    public var compression: Compression
    /// The peer's limits: the encoder refuses to write a frame the peer would refuse.
    public var limits: ProtocolLimits

    /// Creates an encoder. The default compresses payloads of 4 KiB or more when it helps.
    public init(compression: Compression = .whenSmaller(threshold: 4096), limits: ProtocolLimits = .default) {
        self.compression = compression
        self.limits = limits
    }

    /// Appends `data` as one frame to `out`.
    /// - Throws: ``ProtocolError`` `FRAME_TOO_LARGE` if the payload (compressed or not) is above
    ///   ``limits``; `out` is then left as it was.
    public func encode(data: Frame, out: inout ByteBuffer) throws {
        try encode(type: data.header.type, requestID: data.header.requestID, payload: data.payload, into: &out)
    }

    /// Appends a message as one frame to `out`.
    /// - Throws: as ``encode(data:out:)``.
    public func encode<Message: ProtocolMessage>(_ message: Message, requestID: UInt64, into out: inout ByteBuffer) throws(ProtocolError) {
        var payload = ByteBuffer()
        message.encode(into: &payload)
        try encode(type: Message.messageType, requestID: requestID, payload: payload, into: &out)
    }

    /// Appends a frame with the given type, request id and (uncompressed) payload to `out`.
    /// - Throws: as ``encode(data:out:)``.
    /// - Complexity: O(payload) (plus compression).
    public func encode(type: MessageType, requestID: UInt64, payload: ByteBuffer, into out: inout ByteBuffer) throws(ProtocolError) {
        let uncompressedLength = payload.readableBytes
        guard uncompressedLength <= limits.maximumUncompressedPayload else {
            throw ProtocolError(
                .frameTooLarge, "payload of \(uncompressedLength) bytes is above the peer's limit of \(limits.maximumUncompressedPayload)",
                requestID: requestID)
        }
        let start = out.writerIndex
        var header = FrameHeader(type: type, requestID: requestID, uncompressedLength: UInt32(uncompressedLength))
        out.writeFrameHeader(header)

        var compressed = false
        let tryCompression: Bool
        switch compression {
        case .never: tryCompression = false
        case .always: tryCompression = true
        case .whenSmaller(let threshold): tryCompression = uncompressedLength >= threshold
        }
        if tryCompression, let written = try? LZ4.compress(payload, into: &out) {
            if case .whenSmaller = compression, written >= uncompressedLength {
                out.moveWriterIndex(to: start + FrameHeader.size)  // not worth it: send plain
            } else {
                compressed = true
            }
        }
        if !compressed {
            out.writeImmutableBuffer(payload)
        }
        let payloadLength = out.writerIndex - start - FrameHeader.size
        guard payloadLength <= limits.maximumFramePayload else {
            out.moveWriterIndex(to: start)
            throw ProtocolError(
                .frameTooLarge, "frame payload of \(payloadLength) bytes is above the peer's limit of \(limits.maximumFramePayload)",
                requestID: requestID)
        }
        header.flags = compressed ? .lz4 : []
        header.payloadLength = UInt32(payloadLength)
        out.setInteger(header.flags.rawValue, at: start + 6)
        out.setInteger(header.payloadLength, at: start + 16)
    }
}

/// A message that travels as one frame's payload.
public protocol ProtocolMessage: Sendable {
    /// The header type of frames carrying this message.
    static var messageType: MessageType { get }
    /// Appends the message's payload encoding (PROTOCOL.md §5) to `buffer`.
    func encode(into buffer: inout ByteBuffer)
}
