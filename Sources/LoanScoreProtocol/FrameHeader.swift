import NIOCore

/// The flags field of a frame header. Bits other than ``lz4`` and ``deadline`` must be zero
/// in version 1, and ``deadline`` is set only on SCORE_REQUEST.
public struct FrameFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// Bit 0: the payload is one LZ4 block; the header's uncompressed length is its
    /// declared decompressed size.
    public static let lz4 = FrameFlags(rawValue: 1 << 0)
    /// Bit 1, SCORE_REQUEST only: the payload starts with a u32 deadline (the request's time
    /// budget in microseconds; PROTOCOL.md §5.4). Added to version 1 backward-compatibly: a
    /// request without it is unchanged.
    public static let deadline = FrameFlags(rawValue: 1 << 1)
    /// The flags version 1 defines.
    public static let defined: FrameFlags = [.lz4, .deadline]
}

/// The fixed 24-byte, big-endian frame header (PROTOCOL.md §3).
///
/// ```
/// offset size field
///      0    4 magic               0x4C4E5343 ("LNSC")
///      4    1 version             1
///      5    1 type                MessageType
///      6    2 flags               FrameFlags
///      8    8 request id
///     16    4 payload length      bytes of payload that follow on the wire
///     20    4 uncompressed length = payload length, or the LZ4 block's declared size
/// ```
public struct FrameHeader: Hashable, Sendable {
    /// "LNSC" as a big-endian u32.
    public static let magic: UInt32 = 0x4C4E_5343
    /// The only protocol version this module speaks.
    public static let currentVersion: UInt8 = 1
    /// The header's size in bytes.
    public static let size = 24

    /// Protocol version of the frame.
    public var version: UInt8
    /// The message type.
    public var type: MessageType
    /// Flags (``FrameFlags/lz4``).
    public var flags: FrameFlags
    /// The request id: chosen by the client, echoed by the server; 0 = connection-level.
    public var requestID: UInt64
    /// Bytes of payload following the header on the wire.
    public var payloadLength: UInt32
    /// The payload's size after decompression (equals ``payloadLength`` when not compressed).
    public var uncompressedLength: UInt32

    /// Creates a header; lengths default to 0 (the encoder fills them in).
    public init(
        version: UInt8 = FrameHeader.currentVersion, type: MessageType, flags: FrameFlags = [], requestID: UInt64,
        payloadLength: UInt32 = 0, uncompressedLength: UInt32 = 0
    ) {
        self.version = version
        self.type = type
        self.flags = flags
        self.requestID = requestID
        self.payloadLength = payloadLength
        self.uncompressedLength = uncompressedLength
    }

    /// Whether the payload is an LZ4 block.
    public var isCompressed: Bool { flags.contains(.lz4) }
}

extension ByteBuffer {
    /// Reads the 24 header bytes at `index` without validating them or moving the reader
    /// index; `nil` if fewer than 24 bytes are readable there.
    func getFrameHeaderFields(at index: Int) -> (magic: UInt32, header: FrameHeader)? {
        guard let magic = getInteger(at: index, as: UInt32.self),
            let version = getInteger(at: index + 4, as: UInt8.self),
            let type = getInteger(at: index + 5, as: UInt8.self),
            let flags = getInteger(at: index + 6, as: UInt16.self),
            let requestID = getInteger(at: index + 8, as: UInt64.self),
            let payloadLength = getInteger(at: index + 16, as: UInt32.self),
            let uncompressedLength = getInteger(at: index + 20, as: UInt32.self)
        else { return nil }
        let header = FrameHeader(
            version: version, type: MessageType(rawValue: type), flags: FrameFlags(rawValue: flags),
            requestID: requestID, payloadLength: payloadLength, uncompressedLength: uncompressedLength)
        return (magic, header)
    }

    /// Writes a header (magic first), moving the writer index by 24 bytes.
    @discardableResult
    mutating func writeFrameHeader(_ header: FrameHeader) -> Int {
        writeInteger(FrameHeader.magic)
        writeInteger(header.version)
        writeInteger(header.type.rawValue)
        writeInteger(header.flags.rawValue)
        writeInteger(header.requestID)
        writeInteger(header.payloadLength)
        writeInteger(header.uncompressedLength)
        return FrameHeader.size
    }
}
