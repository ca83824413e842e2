import Foundation
import LoanScoreFeatures
import LoanScoreTestSupport
import Testing

/// The field keys added for model governance (SCHEMA.md, "Fields" and "Protected fields"):
/// `protected`, `monotone`, `post_origination` and `exposure`.
@Suite("Schema governance keys")
struct GovernanceKeysTests: SchemaChecking {
    // MARK: - Old schemas

    @Test func anOldSchemaKeepsItsFeaturesAndValidation() throws {
        let schema = try Schema.decode(Data(TinyBundle.schemaJSON.utf8))
        #expect(schema.featureNames == ["amount", "income", "home=rent", "home=own", "records", "amount_to_income"])
        #expect(schema.fields.allSatisfy { $0.protected == nil && $0.monotone == nil && $0.postOrigination == nil && $0.exposure == nil })
        #expect(schema.fields.map(\.acceptsMissing) == schema.fields.map(\.isNullable))
        #expect(schema.exposureField == nil)
        let pipeline = try FeaturePipeline(schema: schema)
        // `amount` and `records` are required, as before.
        guard case .rejected(let violations) = pipeline.encode([.missing, .text("1000"), .text("rent"), .missing, .text("12")]).outcome else {
            Issue.record("a missing required field was accepted")
            return
        }
        #expect(violations.map(\.field) == ["amount", "records"])
        #expect(violations.first?.expected == "a number in [0, 100000] EUR, required")
    }

    // MARK: - protected

