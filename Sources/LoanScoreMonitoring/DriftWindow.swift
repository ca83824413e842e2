import Foundation
public import LoanScoreModel
import Synchronization

/// The rolling window of one model version's scored applications, binned against its
/// bundle's reference: the live counts behind `GET /drift`, the `loanscore_drift_psi` gauges
/// and `loanscore drift` (spec C). One window per model generation; every worker thread adds
/// to it concurrently.
///
/// The window holds the last ``capacity`` applications (default 10,000) and, when
/// ``maxAge`` is set, only those added at most that many seconds ago. It stores each
/// application's bin indices in a ring buffer (up to `capacity × fields` 32-bit indices) and
/// keeps a count per bin: adding an application increments its bins and, once full,
/// decrements the evicted application's, so an update is O(fields × log edges) whatever the
/// window's size, and a report O(bins). The ring grows (doubling) with the applications it
/// holds, so a window larger than its traffic (`loanscore drift --window` above the file's
/// rows) costs only what it holds.
///
/// Thread safety: ``add(slots:pds:rows:)``, ``report()``, ``applications`` and
/// ``approvalRate`` may be called from any thread; a batch is added under one lock (binning
/// happens before, outside it, into stack memory). Nothing allocates per application; the
/// ring's growth allocates O(log capacity) times in all.
///
/// Server integration, on the worker thread after `ScoringEngine.score` (with the pipeline's
/// batch encode that keeps slots, ``FeaturePipeline/encode(_:into:slots:outcomes:)``):
///
/// ```swift
/// workspace.slots.withUnsafeBufferPointer { slots in
///     workspace.scores.pd.withUnsafeBufferPointer { pds in
///         window.add(slots: slots, pds: pds, rows: workspace.scores.rows)
///     }
/// }
/// ```
public final class DriftWindow: Sendable {
    /// The bins live values are counted in.
    public let bins: ReferenceBins
    /// The model version named in reports.
    public let modelVersion: String
    /// The most applications the window holds (≥ 1).
    public let capacity: Int
    /// When set, applications added more than this many seconds ago leave the window.
    public let maxAge: Double?
    /// PDs below this count as approved (`policy.approve_below`), for ``approvalRate``.
    public let approveBelow: Double
    private let clock: @Sendable () -> Double
    private let state: Mutex<State>

    private struct State: Sendable {
        /// `slots × fieldCount` bin indices (global numbering), slot `(head + i) % slots`
        /// holding the i-th oldest application.
        var ring: [UInt32] = []
        /// When each application was added (seconds on `clock`); empty without `maxAge`.
        var stamps: [Double] = []
        /// Whether each application was approved (PD below `approveBelow`); its count is the
        /// ring's slots (≤ `capacity`).
        var approved: [Bool] = []
        var counts: [Int]
        var head = 0
        var count = 0
        var approvedCount = 0
    }

    /// The default clock: monotonic seconds (CLOCK_MONOTONIC), unaffected by wall-clock changes.
    public static let monotonicSeconds: @Sendable () -> Double = { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// An empty window.
    ///
    /// - Parameters:
    ///   - reference: the bundle's reference bins (``ModelBundle/reference``).
    ///   - modelVersion: the version named in reports.
    ///   - approveBelow: the policy's `approve_below` (``approvalRate``).
    ///   - capacity: the most applications held (≥ 1; default 10,000).
    ///   - maxAge: seconds after which an application leaves the window (> 0), or `nil`.
    ///   - clock: seconds, non-decreasing (tests pass a fake); defaults to ``monotonicSeconds``.
    /// - Complexity: O(bins); the ring grows with the applications held, up to
    ///   `capacity × fields × 4` bytes (400 KB for 10,000 applications of 10 fields), plus 9
    ///   bytes per application with `maxAge` (1 without).
    public init(reference: ReferenceProfile, modelVersion: String, approveBelow: Double, capacity: Int = 10_000,
                maxAge: Double? = nil, clock: @escaping @Sendable () -> Double = DriftWindow.monotonicSeconds) {
        precondition(capacity >= 1, "a window holds at least one application")
        precondition(maxAge.map { $0 > 0 } ?? true, "maxAge must be positive")
        bins = ReferenceBins(reference: reference)
        self.modelVersion = modelVersion
        self.capacity = capacity
        self.maxAge = maxAge
        self.approveBelow = approveBelow
        self.clock = clock
        state = Mutex(State(counts: Array(repeating: 0, count: bins.totalBins)))
    }

    /// A window for a bundle's serving model, or `nil` when the bundle has no reference bins
    /// (drift is then unavailable).
    public convenience init?(bundle: ModelBundle, capacity: Int = 10_000, maxAge: Double? = nil,
                             clock: @escaping @Sendable () -> Double = DriftWindow.monotonicSeconds) {
        guard let reference = bundle.reference else { return nil }
        self.init(reference: reference, modelVersion: bundle.manifest.model.version,
                  approveBelow: bundle.manifest.policy.approveBelow, capacity: capacity, maxAge: maxAge, clock: clock)
    }

    /// Adds a batch of scored applications, in order, under one lock.
    ///
    /// - Parameters:
    ///   - slots: the applications' slot values, row-major, `rows × bins.slotCount` values
    ///     (more are ignored): ``FeaturePipeline/encode(_:into:slots:outcomes:)``'s `slots`.
    ///   - pds: each application's calibrated PD (`ScoreBatch.pd`), at least `rows` values.
    ///   - rows: the applications to add (the accepted, scored ones).
    /// - Complexity: O(rows × fields × log edges); allocates nothing (binning uses stack
    ///   memory for up to `capacity` rows: only the last `capacity` rows of a larger batch
    ///   can stay in the window).
    public func add(slots: UnsafeBufferPointer<Double>, pds: UnsafeBufferPointer<Double>, rows: Int) {
        let width = bins.slotCount, fields = bins.fieldCount
        precondition(rows >= 0 && slots.count >= rows * width && pds.count >= rows, "rows × slotCount slots and rows PDs")
        guard rows > 0 else { return }
        let first = max(0, rows - capacity), kept = rows - first
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: kept * fields) { binned in
            bins.bin(slots: slots, pds: pds, rows: first..<rows, into: binned)
            let now = maxAge == nil ? 0 : clock()
            state.withLock { state in
                evictExpired(&state, now: now)
                reserve(&state, for: kept)
                let slots = state.approved.count, approveBelow = self.approveBelow
                state.ring.withUnsafeMutableBufferPointer { ring in
                    state.counts.withUnsafeMutableBufferPointer { counts in
                        for r in 0..<kept {
                            // Full only at `capacity`: `reserve` made room for the rest.
                            if state.count == slots { evictOldest(&state.head, &state.count, &state.approvedCount, ring, counts, &state.approved) }
                            let slot = (state.head + state.count) % slots, base = slot * fields
                            for f in 0..<fields {
                                let bin = binned[r * fields + f]
                                ring[base + f] = bin
                                counts[Int(bin)] += 1
                            }
                            let approved = pds[first + r] < approveBelow
                            state.approved[slot] = approved
                            if approved { state.approvedCount += 1 }
                            if !state.stamps.isEmpty { state.stamps[slot] = now }
                            state.count += 1
                        }
                    }
                }
            }
        }
    }

