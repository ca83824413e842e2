/// One field of one application in a columnar batch, as ``FeaturePipeline`` reads it. Unlike
/// ``RawValue`` it owns no `String`: text is a slice of the batch's own UTF-8 storage, so
/// reading a cell allocates nothing.
public enum RawCell: Sendable {
    /// Absent.
    case missing
    /// A number that arrived typed (NaN and ±inf are refused by validation).
    case number(Double)
    /// A boolean that arrived typed.
    case bool(Bool)
    /// Text as UTF-8 bytes, as it arrived (not yet trimmed). Must be valid UTF-8.
    case utf8(ArraySlice<UInt8>)
}

/// A batch of applications stored by column, read cell by cell without allocating. The wire
/// protocol's decoded request conforms (in LoanScoreServer).
public protocol ApplicationColumns {
    /// The number of applications.
    var applicationCount: Int { get }
    /// The number of fields (the schema's).
    var fieldCount: Int { get }
    /// Application `application`'s value of schema field `field` (preconditions: both in
    /// range; fields in `schema.fields` order).
    func cell(application: Int, field: Int) -> RawCell
}

extension FieldParser {
    /// Parses a cell of a columnar batch. Typed cells take the ``RawValue`` path (which
    /// allocates only to describe a rejection); text that is an ASCII category level, boolean
    /// label or sentinel is matched on its bytes, and only other text becomes a `String`.
    func parse(_ cell: RawCell) -> Outcome {
        switch cell {
        case .missing: return parse(RawValue.missing)
        case .number(let number): return parse(RawValue.number(number))
        case .bool(let flag): return parse(RawValue.bool(flag))
        case .utf8(let bytes):
            if let outcome = parseASCIILabel(bytes) { return outcome }
            return parse(.text(String(decoding: bytes, as: UTF8.self)))
        }
    }

    /// The outcome the `String` path would give for ASCII text that, trimmed and case-folded,
    /// is a sentinel (of a nullable field), a category level or a boolean label; `nil` for
    /// anything else (the caller takes the `String` path). Allocates nothing.
    private func parseASCIILabel(_ bytes: ArraySlice<UInt8>) -> Outcome? {
        guard field.type == .category || field.type == .boolean else { return nil }
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
        var lower = bytes.startIndex, upper = bytes.endIndex
        while lower < upper, isSpace(bytes[lower]) { lower += 1 }
        while upper > lower, isSpace(bytes[upper - 1]) { upper -= 1 }
        let text = bytes[lower..<upper]
        guard !text.isEmpty, text.allSatisfy({ $0 < 0x80 }) else { return nil }
        // `label` is already trimmed and case-folded; ASCII folding is A-Z → a-z.
        func matches(_ label: [UInt8]) -> Bool {
            label.count == text.count
                && zip(label, text).allSatisfy { $0 == ((0x41...0x5A).contains($1) ? $1 | 0x20 : $1) }
        }
        if labels.sentinels.contains(where: matches) { return field.acceptsMissing ? .missing(flag: nil) : nil }
        switch field.type {
        case .category:
            return labels.levels.lastIndex(where: matches).map { .value(Double($0)) }
        case .boolean:
            if labels.trueLabels.contains(where: matches) { return .value(1) }
            if labels.falseLabels.contains(where: matches) { return .value(0) }
            return nil
        case .number, .integer:
            return nil
        }
    }
}

/// A field's sentinels, levels and boolean labels, trimmed and case-folded, as UTF-8 bytes:
/// what ``FieldParser/parse(_:)-(RawCell)`` compares wire bytes with.
struct FoldedLabels: Sendable {
    var sentinels: [[UInt8]]
    var levels: [[UInt8]]
    var trueLabels: [[UInt8]]
    var falseLabels: [[UInt8]]

    init(_ field: Schema.Field) {
        func fold(_ labels: [String]) -> [[UInt8]] { labels.map { Array(normalizedLabel($0).utf8) } }
        sentinels = fold(field.sentinels ?? [])
        levels = fold(field.levels ?? [])
        trueLabels = fold(field.effectiveTrueLabels)
        falseLabels = fold(field.effectiveFalseLabels)
    }
}
