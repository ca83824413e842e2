/// Trees compiled into one flat array of 16-byte nodes, walked over a batch of rows one tree
/// at a time so that the tree stays in the L1 cache while every row of the batch visits it.
///
/// Feature values are float32 (both XGBoost and scikit-learn compare in float32), so a batch
/// is converted once to a float matrix. A node is a leaf when `left < 0`. Child indices are
/// absolute (into `nodes`). The high bit of `featureAndFlag` says where a missing value (NaN)
/// goes: set = left.
struct FlatTrees: Sendable {
    struct Node: Sendable {
        /// Split threshold (float32), or the leaf value for XGBoost leaves.
        var threshold: Float
        /// Feature index in the low 31 bits; bit 31 set: missing goes left.
        var featureAndFlag: UInt32
        var left: Int32
        var right: Int32
    }

    /// How a split compares a value with its threshold.
    enum Comparison: Sendable {
        /// Left when `value < threshold` (XGBoost).
        case less
        /// Left when `value <= threshold` (scikit-learn).
        case lessOrEqual
    }

    let nodes: [Node]
    /// The root's index of each tree, in tree order.
    let roots: [Int]
    /// Each tree's depth (edges on its longest path).
    let depths: [Int]
    /// The deepest of each group of ``lanes`` consecutive trees (trees 8g ..< 8g + 8).
    let groupDepths: [Int]
    let comparison: Comparison

    /// Rows walked through a tree together, in lockstep (independent chains of loads that
    /// the processor overlaps).
    static let lanes = 8

    /// Compiles trees given per tree as node arrays with children indices relative to the
    /// tree (-1 for a leaf). Leaves become self-loops (both children the leaf itself), so a
    /// walk may take more steps than a path is long without leaving the leaf: that lets
    /// ``leaves(root:depth:rows:_:width:_:_:)`` walk every lane for exactly `depth` steps
    /// with no per-lane branch. Children must have larger indices than their parent.
    init(trees: [[(threshold: Float, feature: Int, missingLeft: Bool, left: Int, right: Int)]], comparison: Comparison) {
        var nodes: [Node] = [], roots: [Int] = [], depths: [Int] = []
        for tree in trees {
            let base = nodes.count
            roots.append(base)
            var depth = [Int](repeating: 0, count: tree.count)
            for (i, node) in tree.enumerated() {
                if node.left < 0 {
                    nodes.append(Node(threshold: node.threshold, featureAndFlag: 0, left: Int32(base + i), right: Int32(base + i)))
                } else {
                    depth[node.left] = depth[i] + 1
                    depth[node.right] = depth[i] + 1
                    nodes.append(Node(threshold: node.threshold,
                                      featureAndFlag: UInt32(node.feature) | (node.missingLeft ? 1 << 31 : 0),
                                      left: Int32(base + node.left), right: Int32(base + node.right)))
                }
            }
            depths.append(depth.max() ?? 0)
        }
        self.nodes = nodes
        self.roots = roots
        self.depths = depths
        groupDepths = stride(from: 0, to: depths.count, by: FlatTrees.lanes).map {
            depths[$0..<Swift.min($0 + FlatTrees.lanes, depths.count)].max() ?? 0
        }
        self.comparison = comparison
    }

    /// One step from `node` for the row at `x`, without a branch: the comparison's outcome
    /// becomes an all-ones or all-zeros mask that selects the child (a mispredicted branch
    /// per split would cost more than the whole step).
    @inline(__always)
    static func step(_ node: Node, _ x: UnsafePointer<Float>, _ comparison: Comparison) -> Int32 {
        let value = x[Int(node.featureAndFlag & 0x7FFF_FFFF)]
        let below: Bool
        switch comparison {
        case .less: below = value < node.threshold
        case .lessOrEqual: below = value <= node.threshold
        }
        // Bool is one byte holding 0 or 1.
        let missingLeft = unsafeBitCast(value.isNaN, to: UInt8.self) & UInt8(truncatingIfNeeded: node.featureAndFlag >> 31)
        let goLeft = unsafeBitCast(below, to: UInt8.self) | missingLeft
        let mask = 0 &- Int32(goLeft)
        return node.right ^ ((node.left ^ node.right) & mask)
    }

