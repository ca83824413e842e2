/// Trees compiled into one flat array of 8-byte nodes, walked over a batch of rows one tree at
/// a time so that the tree stays in the L1 cache while every row of the batch visits it.
///
/// Each tree is laid out in preorder: a node's left child is the next node, and the node
/// stores its right child's offset. A split goes left when the row's key is `<=` the node's
/// threshold key (``SplitKey``; the node names the key column that sends NaN its own way). A
/// leaf has threshold ``SplitKey/never`` and right offset 0: it is a self-loop, so a walk may
/// take more steps than a path is long without leaving the leaf, which lets eight walks run
/// in lockstep for a fixed number of steps with no per-lane branch.
struct FlatTrees: Sendable {
    struct Node: Sendable {
        /// Go left when the row's key is `<=` this (``SplitKey``).
        var threshold: Int32
        /// Low ``Layout/shift`` bits: the key column times ``FeatureBatch/lanes`` (the key's
        /// offset in a block); the bits above: the right child's offset from this node.
        var packed: UInt32
    }

    /// How a node's `packed` field splits into slot and offset.
    struct Layout: Sendable, Equatable {
        let shift: UInt32
        var mask: UInt32 { (1 << shift) &- 1 }
        /// 16-bit slots and offsets: what nearly every model gets; walks specialise for it.
        static let common = Layout(shift: 16)
    }

    let nodes: [Node]
    /// The root's index of each tree, in tree order.
    let roots: [Int]
    /// Each tree's depth (edges on its longest path).
    let depths: [Int]
    /// The deepest of each group of ``lanes`` consecutive trees (trees 8g ..< 8g + 8).
    let groupDepths: [Int]
    /// For each node, its index in the given trees concatenated (per-node values follow it).
    let original: [Int]
    let layout: Layout
    /// Features per row (key columns are twice as many).
    let width: Int

    /// Rows walked through a tree together, in lockstep (independent chains of loads that
    /// the processor overlaps).
    static let lanes = FeatureBatch.lanes

    /// Compiles trees given per tree as node arrays with children indices relative to the
    /// tree (-1 for a leaf); children must have larger indices than their parent. `strict`:
    /// a split goes left when `value < threshold` (XGBoost), else when `value <= threshold`
    /// (scikit-learn). Returns nil when a tree is too large for 32-bit packed nodes.
    ///
    /// The slot takes 16 bits when it and every right offset fit (``Layout/common``: the
    /// walks then decode nodes with constants), else as few bits as the slots need.
    init?(trees: [Tree], strict: Bool, width: Int) {
        var slotBits: UInt32 = 1
        while (1 << slotBits) < 2 * width * Self.lanes { slotBits += 1 }
        guard slotBits < 32 else { return nil }
        let packed = slotBits <= 16 ? Self.pack(trees, strict: strict, width: width, shift: 16) : nil
        guard let (nodes, roots, original) = packed ?? Self.pack(trees, strict: strict, width: width, shift: slotBits) else {
            return nil
        }
        self.nodes = nodes
        self.roots = roots
        self.original = original
        self.layout = Layout(shift: packed == nil ? slotBits : 16)
        self.width = width
        let depths = trees.map { tree in
            var depth = [Int](repeating: 0, count: tree.count)
            for (i, node) in tree.enumerated() where node.left >= 0 {
                depth[node.left] = depth[i] + 1
                depth[node.right] = depth[i] + 1
            }
            return depth.max() ?? 0
        }
        self.depths = depths
        groupDepths = stride(from: 0, to: depths.count, by: Self.lanes).map {
            depths[$0..<Swift.min($0 + Self.lanes, depths.count)].max() ?? 0
        }
    }

    /// A tree as given: nodes with children indices relative to the tree, -1 for a leaf.
    typealias Tree = [(threshold: Float, feature: Int, missingLeft: Bool, left: Int, right: Int)]

    /// Lays the trees out in preorder, left first (a right child patches its parent's offset
    /// when placed); nil when an offset does not fit above `shift`.
    private static func pack(_ trees: [Tree], strict: Bool, width: Int, shift: UInt32)
        -> (nodes: [Node], roots: [Int], original: [Int])? {
        let limit = Int(UInt32.max >> shift)
        var nodes: [Node] = [], roots: [Int] = [], original: [Int] = []
        var base = 0
        for tree in trees {
            roots.append(nodes.count)
            var stack = [(node: 0, parent: -1)]
            while let (i, parent) = stack.popLast() {
                let index = nodes.count
                if parent >= 0 {
                    guard index - parent <= limit else { return nil }
                    nodes[parent].packed |= UInt32(index - parent) << shift
                }
                original.append(base + i)
                let node = tree[i]
                if node.left < 0 {
                    nodes.append(Node(threshold: SplitKey.never, packed: 0))
                } else {
                    let column = node.feature + (node.missingLeft ? 0 : width)
                    nodes.append(Node(threshold: SplitKey.threshold(node.threshold, strict: strict),
                                      packed: UInt32(column * Self.lanes)))
                    stack.append((node.right, index))
                    stack.append((node.left, -1))
                }
            }
            base += tree.count
        }
        return (nodes, roots, original)
    }

