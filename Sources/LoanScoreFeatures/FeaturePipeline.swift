/// The compiled feature pipeline of a schema: validation, derived features and encoding,
/// from an application's raw values to its row of the model-ready matrix.
///
/// This is the one implementation of every feature: `loanscore features` (and so training),
/// offline scoring and the server all call ``encode(_:into:)``.
///
/// Values flow through *slots*: slot `i < fields.count` holds field `i`'s parsed value (NaN
/// when missing, the level index for a category, 1/0 for a boolean); the derived features
/// follow in declaration order. Encoding then copies slots, or expands category slots into
/// one-hot columns.
public struct FeaturePipeline: Sendable {
    /// The schema this pipeline was compiled from.
    public let schema: Schema
    /// Model-ready column names, in order (`featureNames.count` columns per row).
    public let featureNames: [String]
    private let parsers: [FieldParser]
    private let derivedPlan: [(kind: Schema.DerivedKind, inputs: [Int])]
    private let encodingPlan: [Encoding]
    /// For each feature column, the input fields it is attributed to, with their shares
    /// (summing to 1): used to sum per-column contributions back to fields for reason codes.
    public let attribution: [[(field: Int, share: Double)]]

    private enum Encoding: Sendable {
        case copy(slot: Int)
        case oneHot(slot: Int, levels: Int)
    }

