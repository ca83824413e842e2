/// The size limits in force on a connection (PROTOCOL.md §3.3). The server announces its
/// limits in WELCOME; until then, and for frames the client receives, these defaults apply.
public struct ProtocolLimits: Hashable, Sendable {
    /// The most bytes a frame's payload may occupy on the wire (compressed or not).
    /// Default 4 MiB (4,194,304).
    public var maximumFramePayload: Int
    /// The most bytes a payload may have after decompression (for an uncompressed frame the
    /// payload length is checked against both limits). Default 16 MiB (16,777,216).
    public var maximumUncompressedPayload: Int
    /// The most applications in one SCORE_REQUEST. Default 4096.
    public var maximumBatch: Int
    /// The most SCORE_REQUESTs a client may have unanswered on one connection; past it the
    /// server answers BUSY. 0 means the server sets no fixed bound. Default 64.
    public var maximumInFlight: Int

    /// Creates limits; every value must be in 0...UInt32.max (checked by a precondition).
    public init(
        maximumFramePayload: Int = 4 << 20, maximumUncompressedPayload: Int = 16 << 20, maximumBatch: Int = 4096,
        maximumInFlight: Int = 64
    ) {
        for value in [maximumFramePayload, maximumUncompressedPayload, maximumBatch, maximumInFlight] {
            precondition(value >= 0 && value <= Int(UInt32.max), "protocol limits travel as u32")
        }
        self.maximumFramePayload = maximumFramePayload
        self.maximumUncompressedPayload = maximumUncompressedPayload
        self.maximumBatch = maximumBatch
        self.maximumInFlight = maximumInFlight
    }

    /// 4 MiB frame payload, 16 MiB uncompressed, 4096 applications, 64 requests in flight.
    public static let `default` = ProtocolLimits()
}
