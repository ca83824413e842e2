import Foundation

/// A length of time in a configuration file: a number of seconds (`90`, `0.25`) or a string
/// with a unit (`"500ms"`, `"90s"`, `"30m"`, `"12h"`, `"7d"`).
public struct ConfigurationDuration: Codable, Sendable, Hashable, CustomStringConvertible {
    /// The length, in seconds.
    public var seconds: Double

    public init(seconds: Double) { self.seconds = seconds }

    /// Parses `500ms`, `90s`, `30m`, `12h`, `7d` or a plain number of seconds.
    ///
    /// - Throws: ``ConfigurationError`` naming `setting` when the text is none of these, or
    ///   negative or not finite.
    public init(_ text: String, setting: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        var value: Double?
        for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
            if let number = Double(trimmed.dropLast(suffix.count)) { value = number * scale }
            break
        }
        if value == nil, let number = Double(trimmed) { value = number }
        guard let value, value.isFinite, value >= 0 else {
            throw ConfigurationError("\(setting) must be a duration such as 90s, 30m, 12h or 7d (or a number of seconds), got '\(text)'")
        }
        seconds = value
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let setting = decoder.codingPath.map(\.stringValue).joined(separator: ".")
        if let number = try? container.decode(Double.self) {
            guard number.isFinite, number >= 0 else {
                throw ConfigurationError("\(setting) must not be negative, got \(number)")
            }
            seconds = number
        } else {
            self = try ConfigurationDuration(try container.decode(String.self), setting: setting)
        }
    }

    /// Encodes the shortest exact text (`"7d"`, `"90s"`), or seconds as a number.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    public var description: String {
        for (suffix, scale) in [("d", 86_400.0), ("h", 3600), ("m", 60), ("s", 1)] where seconds >= scale {
            let count = seconds / scale
            if count == count.rounded() { return "\(Int(count))\(suffix)" }
        }
        let milliseconds = seconds * 1000
        if milliseconds == milliseconds.rounded() { return "\(Int(milliseconds))ms" }
        return "\(seconds)s"
    }

    /// As a Swift `Duration`.
    public var duration: Duration { .milliseconds(Int64((seconds * 1000).rounded())) }
}
