import Foundation
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreTestSupport
import Testing

/// `reference.json` (BUNDLE.md): loaded and checked against the schema when the manifest names
/// it; a malformed one is refused, naming the file and what is wrong.
@Suite("Reference bins in the bundle")
struct ReferenceTests {
    /// Loads TinyBundle with `reference` (TinyBundle.referenceJSON by default).
    func load(_ reference: String = TinyBundle.referenceJSON, manifestEdits: (inout [String: Any]) -> Void = { _ in }) throws -> ModelBundle {
        let directory = try TinyBundle.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try TinyBundle.writeWithReference(to: directory, reference: reference, manifestEdits: manifestEdits)
        return try ModelBundle(directory: directory)
    }

    /// The refusal loading gives, or "loaded".
    func refusal(_ reference: String) -> String {
        do {
            _ = try load(reference)
            return "loaded"
        } catch {
            return "\(error)"
        }
    }

    /// TinyBundle.referenceJSON with one text replaced (which must occur).
    func edited(_ old: String, _ new: String) -> String {
        precondition(TinyBundle.referenceJSON.contains(old), "fixture lacks \(old)")
        return TinyBundle.referenceJSON.replacingOccurrences(of: old, with: new)
    }

    @Test func aBundleWithReferenceLoadsItsBins() throws {
        let bundle = try load()
        let reference = try #require(bundle.reference)
        #expect(reference.rows == 10 && reference.pdRows == 4 && reference.approvalRate == 0.25)
        #expect(reference.fields.map(\.name) == bundle.pipeline.slotNames + ["pd"])
        #expect(reference.fields.map(\.source) == [.input, .input, .input, .input, .input, .derived, .pd])
        #expect(reference.fields[0].bins == .number(edges: [500, 1000]))
        #expect(reference.fields[0].referenceShares == [0.3, 0.4, 0.3, 0])
        #expect(reference.fields[2].bins == .category(levels: ["rent", "own"]))
        #expect(reference.fields[3].bins == .boolean)
        #expect(reference.fields[4].bins == .number(edges: []) && reference.fields[4].min == 12)
        #expect(reference.pd.name == "pd" && reference.pd.binCount == 5)
    }

    @Test func aBundleWithoutTheKeyLoadsWithoutReference() throws {
        let directory = try TinyBundle.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try TinyBundle.write(to: directory)
        #expect(try ModelBundle(directory: directory).reference == nil)
        let old = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/old-bundle-german-credit-300")
        #expect(try ModelBundle(directory: old).reference == nil)
    }

    @Test func theFileIsHashedAndListedLikeEveryOther() throws {
        // Named but not listed in files.
        let unlisted = Result { try load(manifestEdits: { manifest in
            var files = manifest["files"] as? [String: String] ?? [:]
            files["reference.json"] = nil
            manifest["files"] = files
        }) }
        #expect(throws: ModelError.self) { try unlisted.get() }
        // Edited after hashing.
        let directory = try TinyBundle.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try TinyBundle.writeWithReference(to: directory)
        try Data((TinyBundle.referenceJSON + " ").utf8).write(to: directory.appendingPathComponent("reference.json"))
        #expect(throws: ModelError.self) { try ModelBundle(directory: directory) }
    }

    @Test("malformed reference files are refused, naming the file and the problem", arguments: [
        ("\"loanscore-reference/1\"", "\"loanscore-reference/2\"", "format is 'loanscore-reference/2'"),
        ("{\"name\": \"income\"", "{\"name\": \"salary\"", "fields[1] is 'salary'; expected 'income'"),
        ("\"source\": \"derived\"", "\"source\": \"input\"", "fields[5] ('amount_to_income'): source is 'input'; expected 'derived'"),
        ("\"type\": \"boolean\"", "\"type\": \"category\"", "fields[3] ('records'): type is 'category'; the schema makes it 'boolean'"),
        ("\"levels\": [\"rent\", \"own\"]", "\"levels\": [\"own\", \"rent\"]", "levels [\"own\", \"rent\"] are not the schema's [\"rent\", \"own\"]"),
        ("\"edges\": [500, 1000]", "\"edges\": [1000, 500]", "edges are not strictly increasing"),
        // Keys of another type's bins were ignored silently.
        ("\"levels\": [\"rent\", \"own\"]", "\"levels\": [\"rent\", \"own\"], \"edges\": [1]",
         "fields[2] ('home'): a category has no 'edges' (edges, min and max are for numbers, levels for categories)"),
        ("\"edges\": [500, 1000]", "\"edges\": [500, 1000], \"levels\": [\"a\"]", "fields[0] ('amount'): a number has no 'levels'"),
        ("\"type\": \"boolean\",", "\"type\": \"boolean\", \"min\": 0, \"max\": 1,", "fields[3] ('records'): a boolean has no 'min'"),
        ("\"edges\": [500, 1000]", "\"edges\": [500, 500]", "edges are not strictly increasing"),
        ("\"edges\": [500, 1000]", "\"edges\": [500, 1e999]", "not strict JSON: line 3, column 75: the number 1e999 is beyond the range of a 64-bit float"),
        ("\"rows\": 10,", "\"rows\": 10.5,", "rows and pd_rows must be whole numbers of rows, not negative (got 10.5, 4.0)"),
        ("\"rows\": 10,", "\"rows\": 1e30,", "rows and pd_rows must be whole numbers of rows"),
        ("\"pd_rows\": 4,", "\"pd_rows\": -4,", "rows and pd_rows must be whole numbers of rows, not negative (got 10.0, -4.0)"),
        ("\"shares\": [0.3, 0.4, 0.3]", "\"shares\": [0.3, 0.4, 0.4]", "fields[0] ('amount'): shares and missing sum to 1.1"),
        ("\"shares\": [0.3, 0.4, 0.3]", "\"shares\": [0.3, 0.8, -0.1]", "fields[0] ('amount'): shares[2] is -0.1, outside [0, 1]"),
        ("\"shares\": [0.3, 0.4, 0.3]", "\"shares\": [0.7, 0.3]", "fields[0] ('amount'): 2 shares for 3 bins"),
        ("\"missing\": 0.0, \"min\": 100, \"max\": 5000", "\"missing\": 0.0, \"min\": 5000, \"max\": 100", "min 5000.0 and max 100.0"),
        ("\"missing\": 0.0, \"min\": 100, \"max\": 5000", "\"missing\": 0.0, \"min\": 600, \"max\": 5000", "leave the training range"),
        ("\"missing\": 0.0, \"min\": 100, \"max\": 5000", "\"missing\": 0.0, \"min\": 100", "min and max must both be numbers"),
        ("\"approval_rate\": 0.25", "\"approval_rate\": 1.5", "approval_rate must be in [0, 1]"),
        ("\"approval_rate\": 0.25", "\"approval_rate\": 0.25, \"approval_rate\": 0.3", "not strict JSON"),
        ("\"rows\": 10,", "", "missing key 'rows'"),
    ])
    func refusals(_ old: String, _ new: String, _ expected: String) {
        let message = refusal(edited(old, new))
        #expect(message.hasPrefix("reference.json: "), "\(message)")
        #expect(message.contains(expected), "\(message)")
    }

