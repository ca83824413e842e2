/// JSON text written by hand, where `JSONEncoder` will not do: key order it does not keep on
/// Linux, or one object per log line written without a round trip through `Any`.
public enum JSONText {
    /// `text` as a JSON string literal (RFC 8259: `"` and `\` escaped, control characters as
    /// `\n`, `\r`, `\t` or `\u00XX`, DEL as `\u007f`; U+2028 and U+2029 escaped too, for
    /// JavaScript consumers). The result is always one line.
    ///
    /// - Complexity: O(text's length).
    public static func quoted(_ text: String) -> String {
        var result = "\""
        result.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "\u{2028}", "\u{2029}", "\u{0}"..."\u{1F}", "\u{7F}":
                let hex = String(scalar.value, radix: 16, uppercase: false)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