    /// Compiles a checked schema.
    ///
    /// - Throws: ``SchemaError`` when the schema does not pass ``Schema/check()``.
    public init(schema: Schema) throws {
        try schema.check()
        self.schema = schema
        featureNames = schema.featureNames
        parsers = schema.fields.map(FieldParser.init)
        var slotOf: [String: Int] = [:]
        for (i, field) in schema.fields.enumerated() { slotOf[field.name] = i }
        var plan: [(Schema.DerivedKind, [Int])] = []
        // Attribution of each slot to fields: fields are themselves; derived features split
        // their attribution equally between their inputs (following chains).
        var slotAttribution: [[Int: Double]] = schema.fields.indices.map { [$0: 1.0] }
        for (j, feature) in schema.derived.enumerated() {
            let inputs = feature.inputs.compactMap { slotOf[$0] }  // checked: all present
            plan.append((feature.kind, inputs))
            var shares: [Int: Double] = [:]
            for input in inputs {
                for (field, share) in slotAttribution[input] {
                    shares[field, default: 0] += share / Double(inputs.count)
                }
            }
            slotAttribution.append(shares)
            slotOf[feature.name] = schema.fields.count + j
        }
        derivedPlan = plan
        var encoding: [Encoding] = []
        var attribution: [[(Int, Double)]] = []
        for (i, field) in schema.fields.enumerated() where field.isFeature {
            if field.type == .category {
                let count = field.levels?.count ?? 0
                encoding.append(.oneHot(slot: i, levels: count))
                attribution += Array(repeating: [(i, 1.0)], count: count)
            } else {
                encoding.append(.copy(slot: i))
                attribution.append([(i, 1.0)])
            }
        }
        for j in schema.derived.indices {
            let slot = schema.fields.count + j
            encoding.append(.copy(slot: slot))
            attribution.append(slotAttribution[slot].sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        }
        encodingPlan = encoding
        self.attribution = attribution
    }

    /// The result of encoding one application.
    public enum Outcome: Sendable {
        /// Written into the row; `flags` lists values treated as missing (unseen levels).
        case accepted(flags: [String])
        /// Every violated field, in schema order; the row's contents are unspecified.
        case rejected([Violation])
    }

    /// Slots per application: one per schema field (every field, in schema order, features
    /// or not), then one per derived feature in declaration order.
    public var slotCount: Int { parsers.count + derivedPlan.count }

    /// Slot names, `slotCount` of them: the schema's field names, then the derived features'.
    public var slotNames: [String] { schema.fields.map(\.name) + schema.derived.map(\.name) }

    /// Validates one application and writes its model-ready row.
    ///
    /// - Parameters:
    ///   - values: one raw value per schema field, in `schema.fields` order.
    ///   - row: the destination, exactly `featureNames.count` elements.
    ///   - slots: when given, exactly ``slotCount`` elements: receives the application's slot
    ///     values (field `i`'s parsed value — the number, 1/0 for a boolean, the level index
    ///     for a category, NaN when missing, a sentinel or an unseen level — then the derived
    ///     features), the very values the row was encoded from. Unspecified when rejected.
    /// - Returns: whether the application was accepted, with its flags or violations.
    /// - Complexity: O(fields + derived + columns); allocates only for flags and violations.
    public func encode(
        _ values: [RawValue], into row: UnsafeMutableBufferPointer<Double>, slots: UnsafeMutableBufferPointer<Double>? = nil
    ) -> Outcome {
        precondition(values.count == parsers.count, "one raw value per schema field")
        // The closure captures the parsers alone: capturing `self` copied the whole pipeline
        // (a retain and a release of each of its arrays) for every application.
        let parsers = self.parsers
        return encode(into: row, slots: slots) { parsers[$0].parse(values[$0]) }
    }

    /// Validates and encodes every application of a columnar batch (the server's path).
    ///
    /// Accepted applications fill consecutive rows of `matrix`, in application order, ready
    /// for ``EnsembleScorer``; `outcomes[i]` is application `i`'s outcome. Both arrays are
    /// replaced, keeping their capacity, so a caller that reuses them allocates nothing once
    /// they have grown to the batch's size.
    ///
    /// - Parameters:
    ///   - batch: the applications, one cell per schema field (precondition:
    ///     `batch.fieldCount == schema.fields.count`).
    ///   - matrix: on return, `batch.applicationCount × featureNames.count` values, row-major;
    ///     rows past the returned count are unspecified.
    ///   - outcomes: on return, one outcome per application.
    /// - Returns: the number of accepted applications (rows of `matrix` to score).
    /// - Complexity: O(applications × (fields + derived + columns)). Allocates only for flags,
    ///   violations and text cells that are not an ASCII level, label or sentinel (see
    ///   ``RawCell``).
    public func encode(_ batch: some ApplicationColumns, into matrix: inout [Double], outcomes: inout [Outcome]) -> Int {
        encode(batch, into: &matrix, slots: nil, outcomes: &outcomes)
    }

    /// Validates and encodes every application of a columnar batch, keeping each accepted
    /// application's slot values too (the server's path when drift is tracked).
    ///
    /// Same as ``encode(_:into:outcomes:)``; in addition, row `r` of `slots` (``slotCount``
    /// values, row-major) holds the slots of the application encoded into row `r` of `matrix`
    /// — the values the row was encoded from, not a second parse. `slots` is replaced keeping
    /// its capacity, so a reused array allocates nothing once grown.
    ///
    /// - Parameters:
    ///   - slots: on return, `batch.applicationCount × slotCount` values, row-major; rows past
    ///     the returned count are unspecified.
    /// - Returns: the number of accepted applications (rows of `matrix` and `slots`).
    /// - Complexity: O(applications × (fields + derived + columns)).
    public func encode(_ batch: some ApplicationColumns, into matrix: inout [Double], slots: inout [Double], outcomes: inout [Outcome]) -> Int {
        slots.removeAll(keepingCapacity: true)
        slots.append(contentsOf: repeatElement(.nan, count: batch.applicationCount * slotCount))
        return slots.withUnsafeMutableBufferPointer { encode(batch, into: &matrix, slots: $0, outcomes: &outcomes) }
    }

    /// The batch loop behind both batch entry points; `slots`, when given, holds
    /// `applicationCount × slotCount` values.
    private func encode(
        _ batch: some ApplicationColumns, into matrix: inout [Double], slots: UnsafeMutableBufferPointer<Double>?, outcomes: inout [Outcome]
    ) -> Int {
        precondition(batch.fieldCount == parsers.count, "one column per schema field")
        let width = featureNames.count, count = batch.applicationCount, slotWidth = slotCount
        matrix.removeAll(keepingCapacity: true)
        matrix.append(contentsOf: repeatElement(.nan, count: count * width))
        outcomes.removeAll(keepingCapacity: true)
        var accepted = 0
        let parsers = self.parsers  // captured alone, not a copy of `self` per application
        matrix.withUnsafeMutableBufferPointer { matrix in
            for application in 0..<count {
                let row = UnsafeMutableBufferPointer(rebasing: matrix[(accepted * width)..<((accepted + 1) * width)])
                let slotRow = slots.map { UnsafeMutableBufferPointer(rebasing: $0[(accepted * slotWidth)..<((accepted + 1) * slotWidth)]) }
                let outcome = encode(into: row, slots: slotRow) { parsers[$0].parse(batch.cell(application: application, field: $0)) }
                if case .accepted = outcome { accepted += 1 }
                outcomes.append(outcome)
            }
        }
        return accepted
    }

    /// The one encoding of an application, whatever its source: `parse(i)` validates field `i`.
    /// `slots`, when given (``slotCount`` elements), receives the slots; otherwise they live
    /// in a temporary allocation on the stack.
    private func encode(
        into row: UnsafeMutableBufferPointer<Double>, slots: UnsafeMutableBufferPointer<Double>?, parse: (Int) -> FieldParser.Outcome
    ) -> Outcome {
        precondition(row.count == featureNames.count, "row must hold featureNames.count values")
        if let slots {
            precondition(slots.count == slotCount, "slots must hold slotCount values")
            return encode(into: row, slots: slots, parse: parse)
        }
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: slotCount) { encode(into: row, slots: $0, parse: parse) }
    }