    /// One step from node `i` for the row whose keys are at `x` (stride ``lanes``), without a
    /// branch: the comparison selects between the two offsets (a conditional move; a
    /// mispredicted branch per split would cost more than the whole step).
    @inline(__always)
    static func step(_ i: Int, _ nodes: UnsafePointer<Node>, _ x: UnsafePointer<Int32>, _ layout: Layout) -> Int {
        let node = nodes[i]
        // Wrapping arithmetic and a masking shift: the node's offset keeps the walk inside its
        // tree by construction, and checks would cost as much as the step itself.
        let right = Int(node.packed &>> layout.shift)
        return i &+ (x[Int(node.packed & layout.mask)] <= node.threshold ? 1 : right)
    }

    /// The key column a node splits on, as a feature index.
    @inline(__always)
    func feature(_ node: Node) -> Int {
        let column = Int(node.packed & layout.mask) / Self.lanes
        return column < width ? column : column - width
    }

    /// The leaves that the eight rows of a key block reach in one tree, walked in lockstep
    /// for exactly `depth` steps: eight independent chains of loads, held in eight scalars.
    ///
    /// Unsafe pointers: `nodes` is the base of `self.nodes`, and every step stays inside the
    /// tree by construction; `block` is a block of ``FeatureBatch`` keys (`2·width·8`), and
    /// every slot is below `2·width·8` (checked at load).
    @inline(__always)
    static func leaves(root: Int, depth: Int, _ block: UnsafePointer<Int32>, _ nodes: UnsafePointer<Node>,
                       _ layout: Layout) -> SIMD8<Int32> {
        var i0 = root, i1 = root, i2 = root, i3 = root, i4 = root, i5 = root, i6 = root, i7 = root
        for _ in 0..<depth {
            i0 = step(i0, nodes, block, layout)
            i1 = step(i1, nodes, block + 1, layout)
            i2 = step(i2, nodes, block + 2, layout)
            i3 = step(i3, nodes, block + 3, layout)
            i4 = step(i4, nodes, block + 4, layout)
            i5 = step(i5, nodes, block + 5, layout)
            i6 = step(i6, nodes, block + 6, layout)
            i7 = step(i7, nodes, block + 7, layout)
        }
        return SIMD8(Int32(i0), Int32(i1), Int32(i2), Int32(i3), Int32(i4), Int32(i5), Int32(i6), Int32(i7))
    }

    /// The leaves one row reaches in up to ``lanes`` consecutive trees (group `group`), walked
    /// in lockstep across the trees: for a lone row, eight trees give the eight independent
    /// chains. Lanes past the last tree repeat it (and are ignored). Pointers as in
    /// ``leaves(root:depth:_:_:_:)``; `x` is the row's first key (stride ``lanes``).
    @inline(__always)
    func leaves(group: Int, _ x: UnsafePointer<Int32>, _ nodes: UnsafePointer<Node>) -> (leaves: SIMD8<Int32>, trees: Int) {
        let first = group * Self.lanes
        let count = Swift.min(Self.lanes, roots.count - first)
        let last = count - 1, layout = self.layout
        var i0 = roots[first], i1 = roots[first + Swift.min(1, last)], i2 = roots[first + Swift.min(2, last)]
        var i3 = roots[first + Swift.min(3, last)], i4 = roots[first + Swift.min(4, last)]
        var i5 = roots[first + Swift.min(5, last)], i6 = roots[first + Swift.min(6, last)], i7 = roots[first + last]
        for _ in 0..<groupDepths[group] {
            i0 = Self.step(i0, nodes, x, layout); i1 = Self.step(i1, nodes, x, layout)
            i2 = Self.step(i2, nodes, x, layout); i3 = Self.step(i3, nodes, x, layout)
            i4 = Self.step(i4, nodes, x, layout); i5 = Self.step(i5, nodes, x, layout)
            i6 = Self.step(i6, nodes, x, layout); i7 = Self.step(i7, nodes, x, layout)
        }
        return (SIMD8(Int32(i0), Int32(i1), Int32(i2), Int32(i3), Int32(i4), Int32(i5), Int32(i6), Int32(i7)), count)
    }

    /// The leaf one row reaches from `root`, stopping at the leaf (for blocks too small to
    /// fill the lanes). Pointers as in ``leaves(group:_:_:)``.
    @inline(__always)
    static func leaf(root: Int, _ x: UnsafePointer<Int32>, _ nodes: UnsafePointer<Node>, _ layout: Layout) -> Int {
        var index = root
        while true {
            let next = step(index, nodes, x, layout)
            if next == index { return index }  // a leaf's self-loop
            index = next
        }
    }

