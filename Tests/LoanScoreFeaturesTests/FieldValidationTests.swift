import Foundation
import LoanScoreFeatures
import LoanScoreTestSupport
import Testing

@Suite("Field validation")
struct FieldValidationTests {
    let pipeline = try! FeaturePipeline(schema: Schema.decode(Data(TinyBundle.schemaJSON.utf8)))

    /// amount, income, home, records, term
    func encode(_ values: [RawValue]) -> (row: [Double], outcome: FeaturePipeline.Outcome) {
        pipeline.encode(values)
    }

    func violations(_ values: [RawValue]) -> [Violation] {
        if case .rejected(let v) = encode(values).outcome { return v }
        return []
    }

    let valid: [RawValue] = [.text("500"), .text("1000"), .text("rent"), .text("no"), .text("12")]

    @Test func acceptsAValidApplication() {
        let (row, outcome) = encode(valid)
        guard case .accepted(let flags) = outcome else { Issue.record("rejected: \(outcome)"); return }
        #expect(flags.isEmpty)
        #expect(row == [500, 1000, 1, 0, 0, 0.5])
    }

    @Test func textInANumericFieldIsRejectedNamingFieldValueAndExpectation() {
        var values = valid
        values[1] = .text("abc")
        let found = violations(values)
        #expect(found.count == 1)
        #expect(found.first?.field == "income")
        #expect(found.first?.value == "abc")
        #expect(found.first?.problem == "is not a number")
        #expect(found.first?.expected == "a number in [0, ∞] EUR per month")
    }

    @Test(arguments: ["nan", "NaN", "inf", "-Infinity", "+inf"])
    func nonFiniteNumbersAreRejected(text: String) {
        var values = valid
        values[0] = .text(text)
        #expect(violations(values).first?.problem == "is not a finite number (write missing values as an empty cell)")
    }

    @Test(arguments: ["0x10", "1,000", "1e", "--1", "1.2.3", "12abc", "."])
    func malformedNumbersAreRejected(text: String) {
        var values = valid
        values[0] = .text(text)
        #expect(violations(values).first?.problem == "is not a number")
    }

    @Test func negativeAmountIsRejected() {
        var values = valid
        values[0] = .text("-5")
        let found = violations(values)
        #expect(found.first?.problem == "is negative")
        #expect(found.first?.expected == "a number in [0, 100000] EUR, required")
    }

    @Test func rangeIsInclusive() {
        var values = valid
        values[0] = .text("100000")
        #expect(violations(values).isEmpty)
        values[0] = .text("100000.01")
        #expect(violations(values).first?.problem == "is above the maximum")
    }

    @Test func integersMustBeWhole() {
        var values = valid
        values[4] = .text("12.0")
        #expect(violations(values).isEmpty)
        values[4] = .text("12.5")
        #expect(violations(values).first?.problem == "is not a whole number")
    }

    @Test func missingRequiredFieldIsRejectedAndNullableFieldIsNaN() {
        var values = valid
        values[0] = .text("  ")
        #expect(violations(values).first?.problem == "is missing but the field is required")
        values = valid
        values[1] = .text("")
        let (row, outcome) = encode(values)
        guard case .accepted = outcome else { Issue.record("rejected"); return }
        #expect(row[1].isNaN)
        #expect(row[5].isNaN, "a ratio with a missing denominator is missing")
    }

    @Test func sentinelMeansMissing() {
        var values = valid
        values[1] = .text("99999999")
        #expect(encode(values).row[1].isNaN)
        values[1] = .number(99_999_999)
        #expect(encode(values).row[1].isNaN)
    }

    @Test func categoriesAreTrimmedAndCaseFolded() {
        var values = valid
        values[2] = .text("  OWN ")
        #expect(Array(encode(values).row[2...3]) == [0, 1])
    }

    @Test func unseenLevelIsMissingAndFlagged() {
        var values = valid
        values[2] = .text("castle")
        let (row, outcome) = encode(values)
        guard case .accepted(let flags) = outcome else { Issue.record("rejected"); return }
        #expect(row[2].isNaN && row[3].isNaN)
        #expect(flags == ["home: unseen level \"castle\" treated as missing"])
    }

    @Test func unseenLevelIsRejectedWhenTheSchemaSaysSo() throws {
        var schema = try Schema.decode(Data(TinyBundle.schemaJSON.utf8))
        schema.fields[2].unseen = .reject
        let strict = try FeaturePipeline(schema: schema)
        var values = valid
        values[2] = .text("castle")
        guard case .rejected(let found) = strict.encode(values).outcome else { Issue.record("accepted"); return }
        #expect(found.first?.problem == "is not a known level")
    }

    @Test func booleansUseTheirLabelsOrTypedValues() {
        var values = valid
        values[3] = .text("YES")
        #expect(encode(values).row[4] == 1)
        values[3] = .bool(false)
        #expect(encode(values).row[4] == 0)
        values[3] = .text("maybe")
        #expect(violations(values).first?.problem == "is not a known boolean label")
    }

    @Test func everyViolationOfARowIsReported() {
        let found = violations([.text("-1"), .text("x"), .text("rent"), .text("maybe"), .text("0")])
        #expect(found.map(\.field) == ["amount", "income", "records", "term"])
    }

    @Test func typedNumbersAreAccepted() {
        var values = valid
        values[0] = .number(500)
        values[1] = .number(1000)
        #expect(encode(values).row == [500, 1000, 1, 0, 0, 0.5])
    }
}
