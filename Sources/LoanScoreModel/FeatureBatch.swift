/// A batch of model-ready rows: float64 as encoded, and the split keys the trees compare.
///
/// Both XGBoost and scikit-learn compare a feature cast to float32. Each float32 value
/// becomes an order-preserving `Int32` *key* (``SplitKey``), held in two columns: one with
/// NaN (missing) as a key below every threshold, one with NaN as a key above every threshold.
/// A split reads the column that sends NaN its own way, so a tree step is one integer load
/// and one integer comparison, with no NaN test.
///
/// Keys are stored in blocks of ``lanes`` rows, column-major inside a block: the key of row
/// `r`, key column `c` (`0 ..< 2·width`; `c < width` missing-left copy of feature `c`, else
/// missing-right copy of feature `c − width`) is at `block(r / 8) + c · 8 + r % 8`. Eight rows
/// walked in lockstep then share one address computation per step (the row is a constant
/// displacement), and a lone row reads its keys with stride 8. Lanes past the last row of the
/// last block hold key 0 (walked, never reported).
public struct FeatureBatch {
    /// Number of rows.
    public let rows: Int
    /// Values per row.
    public let width: Int
    /// `rows × width` float64 values, row-major, NaN for missing.
    public let doubles: UnsafeBufferPointer<Double>
    /// ``keyCount(rows:width:)`` keys in blocks of eight rows (see the type's description).
    public let keys: UnsafeBufferPointer<Int32>

    /// Rows per block of keys.
    public static let lanes = 8

    /// The number of keys a batch of `rows × width` values needs.
    public static func keyCount(rows: Int, width: Int) -> Int { (rows + lanes - 1) / lanes * lanes * 2 * width }

    /// Converts `doubles` (`rows × width`) into `keys` (at least
    /// ``keyCount(rows:width:)``) and describes the batch.
    public init(rows: Int, width: Int, doubles: UnsafeBufferPointer<Double>, keys: UnsafeMutableBufferPointer<Int32>) {
        let count = Self.keyCount(rows: rows, width: width)
        precondition(doubles.count >= rows * width && keys.count >= count,
                     "buffers hold rows × width values and keyCount(rows:width:) keys")
        for r in 0..<rows {
            let block = r / Self.lanes * Self.lanes * 2 * width, lane = r % Self.lanes
            for j in 0..<width {
                let value = doubles[r * width + j]
                let key = SplitKey.key(Float(value)), nan = value.isNaN
                keys[block + j * Self.lanes + lane] = nan ? SplitKey.missingLeft : key
                keys[block + (width + j) * Self.lanes + lane] = nan ? SplitKey.missingRight : key
            }
        }
        // The unused lanes of the last block.
        for r in rows..<((rows + Self.lanes - 1) / Self.lanes * Self.lanes) {
            let block = r / Self.lanes * Self.lanes * 2 * width, lane = r % Self.lanes
            for c in 0..<(2 * width) { keys[block + c * Self.lanes + lane] = 0 }
        }
        self.rows = rows
        self.width = width
        self.doubles = doubles
        self.keys = UnsafeBufferPointer(rebasing: keys[0..<count])
    }

    /// Runs `body` with a one-row batch of `row`.
    static func withSingleRow<T>(_ row: UnsafeBufferPointer<Double>, _ body: (FeatureBatch) -> T) -> T {
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: keyCount(rows: 1, width: row.count)) { keys in
            body(FeatureBatch(rows: 1, width: row.count, doubles: row, keys: keys))
        }
    }
}

/// Float32 values as `Int32` keys that order exactly as the floats compare, so that a split
/// is an integer comparison.
///
/// For non-NaN float32 `a`, `b`: `a <= b` exactly when `key(a) <= key(b)`. The key is the
/// bit pattern with negative values' magnitude bits flipped, after −0 is made +0 (the two
/// compare equal as floats). NaN has no key: a row's NaN becomes ``missingLeft`` or
/// ``missingRight``, which lie below and above the key of every float32 (−∞ and +∞
/// included), so `missingLeft <= t` and `!(missingRight <= t)` for every threshold key `t`.
///
/// Every split is stored as `key(value) <= t`: scikit-learn's `value <= threshold` with `t =
/// key(threshold)`, and XGBoost's `value < split_condition` with `t = key(split_condition)
/// − 1` (keys are integers). A leaf of ``FlatTrees`` has `t = Int32.min`, which no key
/// reaches, so a walk at a leaf always takes the right-hand offset (zero: it stays).
enum SplitKey {
    /// A missing value at a split whose missing values go left: below every float's key.
    static let missingLeft = Int32.min + 1
    /// A missing value at a split whose missing values go right: above every float's key.
    static let missingRight = Int32.max
    /// A threshold no key reaches (`key <= never` is always false).
    static let never = Int32.min

    /// The order-preserving key of a non-NaN float32.
    @inline(__always)
    static func key(_ value: Float) -> Int32 {
        let bits = Int32(bitPattern: (value == 0 ? 0 : value).bitPattern)
        return bits ^ ((bits >> 31) & 0x7FFF_FFFF)
    }

    /// The key `t` with `key(x) <= t` exactly when `x <= threshold` (`strict` false) or `x <
    /// threshold` (`strict` true), for every non-NaN float32 `x`. `threshold` is not NaN.
    static func threshold(_ threshold: Float, strict: Bool) -> Int32 {
        precondition(!threshold.isNaN, "a split threshold is not NaN")
        // key(−∞) − 1 is still above missingLeft: both copies keep their meaning.
        return key(threshold) - (strict ? 1 : 0)
    }
}
