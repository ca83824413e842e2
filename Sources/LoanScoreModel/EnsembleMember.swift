/// A compiled ensemble member: evaluates one model-ready row to a probability and explains it.
///
/// Rows are `featureCount` float64 values in the manifest's `features` order, NaN for missing.
public protocol EnsembleMember: Sendable {
    /// Number of model-ready columns the member reads.
    var featureCount: Int { get }

    /// The member's probability of the positive class (default), exactly as its training
    /// library computes it (BUNDLE.md gives each library's rules).
    func probability(_ row: UnsafeBufferPointer<Double>) -> Double

    /// Adds `scale ×` the per-column contributions (BUNDLE.md, "Reason codes") to
    /// `contributions`, in probability units. `probability` is this member's output for the
    /// row, used to turn margin contributions into probability units.
    func addContributions(_ row: UnsafeBufferPointer<Double>, probability: Double, scale: Double,
                          into contributions: UnsafeMutableBufferPointer<Double>)
}
