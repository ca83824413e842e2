public import NIOCore

// The decision type is the model's (LoanScoreDecision); on the wire it is its `wireValue` byte.
@_exported public import LoanScoreDecision

/// A scored application's answer.
public struct ScoredApplication: Hashable, Sendable {
    /// Probability of default, in [0, 1].
    public var pd: Double
    /// The bundle's risk level name for the PD (≤ 255 UTF-8 bytes).
    public var riskLevel: String
    /// Approve / review / decline.
    public var decision: Decision
    /// Confidence in [0, 1], as the bundle's decision policy defines it.
    public var confidence: Double
    /// Reason codes, most important first (≤ 255 codes of ≤ 255 bytes each).
    public var reasons: [String]
    /// The version of the model that scored this application when it is not the response's
    /// (status 2, protocol version 2: a challenger decided it); nil: the response's
    /// ``ScoreResponse/modelVersion``.
    public var modelVersion: String?

    public init(pd: Double, riskLevel: String, decision: Decision, confidence: Double, reasons: [String], modelVersion: String? = nil) {
        self.pd = pd
        self.riskLevel = riskLevel
        self.decision = decision
        self.confidence = confidence
        self.reasons = reasons
        self.modelVersion = modelVersion
    }
}

/// One application's result in a SCORE_RESPONSE.
public enum ApplicationResult: Hashable, Sendable {
    /// Status 0: scored by the response's model version; status 2 (protocol version 2): scored
    /// by the version ``ScoredApplication/modelVersion`` names.
    case scored(ScoredApplication)
    /// Status 1: not scored; `code` is usually INVALID_APPLICATION and `message` names the
    /// field and the value.
    case invalid(code: ErrorCode, message: String)
}

/// SCORE_RESPONSE (0x11), server → client, carrying the request id of its SCORE_REQUEST
/// (PROTOCOL.md §5.5). Results are in the request's application order; one invalid
/// application never fails its batch.
///
/// Payload: `model version (u16 string) · count u32 ·` per application `status u8` then
/// scored (0): `PD f64 · risk level (u8 string) · decision u8 · confidence f64 · reason
/// count u8 · reasons (u8 strings)`; invalid (1): `error code u16 · message (u16 string)`;
/// in protocol version 2 also scored by another model version (2): `model version (u16
/// string) ·` then exactly status 0's fields (a challenger decided the application).
public struct ScoreResponse: ProtocolMessage, Hashable {
    public static let messageType = MessageType.scoreResponse

    /// The version of the model that scored the batch (the champion's, when a challenger
    /// decided some applications: those name their own, ``ScoredApplication/modelVersion``).
    public var modelVersion: String
    /// One result per application, in request order.
    public var results: [ApplicationResult]

    public init(modelVersion: String, results: [ApplicationResult]) {
        self.modelVersion = modelVersion
        self.results = results
    }

    /// Encodes the payload. Strings longer than their prefix allows are cut at a character
    /// boundary, and more than 255 reasons are cut to the first 255.
    public func encode(into buffer: inout ByteBuffer) {
        ScoreResponseWriter.writeHeader(modelVersion: modelVersion, count: results.count, into: &buffer)
        for result in results {
            switch result {
            case .scored(let scored) where scored.modelVersion != nil:
                ScoreResponseWriter.writeScored(
                    by: scored.modelVersion ?? modelVersion, pd: scored.pd, riskLevel: scored.riskLevel, decision: scored.decision,
                    confidence: scored.confidence, reasonCount: scored.reasons.count, reason: { scored.reasons[$0] }, into: &buffer)
            case .scored(let scored):
                ScoreResponseWriter.writeScored(
                    pd: scored.pd, riskLevel: scored.riskLevel, decision: scored.decision, confidence: scored.confidence,
                    reasonCount: scored.reasons.count, reason: { scored.reasons[$0] }, into: &buffer)
            case .invalid(let code, let message):
                ScoreResponseWriter.writeInvalid(code: code, message: message, into: &buffer)
            }
        }
    }

    /// Decodes a SCORE_RESPONSE payload, consuming all of `buffer`.
    /// - Parameters:
    ///   - maximumBatch: the most results accepted (the client's own maximum batch).
    ///   - protocolVersion: the connection's protocol version (WELCOME's): status 2 is
    ///     accepted from version 2 on, and is `MALFORMED_FRAME` on a version-1 connection.
    /// - Throws: ``ProtocolError`` `MALFORMED_FRAME` (truncated, unknown status or decision,
    ///   invalid UTF-8, trailing bytes) or `BATCH_TOO_LARGE`, naming offset and application.
    /// - Complexity: O(payload); results are reserved only after the remaining bytes are known to
    ///   hold at least 5 bytes per result.
    public static func decode(from buffer: inout ByteBuffer, maximumBatch: Int = ProtocolLimits.default.maximumBatch,
                              protocolVersion: UInt8 = ProtocolVersion.maximum) throws(ProtocolError) -> ScoreResponse {
        var reader = PayloadReader(buffer)
        let modelVersion = try reader.readString("model version", prefix: UInt16.self)
        let countAt = reader.offset
        let count = Int(try reader.readInteger("result count", as: UInt32.self))
        guard count <= maximumBatch else {
            throw reader.error(.batchTooLarge, "\(count) results; the maximum batch is \(maximumBatch)", at: countAt)
        }
        try reader.require(count * 5, for: "\(count) results")  // the shortest result is 5 bytes
        var results: [ApplicationResult] = []
        results.reserveCapacity(count)
        for index in 0..<count {
            reader.applicationIndex = index
            let statusAt = reader.offset
            let status = try reader.readInteger("status", as: UInt8.self)
            // Status 2 exists from protocol version 2 on.
            let scored = status == 0 || (status == 2 && protocolVersion >= ProtocolVersion.perResultModelVersion)
            switch status {
            case _ where scored:
                let version = status == 2 ? try reader.readString("model version", prefix: UInt16.self) : nil
                let pd = try reader.readFloat64("PD")
                let riskLevel = try reader.readString("risk level", prefix: UInt8.self)
                let decisionAt = reader.offset
                let rawDecision = try reader.readInteger("decision", as: UInt8.self)
                guard let decision = Decision(wireValue: rawDecision) else {
                    throw reader.error(.malformedFrame, "unknown decision \(rawDecision)", at: decisionAt)
                }
                let confidence = try reader.readFloat64("confidence")
                let reasonCount = Int(try reader.readInteger("reason count", as: UInt8.self))
                var reasons: [String] = []
                for _ in 0..<reasonCount { reasons.append(try reader.readString("reason code", prefix: UInt8.self)) }
                results.append(.scored(ScoredApplication(pd: pd, riskLevel: riskLevel, decision: decision, confidence: confidence,
                                                         reasons: reasons, modelVersion: version)))
            case 1:
                let code = ErrorCode(rawValue: try reader.readInteger("error code", as: UInt16.self))
                let message = try reader.readString("error message", prefix: UInt16.self)
                results.append(.invalid(code: code, message: message))
            default:
                throw reader.error(.malformedFrame, "unknown result status \(status)"
                    + (status == 2 ? " (status 2 is protocol version 2's; this connection is version \(protocolVersion))" : ""),
                    at: statusAt)
            }
        }
        reader.applicationIndex = nil
        try reader.finish("SCORE_RESPONSE")
        buffer = reader.buffer
        return ScoreResponse(modelVersion: modelVersion, results: results)
    }
}
