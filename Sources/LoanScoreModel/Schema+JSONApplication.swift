public import LoanScoreFeatures

/// Why a key of an application's JSON object cannot be scored (``Schema/applicationValues(_:)``).
public struct ApplicationObjectProblem: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The key names no field of the schema (nor its id or target column).
        case unknownField
        /// The field's value is a JSON array or object.
        case notAValue
    }

    public var kind: Kind
    /// The key or field name.
    public var field: String
    /// What is wrong, in the CLI's words.
    public var message: String
}

extension Schema {
    /// One application given as a JSON object keyed by the schema's field names (the id and
    /// target columns may be present and are left out), laid out in field order: what
    /// `loanscore predict --application` and the console's `POST /score` take.
    ///
    /// A missing key or `null` is a missing value; strings, numbers and booleans are kept as
    /// given, for ``FeaturePipeline`` to check against the field's type, range and levels.
    ///
    /// - Parameter object: the decoded object (duplicate keys refused before, by ``StrictJSON``).
    /// - Returns: the values in field order, and one problem per unknown key (sorted) and per
    ///   field holding an array or object (in field order); the values are only to be scored
    ///   when there is no problem. O(fields + keys).
    public func applicationValues(_ object: [String: JSONValue]) -> (values: [RawValue], problems: [ApplicationObjectProblem]) {
        let known = Set(fields.map(\.name) + [idColumn, target?.column].compactMap { $0 })
        var problems = object.keys.filter { !known.contains($0) }.sorted().map {
            ApplicationObjectProblem(kind: .unknownField, field: $0, message: "unknown field '\($0)'")
        }
        let values: [RawValue] = fields.map { field in
            switch object[field.name] ?? .null {
            case .null: return .missing
            case .string(let string): return .text(string)
            case .number(let number): return .number(number)
            case .bool(let flag): return .bool(flag)
            case .array, .object:
                problems.append(ApplicationObjectProblem(
                    kind: .notAValue, field: field.name,
                    message: "field '\(field.name)': a JSON array or object is not a value (expected a number, string, boolean or null)"))
                return .missing
            }
        }
        return (values, problems)
    }
}
