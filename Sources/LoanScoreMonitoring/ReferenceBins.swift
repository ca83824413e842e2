public import LoanScoreModel

/// A bundle's reference bins compiled for binning live values: flat, immutable arrays that
/// every worker thread shares (`Sendable`), so binning an application reads a few cache lines
/// and allocates nothing.
///
/// Field `f` of ``fieldCount`` is `reference.fields[f]`: the pipeline's slots (schema fields,
/// then derived features; ``slotCount`` of them), then the PD last. Each field's bins are its
/// value bins then its missing bin (``ReferenceField``); over all fields they are numbered
/// consecutively from ``binOffset(field:)``, ``totalBins`` in all, the order of
/// ``DriftWindow``'s counts.
public struct ReferenceBins: Sendable {
    /// The profile the bins come from.
    public let reference: ReferenceProfile
    /// Fields binned: ``slotCount`` slots, then the PD.
    public let fieldCount: Int
    /// Pipeline slots per application (``FeaturePipeline/slotCount``): `fieldCount − 1`.
    public var slotCount: Int { fieldCount - 1 }
    /// Bins of every field together, missing bins included.
    public let totalBins: Int

    /// How to bin one field, packed so that binning a row reads one small array.
    private struct Plan: Sendable {
        /// Field f's edges are `edges[edgeStart ..< edgeStart + edgeCount]`.
        var edgeStart: Int
        var edgeCount: Int
        /// Value bins (the missing bin excluded): the missing bin's index.
        var valueBins: Int
        /// The field's first bin in the global numbering.
        var offset: Int
        /// A number (binned by its edges) rather than a level index.
        var isNumber: Bool
    }
    private let plans: [Plan]
    /// Every number field's edges, back to back.
    private let edges: [Double]
    private let minimum: [Double]
    private let maximum: [Double]
    /// Whether each bin (global numbering) has a reference share of 0.
    private let emptyInReference: [Bool]
    private let isInput: [Bool]
    private let outOfRangeFlags: [String]
    private let unseenBinFlags: [String]

    /// Compiles a profile's bins. O(bins).
    public init(reference: ReferenceProfile) {
        enum Kind { case number, levels }
        self.reference = reference
        fieldCount = reference.fields.count
        var kinds: [Kind] = [], edges: [Double] = [], edgeStart: [Int] = [], edgeCount: [Int] = []
        var valueBins: [Int] = [], offsets: [Int] = [], minimum: [Double] = [], maximum: [Double] = [], empty: [Bool] = []
        for field in reference.fields {
            offsets.append(empty.count)
            edgeStart.append(edges.count)
            switch field.bins {
            case .number(let fieldEdges):
                kinds.append(.number)
                edges += fieldEdges
                edgeCount.append(fieldEdges.count)
            case .category, .boolean:
                kinds.append(.levels)
                edgeCount.append(0)
            }
            valueBins.append(field.shares.count)
            // No range (not a number, or no value seen in training): nothing is out of it.
            minimum.append(field.min ?? -.infinity)
            maximum.append(field.max ?? .infinity)
            empty += field.referenceShares.map { $0 == 0 }
        }
        plans = kinds.indices.map {
            Plan(edgeStart: edgeStart[$0], edgeCount: edgeCount[$0], valueBins: valueBins[$0], offset: offsets[$0], isNumber: kinds[$0] == .number)
        }
        self.edges = edges
        self.minimum = minimum
        self.maximum = maximum
        emptyInReference = empty
        totalBins = empty.count
        isInput = reference.fields.map { $0.source == .input }
        outOfRangeFlags = reference.fields.map { "\(AnomalyKind.outOfRange.rawValue):\($0.name)" }
        unseenBinFlags = reference.fields.map { "\(AnomalyKind.unseenBin.rawValue):\($0.name)" }
    }

    /// The first bin of field `field` in the global numbering (its bins are
    /// `binOffset(field:) ..< binOffset(field:) + reference.fields[field].binCount`). O(1).
    public func binOffset(field: Int) -> Int { plans[field].offset }

    /// The bin of `value` in field `field`, counted within the field (0 ..< binCount).
    ///
    /// A number's bin is the count of its edges strictly less than `value` (so `(-inf, e1]`,
    /// `(e1, e2]`, …, `(e_n, +inf)`; `numpy.searchsorted(edges, value, side="left")`), found by
    /// counting (up to 16 edges) or binary search; a category's is the level index, a boolean's 0 (false) or 1 (true). NaN
    /// goes to the missing bin (the last), and so does a category or boolean slot that is not
    /// a valid level index (which the pipeline never produces).
    ///
    /// - Complexity: O(log edges); no allocation.
    public func bin(field: Int, value: Double) -> Int {
        edges.withUnsafeBufferPointer { Self.bin(plans[field], value, $0) }
    }

    @inline(__always)
    private static func bin(_ plan: Plan, _ value: Double, _ edges: UnsafeBufferPointer<Double>) -> Int {
        if value.isNaN { return plan.valueBins }
        guard plan.isNumber else {
            guard value >= 0, value < Double(plan.valueBins), let index = Int(exactly: value) else { return plan.valueBins }
            return index
        }
        var low = plan.edgeStart, high = low + plan.edgeCount
        // Deciles give at most 9 edges: counting them without branches beats a binary search
        // whose branches the predictor cannot learn (the same count of edges below `value`).
        if plan.edgeCount <= 16 {
            var count = 0
            for i in low..<high { count &+= Int(unsafeBitCast(edges[i] < value, to: UInt8.self)) }  // Bool is 0 or 1
            return count
        }
        while low < high {
            let middle = (low + high) >> 1
            if edges[middle] < value { low = middle + 1 } else { high = middle }
        }
        return low - plan.edgeStart
    }

