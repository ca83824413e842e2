public import NIOCore

/// Writes a SCORE_RESPONSE payload (PROTOCOL.md §5.5) straight into a `ByteBuffer`, one result
/// at a time, with no per-application value in between: the server's path.
/// ``ScoreResponse/encode(into:)`` writes through it too, so both give the same bytes.
///
/// Write the header, then exactly `count` results in request order. Strings longer than their
/// prefix allows are cut at a character boundary; more than 255 reasons are cut to 255.
public enum ScoreResponseWriter {
    /// Writes the header: `model version (u16 string) · count u32`.
    /// - Parameter count: the number of results that follow (precondition: ≤ 2^32 − 1).
    public static func writeHeader(modelVersion: String, count: Int, into buffer: inout ByteBuffer) {
        buffer.writeString(modelVersion, prefix: UInt16.self)
        buffer.writeInteger(UInt32(count))
    }

    /// Writes a scored result (status 0).
    /// - Parameters:
    ///   - pd: probability of default, in [0, 1].
    ///   - riskLevel: the bundle's risk level name.
    ///   - confidence: in [0, 1].
    ///   - reasonCount: the number of reason codes (more than 255 are cut to 255).
    ///   - reason: reason code `i` (for `i < reasonCount`), most important first.
    /// - Complexity: O(bytes written); allocates nothing beyond the buffer's growth (the
    ///   reasons come through a non-escaping closure, not a collection of Strings).
    public static func writeScored(
        pd: Double, riskLevel: String, decision: Decision, confidence: Double, reasonCount: Int, reason: (Int) -> String,
        into buffer: inout ByteBuffer
    ) {
        buffer.writeInteger(UInt8(0))
        writeScoredFields(pd: pd, riskLevel: riskLevel, decision: decision, confidence: confidence, reasonCount: reasonCount,
                          reason: reason, into: &buffer)
    }

    /// Writes a result scored by the model version `modelVersion` rather than the header's
    /// (status 2, protocol version 2 only: PROTOCOL.md §5.5): `status u8 = 2 · model version
    /// (u16 string) ·` then exactly the fields of ``writeScored(pd:riskLevel:decision:confidence:reasonCount:reason:into:)``.
    ///
    /// - Precondition: the connection negotiated protocol version 2 or later (a version-1
    ///   peer refuses status 2 as `MALFORMED_FRAME`).
    public static func writeScored(
        by modelVersion: String, pd: Double, riskLevel: String, decision: Decision, confidence: Double, reasonCount: Int,
        reason: (Int) -> String, into buffer: inout ByteBuffer
    ) {
        buffer.writeInteger(UInt8(2))
        buffer.writeString(modelVersion, prefix: UInt16.self)
        writeScoredFields(pd: pd, riskLevel: riskLevel, decision: decision, confidence: confidence, reasonCount: reasonCount,
                          reason: reason, into: &buffer)
    }

    private static func writeScoredFields(
        pd: Double, riskLevel: String, decision: Decision, confidence: Double, reasonCount: Int, reason: (Int) -> String,
        into buffer: inout ByteBuffer
    ) {
        buffer.writeFloat64(pd)
        buffer.writeString(riskLevel, prefix: UInt8.self)
        buffer.writeInteger(decision.wireValue)
        buffer.writeFloat64(confidence)
        let kept = min(max(reasonCount, 0), Int(UInt8.max))
        buffer.writeInteger(UInt8(kept))
        for index in 0..<kept { buffer.writeString(reason(index), prefix: UInt8.self) }
    }

    /// Writes an invalid result (status 1): `error code u16 · message (u16 string)`.
    public static func writeInvalid(code: ErrorCode, message: String, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(1))
        buffer.writeInteger(code.rawValue)
        buffer.writeString(message, prefix: UInt16.self)
    }
}
