/// One field of an application as it arrived, before validation.
///
/// CSV cells arrive as ``text(_:)``; JSON applications (``predict``, the network protocol)
/// may carry typed numbers and booleans. Validation turns any of them into the field's value.
public enum RawValue: Sendable, Equatable {
    /// Absent, or JSON `null`.
    case missing
    /// Text as it appeared in the source (not yet trimmed).
    case text(String)
    /// A number that arrived typed (JSON).
    case number(Double)
    /// A boolean that arrived typed (JSON).
    case bool(Bool)

    /// The value as a person would read it in a message.
    public var display: String {
        switch self {
        case .missing: return "(missing)"
        case .text(let text): return text
        case .number(let number): return formatNumber(number)
        case .bool(let flag): return flag ? "true" : "false"
        }
    }
}

/// Why one field of an application was rejected.
public struct Violation: Sendable, Equatable, CustomStringConvertible {
    /// The schema field.
    public var field: String
    /// The value as received.
    public var value: String
    /// What was wrong.
    public var problem: String
    /// What the schema expects.
    public var expected: String

    public init(field: String, value: String, problem: String, expected: String) {
        self.field = field
        self.value = value
        self.problem = problem
        self.expected = expected
    }

    public var description: String {
        "field '\(field)': \(problem) (value \"\(value)\"; expected \(expected))"
    }
}

/// A number in its shortest round-trip form, whole numbers without a fraction.
package func formatNumber(_ value: Double) -> String {
    if let whole = wholeNumber(value) { return String(whole) }
    return "\(value)"
}

/// The integer ``formatNumber(_:)`` writes `value` as (without a fraction), or `nil` when it
/// writes the shortest round-trip form instead: finite whole numbers below 10^15 in magnitude.
package func wholeNumber(_ value: Double) -> Int64? {
    value.isFinite && value == value.rounded() && abs(value) < 1e15 ? Int64(value) : nil
}
