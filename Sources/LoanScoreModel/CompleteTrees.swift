/// Shallow trees padded to complete binary trees of one depth, for the fastest PD path
/// (XGBoost's float32 leaves).
///
/// Nodes are numbered from 1 in heap order: node `k` has children `2k` (left) and `2k + 1`
/// (right), so a node needs no child pointers (8 bytes: threshold key and key slot, as in
/// ``FlatTrees``) and a walk is exactly `depth` branch-free steps, `k = 2k + goRight` (one
/// `lea` after the comparison). After `depth` steps `k − 2^depth` is the leaf. A leaf above
/// the full depth is padded by copying it into both subtrees, so whichever way a padded split
/// goes, the walk ends at the same value. Gradient-boosted trees are shallow (XGBoost's
/// default `max_depth` is 6); deep trees such as a random forest's stay in ``FlatTrees``.
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
    /// `2^depth`: leaves per tree, and nodes per tree (slot 0 unused, then nodes 1 ..< 2^depth).
    let leafCount: Int
    /// `trees × leafCount` nodes, tree after tree; node `k` of tree `t` at `t · leafCount + k`.
    let nodes: [Node]
    /// `trees × leafCount` leaf values, tree after tree.
    let leaves: [Float]
    let treeCount: Int

    /// Pads trees given as in ``FlatTrees/init(trees:strict:width:)``; `leafValue(t, i)` is
    /// the value of leaf `i` of tree `t`. Returns nil when a tree is deeper than
    /// ``maximumDepth``.
    init?(trees: [FlatTrees.Tree], depths: [Int], strict: Bool, width: Int, leafValue: (Int, Int) -> Float) {
        guard let depth = depths.max(), depth <= Self.maximumDepth else { return nil }
        self.depth = depth
        leafCount = 1 << depth
        treeCount = trees.count
        var nodes = [Node](repeating: Node(threshold: 0, slot: 0), count: trees.count * leafCount)
        var leaves = [Float](repeating: 0, count: trees.count * leafCount)
        for (t, tree) in trees.enumerated() {
            let base = t * leafCount
            // (node of the original tree, heap number in the complete tree, levels left)
            var stack = [(0, 1, depth)]
            while let (node, k, levels) = stack.popLast() {
                if levels == 0 {
                    // Reached the bottom: `node` is a leaf here (checked by depth), or a padded copy of one.
                    leaves[base + k - leafCount] = leafValue(t, node)
                    continue
                }
                let original = tree[node]
                if original.left < 0 {
                    // A leaf above the bottom: any split, both subtrees the same leaf.
                    stack.append((node, 2 * k, levels - 1))
                    stack.append((node, 2 * k + 1, levels - 1))
                } else {
                    let column = original.feature + (original.missingLeft ? 0 : width)
                    nodes[base + k] = Node(threshold: SplitKey.threshold(original.threshold, strict: strict),
                                           slot: UInt32(column * FeatureBatch.lanes))
                    stack.append((original.left, 2 * k, levels - 1))
                    stack.append((original.right, 2 * k + 1, levels - 1))
                }
            }
        }
        self.nodes = nodes
        self.leaves = leaves
    }

    /// 1 when the row whose keys are at `x` (stride ``FeatureBatch/lanes``) goes right at
    /// `node`, else 0, without a branch. (Walks use wrapping arithmetic: numbers stay below
    /// `2^(depth+1)` by construction, and overflow checks would double the steps' work.)
    @inline(__always)
    static func right(_ node: Node, _ x: UnsafePointer<Int32>) -> Int {
        x[Int(node.slot)] > node.threshold ? 1 : 0
    }

    /// Leaf values of tree `t` for the eight rows of a key block: a feature's eight keys share
    /// one address computation (the lane is a constant displacement), so the eight walks fit
    /// in registers.
    ///
    /// Unsafe pointers: `nodes` and `leaves` are the bases of this layout's arrays; numbers
    /// stay below `2 · leafCount` (nodes below `leafCount`) by construction; `block` is a block
    /// of ``FeatureBatch`` keys and every slot is inside it (features are checked at load).
    @inline(__always)
    func walkEight(tree t: Int, _ nodes: UnsafePointer<Node>, _ leaves: UnsafePointer<Float>,
                   _ block: UnsafePointer<Int32>) -> SIMD8<Float> {
        let base = nodes + t * leafCount
        var k0 = 1, k1 = 1, k2 = 1, k3 = 1, k4 = 1, k5 = 1, k6 = 1, k7 = 1
        for _ in 0..<depth {
            k0 = 2 &* k0 &+ Self.right(base[k0], block); k1 = 2 &* k1 &+ Self.right(base[k1], block + 1)
            k2 = 2 &* k2 &+ Self.right(base[k2], block + 2); k3 = 2 &* k3 &+ Self.right(base[k3], block + 3)
            k4 = 2 &* k4 &+ Self.right(base[k4], block + 4); k5 = 2 &* k5 &+ Self.right(base[k5], block + 5)
            k6 = 2 &* k6 &+ Self.right(base[k6], block + 6); k7 = 2 &* k7 &+ Self.right(base[k7], block + 7)
        }
        let leaf = leaves + t * leafCount - leafCount
        return SIMD8(leaf[k0], leaf[k1], leaf[k2], leaf[k3], leaf[k4], leaf[k5], leaf[k6], leaf[k7])
    }

    /// Leaf values of trees `t … t+7` for one row (eight independent walks); `x` is the row's
    /// first key. Pointers as in ``walkEight(tree:_:_:_:)``.
    @inline(__always)
    func walkEightTrees(first t: Int, _ nodes: UnsafePointer<Node>, _ leaves: UnsafePointer<Float>,
                        _ x: UnsafePointer<Int32>) -> SIMD8<Float> {
        let n = leafCount
        let b0 = nodes + t * n, b1 = b0 + n, b2 = b1 + n, b3 = b2 + n, b4 = b3 + n, b5 = b4 + n, b6 = b5 + n, b7 = b6 + n
        var k0 = 1, k1 = 1, k2 = 1, k3 = 1, k4 = 1, k5 = 1, k6 = 1, k7 = 1
        for _ in 0..<depth {
            k0 = 2 &* k0 &+ Self.right(b0[k0], x); k1 = 2 &* k1 &+ Self.right(b1[k1], x)
            k2 = 2 &* k2 &+ Self.right(b2[k2], x); k3 = 2 &* k3 &+ Self.right(b3[k3], x)
            k4 = 2 &* k4 &+ Self.right(b4[k4], x); k5 = 2 &* k5 &+ Self.right(b5[k5], x)
            k6 = 2 &* k6 &+ Self.right(b6[k6], x); k7 = 2 &* k7 &+ Self.right(b7[k7], x)
        }
        let l0 = leaves + t * n - n
        return SIMD8(l0[k0], l0[n + k1], l0[2 * n + k2], l0[3 * n + k3], l0[4 * n + k4], l0[5 * n + k5], l0[6 * n + k6], l0[7 * n + k7])
    }

    /// Tree `t`'s leaf value for one row. Pointers as in ``walkEightTrees(first:_:_:_:)``.
    @inline(__always)
    func walkOne(tree t: Int, _ nodes: UnsafePointer<Node>, _ leaves: UnsafePointer<Float>, _ x: UnsafePointer<Int32>) -> Float {
        let base = nodes + t * leafCount
        var k = 1
        for _ in 0..<depth { k = 2 &* k &+ Self.right(base[k], x) }
        return leaves[t * leafCount + k - leafCount]
    }
}

