/// A numbered error code as it travels in ERROR frames (u16) and in invalid
/// SCORE_RESPONSE results. PROTOCOL.md §7 is the normative table.
///
/// The high byte says how far an error reaches, so a client can act on a code it does not
/// know: `0x00__` closes the connection, `0x01__` fails one request, `0x02__` one application.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The code's value on the wire.
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    // MARK: Connection-fatal (0x00__): the sender closes the connection after the ERROR frame.

    /// A header or payload does not follow the specification (bad magic, bad flags, lengths
    /// that disagree, a truncated or over-long payload, invalid UTF-8, trailing bytes, …).
    public static let malformedFrame = ErrorCode(rawValue: 0x0001)
    /// The header's version, or HELLO's version range, names no version the receiver speaks.
    public static let unsupportedVersion = ErrorCode(rawValue: 0x0002)
    /// The header's type byte is not a message type of this version.
    public static let unknownType = ErrorCode(rawValue: 0x0003)
    /// The payload length or the uncompressed length is above the limit in force.
    public static let frameTooLarge = ErrorCode(rawValue: 0x0004)
    /// An LZ4 payload is corrupt, or does not expand to exactly its declared size, or
    /// declares a size no LZ4 block of that length can have.
    public static let decompressionFailed = ErrorCode(rawValue: 0x0005)
    /// The first client frame was not HELLO, or HELLO came twice.
    public static let handshakeRequired = ErrorCode(rawValue: 0x0006)

    // MARK: Per request (0x01__): answers one request id; the connection stays open.

    /// The batch holds more applications than WELCOME's maximum batch.
    public static let batchTooLarge = ErrorCode(rawValue: 0x0101)
    /// The request's schema hash is not the served model's (reconnect for a fresh WELCOME).
    public static let schemaMismatch = ErrorCode(rawValue: 0x0102)
    /// Backpressure: the server is at capacity. The request was not processed; retry later.
    public static let busy = ErrorCode(rawValue: 0x0103)
    /// The server is draining: the request was not processed; send it to another server.
    public static let shuttingDown = ErrorCode(rawValue: 0x0104)
    /// The request was not answered within the server's deadline; it may have been scored.
    public static let timeout = ErrorCode(rawValue: 0x0105)
    /// The server failed for reasons of its own; the request may be retried.
    /// With request id 0 it is connection-level and the server closes the connection.
    public static let `internal` = ErrorCode(rawValue: 0x0106)
    /// The server cannot record decisions for now (its audit log failed: a full disk, an I/O
    /// error, a failed fsync), so it scores nothing: the request was not processed. Send it to
    /// another server; this one answers again once an operator has repaired its audit log.
    public static let unavailable = ErrorCode(rawValue: 0x0107)
    /// The client (its certificate subject, else its address) is over its quota of
    /// applications per second: the request was not processed. The message begins with
    /// `retry after N ms` (``ErrorMessage/retryAfter``); other clients are unaffected.
    public static let quotaExceeded = ErrorCode(rawValue: 0x0108)
    /// The request's deadline (PROTOCOL.md §5.4) passed before the server could start scoring
    /// it: it was not processed (neither scored nor recorded). Retrying within the same call
    /// is pointless; a new call may send it again with a fresh deadline.
    public static let deadlineExceeded = ErrorCode(rawValue: 0x0109)

    // MARK: Per application (0x02__): one result inside a SCORE_RESPONSE.

    /// The application's values do not pass the schema (type, range, level, NaN/inf,
    /// missing required value); the message names the field and the value.
    public static let invalidApplication = ErrorCode(rawValue: 0x0201)

    /// Every code this version defines, in numeric order.
    public static let allDefined: [ErrorCode] = [
        .malformedFrame, .unsupportedVersion, .unknownType, .frameTooLarge, .decompressionFailed, .handshakeRequired,
        .batchTooLarge, .schemaMismatch, .busy, .shuttingDown, .timeout, .internal, .unavailable, .quotaExceeded, .deadlineExceeded,
        .invalidApplication,
    ]

    /// Whether the sender closes the connection after an ERROR frame with this code
    /// (every `0x00__` code, including ones this version does not define).
    public var isConnectionFatal: Bool { rawValue >> 8 == 0x00 }

    /// The specification's name (`BUSY`), or `ERROR_0x1234` for a code this version lacks.
    public var name: String {
        switch self {
        case .malformedFrame: return "MALFORMED_FRAME"
        case .unsupportedVersion: return "UNSUPPORTED_VERSION"
        case .unknownType: return "UNKNOWN_TYPE"
        case .frameTooLarge: return "FRAME_TOO_LARGE"
        case .decompressionFailed: return "DECOMPRESSION_FAILED"
        case .handshakeRequired: return "HANDSHAKE_REQUIRED"
        case .batchTooLarge: return "BATCH_TOO_LARGE"
        case .schemaMismatch: return "SCHEMA_MISMATCH"
        case .busy: return "BUSY"
        case .shuttingDown: return "SHUTTING_DOWN"
        case .timeout: return "TIMEOUT"
        case .internal: return "INTERNAL"
        case .unavailable: return "UNAVAILABLE"
        case .quotaExceeded: return "QUOTA_EXCEEDED"
        case .deadlineExceeded: return "DEADLINE_EXCEEDED"
        case .invalidApplication: return "INVALID_APPLICATION"
        default: return "ERROR_0x" + String(rawValue, radix: 16, uppercase: true).leftPadded(to: 4)
        }
    }

    public var description: String { name }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
