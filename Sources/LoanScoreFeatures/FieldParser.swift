import Foundation

/// The compiled validation rules of one schema field. A class: parsing reads it once per
/// cell, and copying a struct of this many references cost a retain and release each.
///
/// `parse` turns a ``RawValue`` into the field's numeric value: the number itself, 1/0 for a
/// boolean, the level's index for a category, NaN for missing. It never traps on input.
final class FieldParser: Sendable {
    let field: Schema.Field
    private let sentinelTexts: Set<String>
    private let sentinelNumbers: [Double]
    private let levelIndex: [String: Int]
    private let trueLabels: Set<String>
    private let falseLabels: Set<String>
    private let expectation: String
    /// Sentinels, levels and labels as folded UTF-8 bytes, for ``parse(_:)-(RawCell)``.
    let labels: FoldedLabels

    init(_ field: Schema.Field) {
        self.field = field
        let sentinels = field.sentinels ?? []
        sentinelTexts = Set(sentinels.map(normalizedLabel))
        sentinelNumbers = sentinels.compactMap { strictNumber(normalizedLabel($0)) }
        var index: [String: Int] = [:]
        for (i, level) in (field.levels ?? []).enumerated() { index[normalizedLabel(level)] = i }
        levelIndex = index
        trueLabels = Set(field.effectiveTrueLabels.map(normalizedLabel))
        falseLabels = Set(field.effectiveFalseLabels.map(normalizedLabel))
        expectation = FieldParser.describeExpectation(field)
        labels = FoldedLabels(field)
    }

    enum Outcome: Sendable {
        case value(Double)
        /// Missing (or unseen, treated as missing); the flag explains an unseen level.
        case missing(flag: String?)
        case rejected(Violation)
    }

    func parse(_ raw: RawValue) -> Outcome {
        switch raw {
        case .missing:
            return missing()
        case .text(let text):
            let trimmed = trimmedWhitespace(text)
            if trimmed.isEmpty { return missing(raw) }
            if field.type == .number || field.type == .integer, let number = strictNumber(trimmed) {
                // The common case, without folding: a plain number (a numeric sentinel is missing).
                if sentinelNumbers.contains(number) { return missing(raw) }
                return checkNumber(number, raw: raw)
            }
            let folded = caseFolded(trimmed)
            if sentinelTexts.contains(folded) { return missing(raw) }
            return parseText(folded, raw: raw)
        case .number(let number):
            guard number.isFinite else { return reject(raw, "is not a finite number") }
            if sentinelNumbers.contains(number) { return missing(raw) }
            switch field.type {
            case .number, .integer: return checkNumber(number, raw: raw)
            case .category, .boolean: return parseText(formatNumber(number), raw: raw)
            }
        case .bool(let flag):
            guard field.type == .boolean else { return reject(raw, "is a boolean") }
            return .value(flag ? 1 : 0)
        }
    }

    private func parseText(_ folded: String, raw: RawValue) -> Outcome {
        switch field.type {
        case .number, .integer:
            guard let number = strictNumber(folded) else {
                let lower = folded
                if ["nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"].contains(lower) {
                    return reject(raw, "is not a finite number (write missing values as an empty cell)")
                }
                return reject(raw, "is not a number")
            }
            return checkNumber(number, raw: raw)
        case .category:
            if let index = levelIndex[folded] { return .value(Double(index)) }
            if field.unseen == .reject { return reject(raw, "is not a known level") }
            return .missing(flag: "\(field.name): unseen level \"\(raw.display)\" treated as missing")
        case .boolean:
            if trueLabels.contains(folded) { return .value(1) }
            if falseLabels.contains(folded) { return .value(0) }
            return reject(raw, "is not a known boolean label")
        }
    }

    private func checkNumber(_ number: Double, raw: RawValue) -> Outcome {
        if field.type == .integer, number != number.rounded(.towardZero) {
            return reject(raw, "is not a whole number")
        }
        if let range = field.range {
            if let lo = range.min, number < lo {
                return reject(raw, number < 0 && lo >= 0 ? "is negative" : "is below the minimum")
            }
            if let hi = range.max, number > hi { return reject(raw, "is above the maximum") }
        }
        return .value(number)
    }

    private func missing(_ raw: RawValue = .missing) -> Outcome {
        guard field.acceptsMissing else { return reject(raw, "is missing but the field is required") }
        return .missing(flag: nil)
    }

    private func reject(_ raw: RawValue, _ problem: String) -> Outcome {
        .rejected(Violation(field: field.name, value: raw.display, problem: problem, expected: expectation))
    }

    private static func describeExpectation(_ field: Schema.Field) -> String {
        var text: String
        switch field.type {
        case .number, .integer:
            text = field.type == .integer ? "a whole number" : "a number"
            if let range = field.range {
                let lo = range.min.map(formatNumber) ?? "-∞"
                let hi = range.max.map(formatNumber) ?? "∞"
                text += " in [\(lo), \(hi)]"
            }
            if let unit = field.unit, !unit.isEmpty { text += " \(unit)" }
        case .category:
            text = "one of " + (field.levels ?? []).map { "\"\($0)\"" }.joined(separator: ", ")
        case .boolean:
            text = "one of " + (field.effectiveTrueLabels + field.effectiveFalseLabels).map { "\"\($0)\"" }.joined(separator: ", ")
        }
        if !field.acceptsMissing { text += ", required" }
        return text
    }
}

/// Parses a plain decimal number (`-12`, `3.5`, `.5`, `1e3`); refuses `nan`, `inf`, hex
/// floats, thousands separators and anything else `Double(_:)` would otherwise accept.
/// Scans UTF-8 code units, then lets `Double` convert (correctly rounded).
package func strictNumber<S: StringProtocol>(_ text: S) -> Double? {
    var sawDigit = false, sawDot = false, sawExponent = false, previous: UInt8 = 0x20, offset = 0
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): sawDigit = true
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard offset == 0 || previous == UInt8(ascii: "e") || previous == UInt8(ascii: "E") else { return nil }
        case UInt8(ascii: "."):
            guard !sawDot, !sawExponent else { return nil }
            sawDot = true
        case UInt8(ascii: "e"), UInt8(ascii: "E"):
            guard sawDigit, !sawExponent else { return nil }
            sawExponent = true
        default: return nil
        }
        previous = byte
        offset += 1
    }
    let signs: [UInt8] = [UInt8(ascii: "e"), UInt8(ascii: "E"), UInt8(ascii: "+"), UInt8(ascii: "-")]
    guard sawDigit, !signs.contains(previous) else { return nil }
    guard let value = Double(String(text)), value.isFinite else { return nil }
    return value
}