    /// BUNDLE.md: the bins are deciles, 0 to 9 edges; 10,000 loaded, and made every `/drift`
    /// answer 10,001 bins longer.
    @Test func moreThanNineEdgesAreRefused() {
        let edges: [String] = (1...10_000).map { String(100 + $0 / 10) + "." + String($0 % 10) }
        let shares: [String] = Array(repeating: "0", count: 10_000) + ["1"]
        let many = "\"edges\": [" + edges.joined(separator: ", ") + "], \"shares\": [" + shares.joined(separator: ", ") + "]"
        let message = refusal(edited("\"edges\": [500, 1000], \"shares\": [0.3, 0.4, 0.3]", many))
        #expect(message == "reference.json: fields[0] ('amount'): 10000 edges; the bins are deciles, at most 9 edges", "\(message)")
        let ten = "\"edges\": [" + (1...10).map { String(100 * $0) }.joined(separator: ", ") + "], \"shares\": [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0]"
        #expect(refusal(edited("\"edges\": [500, 1000], \"shares\": [0.3, 0.4, 0.3]", ten)).contains("10 edges; the bins are deciles"))
    }

    /// Bytes that are not UTF-8 are refused with their offset (they once reached the strict
    /// JSON check as U+FFFD, reported as the replacement's first byte `0xef`, or the decoder's
    /// "not valid JSON" at the top level).
    @Test func bytesThatAreNotUTF8AreRefusedWithTheirOffset() throws {
        let schema = try load().schema
        var bytes = Array(TinyBundle.referenceJSON.utf8)
        let name = try #require(TinyBundle.referenceJSON.utf8.firstRange(of: "income".utf8))
        let offset = TinyBundle.referenceJSON.utf8.distance(from: TinyBundle.referenceJSON.utf8.startIndex, to: name.lowerBound)
        bytes[offset] = 0xFF
        #expect(throws: ModelError(file: "reference.json", "not UTF-8: byte offset \(offset) (0xFF); write the file as UTF-8")) {
            try ReferenceProfile(data: Data(bytes), file: "reference.json", schema: schema)
        }
        let utf16 = try #require(TinyBundle.referenceJSON.data(using: .utf16))  // starts with the BOM FF FE
        #expect(throws: ModelError(file: "reference.json", "not UTF-8: byte offset 0 (0xFF); write the file as UTF-8")) {
            try ReferenceProfile(data: utf16, file: "reference.json", schema: schema)
        }
    }

    /// A schema field named `pd` would give two `pd` entries in `/drift` and one
    /// `loanscore_drift_psi{field="pd"}` series for both: refused.
    @Test func aSchemaFieldNamedPDIsRefused() throws {
        let schema = try Schema.decode(Data(TinyBundle.schemaJSON.replacingOccurrences(of: "\"records\"", with: "\"pd\"").utf8))
        #expect(schema.fields.contains { $0.name == "pd" })
        do {
            _ = try ReferenceProfile(data: Data(TinyBundle.referenceJSON.utf8), file: "reference.json", schema: schema)
            Issue.record("a schema with a field named pd was accepted")
        } catch {
            #expect("\(error)".hasPrefix("reference.json: the schema has a field or derived feature named 'pd'"), "\(error)")
        }
    }

    /// The fixture with its `fields` changed.
    func withFields(_ change: (inout [Any]) -> Void) throws -> String {
        var object = try #require(try JSONSerialization.jsonObject(with: Data(TinyBundle.referenceJSON.utf8)) as? [String: Any])
        var fields = try #require(object["fields"] as? [Any])
        change(&fields)
        object["fields"] = fields
        return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    @Test func fieldsMissingExtraOrOutOfOrderAreRefused() throws {
        #expect(refusal(try withFields { $0.removeLast() }).contains("has 6 fields; expected 7"))
        #expect(refusal(try withFields { $0.append($0[0]) }).contains("has 8 fields; expected 7"))
        #expect(refusal(try withFields { $0.swapAt(0, 1) }).contains("fields[0] is 'income'; expected 'amount'"))
        #expect(refusal(try withFields { $0.swapAt(5, 6) }).contains("fields[5] is 'pd'; expected 'amount_to_income'"))
    }
}
