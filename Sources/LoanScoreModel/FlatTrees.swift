/// Trees compiled into one flat array of 8-byte nodes, walked over a batch of rows one tree at
/// a time so that the tree stays in the L1 cache while every row of the batch visits it.
///
/// Each tree is laid out in preorder: a node's left child is the next node, and the node
/// stores its right child's offset minus one, `r`, so that a step is `node + 1 + (goRight ? r
/// : 0)`. A split goes left when the row's key is `<=` the node's threshold key
/// (``SplitKey``; the node names the key column that sends NaN its own way). A leaf has
/// threshold ``SplitKey/never`` and `r = −1`: it is a self-loop, so a walk may take more steps
/// than a path is long without leaving the leaf, which lets eight walks run in lockstep for a
/// fixed number of steps with no per-lane branch.
///
/// Walks hold node pointers rather than indices (one register fewer: eight lanes, the key
/// block, the loop count and the decoded fields then fit in x86-64's sixteen registers).
struct FlatTrees: Sendable {
    struct Node: Sendable {
        /// Go left when the row's key is `<=` this (``SplitKey``).
        var threshold: Int32
        /// Low ``Layout/shift`` bits: the key column times ``FeatureBatch/lanes`` (the key's
        /// offset in a block); the bits above, signed: the right child's offset from this node
        /// minus one (−1 at a leaf).
        var packed: UInt32
    }

    /// How a node's `packed` field splits into slot and offset.
    struct Layout: Sendable {
        let shift: UInt32
        var mask: UInt32 { (1 << shift) &- 1 }
        /// 16-bit slots and offsets (subtrees up to 32,768 nodes): what nearly every model
        /// gets; the lockstep walk specialises for it.
        static let common = Layout(shift: 16)
    }

    /// What path attribution reads, from per-node values (``attribution(values:)``).
    struct Attribution: Sendable {
        /// The value of every node, in this layout's order.
        let values: [Double]
        /// For every node, the step into it from its parent (a root's is zero).
        let edges: [Edge]
    }

    /// The step from a node's parent into the node: `value(node) − value(parent)`, computed
    /// once at load, and the feature the parent splits on.
    struct Edge: Sendable {
        var delta: Double
        var feature: Int32
    }

