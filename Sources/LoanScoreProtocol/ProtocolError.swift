/// A violation of the wire protocol found while decoding: what, and where.
///
/// ``code`` is the ``ErrorCode`` to send back in an ERROR frame (so ``ErrorCode`` doubles as
/// this error's `Code`); equality compares codes only. The location fields say where the
/// problem is: ``region`` and ``offset`` (a byte offset within the 24-byte header, or within
/// the payload after decompression), ``field`` and ``applicationIndex`` when they apply.
public struct ProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The matching code is the wire error code.
    public typealias Code = ErrorCode

    /// Which part of a frame ``offset`` counts from.
    public enum Region: Hashable, Sendable {
        /// Byte 0 is the first byte of the 24-byte header (the magic).
        case header
        /// Byte 0 is the first byte of the payload, after LZ4 decompression when flagged.
        case payload
    }

    /// The error code to report to the peer.
    public var code: ErrorCode
    /// A sentence saying what is wrong (for logs and ERROR frames).
    public var message: String
    /// The part of the frame ``offset`` counts from, if known.
    public var region: Region?
    /// Byte offset of the problem within ``region``, if known.
    public var offset: Int?
    /// The schema field (SCORE_REQUEST columns) or message field involved, if any.
    public var field: String?
    /// The 0-based application index within a batch, if any.
    public var applicationIndex: Int?
    /// The frame's request id, when the header was readable.
    public var requestID: UInt64?

    /// Creates an error; the location fields default to unknown.
    public init(
        _ code: ErrorCode, _ message: String, region: Region? = nil, offset: Int? = nil, field: String? = nil,
        applicationIndex: Int? = nil, requestID: UInt64? = nil
    ) {
        self.code = code
        self.message = message
        self.region = region
        self.offset = offset
        self.field = field
        self.applicationIndex = applicationIndex
        self.requestID = requestID
    }

    /// Whether the connection must be closed after reporting this error.
    public var isConnectionFatal: Bool { code.isConnectionFatal }

    public var description: String {
        var location: [String] = []
        if let offset {
            location.append("\(region == .header ? "header" : "payload") byte \(offset)")
        }
        if let field { location.append("field '\(field)'") }
        if let applicationIndex { location.append("application \(applicationIndex)") }
        if let requestID { location.append("request \(requestID)") }
        return location.isEmpty ? "\(code.name): \(message)" : "\(code.name) at \(location.joined(separator: ", ")): \(message)"
    }

    public static func == (lhs: ProtocolError, rhs: ProtocolError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