    static let withProtected = #"""
    {"format": "loanscore-schema/1", "name": "t",
     "fields": [{"name": "amount", "type": "number"},
                {"name": "Age", "type": "integer", "range": {"min": 18, "max": 120}, "nullable": false, "protected": true},
                {"name": "Marital", "type": "category", "levels": ["single", "married"], "protected": true, "unseen": "reject"},
                {"name": "income", "type": "number"}],
     "derived": [{"name": "amount_to_income", "kind": "ratio", "inputs": ["amount", "income"]}]}
    """#

    @Test func aProtectedFieldIsNotAFeature() throws {
        let schema = try Schema.decode(Data(Self.withProtected.utf8))
        #expect(schema.fields.map(\.isProtected) == [false, true, true, false])
        #expect(schema.featureNames == ["amount", "income", "amount_to_income"])
    }

    @Test func aProtectedFieldMarkedFeatureIsOne() throws {
        let json = Self.withProtected.replacingOccurrences(of: #""nullable": false, "protected": true"#,
                                                          with: #""nullable": false, "protected": true, "feature": true"#)
        let schema = try Schema.decode(Data(json.utf8))
        #expect(schema.featureNames == ["amount", "Age", "income", "amount_to_income"])
        // As a feature it is validated as declared: not nullable, so a missing value is refused.
        let pipeline = try FeaturePipeline(schema: schema)
        guard case .rejected(let violations) = pipeline.encode([.number(100), .missing, .missing, .number(10)]).outcome else {
            Issue.record("a missing required protected feature was accepted")
            return
        }
        #expect(violations.map(\.field) == ["Age"])
    }

    @Test func aMissingProtectedNonFeatureIsAccepted() throws {
        let pipeline = try FeaturePipeline(schema: Schema.decode(Data(Self.withProtected.utf8)))
        // `Age` says "nullable": false, but as a protected non-feature it is optional on input.
        let (row, outcome) = pipeline.encode([.number(100), .missing, .missing, .number(10)])
        guard case .accepted(let flags) = outcome else {
            Issue.record("rejected: \(outcome)")
            return
        }
        #expect(flags.isEmpty)
        #expect(row == [100, 10, 10])
    }

    @Test func aPresentProtectedValueIsStillValidated() throws {
        let pipeline = try FeaturePipeline(schema: Schema.decode(Data(Self.withProtected.utf8)))
        guard case .rejected(let violations) = pipeline.encode([.number(100), .text("12"), .text("widowed"), .number(10)]).outcome else {
            Issue.record("invalid protected values were accepted")
            return
        }
        #expect(violations.map(\.field) == ["Age", "Marital"])
        #expect(violations.map(\.problem) == ["is below the minimum", "is not a known level"])
        // Its expectation no longer says "required".
        #expect(violations.first?.expected == "a whole number in [18, 120]")
    }

    @Test func aCSVMayLeaveOutAProtectedNonFeatureColumn() throws {
        let folder = try TinyBundle.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("in.csv")
        try Data("amount,income,Age\n100,10,40\n".utf8).write(to: url)
        let schema = try Schema.decode(Data(Self.withProtected.utf8))
        let file = try ApplicationFile(url: url, schema: schema)
        let application = try #require(try file.next())
        #expect(application.values.count == 4)
        guard case .missing = application.values[2] else {
            Issue.record("the left-out Marital column should read as missing, got \(application.values[2])")
            return
        }
        guard case .accepted = try FeaturePipeline(schema: schema).encode(application.values).outcome else {
            Issue.record("the application was rejected")
            return
        }
        // An ordinary field's column is still required.
        try Data("amount,Age\n100,40\n".utf8).write(to: url)
        #expect(throws: ApplicationFile.FileError.self) { try ApplicationFile(url: url, schema: schema) }
    }

    @Test func aDerivedFeatureMayNotUseAProtectedField() {
        let fields = #"[{"name": "amount", "type": "number"}, {"name": "Age", "type": "integer", "protected": true}]"#
        let derived = #"[{"name": "amount_per_year", "kind": "ratio", "inputs": ["amount", "Age"]}]"#
        #expect(error(schema(fields: fields, derived: derived))
                == #"derived[0] 'amount_per_year': input 'Age' is a protected field; a derived feature may not use it (train with --allow-protected Age, which marks it "feature": true, to allow it)"#)
        // "feature": false is not enough; only an explicit "feature": true allows it.
        let notFeature = fields.replacingOccurrences(of: #""protected": true"#, with: #""protected": true, "feature": false"#)
        #expect(error(schema(fields: notFeature, derived: derived))?.contains("is a protected field") == true)
        let allowed = fields.replacingOccurrences(of: #""protected": true"#, with: #""protected": true, "feature": true"#)
        #expect(error(schema(fields: allowed, derived: derived)) == nil)
    }

    // MARK: - monotone

    @Test func monotoneIsReadOnNumbersIntegersAndBooleans() throws {
        let json = schema(fields: #"""
            [{"name": "a", "type": "number", "monotone": "increasing"},
             {"name": "b", "type": "integer", "monotone": "decreasing"},
             {"name": "c", "type": "boolean", "monotone": "increasing"},
             {"name": "d", "type": "number"}]
            """#)
        let schema = try Schema.decode(Data(json.utf8))
        #expect(schema.fields.map(\.monotone) == [.increasing, .decreasing, .increasing, nil])
    }

    @Test func monotoneOnACategoryIsRefusedNamingTheField() {
        let json = schema(fields: #"[{"name": "Home", "type": "category", "levels": ["rent", "own"], "monotone": "increasing"}]"#)
        #expect(error(json) == #"fields[0] 'Home': monotone applies to numeric and boolean fields; 'Home' is a category (remove "monotone": "increasing")"#)
    }

    @Test func anUnknownMonotoneDirectionIsRefused() {
        let message = error(schema(fields: #"[{"name": "a", "type": "number", "monotone": "up"}]"#))
        #expect(message?.hasPrefix("not a valid schema:") == true)
        #expect(message?.contains(".fields[0].monotone") == true, "\(message ?? "")")
    }

    // MARK: - post_origination and exposure

    @Test func postOriginationIsKept() throws {
        let json = schema(fields: #"[{"name": "a", "type": "number"}, {"name": "paid_late", "type": "boolean", "post_origination": true}]"#)
        let schema = try Schema.decode(Data(json.utf8))
        #expect(schema.fields.map(\.postOrigination) == [nil, true])
        #expect(schema.featureNames == ["a", "paid_late"], "post_origination is the training tool's business")
    }

    @Test func oneNumericExposureFieldIsAccepted() throws {
        let json = schema(fields: #"[{"name": "Amount", "type": "number", "exposure": true}, {"name": "b", "type": "integer", "exposure": false}]"#)
        #expect(try Schema.decode(Data(json.utf8)).exposureField?.name == "Amount")
    }

    @Test func aSecondExposureFieldIsRefused() {
        let json = schema(fields: #"[{"name": "Amount", "type": "number", "exposure": true}, {"name": "Price", "type": "integer", "exposure": true}]"#)
        #expect(error(json) == #"fields[1] 'Price': 'Amount' is already the exposure field; at most one field may say "exposure": true"#)
    }

    @Test func aNonNumericExposureFieldIsRefused() {
        let json = schema(fields: #"[{"name": "Home", "type": "category", "levels": ["rent"], "exposure": true}]"#)
        #expect(error(json) == "fields[0] 'Home': the exposure field must be a number or an integer; 'Home' is a category")
        let boolean = schema(fields: #"[{"name": "Flag", "type": "boolean", "exposure": true}]"#)
        #expect(error(boolean) == "fields[0] 'Flag': the exposure field must be a number or an integer; 'Flag' is a boolean")
    }
}
