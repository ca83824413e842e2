public import LoanScoreFeatures

/// Checks a bundle's declared monotonicity (`"monotone"` on schema fields, SCHEMA.md) on a
/// set of applications, usually the bundle's holdout (`loanscore bundle verify`).
///
/// For each monotone field, every application is scored again with the field set to each
/// value of a grid, through the bundle's own ``FeaturePipeline`` (so derived features follow
/// the field) and ``EnsembleScorer``; along the grid, in increasing order, the PD must never
/// move against the declared direction by more than ``tolerance``.
///
/// The grid (BUNDLE.md, "validation/"): a boolean takes false and true; a number or integer
/// takes the nearest-rank quantiles 0, 0.1, …, 1 of its valid values in the applications
/// (every distinct value when there are at most 11), so each point is a value the schema
/// accepts and the data holds. When the applications hold fewer than two distinct values,
/// 11 evenly spaced points of the field's `range` are used (rounded for an integer) if both
/// ends are declared; otherwise the field is not checked (``FieldResult/values`` is empty).
public struct MonotonicityCheck: Sendable {
    /// The largest move against the declared direction that is not a violation (float64
    /// rounding in the combination and calibration).
    public static let defaultTolerance = 1e-12
    /// The most violations kept per field, to name in a message.
    public static let keptViolations = 5

    /// The bundle whose schema, pipeline and compiled ensemble are checked.
    public let bundle: ModelBundle
    /// The largest PD move against the declared direction that is still accepted.
    public let tolerance: Double

    /// A check of `bundle` with the given tolerance (default ``defaultTolerance``).
    public init(bundle: ModelBundle, tolerance: Double = MonotonicityCheck.defaultTolerance) {
        self.bundle = bundle
        self.tolerance = tolerance
    }

    /// One application whose PD moved against the declared direction between two
    /// consecutive grid values.
    public struct Violation: Sendable, Equatable {
        /// The application's 1-based data row (as given to ``run(applications:)``).
        public var row: Int
        /// The lower grid value.
        public var from: Double
        /// The next, higher grid value.
        public var to: Double
        /// The PD with the field at ``from``.
        public var pdFrom: Double
        /// The PD with the field at ``to``: against the declared direction of ``pdFrom``.
        public var pdTo: Double
    }

    /// The outcome for one monotone field.
    public struct FieldResult: Sendable {
        /// The field's name.
        public var field: String
        /// The direction the schema declares.
        public var direction: Schema.Monotonicity
        /// Applications scored along the grid.
        public var applications: Int
        /// The grid, increasing; empty when the field could not be checked.
        public var values: [Double]
        /// How many consecutive grid pairs, over all applications, moved the PD the wrong way.
        public var violationCount: Int
        /// The first violations found (at most ``MonotonicityCheck/keptViolations``).
        public var violations: [Violation]
    }

    /// Checks every monotone field of the bundle's schema, in schema order; returns nothing
    /// when the schema declares none.
    ///
    /// - Parameter applications: the applications' 1-based rows and raw values, one per
    ///   schema field; applications the schema rejects are skipped.
    /// - Complexity: O(monotone fields × applications × grid × scoring one application).
    public func run(applications: [(row: Int, values: [RawValue])]) -> [FieldResult] {
        let pipeline = bundle.pipeline
        let accepted = applications.filter {
            if case .accepted = pipeline.encode($0.values).outcome { return true }
            return false
        }
        var results: [FieldResult] = []
        for (index, field) in bundle.schema.fields.enumerated() {
            guard let direction = field.monotone else { continue }
            let grid = Self.grid(field: field, observed: accepted.compactMap { pipeline.parsedValue($0.values[index], field: index) })
            var result = FieldResult(field: field.name, direction: direction, applications: 0, values: grid, violationCount: 0, violations: [])
            if grid.count >= 2 {
                check(field: index, grid: grid, applications: accepted, into: &result)
            }
            results.append(result)
        }
        return results
    }

    private func check(field: Int, grid: [Double], applications: [(row: Int, values: [RawValue])], into result: inout FieldResult) {
        let pipeline = bundle.pipeline, scorer = bundle.scorer, width = pipeline.featureNames.count
        let type = bundle.schema.fields[field].type
        var matrix = [Double](repeating: .nan, count: grid.count * width)
        for application in applications {
            var values = application.values
            var rows = 0
            var gridOfRow: [Int] = []
            matrix.withUnsafeMutableBufferPointer { matrix in
                for (k, value) in grid.enumerated() {
                    values[field] = type == .boolean ? .bool(value != 0) : .number(value)
                    let row = UnsafeMutableBufferPointer(rebasing: matrix[(rows * width)..<((rows + 1) * width)])
                    guard case .accepted = pipeline.encode(values, into: row) else { continue }  // cannot happen: grid values are valid
                    gridOfRow.append(k)
                    rows += 1
                }
            }
            guard rows >= 2 else { continue }
            let scores = matrix.withUnsafeBufferPointer { scorer.score(batch: $0, rows: rows, explain: false) }
            result.applications += 1
            for j in 1..<rows {
                let lower = scores[j - 1].pd, upper = scores[j].pd
                let wrong = result.direction == .increasing ? upper < lower - tolerance : upper > lower + tolerance
                guard wrong else { continue }
                result.violationCount += 1
                if result.violations.count < Self.keptViolations {
                    result.violations.append(Violation(row: application.row, from: grid[gridOfRow[j - 1]], to: grid[gridOfRow[j]],
                                                       pdFrom: lower, pdTo: upper))
                }
            }
        }
    }

    /// The grid of a field (see the type's documentation), increasing and without repeats.
    package static func grid(field: Schema.Field, observed: [Double]) -> [Double] {
        if field.type == .boolean { return [0, 1] }
        let sorted = observed.filter(\.isFinite).sorted()
        var distinct: [Double] = []
        for value in sorted where distinct.last != value { distinct.append(value) }
        if distinct.count >= 2 {
            if distinct.count <= 11 { return distinct }
            var grid: [Double] = []
            for k in 0...10 {
                let value = sorted[Int((Double(sorted.count - 1) * Double(k) / 10).rounded())]
                if grid.last != value { grid.append(value) }
            }
            return grid
        }
        guard let lo = field.range?.min, let hi = field.range?.max, lo < hi else { return [] }
        var grid: [Double] = []
        for k in 0...10 {
            var value = lo + (hi - lo) * Double(k) / 10
            if field.type == .integer { value = value.rounded() }
            if value >= lo, value <= hi, grid.last.map({ $0 < value }) ?? true { grid.append(value) }
        }
        return grid.count >= 2 ? grid : []
    }
}
