/// The protocol versions this module speaks (PROTOCOL.md §8), negotiated by HELLO's range and
/// named by WELCOME.
///
/// The frame header's version byte is the frame layout's version (``FrameHeader/currentVersion``,
/// 1): version 2 changes no frame layout, only the SCORE_RESPONSE results a server may send, so
/// every frame keeps header version 1 on a version-2 connection and WELCOME names the version
/// the connection uses.
public enum ProtocolVersion {
    /// The lowest version spoken.
    public static let minimum: UInt8 = 1
    /// The highest version spoken: 2 adds SCORE_RESPONSE status 2 (a result scored by the
    /// model version it names, as a challenger in split mode answers).
    public static let maximum: UInt8 = 2
    /// The first version whose SCORE_RESPONSE may carry status 2.
    public static let perResultModelVersion: UInt8 = 2
}

extension Hello {
    /// The highest version both the client (this HELLO's range) and `minimum...maximum`
    /// speak, or nil when the ranges do not meet (answer `UNSUPPORTED_VERSION`). O(1).
    public func negotiatedVersion(minimum: UInt8 = ProtocolVersion.minimum, maximum: UInt8 = ProtocolVersion.maximum) -> UInt8? {
        let highest = min(maximumVersion, maximum)
        return highest >= max(minimumVersion, minimum) ? highest : nil
    }
}
