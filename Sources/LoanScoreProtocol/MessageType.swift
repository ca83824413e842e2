/// The type byte of a frame header (PROTOCOL.md §4).
///
/// A struct over the raw byte so that a received unknown type is representable; the
/// ``FrameDecoder`` refuses types outside ``allDefined`` with `UNKNOWN_TYPE`.
public struct MessageType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The type's byte on the wire.
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Client → server, the first frame: client name and the versions it speaks.
    public static let hello = MessageType(rawValue: 0x01)
    /// Server → client, the answer to HELLO: version, model, schema, limits.
    public static let welcome = MessageType(rawValue: 0x02)
    /// Client → server: a columnar batch of applications.
    public static let scoreRequest = MessageType(rawValue: 0x10)
    /// Server → client: one result per application of the request with the same id.
    public static let scoreResponse = MessageType(rawValue: 0x11)
    /// Either direction: an error code and message; request id 0 = connection-level.
    public static let error = MessageType(rawValue: 0x20)
    /// Either direction: liveness probe; the peer answers PONG with the same id and payload.
    public static let ping = MessageType(rawValue: 0x30)
    /// The answer to PING.
    public static let pong = MessageType(rawValue: 0x31)
    /// Either direction: no new requests will follow; in-flight ones are still answered.
    public static let goodbye = MessageType(rawValue: 0x40)

    /// Every type of protocol version 1.
    public static let allDefined: [MessageType] = [
        .hello, .welcome, .scoreRequest, .scoreResponse, .error, .ping, .pong, .goodbye,
    ]

    /// Whether this version defines the type.
    public var isDefined: Bool { Self.allDefined.contains(self) }

    /// The specification's name (`SCORE_REQUEST`), or `TYPE_0x7F` for an undefined type.
    public var description: String {
        switch self {
        case .hello: return "HELLO"
        case .welcome: return "WELCOME"
        case .scoreRequest: return "SCORE_REQUEST"
        case .scoreResponse: return "SCORE_RESPONSE"
        case .error: return "ERROR"
        case .ping: return "PING"
        case .pong: return "PONG"
        case .goodbye: return "GOODBYE"
        default: return "TYPE_0x" + String(rawValue, radix: 16, uppercase: true).leftPadded(to: 2)
        }
    }
}
