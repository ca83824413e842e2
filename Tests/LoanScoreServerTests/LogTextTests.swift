@testable import LoanScoreServer
import Testing

/// Client text in loanscored's log cannot forge lines or send terminal escapes.
@Suite("Log text from clients")
struct LogTextTests {
    @Test func controlCharactersAreEscapedAndLongTextCut() {
        #expect(LogText.escaped("CN=gateway-1,O=Bank") == "CN=gateway-1,O=Bank")
        #expect(LogText.escaped("a\nb\r\tc") == #"a\nb\r\tc"#)
        #expect(LogText.escaped("\u{1B}[31mred\u{2028}") == #"\u{1B}[31mred\u{2028}"#)
        let long = LogText.escaped(String(repeating: "x", count: 1000))
        #expect(long.count == LogText.maximumLength + 1 && long.hasSuffix("…"))
    }
}
