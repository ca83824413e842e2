public import Foundation
public import LoanScoreFeatures

/// A bundle's reference distributions (`reference.json`, BUNDLE.md): the training data's
/// bins of every input field, every derived feature and the PD, against which live traffic
/// is compared for drift (PSI/CSI) and single applications are checked for anomalies.
///
/// Loaded and checked against the bundle's schema by ``ModelBundle``; a profile that exists
/// is consistent: ``fields`` holds every schema field in schema order, then every derived
/// feature in declaration order (the pipeline's slots, ``FeaturePipeline/slotNames``), then
/// the PD, named `pd`, last.
public struct ReferenceProfile: Sendable, Equatable {
    /// The only `format` this LoanScore reads.
    public static let format = "loanscore-reference/1"
    /// How far `shares` + `missing` may stray from 1.
    public static let shareTolerance = 1e-9
    /// The most edges a number's bins have: deciles give 0 to 9 (BUNDLE.md). More would only
    /// come from a damaged or hand-made file, and would grow every `/drift` answer with them.
    public static let maximumEdges = 9

    /// Training rows the input and derived bins were counted on.
    public let rows: Int
    /// Rows the PD bins were counted on (the holdout's out-of-sample PDs).
    public let pdRows: Int
    /// Share of the holdout PDs below `policy.approve_below`, in [0, 1].
    public let approvalRate: Double
    /// The fields' bins: one per pipeline slot (``FeaturePipeline/slotCount``), then the PD.
    public let fields: [ReferenceField]

    /// The PD's bins (the last of ``fields``).
    public var pd: ReferenceField { fields[fields.count - 1] }

    /// Decodes and checks `reference.json` against the schema it was written for.
    ///
    /// - Parameters:
    ///   - data: the file's bytes.
    ///   - file: its path in the bundle, named in errors.
    ///   - schema: the bundle's schema: field order, types and levels must match it.
    /// - Throws: ``ModelError`` naming `file` and what is wrong: not UTF-8 (with the byte
    ///   offset), not strict JSON, another `format`, a count that is not a whole number, a
    ///   schema field or derived feature named `pd` (the PD's name in the profile, `/drift` and
    ///   the metrics), fields missing, extra or out of order, a type or source that does not match
    ///   the schema, a key of another type's bins (`levels` on a number, `edges` on a
    ///   category), levels that are not the schema's, edges not finite, not strictly
    ///   increasing or more than ``maximumEdges``, a share count that does not match the bins, a share outside [0, 1],
    ///   shares and missing not summing to 1, `min`/`max` absent, inverted or not enclosing
    ///   the edges.
    /// - Complexity: O(bytes + bins).
    public init(data: Data, file: String, schema: Schema) throws {
        guard let text = String(validating: data, as: UTF8.self) else {
            throw ModelError(file: file, "not UTF-8: \(invalidUTF8(data)); write the file as UTF-8")
        }
        do {
            try StrictJSON.validate(text)
        } catch {
            throw ModelError(file: file, "not strict JSON: \(error)")
        }
        let raw: RawReference
        do {
            raw = try JSONDecoder().decode(RawReference.self, from: data)
        } catch let error as DecodingError {
            throw ModelError(file: file, "not a valid reference: \(describe(error))")
        } catch {
            throw ModelError(file: file, "not valid JSON")
        }
        guard raw.format == Self.format else {
            throw ModelError(file: file, "format is '\(raw.format)'; this LoanScore reads '\(Self.format)'")
        }
        guard let rows = Int(exactly: raw.rows), let pdRows = Int(exactly: raw.pdRows), rows >= 0, pdRows >= 0 else {
            throw ModelError(file: file, "rows and pd_rows must be whole numbers of rows, not negative (got \(raw.rows), \(raw.pdRows))")
        }
        guard raw.approvalRate.isFinite, (0...1).contains(raw.approvalRate) else {
            throw ModelError(file: file, "approval_rate must be in [0, 1], got \(raw.approvalRate)")
        }
        if let clash = (schema.fields.map(\.name) + schema.derived.map(\.name)).first(where: { $0 == "pd" }) {
            throw ModelError(file: file, "the schema has a field or derived feature named '\(clash)', the name the PD's bins have here, "
                + "in /drift and in loanscore_drift_psi{field=\"pd\"}; rename it in the schema and retrain")
        }
        // The expected entries: every schema field, every derived feature, then the PD.
        var expected: [(name: String, source: ReferenceField.Source, type: Schema.FieldType, levels: [String]?)] =
            schema.fields.map { ($0.name, .input, $0.type, $0.levels) }
        expected += schema.derived.map { ($0.name, .derived, .number, nil) }
        expected.append(("pd", .pd, .number, nil))
        guard raw.fields.count == expected.count else {
            throw ModelError(file: file, "has \(raw.fields.count) fields; expected \(expected.count): the schema's \(schema.fields.count) fields, "
                + "its \(schema.derived.count) derived features, then 'pd' (\(expected.map(\.name).joined(separator: ", ")))")
        }
        var fields: [ReferenceField] = []
        for (index, (entry, want)) in zip(raw.fields, expected).enumerated() {
            let place = "fields[\(index)] ('\(entry.name)')"
            guard entry.name == want.name else {
                throw ModelError(file: file, "fields[\(index)] is '\(entry.name)'; expected '\(want.name)' (schema fields in schema order, "
                    + "then derived features in declaration order, then 'pd')")
            }
            guard entry.source == want.source.rawValue else {
                throw ModelError(file: file, "\(place): source is '\(entry.source)'; expected '\(want.source.rawValue)'")
            }
            fields.append(try ReferenceField(entry, place: place, file: file, type: want.type, levels: want.levels, source: want.source))
        }
        self.rows = rows
        self.pdRows = pdRows
        approvalRate = raw.approvalRate
        self.fields = fields
    }
}