    let nodes: [Node]
    /// The root's index of each tree, in tree order.
    let roots: [Int]
    /// Each tree's depth (edges on its longest path).
    let depths: [Int]
    /// The deepest of each group of ``lanes`` consecutive trees (trees 8g ..< 8g + 8).
    let groupDepths: [Int]
    /// The deepest tree's depth.
    let maximumDepth: Int
    /// For each node, its index in the given trees concatenated (per-node values follow it).
    let original: [Int]
    /// Each node's split feature (0 at a leaf), for path attribution.
    let features: [Int32]
    /// `Int.bitWidth − 1`, for ``stepOpaque(_:_:_:signShift:)``. A `var` on purpose: LLVM
    /// cannot see its value, so it cannot turn the sign mask into a select.
    private var signShift = Int.bitWidth - 1
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
        let given = Array(trees.joined())
        features = original.map { given[$0].left < 0 ? 0 : Int32(given[$0].feature) }
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
        maximumDepth = depths.max() ?? 0
        groupDepths = stride(from: 0, to: depths.count, by: Self.lanes).map {
            depths[$0..<Swift.min($0 + Self.lanes, depths.count)].max() ?? 0
        }
    }

    /// The attribution tables for per-node `values` (one per node, in this layout's order).
    ///
    /// - Complexity: O(nodes).
    func attribution(values: [Double]) -> Attribution {
        precondition(values.count == nodes.count, "one value per node")
        var edges = [Edge](repeating: Edge(delta: 0, feature: 0), count: nodes.count)
        for (i, node) in nodes.enumerated() {
            let rightMinusOne = Int(Int32(bitPattern: node.packed) >> Int32(layout.shift))
            guard rightMinusOne >= 0 else { continue }  // a leaf
            for child in [i + 1, i + 1 + rightMinusOne] {
                edges[child] = Edge(delta: values[child] - values[i], feature: features[i])
            }
        }
        return Attribution(values: values, edges: edges)
    }

    /// A tree as given: nodes with children indices relative to the tree, -1 for a leaf.
    typealias Tree = [(threshold: Float, feature: Int, missingLeft: Bool, left: Int, right: Int)]

    /// Lays the trees out in preorder, left first (a right child patches its parent's offset
    /// when placed); nil when an offset does not fit above `shift`.
    private static func pack(_ trees: [Tree], strict: Bool, width: Int, shift: UInt32)
        -> (nodes: [Node], roots: [Int], original: [Int])? {
        let limit = Int(Int32.max >> shift)
        var nodes: [Node] = [], roots: [Int] = [], original: [Int] = []
        var base = 0
        for tree in trees {
            roots.append(nodes.count)
            var stack = [(node: 0, parent: -1)]
            while let (i, parent) = stack.popLast() {
                let index = nodes.count
                if parent >= 0 {
                    guard index - parent - 1 <= limit else { return nil }
                    nodes[parent].packed |= UInt32(index - parent - 1) << shift
                }
                original.append(base + i)
                let node = tree[i]
                if node.left < 0 {
                    nodes.append(Node(threshold: SplitKey.never, packed: UInt32(bitPattern: -1 << Int32(shift))))
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

    /// One step from node `p` for the row whose keys are at `x` (stride ``lanes``), without a
    /// branch: the mask is the sign of `threshold − key`. (LLVM makes it a conditional move.
    /// Whether a loop keeps its conditional moves or turns some into branches, taken about
    /// half the time, depends on the loop's shape: check the disassembly after changing one.)
    /// Wrapping arithmetic: the node's offset keeps the walk inside its tree by construction.
    @inline(__always)
    static func step(_ p: UnsafePointer<Node>, _ x: UnsafePointer<Int32>, _ layout: Layout) -> UnsafePointer<Node> {
        // The subtraction cannot overflow: both sides are Int32 values widened.
        let node = p.pointee
        let rightMinusOne = Int(Int32(bitPattern: node.packed) &>> Int32(layout.shift))
        let goRight = (Int(node.threshold) &- Int(x[Int(node.packed & layout.mask)])) &>> 63  // −1 or 0
        return p + 1 + (rightMinusOne & goRight)
    }

    /// ``step(_:_:_:)`` with the sign shift read at run time. In the attribution loops (more
    /// work per step, memory updates) LLVM turned the constant-shift step's select into a
    /// branch taken about half the time, which halved the speed of PDs with reasons.
    @inline(__always)
    static func stepOpaque(_ p: UnsafePointer<Node>, _ x: UnsafePointer<Int32>, _ layout: Layout, signShift: Int) -> UnsafePointer<Node> {
        let node = p.pointee
        let rightMinusOne = Int(Int32(bitPattern: node.packed) &>> Int32(layout.shift))
        let goRight = (Int(node.threshold) &- Int(x[Int(node.packed & layout.mask)])) &>> signShift  // −1 or 0
        return p + 1 + (rightMinusOne & goRight)
    }

    /// The leaves that the eight rows of a key block reach in one tree, walked in lockstep:
    /// eight independent chains of loads, held in eight registers. Every four steps the walk
    /// stops if every lane is at a leaf (a leaf's `packed` is negative as an `Int32`, a
    /// split's is not), else after `depth` steps. Random-forest paths are uneven: the deepest
    /// of eight rows' leaves is on average about three levels above the tree's depth (demo
    /// bundle: 13.9 against 16.8).
    ///
    /// Unsafe pointers: `nodes` is the base of `self.nodes`, and every step stays inside the
    /// tree by construction; `block` is a block of ``FeatureBatch`` keys (`2·width·8`), and
    /// every slot is below `2·width·8` (features are checked at load).
    @inline(__always)
    static func leaves(root: Int, depth: Int, _ block: UnsafePointer<Int32>, _ nodes: UnsafePointer<Node>,
                       _ layout: Layout) -> SIMD8<Int32> {
        let r = nodes + root
        var p0 = r, p1 = r, p2 = r, p3 = r, p4 = r, p5 = r, p6 = r, p7 = r
        var remaining = depth
        while remaining > 0 {
            let steps = Swift.min(remaining, 4)
            for _ in 0..<steps {
                p0 = step(p0, block, layout); p1 = step(p1, block + 1, layout)
                p2 = step(p2, block + 2, layout); p3 = step(p3, block + 3, layout)
                p4 = step(p4, block + 4, layout); p5 = step(p5, block + 5, layout)
                p6 = step(p6, block + 6, layout); p7 = step(p7, block + 7, layout)
            }
            remaining &-= steps
            if allAtLeaves(p0, p1, p2, p3, p4, p5, p6, p7) { break }
        }
        return indices(nodes, p0, p1, p2, p3, p4, p5, p6, p7)
    }

    /// ``leaves(root:depth:_:_:_:)`` for ``Layout/common``, compiled on its own: inlined
    /// into a larger loop, the walk lost registers to its surroundings and spilled lanes to
    /// the stack on every step. (One call per tree and block of eight rows.)
    @inline(never)
    static func leavesCommonLayout(root: Int, depth: Int, _ block: UnsafePointer<Int32>, _ nodes: UnsafePointer<Node>) -> SIMD8<Int32> {
        leaves(root: root, depth: depth, block, nodes, .common)
    }

    /// Whether all eight nodes are leaves: a leaf's `packed` is negative as an `Int32` (its
    /// offset is −1), a split's is not, so the AND of the eight is negative exactly then.
    @inline(__always)
    static func allAtLeaves(_ p0: UnsafePointer<Node>, _ p1: UnsafePointer<Node>, _ p2: UnsafePointer<Node>,
                            _ p3: UnsafePointer<Node>, _ p4: UnsafePointer<Node>, _ p5: UnsafePointer<Node>,
                            _ p6: UnsafePointer<Node>, _ p7: UnsafePointer<Node>) -> Bool {
        let all = p0.pointee.packed & p1.pointee.packed & p2.pointee.packed & p3.pointee.packed
            & p4.pointee.packed & p5.pointee.packed & p6.pointee.packed & p7.pointee.packed
        return Int32(bitPattern: all) < 0
    }

    /// Eight node pointers as indices into the array at `nodes`.
    @inline(__always)
    static func indices(_ nodes: UnsafePointer<Node>, _ p0: UnsafePointer<Node>, _ p1: UnsafePointer<Node>,
                        _ p2: UnsafePointer<Node>, _ p3: UnsafePointer<Node>, _ p4: UnsafePointer<Node>,
                        _ p5: UnsafePointer<Node>, _ p6: UnsafePointer<Node>, _ p7: UnsafePointer<Node>) -> SIMD8<Int32> {
        SIMD8(Int32(truncatingIfNeeded: p0 - nodes), Int32(truncatingIfNeeded: p1 - nodes), Int32(truncatingIfNeeded: p2 - nodes),
              Int32(truncatingIfNeeded: p3 - nodes), Int32(truncatingIfNeeded: p4 - nodes), Int32(truncatingIfNeeded: p5 - nodes),
              Int32(truncatingIfNeeded: p6 - nodes), Int32(truncatingIfNeeded: p7 - nodes))
    }

    /// The leaves one row reaches in up to 2 × ``lanes`` consecutive trees (trees `16·pair
    /// ..< 16·pair + 16`, groups `2·pair` and `2·pair + 1`), walked in lockstep across the
    /// trees for the deeper group's depth: for a lone row, sixteen trees give sixteen
    /// independent chains of loads. In a busy server a lone row's walk waits on cache misses
    /// more than it computes (the demo forest at one application, eight chains at a time:
    /// 5.7 µs with the caches warm, 37.7 µs at p50 with them flushed, Bench's `forest/batch 1,
    /// caches flushed`), and twice the chains in flight wait about a quarter less (5.0 and
    /// 28.6 µs); the sixteen lanes no longer fit in registers, which costs little against a
    /// miss. (Boosted trees, shallow and complete, and walks with attributions keep eight.) Lanes past the last tree repeat it
    /// (and are ignored). Pointers as in ``leaves(root:depth:_:_:_:)``; `x` is the row's first
    /// key (stride ``lanes``).
    @inline(never)
    func leaves(pair: Int, _ x: UnsafePointer<Int32>, _ nodes: UnsafePointer<Node>) -> (first: SIMD8<Int32>, second: SIMD8<Int32>, trees: Int) {
        let first = pair * 2 * Self.lanes
        let count = Swift.min(2 * Self.lanes, roots.count - first)
        let last = count - 1, layout = self.layout
        let depth = Swift.max(groupDepths[2 * pair], 2 * pair + 1 < groupDepths.count ? groupDepths[2 * pair + 1] : 0)
        func root(_ k: Int) -> UnsafePointer<Node> { nodes + roots[first + Swift.min(k, last)] }
        var p0 = root(0), p1 = root(1), p2 = root(2), p3 = root(3), p4 = root(4), p5 = root(5), p6 = root(6), p7 = root(7)
        var q0 = root(8), q1 = root(9), q2 = root(10), q3 = root(11), q4 = root(12), q5 = root(13), q6 = root(14), q7 = root(15)
        for _ in 0..<depth {
            p0 = Self.step(p0, x, layout); q0 = Self.step(q0, x, layout); p1 = Self.step(p1, x, layout); q1 = Self.step(q1, x, layout)
            p2 = Self.step(p2, x, layout); q2 = Self.step(q2, x, layout); p3 = Self.step(p3, x, layout); q3 = Self.step(q3, x, layout)
            p4 = Self.step(p4, x, layout); q4 = Self.step(q4, x, layout); p5 = Self.step(p5, x, layout); q5 = Self.step(q5, x, layout)
            p6 = Self.step(p6, x, layout); q6 = Self.step(q6, x, layout); p7 = Self.step(p7, x, layout); q7 = Self.step(q7, x, layout)
        }
        return (Self.indices(nodes, p0, p1, p2, p3, p4, p5, p6, p7), Self.indices(nodes, q0, q1, q2, q3, q4, q5, q6, q7), count)
    }

    /// The leaf one row reaches from `root`, stopping at the leaf (for blocks too small to
    /// fill the lanes). Pointers as in ``leaves(pair:_:_:)``.
    @inline(__always)
    static func leaf(root: Int, _ x: UnsafePointer<Int32>, _ nodes: UnsafePointer<Node>, _ layout: Layout) -> Int {
        var p = nodes + root
        while true {
            let next = step(p, x, layout)
            if next == p { return p - nodes }  // a leaf's self-loop
            p = next
        }
    }

    /// Path attribution for the eight rows of a key block walked in lockstep for up to
    /// `depth` steps (it stops, checking every four steps, once every lane is at its leaf);
    /// lane `k` adds `values[child] − values[node]` to row `k` of `contributions` (a leaf's
    /// self-loop adds zero). Pointers as in
    /// ``leaves(root:depth:_:_:_:)``; `values` has one value per node; `contributions` holds
    /// the block's `lanes × width` values.
    @inline(__always)
    func attributeBlock(root: Int, depth: Int, _ block: UnsafePointer<Int32>, _ nodes: UnsafePointer<Node>,
                        values: UnsafePointer<Double>, into contributions: UnsafeMutablePointer<Double>) -> SIMD8<Int32> {
        let layout = self.layout, width = self.width, signShift = self.signShift
        return features.withUnsafeBufferPointer { features in
        @inline(__always)
        func advance(_ p: inout UnsafePointer<Node>, _ lane: Int) {
            let next = Self.stepOpaque(p, block + lane, layout, signShift: signShift)
            let i = p - nodes
            contributions[lane * width + Int(features[i])] += values[next - nodes] - values[i]
            p = next
        }
        let r = nodes + root
        var p0 = r, p1 = r, p2 = r, p3 = r, p4 = r, p5 = r, p6 = r, p7 = r
        var remaining = depth
        while remaining > 0 {
            let steps = Swift.min(remaining, 4)
            for _ in 0..<steps {
                advance(&p0, 0); advance(&p1, 1); advance(&p2, 2); advance(&p3, 3)
                advance(&p4, 4); advance(&p5, 5); advance(&p6, 6); advance(&p7, 7)
            }
            remaining &-= steps
            // Every lane at a leaf: the remaining steps would add zeros.
            if Self.allAtLeaves(p0, p1, p2, p3, p4, p5, p6, p7) { break }
        }
        return Self.indices(nodes, p0, p1, p2, p3, p4, p5, p6, p7)
        }
    }

    /// Path attribution for one row in up to ``lanes`` consecutive trees (group `group`): the
    /// eight paths are found in lockstep across the trees, as ``leaves(pair:_:_:)`` does,
    /// each step's node kept in `path` (`lanes × (groupDepths[group] + 1)` indices); then each
    /// tree's path adds its edges (`value(child) − value(node)` to the split's feature) to the
    /// row's `contributions`, tree by tree in order and step by step to the leaf: the same
    /// additions in the same order as ``attribute(root:_:_:edges:into:)`` makes one tree at a
    /// time, so a row's contributions do not depend on whether it was scored alone. (Walking
    /// the trees one at a time, a lone row waits on one chain of dependent loads, most of them
    /// cache misses in a busy server: 31 µs per application with reasons on the demo bundle,
    /// 23 µs in lockstep.) Returns the leaves, and the trees in the group. Pointers as in
    /// ``leaves(pair:_:_:)``; `edges` has one edge per node; `contributions` holds the row's
    /// `width` values.
    @inline(__always)
    func attribute(group: Int, _ x: UnsafePointer<Int32>, _ nodes: UnsafePointer<Node>, edges: UnsafePointer<Edge>,
                   path: UnsafeMutableBufferPointer<Int32>, into contributions: UnsafeMutablePointer<Double>) -> (leaves: SIMD8<Int32>, trees: Int) {
        let first = group * Self.lanes
        let count = Swift.min(Self.lanes, roots.count - first)
        let last = count - 1, layout = self.layout, depth = groupDepths[group], stride = depth + 1, k = signShift
        // Lane l's steps go to path[l × stride ..< l × stride + depth]: all inside the buffer.
        precondition(path.count >= Self.lanes * stride, "path holds lanes × (depth + 1) nodes")
        var p0 = nodes + roots[first], p1 = nodes + roots[first + Swift.min(1, last)]
        var p2 = nodes + roots[first + Swift.min(2, last)], p3 = nodes + roots[first + Swift.min(3, last)]
        var p4 = nodes + roots[first + Swift.min(4, last)], p5 = nodes + roots[first + Swift.min(5, last)]
        var p6 = nodes + roots[first + Swift.min(6, last)], p7 = nodes + roots[first + last]
        // Steps taken before each lane reached its leaf (a step that stays put is the self-loop).
        var length = SIMD8<Int32>(repeating: 0)
        var before = Self.indices(nodes, p0, p1, p2, p3, p4, p5, p6, p7)
        for s in 0..<depth {
            // stepOpaque: with step's constant shift LLVM made branches of this loop's selects.
            p0 = Self.stepOpaque(p0, x, layout, signShift: k); p1 = Self.stepOpaque(p1, x, layout, signShift: k)
            p2 = Self.stepOpaque(p2, x, layout, signShift: k); p3 = Self.stepOpaque(p3, x, layout, signShift: k)
            p4 = Self.stepOpaque(p4, x, layout, signShift: k); p5 = Self.stepOpaque(p5, x, layout, signShift: k)
            p6 = Self.stepOpaque(p6, x, layout, signShift: k); p7 = Self.stepOpaque(p7, x, layout, signShift: k)
            let after = Self.indices(nodes, p0, p1, p2, p3, p4, p5, p6, p7)
            for lane in 0..<Self.lanes { path[lane * stride + s] = after[lane] }
            length &+= SIMD8(repeating: 1).replacing(with: 0, where: after .== before)
            before = after
        }
        for lane in 0..<count {
            let steps = UnsafeMutableBufferPointer(rebasing: path[(lane * stride)..<(lane * stride + depth)])
            for s in 0..<Int(length[lane]) {
                let edge = edges[Int(steps[s])]
                contributions[Int(edge.feature)] += edge.delta
            }
        }
        return (before, count)
    }

    /// Walks one row from `root` to its leaf, adding each edge taken (`value(child) −
    /// value(node)` to the split's feature) to the row's contributions (path attribution);
    /// returns the leaf. Pointers as in ``attribute(group:_:_:edges:path:into:)``.
    @inline(__always)
    func attribute(root: Int, _ x: UnsafePointer<Int32>, _ nodes: UnsafePointer<Node>, edges: UnsafePointer<Edge>,
                   into contributions: UnsafeMutablePointer<Double>) -> Int {
        var p = nodes + root
        while true {
            let next = Self.stepOpaque(p, x, layout, signShift: signShift)
            if next == p { return p - nodes }  // a leaf's self-loop
            let edge = edges[next - nodes]
            contributions[Int(edge.feature)] += edge.delta
            p = next
        }
    }
}

extension FlatTrees {
    /// Walks every row of a batch through every tree and reports each leaf reached, in tree
    /// order for each row, through `leaf(row, node index)`; with `contributions`
    /// (`rows × width`), also adds path attributions from `attribution` (made by
    /// ``attribution(values:)`` on these trees).
    ///
    /// Full blocks of eight rows walk a tree in lockstep (so do blocks of four to seven: the
    /// spare lanes walk and are ignored); one to three rows walk sixteen trees at a time, or
    /// eight with attributions.
    /// Pointers as in ``leaves(root:depth:_:_:_:)``.
    ///
    /// - Complexity: O(rows × trees × depth).
    @inline(__always)
    func walk(_ batch: FeatureBatch, attribution: Attribution?, contributions: UnsafeMutableBufferPointer<Double>?,
              _ leaf: (_ row: Int, _ node: Int) -> Void) {
        precondition(batch.width == width, "batch width")
        precondition(contributions == nil || attribution?.values.count == nodes.count, "contributions need this layout's attribution")
        let blockSize = 2 * width * Self.lanes, layout = self.layout
        let values = attribution?.values ?? [], edges = attribution?.edges ?? []
        nodes.withUnsafeBufferPointer { nodes in
            values.withUnsafeBufferPointer { values in
            edges.withUnsafeBufferPointer { edges in
                guard let nodes = nodes.baseAddress, let keys = batch.keys.baseAddress else { return }
                // With contributions, `values` and `edges` have one entry per node (checked above).
                let attributing = contributions.flatMap { out in
                    values.baseAddress.flatMap { v in edges.baseAddress.map { (out: out, values: v, edges: $0) } }
                }
                /// Row `r`'s first key (stride `lanes`), inside `batch.keys` by its layout.
                func row(_ r: Int) -> UnsafePointer<Int32> { keys + r / Self.lanes * blockSize + r % Self.lanes }
                if batch.rows < 4 {
                    // Eight lanes' paths for the deepest group of trees (see attribute(group:…)).
                    let pathSize = contributions == nil ? 0 : Self.lanes * (maximumDepth + 1)
                    withUnsafeTemporaryAllocation(of: Int32.self, capacity: pathSize) { path in
                        for r in 0..<batch.rows {
                            if let a = attributing, let out = a.out.baseAddress {
                                for group in groupDepths.indices {
                                    let (found, count) = attribute(group: group, row(r), nodes, edges: a.edges, path: path, into: out + r * width)
                                    for lane in 0..<count { leaf(r, Int(found[lane])) }
                                }
                            } else {
                                for pair in 0..<((groupDepths.count + 1) / 2) {
                                    let (first, second, count) = leaves(pair: pair, row(r), nodes)
                                    for lane in 0..<Swift.min(count, Self.lanes) { leaf(r, Int(first[lane])) }
                                    for lane in 0..<Swift.max(0, count - Self.lanes) { leaf(r, Int(second[lane])) }
                                }
                            }
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
                        if let a = attributing, let out = a.out.baseAddress, rows == Self.lanes {
                            found = attributeBlock(root: root, depth: depth, block, nodes, values: a.values, into: out + start * width)
                        } else if let a = attributing, let out = a.out.baseAddress {
                            for lane in 0..<rows {
                                found[lane] = Int32(attribute(root: root, block + lane, nodes, edges: a.edges, into: out + (start + lane) * width))
                            }
                        } else if rows >= 4 && layout.shift == Layout.common.shift {
                            found = Self.leavesCommonLayout(root: root, depth: depth, block, nodes)
                        } else if rows >= 4 {
                            found = Self.leaves(root: root, depth: depth, block, nodes, layout)
                        } else {
                            for lane in 0..<rows { found[lane] = Int32(Self.leaf(root: root, block + lane, nodes, layout)) }
                        }
                        if rows == Self.lanes {
                            // A constant count: unrolled, with no per-lane test.
                            for lane in 0..<Self.lanes { leaf(start + lane, Int(found[lane])) }
                        } else {
                            for lane in 0..<rows { leaf(start + lane, Int(found[lane])) }
                        }
                        start += rows
                    }
                }
            }
            }
        }
    }
}