    private func encode(
        into row: UnsafeMutableBufferPointer<Double>, slots: UnsafeMutableBufferPointer<Double>, parse: (Int) -> FieldParser.Outcome
    ) -> Outcome {
        var flags: [String] = []
        var violations: [Violation] = []
        for i in parsers.indices {
            switch parse(i) {
            case .value(let value): slots[i] = value
            case .missing(let flag):
                slots[i] = .nan
                if let flag { flags.append(flag) }
            case .rejected(let violation):
                slots[i] = .nan
                violations.append(violation)
            }
        }
        if !violations.isEmpty { return .rejected(violations) }
        for (j, step) in derivedPlan.enumerated() {
            slots[parsers.count + j] = Self.derive(step.kind, step.inputs, slots)
        }
        var column = 0
        for step in encodingPlan {
            switch step {
            case .copy(let slot):
                row[column] = slots[slot]
                column += 1
            case .oneHot(let slot, let levels):
                let value = slots[slot]
                for level in 0..<levels {
                    row[column + level] = value.isNaN ? .nan : (Double(level) == value ? 1 : 0)
                }
                column += levels
            }
        }
        return .accepted(flags: flags)
    }

    /// Field `field`'s validated value of one raw value: the number, 1/0 for a boolean, the
    /// level's index for a category; `nil` when the value is missing (or a sentinel, or an
    /// unseen level) or rejected. Used to read a field's observed values (for example to
    /// build the grid of `loanscore bundle verify`'s monotonicity check).
    public func parsedValue(_ raw: RawValue, field: Int) -> Double? {
        guard parsers.indices.contains(field), case .value(let value) = parsers[field].parse(raw) else { return nil }
        return value
    }

    /// Convenience: encodes one application into a new array.
    public func encode(_ values: [RawValue]) -> (row: [Double], outcome: Outcome) {
        var row = [Double](repeating: .nan, count: featureNames.count)
        let outcome = row.withUnsafeMutableBufferPointer { encode(values, into: $0) }
        return (row, outcome)
    }

    /// Computes one derived feature from its input slots (SCHEMA.md, "Derived features").
    /// A zero denominator or a non-finite result gives NaN (missing), never infinity.
    private static func derive(_ kind: Schema.DerivedKind, _ inputs: [Int], _ slots: UnsafeMutableBufferPointer<Double>) -> Double {
        let result: Double
        switch kind {
        case .ratio:
            let denominator = slots[inputs[1]]
            result = denominator == 0 ? .nan : slots[inputs[0]] / denominator
        case .difference:
            result = slots[inputs[0]] - slots[inputs[1]]
        case .sum:
            result = inputs.reduce(0.0) { $0 + slots[$1] }
        case .countTrue:
            var count = 0.0, present = false
            for input in inputs where !slots[input].isNaN {
                count += slots[input]
                present = true
            }
            result = present ? count : .nan
        case .yearsFromDays:
            result = slots[inputs[0]] / 365.25
        case .yearsFromMonths:
            result = slots[inputs[0]] / 12
        }
        return result.isFinite ? result : .nan
    }
}