/// The reference bins of one field, derived feature or the PD.
///
/// Bins, in order: the value bins (numbers: `edges.count + 1` intervals `(-inf, e1]`,
/// `(e1, e2]`, …, `(e_n, +inf)`; categories: one per level in schema order; booleans: false,
/// true), then the missing bin. ``referenceShares`` lists the training share of each.
public struct ReferenceField: Sendable, Equatable {
    /// Where the binned value comes from.
    public enum Source: String, Sendable {
        /// A schema field (its slot value).
        case input
        /// A derived feature (its slot value).
        case derived
        /// The calibrated PD.
        case pd
    }

    /// How values map to bins.
    public enum Bins: Sendable, Equatable {
        /// A number: bin = the count of edges strictly less than the value (finite, strictly
        /// increasing edges; `numpy.searchsorted(edges, x, side="left")`).
        case number(edges: [Double])
        /// A category: bin = the level index (the slot value).
        case category(levels: [String])
        /// A boolean: bin 0 = false, 1 = true.
        case boolean
    }

    /// The field's name (`pd` for the PD).
    public let name: String
    public let source: Source
    public let bins: Bins
    /// Training share of each value bin (the missing bin excluded).
    public let shares: [Double]
    /// Training share of the missing bin.
    public let missing: Double
    /// Training minimum and maximum of the non-missing values (numbers only; `nil` for other
    /// types, or when every training value was missing).
    public let min: Double?
    public let max: Double?

    /// Bins including the missing bin (the last).
    public var binCount: Int { shares.count + 1 }
    /// Index of the missing bin.
    public var missingBin: Int { shares.count }
    /// Training share of every bin, the missing bin last (`binCount` values summing to 1).
    public var referenceShares: [Double] { shares + [missing] }

