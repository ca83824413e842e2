/// Text from a client (certificate subject, client name, an ERROR or GOODBYE message), made
/// safe to log: control characters are escaped (`\n`, `\u{1B}`), so a client cannot forge log
/// lines or send terminal escapes, and the text is cut at ``maximumLength`` characters.
enum LogText {
    /// Longest text logged from one client value, in characters.
    static let maximumLength = 256

    /// `text` with every control or line-separator character escaped, cut to ``maximumLength``.
    static func escaped(_ text: some StringProtocol) -> String {
        var result = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if count == maximumLength {
                result += "…"
                break
            }
            count += 1
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                let category = scalar.properties.generalCategory
                if category == .control || category == .format || category == .lineSeparator || category == .paragraphSeparator {
                    result += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result
    }
}