    /// Path attribution for the eight rows of a key block walked in lockstep for exactly
    /// `depth` steps; lane `k` adds `values[child] − values[node]` to row `k` of
    /// `contributions` (a leaf's self-loop adds zero). Pointers as in
    /// ``leaves(root:depth:_:_:_:)``; `contributions` holds the block's `lanes × width` values.
    @inline(__always)
    func attributeBlock(root: Int, depth: Int, _ block: UnsafePointer<Int32>, _ nodes: UnsafePointer<Node>,
                        values: UnsafePointer<Double>, into contributions: UnsafeMutablePointer<Double>) -> SIMD8<Int32> {
        let layout = self.layout, width = self.width
        @inline(__always)
        func advance(_ index: inout Int, _ lane: Int) {
            let next = Self.step(index, nodes, block + lane, layout)
            contributions[lane * width + feature(nodes[index])] += values[next] - values[index]
            index = next
        }
        var i0 = root, i1 = root, i2 = root, i3 = root, i4 = root, i5 = root, i6 = root, i7 = root
        for _ in 0..<depth {
            advance(&i0, 0); advance(&i1, 1); advance(&i2, 2); advance(&i3, 3)
            advance(&i4, 4); advance(&i5, 5); advance(&i6, 6); advance(&i7, 7)
        }
        return SIMD8(Int32(i0), Int32(i1), Int32(i2), Int32(i3), Int32(i4), Int32(i5), Int32(i6), Int32(i7))
    }

    /// Walks one row from `root` to its leaf, adding `values[child] − values[node]` to the
    /// split feature's contribution at each step (path attribution); returns the leaf.
    /// Pointers as in ``leaves(group:_:_:)``; `contributions` holds the row's `width` values.
    @inline(__always)
    func attribute(root: Int, _ x: UnsafePointer<Int32>, _ nodes: UnsafePointer<Node>, values: UnsafePointer<Double>,
                   into contributions: UnsafeMutablePointer<Double>) -> Int {
        var index = root
        while true {
            let next = Self.step(index, nodes, x, layout)
            if next == index { return index }  // a leaf's self-loop
            contributions[feature(nodes[index])] += values[next] - values[index]
            index = next
        }
    }
}

extension FlatTrees {
    /// Walks every row of a batch through every tree and reports each leaf reached, in tree
    /// order for each row, through `leaf(row, node index)`; with `contributions`
    /// (`rows × width`), also adds path attributions from `values` (one per node, in this
    /// layout's order).
    ///
    /// Full blocks of eight rows walk a tree in lockstep (so do blocks of four to seven: the
    /// spare lanes walk and are ignored); one to three rows walk eight trees at a time.
    /// Pointers as in ``leaves(root:depth:_:_:_:)``.
    ///
    /// - Complexity: O(rows × trees × depth).
    @inline(__always)
    func walk(_ batch: FeatureBatch, values: [Double], contributions: UnsafeMutableBufferPointer<Double>?,
              _ leaf: (_ row: Int, _ node: Int) -> Void) {
        precondition(batch.width == width, "batch width")
        let blockSize = 2 * width * Self.lanes, layout = self.layout
        nodes.withUnsafeBufferPointer { nodes in
            values.withUnsafeBufferPointer { values in
                guard let nodes = nodes.baseAddress, let values = values.baseAddress, let keys = batch.keys.baseAddress else { return }
                /// Row `r`'s first key (stride `lanes`), inside `batch.keys` by its layout.
                func row(_ r: Int) -> UnsafePointer<Int32> { keys + r / Self.lanes * blockSize + r % Self.lanes }
                if contributions == nil && batch.rows < 4 {
                    for r in 0..<batch.rows {
                        for group in groupDepths.indices {
                            let (found, count) = leaves(group: group, row(r), nodes)
                            for lane in 0..<count { leaf(r, Int(found[lane])) }
                        }
                    }
                    return
                }
                for (t, root) in roots.enumerated() {
                    let depth = depths[t]
                    var start = 0
                    while start < batch.rows {
                        let rows = Swift.min(Self.lanes, batch.rows - start)
                        let block = keys + start / Self.lanes * blockSize
                        var found = SIMD8<Int32>()
                        if let out = contributions?.baseAddress, rows == Self.lanes {
                            found = attributeBlock(root: root, depth: depth, block, nodes, values: values, into: out + start * width)
                        } else if let out = contributions?.baseAddress {
                            for lane in 0..<rows {
                                found[lane] = Int32(attribute(root: root, block + lane, nodes, values: values, into: out + (start + lane) * width))
                            }
                        } else if rows >= 4 && layout == .common {
                            found = Self.leaves(root: root, depth: depth, block, nodes, .common)  // constants fold
                        } else if rows >= 4 {
                            found = Self.leaves(root: root, depth: depth, block, nodes, layout)
                        } else {
                            for lane in 0..<rows { found[lane] = Int32(Self.leaf(root: root, block + lane, nodes, layout)) }
                        }
                        for lane in 0..<rows { leaf(start + lane, Int(found[lane])) }
                        start += rows
                    }
                }
            }
        }
    }
}