    /// The leaves that up to ``lanes`` consecutive rows reach in one tree, walked in lockstep
    /// for exactly `depth` steps: eight independent chains of loads, held in eight scalars
    /// (a vector held in memory would serialise them).
    ///
    /// Unsafe pointers: `nodes` is the base of `self.nodes`, and every child index was built
    /// inside it; `x` points at the block's first row, and the block's `rows` rows of `width`
    /// float32 values lie behind it (lanes past `rows` repeat the last row, and are ignored).
    @inline(__always)
    static func leaves(root: Int, depth: Int, rows: Int, _ x: UnsafePointer<Float>, width: Int,
                       _ nodes: UnsafePointer<Node>, _ comparison: Comparison) -> SIMD8<Int32> {
        let last = rows - 1
        let x0 = x, x1 = x + Swift.min(1, last) * width, x2 = x + Swift.min(2, last) * width
        let x3 = x + Swift.min(3, last) * width, x4 = x + Swift.min(4, last) * width
        let x5 = x + Swift.min(5, last) * width, x6 = x + Swift.min(6, last) * width
        let x7 = x + Swift.min(7, last) * width
        let r = Int32(root)
        var i0 = r, i1 = r, i2 = r, i3 = r, i4 = r, i5 = r, i6 = r, i7 = r
        for _ in 0..<depth {
            i0 = step(nodes[Int(i0)], x0, comparison)
            i1 = step(nodes[Int(i1)], x1, comparison)
            i2 = step(nodes[Int(i2)], x2, comparison)
            i3 = step(nodes[Int(i3)], x3, comparison)
            i4 = step(nodes[Int(i4)], x4, comparison)
            i5 = step(nodes[Int(i5)], x5, comparison)
            i6 = step(nodes[Int(i6)], x6, comparison)
            i7 = step(nodes[Int(i7)], x7, comparison)
        }
        return SIMD8(i0, i1, i2, i3, i4, i5, i6, i7)
    }

    /// The leaves one row reaches in up to ``lanes`` consecutive trees (group `group`), walked
    /// in lockstep across the trees: for a lone row, eight trees give the eight independent
    /// chains. Lanes past the last tree repeat it (and are ignored).
    @inline(__always)
    func leaves(group: Int, _ x: UnsafePointer<Float>, _ nodes: UnsafePointer<Node>) -> (leaves: SIMD8<Int32>, trees: Int) {
        let first = group * FlatTrees.lanes
        let count = Swift.min(FlatTrees.lanes, roots.count - first)
        var index = SIMD8<Int32>()
        for lane in 0..<FlatTrees.lanes { index[lane] = Int32(roots[first + Swift.min(lane, count - 1)]) }
        var i0 = index[0], i1 = index[1], i2 = index[2], i3 = index[3], i4 = index[4], i5 = index[5], i6 = index[6], i7 = index[7]
        for _ in 0..<groupDepths[group] {
            i0 = FlatTrees.step(nodes[Int(i0)], x, comparison)
            i1 = FlatTrees.step(nodes[Int(i1)], x, comparison)
            i2 = FlatTrees.step(nodes[Int(i2)], x, comparison)
            i3 = FlatTrees.step(nodes[Int(i3)], x, comparison)
            i4 = FlatTrees.step(nodes[Int(i4)], x, comparison)
            i5 = FlatTrees.step(nodes[Int(i5)], x, comparison)
            i6 = FlatTrees.step(nodes[Int(i6)], x, comparison)
            i7 = FlatTrees.step(nodes[Int(i7)], x, comparison)
        }
        return (SIMD8(i0, i1, i2, i3, i4, i5, i6, i7), count)
    }

    /// The leaf one row reaches from `root`, stopping at the leaf (for blocks too small to
    /// fill the lanes). Pointers as in ``leaves(root:depth:rows:_:width:_:_:)``.
    @inline(__always)
    static func leaf(root: Int, _ x: UnsafePointer<Float>, _ nodes: UnsafePointer<Node>, _ comparison: Comparison) -> Int32 {
        var index = Int32(root)
        while true {
            let next = step(nodes[Int(index)], x, comparison)
            if next == index { return index }  // a leaf's self-loop
            index = next
        }
    }

    /// The leaves of a block of rows: in lockstep when the block fills the lanes, else row by
    /// row stopping at each leaf (a lone row should not pay for eight).
    @inline(__always)
    static func leaves(root: Int, depth: Int, rows: Int, _ x: UnsafePointer<Float>, width: Int, _ nodes: UnsafePointer<Node>,
                       _ comparison: Comparison, scalarBelow threshold: Int) -> SIMD8<Int32> {
        if rows >= threshold { return leaves(root: root, depth: depth, rows: rows, x, width: width, nodes, comparison) }
        var result = SIMD8<Int32>()
        for lane in 0..<rows { result[lane] = leaf(root: root, x + lane * width, nodes, comparison) }
        return result
    }

    /// Path attribution for a full block of ``lanes`` rows walked in lockstep for exactly
    /// `depth` steps; each lane adds to its own row of `contributions` (a leaf's self-loop
    /// adds zero). Pointers as in ``leaves(root:depth:rows:_:width:_:_:)``, and
    /// `contributions` holds the block's `lanes × width` values.
    @inline(__always)
    static func attributeBlock(root: Int, depth: Int, _ x: UnsafePointer<Float>, width: Int, _ nodes: UnsafePointer<Node>,
                               _ comparison: Comparison, values: UnsafePointer<Double>,
                               into contributions: UnsafeMutablePointer<Double>) -> SIMD8<Int32> {
        @inline(__always)
        func advance(_ index: inout Int32, _ lane: Int) {
            let node = nodes[Int(index)]
            let next = step(node, x + lane * width, comparison)
            contributions[lane * width + Int(node.featureAndFlag & 0x7FFF_FFFF)] += values[Int(next)] - values[Int(index)]
            index = next
        }
        let r = Int32(root)
        var i0 = r, i1 = r, i2 = r, i3 = r, i4 = r, i5 = r, i6 = r, i7 = r
        for _ in 0..<depth {
            advance(&i0, 0); advance(&i1, 1); advance(&i2, 2); advance(&i3, 3)
            advance(&i4, 4); advance(&i5, 5); advance(&i6, 6); advance(&i7, 7)
        }
        return SIMD8(i0, i1, i2, i3, i4, i5, i6, i7)
    }

