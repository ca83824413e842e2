import Foundation
import LoanScoreFeatures
import LoanScoreTestSupport
import Testing

@Suite("Schema and derived features")
struct SchemaTests: SchemaChecking {
    @Test func bundledSchemasLoad() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for name in ["credit_data", "german_credit"] {
            let schema = try Schema.load(from: root.appendingPathComponent("Data/\(name).schema.json"))
            #expect(try FeaturePipeline(schema: schema).featureNames.count > schema.fields.count)
        }
    }

    @Test func refusesAnotherFormat() {
        #expect(error(#"{"format": "other/2", "name": "t", "fields": []}"#) == "format is 'other/2', expected 'loanscore-schema/1'")
    }

    @Test func refusesDuplicateNames() {
        let json = schema(fields: #"[{"name": "a", "type": "number"}, {"name": "a", "type": "integer"}]"#)
        #expect(error(json) == "fields[1] 'a': duplicate name")
    }

    @Test func refusesACategoryWithoutLevels() {
        #expect(error(schema(fields: #"[{"name": "a", "type": "category"}]"#)) == "fields[0] 'a': a category needs a non-empty 'levels' list")
    }

    @Test func refusesAnInvertedRange() {
        let json = schema(fields: #"[{"name": "a", "type": "number", "range": {"min": 5, "max": 1}}]"#)
        #expect(error(json) == "fields[0] 'a': range min 5.0 is above max 1.0")
    }

    @Test func refusesUndeclaredOrCategoricalDerivedInputs() {
        let fields = #"[{"name": "a", "type": "number"}, {"name": "c", "type": "category", "levels": ["x"]}]"#
        #expect(error(schema(fields: fields, derived: #"[{"name": "r", "kind": "ratio", "inputs": ["a", "b"]}]"#))
                == "derived[0] 'r': input 'b' is not a field or an earlier derived feature")
        #expect(error(schema(fields: fields, derived: #"[{"name": "r", "kind": "ratio", "inputs": ["a", "c"]}]"#))
                == "derived[0] 'r': input 'c' is a category; derived features take numbers and booleans")
        #expect(error(schema(fields: fields, derived: #"[{"name": "r", "kind": "ratio", "inputs": ["a"]}]"#))
                == "derived[0] 'r': ratio takes 2 input(s), found 1")
    }

    @Test func reportsAMissingKeyWithItsPath() {
        #expect(error(#"{"format": "loanscore-schema/1", "name": "t", "fields": [{"name": "a"}]}"#)
                == "not a valid schema: missing key 'type' at .fields[0]")
    }

    @Test func derivedKindsFollowTheSpecification() throws {
        let json = schema(
            fields: #"[{"name": "a", "type": "number"}, {"name": "b", "type": "number"}, {"name": "t", "type": "boolean"}, {"name": "u", "type": "boolean"}]"#,
            derived: #"""
            [{"name": "ratio", "kind": "ratio", "inputs": ["a", "b"]},
             {"name": "diff", "kind": "difference", "inputs": ["a", "b"]},
             {"name": "sum", "kind": "sum", "inputs": ["a", "b", "ratio"]},
             {"name": "flags", "kind": "count_true", "inputs": ["t", "u"]},
             {"name": "years", "kind": "years_from_days", "inputs": ["a"]},
             {"name": "months", "kind": "years_from_months", "inputs": ["b"]}]
            """#)
        let pipeline = try FeaturePipeline(schema: Schema.decode(Data(json.utf8)))
        let row = pipeline.encode([.number(730.5), .number(6), .bool(true), .missing]).row
        #expect(Array(row[4...]) == [730.5 / 6, 724.5, 730.5 + 6 + 730.5 / 6, 1, 2, 0.5])
        let zero = pipeline.encode([.number(1), .number(0), .missing, .missing]).row
        #expect(zero[4].isNaN, "zero denominator gives missing, never infinity")
        #expect(zero[6].isNaN, "a sum with a missing input is missing")
        #expect(zero[7].isNaN, "count_true of only missing inputs is missing")
        let huge = pipeline.encode([.number(1e308), .number(-1e308), .missing, .missing]).row
        #expect(huge[5].isNaN, "an overflowing difference is missing, never infinity")
    }

    @Test func derivedFeaturesAreAttributedToTheirInputFields() throws {
        let schema = try Schema.decode(Data(Self.creditLike.utf8))
        let pipeline = try FeaturePipeline(schema: schema)
        // instalment_to_income = (amount / time) / income: amount 1/4, time 1/4, income 1/2.
        let shares = pipeline.attribution.last ?? []
        #expect(shares.map(\.field) == [0, 1, 2])
        #expect(shares.map(\.share) == [0.25, 0.25, 0.5])
    }

    static let creditLike = #"""
    {"format": "loanscore-schema/1", "name": "t",
     "fields": [{"name": "amount", "type": "number"}, {"name": "time", "type": "integer"}, {"name": "income", "type": "number"}],
     "derived": [{"name": "instalment", "kind": "ratio", "inputs": ["amount", "time"]},
                 {"name": "instalment_to_income", "kind": "ratio", "inputs": ["instalment", "income"]}]}
    """#

    @Test func oneHotColumnsFollowLevelOrder() throws {
        let schema = try Schema.decode(Data(TinyBundle.schemaJSON.utf8))
        #expect(schema.featureNames == TinyBundle.features)
    }
}
