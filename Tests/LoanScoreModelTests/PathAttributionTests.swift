@testable import LoanScoreModel
import LoanScoreTestSupport
import Testing

/// The lockstep walks' path attributions (``FlatTrees/walk(_:attribution:contributions:_:)``) give
/// what walking each row down each tree node by node and adding `value(child) − value(node)` to
/// the split's feature gives (Saabas), for every path through the walk: full blocks, partial
/// blocks, rows alone.
@Suite("Path attribution")
struct PathAttributionTests {
    static let width = 5

    /// Random trees in the given-tree format (children after parents), depth 0 to 9, with
    /// thresholds on a small grid so that rows hit them exactly, and random node values.
    static func forest(trees: Int, seed: UInt64) -> (trees: [FlatTrees.Tree], values: [[Double]]) {
        var rng = SplitMix64(seed: seed)
        var all: [FlatTrees.Tree] = [], values: [[Double]] = []
        for _ in 0..<trees {
            var tree: FlatTrees.Tree = [(0, 0, false, -1, -1)]
            var depth = [0]
            var open = [0]
            while let i = open.popLast() {
                guard depth[i] < 9, rng.next() % 4 != 0 else { continue }  // some trees are a lone leaf
                let left = tree.count, right = tree.count + 1
                tree[i] = (Float(Int(rng.next() % 9) - 4) / 2, Int(rng.next() % UInt64(width)), rng.next() % 2 == 0, left, right)
                tree += [(0, 0, false, -1, -1), (0, 0, false, -1, -1)]
                depth += [depth[i] + 1, depth[i] + 1]
                open += [left, right]
            }
            all.append(tree)
            values.append(tree.map { _ in Double(rng.next() % 1_000_000) / 1_000_000 })
        }
        return (all, values)
    }

    /// Row `x`'s leaf and Saabas attributions in one given tree, walking it node by node.
    static func reference(_ tree: FlatTrees.Tree, _ values: [Double], _ x: ArraySlice<Double>, into out: inout [Double]) -> Int {
        var i = 0
        while tree[i].left >= 0 {
            let node = tree[i], value = x[x.startIndex + node.feature]
            // scikit-learn's rule (FlatTrees built with strict: false): left when value <= threshold.
            let left = value.isNaN ? node.missingLeft : Float(value) <= node.threshold
            let child = left ? node.left : node.right
            out[node.feature] += values[child] - values[i]
            i = child
        }
        return i
    }

    @Test(arguments: [1, 2, 3, 4, 5, 7, 8, 9, 13, 64])
    func lockstepAttributionsEqualWalkingEachPath(rows: Int) throws {
        let width = Self.width
        let (trees, values) = Self.forest(trees: 23, seed: UInt64(rows))
        let flat = try #require(FlatTrees(trees: trees, strict: false, width: width))
        let given = Array(values.joined())
        let nodeValues = flat.original.map { given[$0] }
        let grid: [Double] = [.nan, -2, -1.5, -1, -0.5, 0, 0.25, 0.5, 1, 1.5, 2, 3]
        var rng = SplitMix64(seed: 99)
        let matrix = (0..<(rows * width)).map { _ in grid[Int(rng.next() % UInt64(grid.count))] }

        var expected = [Double](repeating: 0, count: rows * width)
        var expectedLeaves: [[Double]] = Array(repeating: [], count: rows)
        for r in 0..<rows {
            var out = [Double](repeating: 0, count: width)
            for (t, tree) in trees.enumerated() {
                let leaf = Self.reference(tree, values[t], matrix[(r * width)..<((r + 1) * width)], into: &out)
                expectedLeaves[r].append(values[t][leaf])
            }
            expected.replaceSubrange((r * width)..<((r + 1) * width), with: out)
        }

        let attribution = flat.attribution(values: nodeValues)
        /// Rows `range` of the matrix walked as one batch: their contributions and leaf values.
        func walk(_ range: Range<Int>) -> (contributions: [Double], leaves: [[Double]]) {
            var contributions = [Double](repeating: 0, count: range.count * width)
            var leaves: [[Double]] = Array(repeating: [], count: range.count)
            var keys = [Int32](repeating: 0, count: FeatureBatch.keyCount(rows: range.count, width: width))
            let rowsMatrix = Array(matrix[(range.lowerBound * width)..<(range.upperBound * width)])
            rowsMatrix.withUnsafeBufferPointer { rowsMatrix in
                keys.withUnsafeMutableBufferPointer { keys in
                    contributions.withUnsafeMutableBufferPointer { contributions in
                        let batch = FeatureBatch(rows: range.count, width: width, doubles: rowsMatrix, keys: keys)
                        flat.walk(batch, attribution: attribution, contributions: contributions) { row, node in
                            leaves[row].append(nodeValues[node])
                        }
                    }
                }
            }
            return (contributions, leaves)
        }
        let (contributions, leaves) = walk(0..<rows)
        // Alone or in this batch, a row's attributions are the same bits (reasons must not
        // depend on the batch an application arrived in).
        let alone = (0..<rows).map { walk($0..<($0 + 1)).contributions }
        #expect(contributions == Array(alone.joined()))
        #expect(leaves == expectedLeaves)
        for (ours, theirs) in zip(contributions, expected) { #expect(abs(ours - theirs) < 1e-12) }
    }

    /// Without attributions every walk (sixteen trees at a time for one to three rows, one tree
    /// at a time for blocks) reports each row's leaves in tree order, whatever the number of
    /// trees: a whole number of sixteen, eight of a last pair, a lone tree past a pair.
    @Test(arguments: [1, 7, 8, 15, 16, 17, 24, 33])
    func everyWalkReachesTheReferenceLeavesInTreeOrder(treeCount: Int) throws {
        let width = Self.width
        let (trees, values) = Self.forest(trees: treeCount, seed: UInt64(treeCount) &* 31)
        let flat = try #require(FlatTrees(trees: trees, strict: false, width: width))
        let given = Array(values.joined())
        let nodeValues = flat.original.map { given[$0] }
        let grid: [Double] = [.nan, -2, -1.5, -1, -0.5, 0, 0.25, 0.5, 1, 1.5, 2, 3]
        var rng = SplitMix64(seed: 7)
        for rows in [1, 2, 3, 4, 9] {
            let matrix = (0..<(rows * width)).map { _ in grid[Int(rng.next() % UInt64(grid.count))] }
            var scratch = [Double](repeating: 0, count: width)
            let expected = (0..<rows).map { r in
                trees.indices.map { t in values[t][Self.reference(trees[t], values[t], matrix[(r * width)..<((r + 1) * width)], into: &scratch)] }
            }
            var leaves: [[Double]] = Array(repeating: [], count: rows)
            var keys = [Int32](repeating: 0, count: FeatureBatch.keyCount(rows: rows, width: width))
            matrix.withUnsafeBufferPointer { matrix in
                keys.withUnsafeMutableBufferPointer { keys in
                    let batch = FeatureBatch(rows: rows, width: width, doubles: matrix, keys: keys)
                    flat.walk(batch, attribution: nil, contributions: nil) { row, node in leaves[row].append(nodeValues[node]) }
                }
            }
            #expect(leaves == expected, "\(rows) row(s), \(treeCount) trees")
        }
    }
}
