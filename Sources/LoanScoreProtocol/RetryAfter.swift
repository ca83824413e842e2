/// The retry-after hint of QUOTA_EXCEEDED (PROTOCOL.md §7): the ERROR message begins with
/// `retry after N ms` (N a decimal integer, at least 1), the time after which the same request
/// would be within the client's quota. ERROR has no field for it (a new field would be trailing
/// bytes to a version-1 peer), so it travels in the text, in a fixed form.
extension ErrorMessage {
    /// A QUOTA_EXCEEDED message with its hint.
    ///
    /// - Parameters:
    ///   - retryAfterMilliseconds: when the request would be admitted (rounded up; at least 1).
    ///   - detail: the rest of the message (who is over which quota).
    public static func quotaExceeded(retryAfterMilliseconds: Int, detail: String) -> ErrorMessage {
        ErrorMessage(code: .quotaExceeded, message: "retry after \(max(1, retryAfterMilliseconds)) ms: \(detail)")
    }

    /// The hint of a QUOTA_EXCEEDED message, nil for any other message or one without the prefix.
    public var retryAfter: Duration? {
        guard code == .quotaExceeded, message.hasPrefix("retry after ") else { return nil }
        let digits = message.dropFirst("retry after ".count).prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, digits.count <= 9, let milliseconds = Int(digits),
              message.dropFirst("retry after ".count + digits.count).hasPrefix(" ms") else { return nil }
        return .milliseconds(milliseconds)
    }
}