    init(_ raw: RawReference.Field, place: String, file: String, type: Schema.FieldType, levels: [String]?, source: Source) throws {
        let wantType = switch type {
        case .number, .integer: "number"
        case .category: "category"
        case .boolean: "boolean"
        }
        guard raw.type == wantType else {
            throw ModelError(file: file, "\(place): type is '\(raw.type)'; the schema makes it '\(wantType)'")
        }
        // A key of another type's bins would be ignored silently (edges on a category bin nothing).
        let strays = [("edges", raw.edges != nil && wantType != "number"), ("min", raw.min != nil && wantType != "number"),
                      ("max", raw.max != nil && wantType != "number"), ("levels", raw.levels != nil && wantType != "category")]
        if let (key, _) = strays.first(where: { $0.1 }) {
            throw ModelError(file: file, "\(place): a \(wantType) has no '\(key)' (edges, min and max are for numbers, levels for categories)")
        }
        let binsCount: Int
        switch type {
        case .number, .integer:
            guard let edges = raw.edges else { throw ModelError(file: file, "\(place): a number needs 'edges'") }
            guard edges.count <= ReferenceProfile.maximumEdges else {
                throw ModelError(file: file, "\(place): \(edges.count) edges; the bins are deciles, at most \(ReferenceProfile.maximumEdges) edges")
            }
            if let bad = edges.firstIndex(where: { !$0.isFinite }) {
                throw ModelError(file: file, "\(place): edges[\(bad)] is not finite")
            }
            if let bad = edges.indices.dropFirst().first(where: { edges[$0] <= edges[$0 - 1] }) {
                throw ModelError(file: file, "\(place): edges are not strictly increasing (edges[\(bad - 1)] = \(edges[bad - 1]), edges[\(bad)] = \(edges[bad]))")
            }
            switch (raw.min, raw.max) {
            case (nil, nil):
                guard edges.isEmpty, raw.shares == [0] else {
                    throw ModelError(file: file, "\(place): min and max are null (no value seen), so edges must be [] and shares [0.0]")
                }
            case (let low?, let high?):
                guard low.isFinite, high.isFinite, low <= high else {
                    throw ModelError(file: file, "\(place): min \(low) and max \(high) must be finite with min <= max")
                }
                if let first = edges.first, let last = edges.last, first < low || last > high {
                    throw ModelError(file: file, "\(place): edges [\(first) … \(last)] leave the training range [\(low), \(high)]")
                }
            default:
                throw ModelError(file: file, "\(place): min and max must both be numbers (or both null when no value was seen)")
            }
            bins = .number(edges: edges)
            binsCount = edges.count + 1
            min = raw.min
            max = raw.max
        case .category:
            let want = levels ?? []
            guard raw.levels == want else {
                throw ModelError(file: file, "\(place): levels \(raw.levels.map { "\($0)" } ?? "(none)") are not the schema's \(want), in schema order")
            }
            bins = .category(levels: want)
            binsCount = want.count
            min = nil
            max = nil
        case .boolean:
            bins = .boolean
            binsCount = 2
            min = nil
            max = nil
        }
        guard raw.shares.count == binsCount else {
            throw ModelError(file: file, "\(place): \(raw.shares.count) shares for \(binsCount) bins")
        }
        for (i, share) in (raw.shares + [raw.missing]).enumerated() where !(share.isFinite && share >= 0 && share <= 1) {
            throw ModelError(file: file, "\(place): \(i < binsCount ? "shares[\(i)]" : "missing") is \(share), outside [0, 1]")
        }
        let total = raw.shares.reduce(0, +) + raw.missing
        guard abs(total - 1) <= ReferenceProfile.shareTolerance else {
            throw ModelError(file: file, "\(place): shares and missing sum to \(total), not 1")
        }
        name = raw.name
        self.source = source
        shares = raw.shares
        missing = raw.missing
    }
}

/// Where the first invalid UTF-8 sequence of `data` starts: `byte offset N (0xFF)`.
func invalidUTF8(_ data: Data) -> String {
    guard let offset = StrictJSON.firstInvalidUTF8(in: data) else { return "an invalid sequence" }
    return "byte offset \(offset) (0x" + String(data[data.startIndex + offset], radix: 16, uppercase: true) + ")"
}

/// `reference.json` as written, before its checks.
struct RawReference: Decodable {
    var format: String
    /// Counts, decoded as numbers so that `800.5` or `1e30` is refused by name rather than as
    /// "not valid JSON" (``ReferenceProfile/init(data:file:schema:)`` checks they are whole).
    var rows: Double
    var pdRows: Double
    var approvalRate: Double
    var fields: [Field]

    enum CodingKeys: String, CodingKey {
        case format, rows, fields
        case pdRows = "pd_rows", approvalRate = "approval_rate"
    }

    struct Field: Decodable {
        var name: String
        var source: String
        var type: String
        var edges: [Double]?
        var levels: [String]?
        var shares: [Double]
        var missing: Double
        var min: Double?
        var max: Double?
    }
}