    /// Bins rows of slots and their PDs into global bin indices (``binOffset(field:)`` + bin):
    /// row `r`'s ``fieldCount`` indices at `out[r × fieldCount ..< (r + 1) × fieldCount]`.
    ///
    /// - Parameters:
    ///   - slots: row-major, ``slotCount`` values per row, rows `rows` at least.
    ///   - pds: one PD per row.
    ///   - rows: the rows to bin (`rows.count × fieldCount ≤ out.count`).
    /// - Complexity: O(rows × fields × log edges); no allocation.
    public func bin(slots: UnsafeBufferPointer<Double>, pds: UnsafeBufferPointer<Double>, rows: Range<Int>,
                    into out: UnsafeMutableBufferPointer<UInt32>) {
        let width = slotCount, fields = fieldCount
        precondition(slots.count >= rows.upperBound * width && pds.count >= rows.upperBound && out.count >= rows.count * fields)
        plans.withUnsafeBufferPointer { plans in
            edges.withUnsafeBufferPointer { edges in
                var next = 0
                for row in rows {
                    let base = row * width
                    for f in 0..<width {
                        out[next] = UInt32(truncatingIfNeeded: plans[f].offset + Self.bin(plans[f], slots[base + f], edges))
                        next += 1
                    }
                    out[next] = UInt32(truncatingIfNeeded: plans[width].offset + Self.bin(plans[width], pds[row], edges))
                    next += 1
                }
            }
        }
    }

    /// The kinds of anomaly one input field's value shows (spec: input fields only).
    ///
    /// `out_of_range` when a number is below the training minimum or above the maximum;
    /// `unseen_bin` when the value falls in a bin (a level, or the missing bin) whose
    /// reference share is 0. Derived features and the PD are never anomalous.
    ///
    /// - Complexity: O(log edges); no allocation.
    @inline(__always)
    public func anomalies(field: Int, value: Double) -> (outOfRange: Bool, unseenBin: Bool) {
        guard isInput[field] else { return (false, false) }
        let outOfRange = value < minimum[field] || value > maximum[field]  // NaN compares false
        let unseen = emptyInReference[plans[field].offset + bin(field: field, value: value)]
        return (outOfRange, unseen)
    }

    /// Calls `body` for each anomaly of one application's slots, in field order (for a field
    /// with both, `out_of_range` first). Used by the server to count
    /// `loanscore_anomalies_total{field,kind}` without allocating.
    ///
    /// - Parameter slots: the application's ``slotCount`` slot values (``FeaturePipeline``).
    /// - Complexity: O(fields × log edges); no allocation.
    public func forEachAnomaly(slots: UnsafeBufferPointer<Double>, _ body: (_ field: Int, _ kind: AnomalyKind) -> Void) {
        precondition(slots.count >= slotCount, "one value per slot")
        for field in 0..<slotCount where isInput[field] {
            let (outOfRange, unseen) = anomalies(field: field, value: slots[field])
            if outOfRange { body(field, .outOfRange) }
            if unseen { body(field, .unseenBin) }
        }
    }

    /// One application's anomaly flags (`out_of_range:FIELD`, `unseen_bin:FIELD`), in field
    /// order, as the offline `flags` column and the server's result flags write them.
    ///
    /// - Complexity: O(fields × log edges); allocates only the returned array when non-empty.
    public func anomalyFlags(slots: UnsafeBufferPointer<Double>) -> [String] {
        var flags: [String] = []
        forEachAnomaly(slots: slots) { flags.append(flag(field: $0, kind: $1)) }
        return flags
    }

    /// The flag text of an anomaly, e.g. `out_of_range:Income` (a shared string). O(1).
    public func flag(field: Int, kind: AnomalyKind) -> String {
        kind == .outOfRange ? outOfRangeFlags[field] : unseenBinFlags[field]
    }
}

/// The two kinds of anomaly of a single application's value (spec C).
public enum AnomalyKind: String, Sendable, CaseIterable {
    /// A number below its field's training minimum or above its maximum.
    case outOfRange = "out_of_range"
    /// A value in a bin whose reference share is 0 (a level, or missing, never seen in training).
    case unseenBin = "unseen_bin"
}

extension ReferenceField {
    /// The label of each bin, missing bin last: numbers `(-inf, 1]`, `(1, 2]`, `(25, inf)` (or
    /// `(-inf, inf)` without edges), categories the level text, booleans `false`/`true`, then
    /// `missing`. Edges are written in Swift's shortest round-trip form without a trailing
    /// `.0` (``label(_:)``). O(bins).
    public var binLabels: [String] {
        var labels: [String]
        switch bins {
        case .number(let edges):
            let bounds = ["-inf"] + edges.map(Self.label) + ["inf"]
            labels = (0...edges.count).map { i in "(\(bounds[i]), \(bounds[i + 1])\(i == edges.count ? ")" : "]")" }
        case .category(let levels): labels = levels
        case .boolean: labels = ["false", "true"]
        }
        labels.append("missing")
        return labels
    }

    /// An edge as a label writes it: Swift's shortest round-trip `description`, a whole
    /// number without its `.0` (`1`, `0.25`, `1e+16`).
    public static func label(_ edge: Double) -> String {
        let text = edge.description
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }
}