extension CompleteTrees {
    /// Adds every tree's leaf value to each row's margin in float32, in tree order per row
    /// (as XGBoost's CPU predictor sums).
    ///
    /// Blocks of eight rows walk one tree at a time in lockstep and keep their eight sums in
    /// one vector across all trees (a lane-wise float32 add is the scalar add, row by row); a
    /// last block of four to seven rows too (spare lanes walk and are dropped). One to three
    /// rows walk eight trees at a time.
    ///
    /// - Complexity: O(rows × trees × depth), branch-free.
    func accumulate(_ batch: FeatureBatch, into margins: UnsafeMutableBufferPointer<Float>) {
        precondition(margins.count >= batch.rows, "one margin per row")
        let blockSize = 2 * batch.width * FeatureBatch.lanes
        nodes.withUnsafeBufferPointer { nodes in
            leaves.withUnsafeBufferPointer { leaves in
                guard let nodes = nodes.baseAddress, let leaves = leaves.baseAddress, let keys = batch.keys.baseAddress else { return }
                var start = 0
                while batch.rows - start >= 4 {
                    let block = keys + start / FeatureBatch.lanes * blockSize
                    let rows = Swift.min(FeatureBatch.lanes, batch.rows - start)
                    var sum = SIMD8<Float>()
                    for lane in 0..<rows { sum[lane] = margins[start + lane] }
                    for t in 0..<treeCount { sum += walkEight(tree: t, nodes, leaves, block) }
                    for lane in 0..<rows { margins[start + lane] = sum[lane] }
                    start += rows
                }
                for r in start..<batch.rows {
                    let row = keys + r / FeatureBatch.lanes * blockSize + r % FeatureBatch.lanes
                    var sum = margins[r], t = 0
                    while treeCount - t >= 8 {
                        let v = walkEightTrees(first: t, nodes, leaves, row)
                        for lane in 0..<8 { sum += v[lane] }
                        t += 8
                    }
                    while t < treeCount {
                        sum += walkOne(tree: t, nodes, leaves, row)
                        t += 1
                    }
                    margins[r] = sum
                }
            }
        }
    }
}
