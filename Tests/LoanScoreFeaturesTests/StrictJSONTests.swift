import LoanScoreFeatures
import Testing

/// What lenient parsers accept silently is refused, with line and column.
@Suite("Strict JSON")
struct StrictJSONTests {
    @Test(arguments: [
        #"{"a": 1, "b": [true, false, null, "x\n\u00e9", -0.5e-3, {}], "c": {"d": []}}"#,
        "  [1, 2]  ", #""text""#, "0", "-12.5E+3", "1.7e308", "1e-400",
    ])
    func acceptsStrictJSON(_ text: String) throws {
        try StrictJSON.validate(text)
    }

    @Test(arguments: [
        ("{\"Seniority\": 1,\n  \"Seniority\": 9}", 2, 3, #"duplicate key "Seniority" (first at line 1, column 2)"#),
        (#"{"a": 1, "\u0061": 2}"#, 1, 10, #"duplicate key "a" (first at line 1, column 2)"#),
        ("{\"a\": 1,\n}", 2, 1, "trailing comma before '}'"),
        ("[1, 2,]", 1, 7, "trailing comma before ']'"),
        ("{'a': 1}", 1, 2, "object keys must be strings in double quotes"),
        ("{\"a\": 1} x", 1, 10, "unexpected text after the JSON value"),
        ("{\"a\": NaN}", 1, 7, "unexpected character 'N' where a value was expected"),
        ("{\"a\": 01}", 1, 7, "numbers must not have leading zeros"),
        ("// hi\n{}", 1, 1, "comments are not allowed in JSON"),
        ("{\"a\": \"x\ty\"}", 1, 9, "a control character (0x9) inside a string must be escaped"),
        ("{\"a\": ", 1, 7, "the text ends where a value was expected"),
        // Valid JSON grammar that no 64-bit float holds: decoders refuse it only as "not valid JSON".
        ("{\"a\": [1, 1e400]}", 1, 11, "the number 1e400 is beyond the range of a 64-bit float (about ±1.8e308)"),
        ("{\"a\": -2.5E+999}", 1, 7, "the number -2.5E+999 is beyond the range of a 64-bit float (about ±1.8e308)"),
        ("[" + String(repeating: "9", count: 400) + "]", 1, 2,
         "the number " + String(repeating: "9", count: 40) + " is beyond the range of a 64-bit float (about ±1.8e308)"),
    ])
    func refusesWithLineAndColumn(_ text: String, line: Int, column: Int, problem: String) {
        #expect {
            try StrictJSON.validate(text)
        } throws: { error in
            guard let violation = error as? StrictJSON.Violation else { return false }
            #expect(violation.problem == problem)
            #expect(violation.line == line && violation.column == column, "\(violation)")
            return true
        }
    }

    @Test func deepNestingIsRefusedNotRecursedInto() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: StrictJSON.Violation.self) { try StrictJSON.validate(deep) }
    }
}