    /// The drift report of the applications now in the window, or `nil` when it is empty
    /// (no traffic yet, or all of it aged out): `GET /drift` answers 409 `no_traffic` then.
    ///
    /// - Complexity: O(bins) (plus evicting aged applications); copies the counts under the lock.
    public func report() -> DriftReport? {
        let now = maxAge == nil ? 0 : clock()
        let (count, counts) = state.withLock { state in
            evictExpired(&state, now: now)
            return (state.count, state.counts)
        }
        guard count > 0 else { return nil }
        return DriftReport(reference: bins, modelVersion: modelVersion, applications: count, counts: counts)
    }

    /// Applications now in the window (`loanscore_drift_window_applications`). O(evicted).
    public var applications: Int {
        let now = maxAge == nil ? 0 : clock()
        return state.withLock { state in
            evictExpired(&state, now: now)
            return state.count
        }
    }

    /// Approved over scored applications in the window (PD below ``approveBelow``; every
    /// scored application is decided), or `nil` when the window is empty
    /// (`loanscore_approval_rate`). O(evicted).
    public var approvalRate: Double? {
        let now = maxAge == nil ? 0 : clock()
        return state.withLock { state in
            evictExpired(&state, now: now)
            return state.count == 0 ? nil : Double(state.approvedCount) / Double(state.count)
        }
    }

    /// Grows the ring, if needed, so that `incoming` more applications fit without eviction
    /// (up to ``capacity``): at least doubling, the held applications laid out oldest first
    /// from slot 0. O(held × fields) when it grows, amortised O(fields) per application.
    private func reserve(_ state: inout State, for incoming: Int) {
        let slots = state.approved.count
        let needed = state.count + Swift.min(incoming, capacity - state.count)  // ≤ capacity, no overflow
        guard needed > slots else { return }
        let grown = Swift.max(needed, slots <= capacity / 2 ? Swift.max(64, slots * 2) : capacity)
        let newSlots = Swift.min(grown, capacity), fields = bins.fieldCount
        var ring = [UInt32](repeating: 0, count: newSlots * fields)
        var stamps = [Double](repeating: 0, count: maxAge == nil ? 0 : newSlots)
        var approved = [Bool](repeating: false, count: newSlots)
        for i in 0..<state.count {
            let old = (state.head + i) % slots
            for f in 0..<fields { ring[i * fields + f] = state.ring[old * fields + f] }
            if maxAge != nil { stamps[i] = state.stamps[old] }
            approved[i] = state.approved[old]
        }
        state.ring = ring
        state.stamps = stamps
        state.approved = approved
        state.head = 0
    }

    /// Drops applications older than `maxAge` (oldest first). O(evicted × fields).
    private func evictExpired(_ state: inout State, now: Double) {
        guard let maxAge, state.count > 0 else { return }
        let limit = now - maxAge
        guard state.stamps[state.head] < limit else { return }
        state.ring.withUnsafeMutableBufferPointer { ring in
            state.counts.withUnsafeMutableBufferPointer { counts in
                while state.count > 0 && state.stamps[state.head] < limit {
                    evictOldest(&state.head, &state.count, &state.approvedCount, ring, counts, &state.approved)
                }
            }
        }
    }

    /// Removes the oldest application from the counts.
    @inline(__always)
    private func evictOldest(_ head: inout Int, _ count: inout Int, _ approvedCount: inout Int, _ ring: UnsafeMutableBufferPointer<UInt32>,
                             _ counts: UnsafeMutableBufferPointer<Int>, _ approved: inout [Bool]) {
        let fields = bins.fieldCount, base = head * fields
        for f in 0..<fields { counts[Int(ring[base + f])] -= 1 }
        if approved[head] { approvedCount -= 1 }
        head = (head + 1) % approved.count
        count -= 1
    }
}
