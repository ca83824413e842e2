internal import LoanScoreCompression
public import NIOCore

/// Splits a byte stream into ``Frame``s (PROTOCOL.md §3), enforcing the limits in force.
///
/// Use it in a pipeline (`ByteToMessageHandler(FrameDecoder())`), or outside one with
/// `NIOSingleStepByteToMessageProcessor`. Contract:
///
/// - It returns `nil`, leaving the reader index where it was, until the 24-byte header and
///   the whole payload are present. Waiting allocates nothing.
/// - As soon as the header is present it is validated, before any payload is awaited or
///   memory reserved for it: magic, version, type, flags, `payload length ≤
///   maximumFramePayload`, `uncompressed length ≤ maximumUncompressedPayload`, and for an
///   uncompressed frame `uncompressed length == payload length`, for an LZ4 frame
///   `0 < payload length` and `uncompressed length ≤ 255 × payload length`. A header that
///   fails throws at once, even if the payload never arrives.
/// - LZ4 payloads are decompressed into exactly the declared size; anything else throws
///   `DECOMPRESSION_FAILED`.
///
/// All errors are ``ProtocolError``s whose codes are connection-fatal: the caller sends an
/// ERROR frame with the code and closes. The decoder must not be used after it has thrown.
public struct FrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = Frame

    /// The limits checked against every header. The client may replace them with WELCOME's.
    public var limits: ProtocolLimits

    /// Where LZ4 payloads are decompressed, kept from frame to frame: once the caller has
    /// dropped the previous frame's payload, its memory is reused. One larger than
    /// ``keptDecompressionCapacity`` is not kept.
    private var decompressed = ByteBuffer()
    /// The largest decompression buffer kept between frames (1 MiB).
    static let keptDecompressionCapacity = 1 << 20

    /// Creates a decoder enforcing `limits`.
    public init(limits: ProtocolLimits = .default) {
        self.limits = limits
    }

    /// Decodes the next frame, or returns `nil` (reader index untouched) if it is incomplete.
    ///
    /// - Throws: ``ProtocolError`` with `MALFORMED_FRAME`, `UNSUPPORTED_VERSION`,
    ///   `UNKNOWN_TYPE`, `FRAME_TOO_LARGE` (region `.header`, offset of the offending field)
    ///   or `DECOMPRESSION_FAILED` (region `.payload`).
    /// - Complexity: O(1) until the frame is complete; then O(payload), plus decompression.
    public mutating func decode(buffer: inout ByteBuffer) throws -> Frame? {
        guard let (magic, header) = buffer.getFrameHeaderFields(at: buffer.readerIndex) else { return nil }
        try validate(magic: magic, header: header)

        let payloadLength = Int(header.payloadLength)
        guard buffer.readableBytes - FrameHeader.size >= payloadLength else { return nil }

        // The whole frame is here: consume it.
        buffer.moveReaderIndex(forwardBy: FrameHeader.size)
        let wirePayload = buffer.readSlice(length: payloadLength)!  // length checked just above
        guard header.isCompressed else {
            return Frame(header: header, payload: wirePayload)
        }
        decompressed.clear()  // in place when no earlier frame's payload still holds the memory
        do {
            try LZ4.decompress(
                wirePayload, declaredSize: Int(header.uncompressedLength), limit: limits.maximumUncompressedPayload,
                into: &decompressed)
        } catch {
            throw ProtocolError(
                .decompressionFailed, error.message, region: .payload, offset: 0, requestID: header.requestID)
        }
        let payload = decompressed
        if decompressed.capacity > Self.keptDecompressionCapacity { decompressed = ByteBuffer() }
        return Frame(header: header, payload: payload)
    }

    /// At end of stream: decodes what is complete; an incomplete frame is left in `buffer`
    /// (the caller decides whether leftover bytes are an error).
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> Frame? {
        try decode(buffer: &buffer)
    }

    private func validate(magic: UInt32, header: FrameHeader) throws(ProtocolError) {
        func fail(_ code: ErrorCode, at offset: Int, _ message: String) -> ProtocolError {
            ProtocolError(code, message, region: .header, offset: offset, requestID: header.requestID)
        }
        guard magic == FrameHeader.magic else {
            throw ProtocolError(
                .malformedFrame, "bad magic 0x\(String(magic, radix: 16, uppercase: true)) (expected 0x4C4E5343, \"LNSC\")",
                region: .header, offset: 0)
        }
        guard header.version == FrameHeader.currentVersion else {
            throw fail(.unsupportedVersion, at: 4, "version \(header.version); this peer speaks version \(FrameHeader.currentVersion)")
        }
        guard header.type.isDefined else {
            throw fail(.unknownType, at: 5, "unknown message type 0x\(String(header.type.rawValue, radix: 16, uppercase: true))")
        }
        guard header.flags.subtracting(.defined).isEmpty else {
            throw fail(.malformedFrame, at: 6, "undefined flag bits 0x\(String(header.flags.rawValue, radix: 16, uppercase: true))")
        }
        guard !header.flags.contains(.deadline) || header.type == .scoreRequest else {
            throw fail(.malformedFrame, at: 6, "flag bit 1 (deadline) on a \(header.type) frame; only SCORE_REQUEST carries a deadline")
        }
        let payloadLength = Int(header.payloadLength)
        let uncompressedLength = Int(header.uncompressedLength)
        guard payloadLength <= limits.maximumFramePayload else {
            throw fail(.frameTooLarge, at: 16, "payload length \(payloadLength) is above the limit of \(limits.maximumFramePayload) bytes")
        }
        guard uncompressedLength <= limits.maximumUncompressedPayload else {
            throw fail(
                .frameTooLarge, at: 20,
                "uncompressed length \(uncompressedLength) is above the limit of \(limits.maximumUncompressedPayload) bytes")
        }
        if header.isCompressed {
            do {
                try LZ4.checkDeclaredSize(uncompressedLength, compressedSize: payloadLength, limit: limits.maximumUncompressedPayload)
            } catch {
                throw fail(.decompressionFailed, at: 20, error.message)
            }
        } else {
            guard uncompressedLength == payloadLength else {
                throw fail(.malformedFrame, at: 20, "uncompressed length \(uncompressedLength) differs from payload length \(payloadLength) in an uncompressed frame")
            }
        }
    }
}
