/// Shallow trees padded to complete binary trees of one depth, for the fastest PD path.
///
/// Node `i` of a tree has children `2i + 1` (left) and `2i + 2` (right), so a node needs no
/// child pointers (8 bytes: threshold key and key slot, as in ``FlatTrees``) and a walk is
/// exactly `depth` branch-free steps: `i = 2i + 2 − goLeft`. A leaf above the full depth is padded by copying it into
/// both subtrees, so whichever way a padded split goes, the walk ends at the same value.
/// Gradient-boosted trees are shallow (XGBoost's default `max_depth` is 6); deep trees such
/// as a random forest's stay in ``FlatTrees``.
struct CompleteTrees: Sendable {
    struct Node: Sendable {
        /// Go left when the row's key is `<=` this (``SplitKey``).
        var threshold: Int32
        /// The key column times ``FeatureBatch/lanes``: the key's offset in a block.
        var slot: UInt32
    }

    /// The deepest tree this layout takes: 2^8 leaves per tree.
    static let maximumDepth = 8

    let depth: Int
    let internalCount: Int
    let leafCount: Int
    /// `trees × internalCount` nodes, tree after tree.
    let nodes: [Node]
    /// `trees × leafCount` leaf values, tree after tree.
    let leaves: [Double]
    let treeCount: Int

    /// Pads trees given as in ``FlatTrees/init(trees:strict:width:)``; `leafValue(t, i)` is
    /// the value of leaf `i` of tree `t`. Returns nil when a tree is deeper than
    /// ``maximumDepth``.
    init?(trees: [FlatTrees.Tree], depths: [Int],
          strict: Bool, width: Int, leafValue: (Int, Int) -> Double) {
        guard let depth = depths.max(), depth <= Self.maximumDepth else { return nil }
        self.depth = depth
        internalCount = (1 << depth) - 1
        leafCount = 1 << depth
        treeCount = trees.count
        var nodes = [Node](repeating: Node(threshold: 0, slot: 0), count: trees.count * internalCount)
        var leaves = [Double](repeating: 0, count: trees.count * leafCount)
        for (t, tree) in trees.enumerated() {
            let nodeBase = t * internalCount, leafBase = t * leafCount
            // (node of the original tree, index in the complete tree, levels left)
            var stack = [(0, 0, depth)]
            while let (node, index, levels) = stack.popLast() {
                if levels == 0 {
                    // Reached the bottom: `node` is a leaf here (checked by depth), or a padded copy of one.
                    leaves[leafBase + index - internalCount] = leafValue(t, node)
                    continue
                }
                let original = tree[node]
                if original.left < 0 {
                    // A leaf above the bottom: any split, both subtrees the same leaf.
                    nodes[nodeBase + index] = Node(threshold: 0, slot: 0)
                    stack.append((node, 2 * index + 1, levels - 1))
                    stack.append((node, 2 * index + 2, levels - 1))
                } else {
                    let column = original.feature + (original.missingLeft ? 0 : width)
                    nodes[nodeBase + index] = Node(threshold: SplitKey.threshold(original.threshold, strict: strict),
                                                   slot: UInt32(column * FeatureBatch.lanes))
                    stack.append((original.left, 2 * index + 1, levels - 1))
                    stack.append((original.right, 2 * index + 2, levels - 1))
                }
            }
        }
        self.nodes = nodes
        self.leaves = leaves
    }

    /// 1 when the row whose keys are at `x` (stride ``FeatureBatch/lanes``) goes left at
    /// `node`, else 0, without a branch. (Walks use wrapping arithmetic: indices stay below
    /// `2^(depth+1)` by construction, and overflow checks would double the steps' work.)
    @inline(__always)
    static func left(_ node: Node, _ x: UnsafePointer<Int32>) -> Int {
        x[Int(node.slot)] <= node.threshold ? 1 : 0
    }

    /// Leaf values of tree `t` for the eight rows of a key block: a feature's eight keys share
    /// one address computation (the lane is a constant displacement), so the eight walks fit
    /// in registers.
    ///
    /// Unsafe pointers: `nodes` and `leaves` are the bases of this layout's arrays; indices stay
    /// within tree `t`'s `internalCount` nodes and `leafCount` leaves by construction; `block`
    /// is a block of ``FeatureBatch`` keys and every slot is inside it (features are checked
    /// at load).
    @inline(__always)
    func walkEight(tree t: Int, _ nodes: UnsafePointer<Node>, _ leaves: UnsafePointer<Double>,
                   _ block: UnsafePointer<Int32>) -> (Double, Double, Double, Double, Double, Double, Double, Double) {
        let base = nodes + t * internalCount
        var i0 = 0, i1 = 0, i2 = 0, i3 = 0, i4 = 0, i5 = 0, i6 = 0, i7 = 0
        for _ in 0..<depth {
            i0 = 2 &* i0 &+ 2 &- Self.left(base[i0], block); i1 = 2 &* i1 &+ 2 &- Self.left(base[i1], block + 1)
            i2 = 2 &* i2 &+ 2 &- Self.left(base[i2], block + 2); i3 = 2 &* i3 &+ 2 &- Self.left(base[i3], block + 3)
            i4 = 2 &* i4 &+ 2 &- Self.left(base[i4], block + 4); i5 = 2 &* i5 &+ 2 &- Self.left(base[i5], block + 5)
            i6 = 2 &* i6 &+ 2 &- Self.left(base[i6], block + 6); i7 = 2 &* i7 &+ 2 &- Self.left(base[i7], block + 7)
        }
        let leaf = leaves + t * leafCount - internalCount
        return (leaf[i0], leaf[i1], leaf[i2], leaf[i3], leaf[i4], leaf[i5], leaf[i6], leaf[i7])
    }

