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
        var scratch = ByteBuffer()
        try encode(type: Message.messageType, requestID: requestID, flags: message.frameFlags, into: &out, scratch: &scratch) {
            message.encode(into: &$0)
        }
    }

    /// Appends a frame with the given type, request id and (uncompressed) payload to `out`.
    /// - Throws: as ``encode(data:out:)``.
    /// - Complexity: O(payload) (plus compression).
    public func encode(type: MessageType, requestID: UInt64, payload: ByteBuffer, into out: inout ByteBuffer) throws(ProtocolError) {
        var scratch = ByteBuffer()
        try encode(type: type, requestID: requestID, into: &out, scratch: &scratch) { $0.writeImmutableBuffer(payload) }
    }

    /// Appends a frame whose payload `writePayload` writes straight into `out`, after the
    /// header: no payload buffer of its own. When the policy compresses, the LZ4 block is made
    /// in `scratch` (cleared first; keep one per connection to reuse its memory) and replaces
    /// the plain payload in `out`.
    ///
    /// - Parameters:
    ///   - writePayload: appends the message's payload encoding (PROTOCOL.md §5) to the buffer
    ///     it is given, and nothing else.
    /// - Throws: as ``encode(data:out:)``; `out`'s writer index is then where it was.
    /// - Complexity: O(payload) (plus compression). Allocates only when `out` or `scratch`
    ///   must grow.
    public func encode(
        type: MessageType, requestID: UInt64, flags extraFlags: FrameFlags = [], into out: inout ByteBuffer, scratch: inout ByteBuffer,
        payload writePayload: (inout ByteBuffer) -> Void
    ) throws(ProtocolError) {
        let start = out.writerIndex
        let payloadStart = start + FrameHeader.size
        out.writeFrameHeader(FrameHeader(type: type, requestID: requestID))
        writePayload(&out)
        let uncompressedLength = out.writerIndex - payloadStart
        guard uncompressedLength <= limits.maximumUncompressedPayload else {
            out.moveWriterIndex(to: start)
            throw ProtocolError(
                .frameTooLarge, "payload of \(uncompressedLength) bytes is above the peer's limit of \(limits.maximumUncompressedPayload)",
                requestID: requestID)
        }

        var compressed = false
        let tryCompression: Bool
        switch compression {
        case .never: tryCompression = false
        case .always: tryCompression = true
        case .whenSmaller(let threshold): tryCompression = uncompressedLength >= threshold
        }
        if tryCompression {
            scratch.clear()
            let skip = payloadStart - out.readerIndex  // the payload's place in the readable bytes
            let written = out.withUnsafeReadableBytes { bytes in
                try? LZ4.compress(UnsafeRawBufferPointer(rebasing: bytes[skip...]), into: &scratch)
            }
            var worthIt = written != nil
            if case .whenSmaller = compression, let written, written >= uncompressedLength { worthIt = false }
            if worthIt {
                out.moveWriterIndex(to: payloadStart)  // replace the plain payload with the block
                out.writeImmutableBuffer(scratch)
                compressed = true
            }
        }
        let payloadLength = out.writerIndex - payloadStart
        guard payloadLength <= limits.maximumFramePayload else {
            out.moveWriterIndex(to: start)
            throw ProtocolError(
                .frameTooLarge, "frame payload of \(payloadLength) bytes is above the peer's limit of \(limits.maximumFramePayload)",
                requestID: requestID)
        }
        let flags: FrameFlags = extraFlags.union(compressed ? .lz4 : [])
        out.setInteger(flags.rawValue, at: start + 6)
        out.setInteger(UInt32(payloadLength), at: start + 16)
        out.setInteger(UInt32(uncompressedLength), at: start + 20)
    }
}

/// A message that travels as one frame's payload.
public protocol ProtocolMessage: Sendable {
    /// The header type of frames carrying this message.
    static var messageType: MessageType { get }
    /// Appends the message's payload encoding (PROTOCOL.md §5) to `buffer`.
    func encode(into buffer: inout ByteBuffer)
    /// Header flags the message's encoding needs besides compression (``FrameFlags/deadline``
    /// for a SCORE_REQUEST with a deadline); none by default.
    var frameFlags: FrameFlags { get }
}

extension ProtocolMessage {
    public var frameFlags: FrameFlags { [] }
}
