import Foundation

extension Schema {
    /// Checks the schema's own consistency.
    ///
    /// - Throws: ``SchemaError`` naming the first entry that is wrong: an unknown format,
    ///   a duplicate name, a category without levels, an empty or inverted range, a derived
    ///   feature whose inputs are undeclared, of the wrong type or in the wrong number, a
    ///   derived feature that uses a protected field, `monotone` on a category, a second
    ///   `exposure` field or one that is not numeric.
    public func check() throws {
        guard format == Schema.formatIdentifier else {
            throw SchemaError("format is '\(format)', expected '\(Schema.formatIdentifier)'")
        }
        guard !fields.isEmpty else { throw SchemaError("the schema declares no fields") }
        var types: [String: FieldType?] = [:]  // nil inner value: a derived (numeric) feature
        var protectedNames: Set<String> = []  // protected fields not explicitly "feature": true
        var exposureName: String?
        for (index, field) in fields.enumerated() {
            let at = "fields[\(index)] '\(field.name)'"
            guard !field.name.isEmpty else { throw SchemaError("fields[\(index)]: empty name") }
            guard types[field.name] == nil else { throw SchemaError("\(at): duplicate name") }
            types[field.name] = .some(field.type)
            if field.isProtected && field.feature != true { protectedNames.insert(field.name) }
            if let direction = field.monotone, field.type == .category {
                throw SchemaError("\(at): monotone applies to numeric and boolean fields; '\(field.name)' is a category (remove \"monotone\": \"\(direction.rawValue)\")")
            }
            if field.exposure == true {
                guard field.type == .number || field.type == .integer else {
                    throw SchemaError("\(at): the exposure field must be a number or an integer; '\(field.name)' is a \(field.type.rawValue)")
                }
                if let first = exposureName {
                    throw SchemaError("\(at): '\(first)' is already the exposure field; at most one field may say \"exposure\": true")
                }
                exposureName = field.name
            }
            if let range = field.range {
                guard field.type == .number || field.type == .integer else {
                    throw SchemaError("\(at): a range applies to number and integer fields only")
                }
                if let lo = range.min, let hi = range.max, !(lo <= hi) {
                    throw SchemaError("\(at): range min \(lo) is above max \(hi)")
                }
                if let lo = range.min, !lo.isFinite { throw SchemaError("\(at): range min is not finite") }
                if let hi = range.max, !hi.isFinite { throw SchemaError("\(at): range max is not finite") }
            }
            switch field.type {
            case .category:
                guard let levels = field.levels, !levels.isEmpty else {
                    throw SchemaError("\(at): a category needs a non-empty 'levels' list")
                }
                let folded = levels.map(normalizedLabel)
                guard Set(folded).count == folded.count else {
                    throw SchemaError("\(at): levels repeat once trimmed and case-folded")
                }
                guard !folded.contains("") else { throw SchemaError("\(at): a level is empty") }
            case .boolean:
                let yes = Set(field.effectiveTrueLabels.map(normalizedLabel))
                let no = Set(field.effectiveFalseLabels.map(normalizedLabel))
                guard yes.isDisjoint(with: no) else {
                    throw SchemaError("\(at): a label is both true and false")
                }
            case .number, .integer:
                if field.levels != nil { throw SchemaError("\(at): levels apply to category fields only") }
            }
        }
        for (index, feature) in derived.enumerated() {
            let at = "derived[\(index)] '\(feature.name)'"
            guard !feature.name.isEmpty else { throw SchemaError("derived[\(index)]: empty name") }
            guard types[feature.name] == nil else { throw SchemaError("\(at): duplicate name") }
            let expected: ClosedRange<Int>
            switch feature.kind {
            case .ratio, .difference: expected = 2...2
            case .sum, .countTrue: expected = 1...64
            case .yearsFromDays, .yearsFromMonths: expected = 1...1
            }
            guard expected.contains(feature.inputs.count) else {
                throw SchemaError("\(at): \(feature.kind.rawValue) takes \(expected.lowerBound == expected.upperBound ? "\(expected.lowerBound)" : "at least \(expected.lowerBound)") input(s), found \(feature.inputs.count)")
            }
            for input in feature.inputs {
                guard let type = types[input] else {
                    throw SchemaError("\(at): input '\(input)' is not a field or an earlier derived feature")
                }
                if protectedNames.contains(input) {
                    throw SchemaError("\(at): input '\(input)' is a protected field; a derived feature may not use it "
                        + "(train with --allow-protected \(input), which marks it \"feature\": true, to allow it)")
                }
                if feature.kind == .countTrue {
                    guard type == .boolean else { throw SchemaError("\(at): count_true input '\(input)' is not a boolean field") }
                } else if type == .category {
                    throw SchemaError("\(at): input '\(input)' is a category; derived features take numbers and booleans")
                }
            }
            types[feature.name] = .some(nil)
        }
        if let id = idColumn, types[id] != nil {
            throw SchemaError("id_column '\(id)' is also a field")
        }
        if let target, types[target.column] != nil {
            throw SchemaError("target column '\(target.column)' is also a field")
        }
        let names = featureNames
        guard Set(names).count == names.count else {
            throw SchemaError("two feature columns have the same name; rename a level or a derived feature")
        }
    }

    /// The field marked `"exposure": true`, if any (checked: at most one, numeric).
    public var exposureField: Field? { fields.first { $0.exposure == true } }

    /// The model-ready column names, in matrix order (SCHEMA.md, "Encoding").
    public var featureNames: [String] {
        var names: [String] = []
        for field in fields where field.isFeature {
            if field.type == .category {
                names += (field.levels ?? []).map { "\(field.name)=\($0)" }
            } else {
                names.append(field.name)
            }
        }
        return names + derived.map(\.name)
    }
}

extension Schema.Field {
    /// The labels read as true (the schema's, or `yes`, `true`, `1`).
    public var effectiveTrueLabels: [String] { trueLabels ?? ["yes", "true", "1"] }
    /// The labels read as false (the schema's, or `no`, `false`, `0`).
    public var effectiveFalseLabels: [String] { falseLabels ?? ["no", "false", "0"] }
}

/// A label as it is compared: trimmed of white space and case-folded.
package func normalizedLabel<S: StringProtocol>(_ text: S) -> String {
    caseFolded(trimmedWhitespace(text))
}

/// The text without leading and trailing ASCII white space (space, tab, CR, LF, VT, FF).
/// Works on UTF-8 code units: no Foundation, no allocation.
package func trimmedWhitespace<S: StringProtocol>(_ text: S) -> Substring {
    let text = Substring(text)
    let utf8 = text.utf8
    func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
    guard let first = utf8.firstIndex(where: { !isSpace($0) }) else { return text[text.endIndex...] }
    let last = utf8.lastIndex(where: { !isSpace($0) }) ?? first
    return text[first...last]
}

/// Lower-cased, with a fast path for text that is already lower-case ASCII.
package func caseFolded<S: StringProtocol>(_ text: S) -> String {
    if text.utf8.allSatisfy({ $0 < 0x80 && !(0x41...0x5A).contains($0) }) { return String(text) }
    return text.lowercased()
}