    /// Leaf values of trees `t … t+7` for one row (eight independent walks); `x` is the row's
    /// first key. Pointers as in ``walkEight(tree:_:_:_:)``.
    @inline(__always)
    func walkEightTrees(first t: Int, _ nodes: UnsafePointer<Node>, _ leaves: UnsafePointer<Double>,
                        _ x: UnsafePointer<Int32>) -> (Double, Double, Double, Double, Double, Double, Double, Double) {
        let b0 = nodes + t * internalCount, b1 = b0 + internalCount, b2 = b1 + internalCount, b3 = b2 + internalCount
        let b4 = b3 + internalCount, b5 = b4 + internalCount, b6 = b5 + internalCount, b7 = b6 + internalCount
        var i0 = 0, i1 = 0, i2 = 0, i3 = 0, i4 = 0, i5 = 0, i6 = 0, i7 = 0
        for _ in 0..<depth {
            i0 = 2 &* i0 &+ 2 &- Self.left(b0[i0], x); i1 = 2 &* i1 &+ 2 &- Self.left(b1[i1], x)
            i2 = 2 &* i2 &+ 2 &- Self.left(b2[i2], x); i3 = 2 &* i3 &+ 2 &- Self.left(b3[i3], x)
            i4 = 2 &* i4 &+ 2 &- Self.left(b4[i4], x); i5 = 2 &* i5 &+ 2 &- Self.left(b5[i5], x)
            i6 = 2 &* i6 &+ 2 &- Self.left(b6[i6], x); i7 = 2 &* i7 &+ 2 &- Self.left(b7[i7], x)
        }
        let l0 = leaves + t * leafCount - internalCount
        return (l0[i0], l0[leafCount + i1], l0[2 * leafCount + i2], l0[3 * leafCount + i3],
                l0[4 * leafCount + i4], l0[5 * leafCount + i5], l0[6 * leafCount + i6], l0[7 * leafCount + i7])
    }

    /// Tree `t`'s leaf value for one row. Pointers as in ``walkEightTrees(first:_:_:_:)``.
    @inline(__always)
    func walkOne(tree t: Int, _ nodes: UnsafePointer<Node>, _ leaves: UnsafePointer<Double>, _ x: UnsafePointer<Int32>) -> Double {
        let base = nodes + t * internalCount
        var i = 0
        for _ in 0..<depth { i = 2 &* i &+ 2 &- Self.left(base[i], x) }
        return leaves[t * leafCount + i - internalCount]
    }
}

extension CompleteTrees {
    /// Adds every tree's leaf value to each row's sum, in tree order per row, through `add`
    /// (XGBoost sums in float32, the forest in float64: the caller decides).
    ///
    /// Blocks of eight rows walk one tree at a time in lockstep (a last block of four to
    /// seven rows too: spare lanes walk and are ignored); one to three rows walk eight trees
    /// at a time.
    ///
    /// - Complexity: O(rows × trees × depth), branch-free.
    @inline(__always)
    func accumulate(_ batch: FeatureBatch, _ add: (_ row: Int, _ value: Double) -> Void) {
        let blockSize = 2 * batch.width * FeatureBatch.lanes
        nodes.withUnsafeBufferPointer { nodes in
            leaves.withUnsafeBufferPointer { leaves in
                guard let nodes = nodes.baseAddress, let leaves = leaves.baseAddress, let keys = batch.keys.baseAddress else { return }
                var start = 0
                while batch.rows - start >= 4 {
                    let block = keys + start / FeatureBatch.lanes * blockSize
                    let rows = Swift.min(FeatureBatch.lanes, batch.rows - start)
                    for t in 0..<treeCount {
                        let v = walkEight(tree: t, nodes, leaves, block)
                        if rows == FeatureBatch.lanes {
                            add(start, v.0); add(start + 1, v.1); add(start + 2, v.2); add(start + 3, v.3)
                            add(start + 4, v.4); add(start + 5, v.5); add(start + 6, v.6); add(start + 7, v.7)
                        } else {
                            let all = SIMD8(v.0, v.1, v.2, v.3, v.4, v.5, v.6, v.7)
                            for lane in 0..<rows { add(start + lane, all[lane]) }
                        }
                    }
                    start += rows
                }
                for r in start..<batch.rows {
                    let row = keys + r / FeatureBatch.lanes * blockSize + r % FeatureBatch.lanes
                    var t = 0
                    while treeCount - t >= 8 {
                        let v = walkEightTrees(first: t, nodes, leaves, row)
                        add(r, v.0); add(r, v.1); add(r, v.2); add(r, v.3); add(r, v.4); add(r, v.5); add(r, v.6); add(r, v.7)
                        t += 8
                    }
                    while t < treeCount {
                        add(r, walkOne(tree: t, nodes, leaves, row))
                        t += 1
                    }
                }
            }
        }
    }
}