    /// Walks one row from `root` to its leaf, adding `values[child] − values[node]` to the
    /// split feature's contribution at each step (path attribution); returns the leaf.
    /// Pointers as in ``leaves(root:depth:rows:_:width:_:_:)``; `contributions` holds the
    /// row's `width` values.
    @inline(__always)
    static func attribute(root: Int, _ x: UnsafePointer<Float>, _ nodes: UnsafePointer<Node>, _ comparison: Comparison,
                          values: UnsafePointer<Double>, into contributions: UnsafeMutablePointer<Double>) -> Int32 {
        var index = Int32(root)
        while true {
            let node = nodes[Int(index)]
            let next = step(node, x, comparison)
            if next == index { return index }  // a leaf's self-loop
            contributions[Int(node.featureAndFlag & 0x7FFF_FFFF)] += values[Int(next)] - values[Int(index)]
            index = next
        }
    }
}

extension FlatTrees {
    /// Walks every row of a batch through every tree and reports each leaf reached, in tree
    /// order for each row, through `leaf(row, node index)`; with `contributions`
    /// (`rows × width`), also adds path attributions from `values` (one per node).
    ///
    /// Blocks of eight rows walk a tree in lockstep; one to three rows walk eight trees at a
    /// time instead. Pointers as in ``leaves(root:depth:rows:_:width:_:_:)``.
    ///
    /// - Complexity: O(rows × trees × depth).
    @inline(__always)
    func walk(_ batch: FeatureBatch, values: [Double], contributions: UnsafeMutableBufferPointer<Double>?,
              _ leaf: (_ row: Int, _ node: Int) -> Void) {
        let width = batch.width
        nodes.withUnsafeBufferPointer { nodes in
            values.withUnsafeBufferPointer { values in
                guard let nodes = nodes.baseAddress, let values = values.baseAddress, let x = batch.floats.baseAddress else { return }
                if contributions == nil && batch.rows < 4 {
                    for r in 0..<batch.rows {
                        for group in groupDepths.indices {
                            let (found, count) = leaves(group: group, x + r * width, nodes)
                            for lane in 0..<count { leaf(r, Int(found[lane])) }
                        }
                    }
                    return
                }
                for (t, root) in roots.enumerated() {
                    let depth = depths[t]
                    var start = 0
                    while start < batch.rows {
                        let rows = Swift.min(FlatTrees.lanes, batch.rows - start)
                        let block = x + start * width
                        var found: SIMD8<Int32>
                        if let out = contributions?.baseAddress, rows == FlatTrees.lanes {
                            found = FlatTrees.attributeBlock(root: root, depth: depth, block, width: width, nodes, comparison,
                                                             values: values, into: out + start * width)
                        } else if let out = contributions?.baseAddress {
                            found = SIMD8()
                            for lane in 0..<rows {
                                found[lane] = FlatTrees.attribute(root: root, block + lane * width, nodes, comparison, values: values,
                                                                  into: out + (start + lane) * width)
                            }
                        } else {
                            found = FlatTrees.leaves(root: root, depth: depth, rows: rows, block, width: width, nodes, comparison,
                                                     scalarBelow: 4)
                        }
                        for lane in 0..<rows { leaf(start + lane, Int(found[lane])) }
                        start += rows
                    }
                }
            }
        }
    }
}

/// A batch of model-ready rows, in float64 (as encoded) and float32 (as trees compare).
public struct FeatureBatch {
    /// Number of rows.
    public let rows: Int
    /// Values per row.
    public let width: Int
    /// `rows × width` float64 values, row-major, NaN for missing.
    public let doubles: UnsafeBufferPointer<Double>
    /// The same values converted to float32.
    public let floats: UnsafeBufferPointer<Float>

    /// Converts `doubles` into `floats` (both `rows × width`) and describes the batch.
    public init(rows: Int, width: Int, doubles: UnsafeBufferPointer<Double>, floats: UnsafeMutableBufferPointer<Float>) {
        precondition(doubles.count >= rows * width && floats.count >= rows * width, "buffers hold rows × width values")
        for i in 0..<(rows * width) { floats[i] = Float(doubles[i]) }
        self.rows = rows
        self.width = width
        self.doubles = doubles
        self.floats = UnsafeBufferPointer(floats)
    }

    /// Runs `body` with a one-row batch of `row`.
    static func withSingleRow<T>(_ row: UnsafeBufferPointer<Double>, _ body: (FeatureBatch) -> T) -> T {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: row.count) { floats in
            body(FeatureBatch(rows: 1, width: row.count, doubles: row, floats: floats))
        }
    }
}
