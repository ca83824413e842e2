public import Foundation

/// An input schema (`loanscore-schema/1`): the fields of an application, how each is
/// validated, the derived credit features and the encoding into the model-ready matrix.
///
/// The format is specified in `SCHEMA.md` beside this file. Load one with
/// ``Schema/load(from:)`` or ``Schema/decode(_:)``; both check the schema's own consistency
/// (unique names, known kinds, derived inputs declared before use) and throw
/// ``SchemaError`` naming the offending entry.
public struct Schema: Codable, Sendable, Equatable {
    /// The only format this version of LoanScore reads.
    public static let formatIdentifier = "loanscore-schema/1"

    public var format: String
    public var name: String
    public var description: String?
    /// Column that identifies an application; `nil` means the 1-based data row number is used.
    public var idColumn: String?
    public var target: Target?
    public var fields: [Field]
    public var derived: [DerivedFeature]

    /// The label column used for training; scoring files may carry it and it is ignored.
    public struct Target: Codable, Sendable, Equatable {
        public var column: String
        public var positive: String
        public var negative: String?
    }

    /// The kind of value a field holds.
    public enum FieldType: String, Codable, Sendable {
        case number, integer, category, boolean
    }

    /// What an unseen category level does.
    public enum UnseenPolicy: String, Codable, Sendable {
        /// Treated as missing, and flagged on the result.
        case missing
        /// The application is rejected.
        case reject
    }

    /// An inclusive range; either end may be absent.
    public struct Range: Codable, Sendable, Equatable {
        public var min: Double?
        public var max: Double?
    }

    /// One input field of an application.
    public struct Field: Codable, Sendable, Equatable {
        public var name: String
        public var type: FieldType
        public var unit: String?
        public var description: String?
        public var range: Range?
        public var nullable: Bool?
        public var sentinels: [String]?
        public var levels: [String]?
        public var unseen: UnseenPolicy?
        public var trueLabels: [String]?
        public var falseLabels: [String]?
        public var reason: String?
        /// Whether the field is a column of the model-ready matrix; `nil` means the default
        /// (see ``isFeature``).
        public var feature: Bool?
        /// A protected attribute (race, sex, marital status, age…): not a model feature unless
        /// ``feature`` is explicitly `true`, and optional on input when it is not one.
        public var protected: Bool?
        /// The direction in which the PD must move as this field's value grows (numbers,
        /// integers and booleans); training constrains the tree members to it and
        /// `loanscore bundle verify` checks it on the holdout.
        public var monotone: Monotonicity?
        /// The value is only known after the loan was granted (label leakage); training refuses
        /// it as a feature. LoanScore keeps it for the training tool.
        public var postOrigination: Bool?
        /// The loan's exposure (amount at default) for the cut-off economics; at most one
        /// number or integer field.
        public var exposure: Bool?

        enum CodingKeys: String, CodingKey {
            case name, type, unit, description, range, nullable, sentinels, levels, unseen, reason, feature
            case protected, monotone, exposure
            case trueLabels = "true_labels", falseLabels = "false_labels", postOrigination = "post_origination"
        }

        /// Whether the schema declares a missing value acceptable (default `true`). See
        /// ``acceptsMissing`` for what validation actually does.
        public var isNullable: Bool { nullable ?? true }
        /// Whether the field is a protected attribute (default `false`).
        public var isProtected: Bool { protected ?? false }
        /// Whether the field is a column of the model-ready matrix: the schema's `feature`, or
        /// by default `true` for an ordinary field and `false` for a protected one.
        public var isFeature: Bool { feature ?? !isProtected }
        /// Whether validation accepts a missing value: a nullable field, or a protected field
        /// that is not a feature (kept for the fairness analysis, never needed for scoring).
        public var acceptsMissing: Bool { isNullable || (isProtected && !isFeature) }
        /// The adverse-action text used when this field raises the PD.
        public var reasonText: String { reason ?? "\(name) raised the risk" }
    }

    /// The declared direction of a field's effect on the PD (SCHEMA.md, "Fields").
    public enum Monotonicity: String, Codable, Sendable {
        /// The PD never decreases as the value grows.
        case increasing
        /// The PD never increases as the value grows.
        case decreasing
    }

    /// How a derived feature is computed (see SCHEMA.md, "Derived features").
    public enum DerivedKind: String, Codable, Sendable {
        case ratio, difference, sum
        case countTrue = "count_true"
        case yearsFromDays = "years_from_days"
        case yearsFromMonths = "years_from_months"
    }

    /// A feature computed from fields or earlier derived features.
    public struct DerivedFeature: Codable, Sendable, Equatable {
        public var name: String
        public var kind: DerivedKind
        public var inputs: [String]
        public var unit: String?
        public var description: String?
    }

    enum CodingKeys: String, CodingKey {
        case format, name, description, target, fields, derived
        case idColumn = "id_column"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        format = try c.decode(String.self, forKey: .format)
        name = try c.decode(String.self, forKey: .name)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        idColumn = try c.decodeIfPresent(String.self, forKey: .idColumn)
        target = try c.decodeIfPresent(Target.self, forKey: .target)
        fields = try c.decode([Field].self, forKey: .fields)
        derived = try c.decodeIfPresent([DerivedFeature].self, forKey: .derived) ?? []
    }

    /// Decodes and checks a schema from JSON bytes.
    ///
    /// - Throws: ``SchemaError`` when the JSON is malformed or the schema is inconsistent.
    public static func decode(_ data: Data) throws -> Schema {
        let schema: Schema
        do {
            schema = try JSONDecoder().decode(Schema.self, from: data)
        } catch let error as DecodingError {
            throw SchemaError("not a valid schema: \(describe(error))")
        } catch {
            throw SchemaError("not valid JSON: \(error.localizedDescription)")
        }
        try schema.check()
        return schema
    }

    /// Reads, decodes and checks a schema file.
    ///
    /// - Throws: ``SchemaError`` naming the file when it cannot be read or is invalid.
    public static func load(from url: URL) throws -> Schema {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw SchemaError("\(url.path): cannot read the schema file")
        }
        do {
            return try decode(data)
        } catch let error as SchemaError {
            throw SchemaError("\(url.path): \(error.message)")
        }
    }
}

/// A schema that cannot be used, with what is wrong.
public struct SchemaError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Turns a `DecodingError` into one line naming the JSON path.
package func describe(_ error: DecodingError) -> String {
    func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
    }
    switch error {
    case .keyNotFound(let key, let context):
        return "missing key '\(key.stringValue)' at \(path(context.codingPath).isEmpty ? "top level" : path(context.codingPath))"
    case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
        return "\(context.debugDescription) at \(path(context.codingPath).isEmpty ? "top level" : path(context.codingPath))"
    @unknown default:
        return "\(error)"
    }
}
