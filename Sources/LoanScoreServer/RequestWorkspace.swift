import NIOConcurrencyHelpers
public import NIOCore
public import LoanScoreFeatures
public import LoanScoreModel
public import LoanScoreProtocol

/// The buffers one SCORE_REQUEST uses from decoding to its response payload, taken from the
/// server's ``RequestWorkspacePool`` and reused by later requests: after the first requests
/// of a size, decoding, features, scoring and the response allocate nothing per application.
///
/// Owned by one thread at a time: the event loop decodes into it, hands it to the worker that
/// scores and writes the response, and gets it back with the completion. That hand-over is
/// what makes the unchecked `Sendable` sound; no two threads ever hold it at once.
public final class RequestWorkspace: @unchecked Sendable {
    /// The decoded request.
    public var columns = RequestColumns()
    /// Accepted applications' model-ready rows, `rows × featureCount`, row-major.
    public var matrix: [Double] = []
    /// Accepted applications' slot values (every schema field's parsed value, then the derived
    /// features: ``FeaturePipeline/slotCount`` per row, row-major, rows as in ``matrix``): what
    /// drift tracking bins and the exposure metrics read.
    public var slots: [Double] = []
    /// Each application's validation, in request order.
    public var outcomes: [FeaturePipeline.Outcome] = []
    /// The accepted applications' scores.
    public var scores = ScoreBatch()
    /// The SCORE_RESPONSE payload.
    public var response = ByteBuffer()
    /// The challenger's features and scores, when the serving generation has one: its view
    /// of ``columns`` (the champion's wire columns mapped to its fields) is scored into these,
    /// reused like the champion's buffers above.
    public var challenger = ScoringBuffers()
    /// Per application, with a challenger: which views hold it and who decides (bits of
    /// ``Membership``); empty without a challenger (the champion scores and decides every
    /// application, in order).
    var membership: [UInt8] = []
    /// Split mode: the applications of each model's view, in request order (reused).
    var championApplications: [Int] = []
    var challengerApplications: [Int] = []

    /// Bits of ``membership``.
    enum Membership {
        /// The application is in the champion's view (its outcome and row, if accepted, are
        /// the next of ``outcomes``/``scores``).
        static let champion: UInt8 = 1
        /// The application is in the challenger's view (next of ``challenger``).
        static let challenger: UInt8 = 2
        /// The challenger decides it (split mode, accepted by the challenger).
        static let challengerDecides: UInt8 = 4
    }

    public init() {}

    /// An estimate of the heap bytes the workspace keeps between requests (its buffers'
    /// capacities; the decoded columns are counted through their matrix-sized share). O(1).
    public var retainedBytes: Int {
        (matrix.capacity + slots.capacity) * MemoryLayout<Double>.stride
            + outcomes.capacity * MemoryLayout<FeaturePipeline.Outcome>.stride
            + response.capacity
            + columns.retainedBytes
            + scores.retainedBytes
            + challenger.retainedBytes
            + (membership.capacity + (championApplications.capacity + challengerApplications.capacity) * MemoryLayout<Int>.stride)
    }
}

/// One model's buffers for a batch: model-ready rows, slot values, each application's
/// validation and the accepted applications' scores (as ``RequestWorkspace`` holds the
/// champion's).
public struct ScoringBuffers: Sendable {
    /// Accepted applications' model-ready rows, row-major.
    public var matrix: [Double] = []
    /// Accepted applications' slot values, row-major (``FeaturePipeline/slotCount`` per row).
    public var slots: [Double] = []
    /// Each application's validation, in the view's order.
    public var outcomes: [FeaturePipeline.Outcome] = []
    /// The accepted applications' scores.
    public var scores = ScoreBatch()

    public init() {}

    /// Heap bytes kept between requests. O(1).
    var retainedBytes: Int {
        (matrix.capacity + slots.capacity) * MemoryLayout<Double>.stride
            + outcomes.capacity * MemoryLayout<FeaturePipeline.Outcome>.stride + scores.retainedBytes
    }
}

/// Idle request workspaces shared by every connection: a request takes one and its completion
/// gives it back. At most as many exist as requests were ever in flight at once; at most
/// ``maximumIdle`` are kept, holding at most ``maximumIdleBytes`` between them (the others are
/// freed), so memory stays bounded by the busiest moment, not by the number of connections,
/// and one burst of maximum-size batches is not kept resident afterwards.
final class RequestWorkspacePool: Sendable {
    /// The most idle workspaces kept.
    let maximumIdle: Int
    /// The most bytes (by ``RequestWorkspace/retainedBytes``) the idle workspaces may hold.
    let maximumIdleBytes: Int
    private let idle = NIOLockedValueBox<(workspaces: [RequestWorkspace], bytes: Int)>(([], 0))

    init(maximumIdle: Int = 64, maximumIdleBytes: Int = 16 << 20) {
        self.maximumIdle = maximumIdle
        self.maximumIdleBytes = maximumIdleBytes
    }

    /// An idle workspace, or a new one. O(1).
    func take() -> RequestWorkspace {
        idle.withLockedValue { idle in
            guard let workspace = idle.workspaces.popLast() else { return nil }
            idle.bytes -= workspace.retainedBytes
            return workspace
        } ?? RequestWorkspace()
    }

    /// Returns a workspace no one uses any more; kept for reuse if the pool has room for it,
    /// else freed. O(1).
    func give(_ workspace: RequestWorkspace) {
        let bytes = workspace.retainedBytes
        idle.withLockedValue { idle in
            if idle.workspaces.count < maximumIdle && idle.bytes + bytes <= maximumIdleBytes {
                idle.workspaces.append(workspace)
                idle.bytes += bytes
            }
        }
    }

    /// Idle workspaces and the bytes they hold (for tests and metrics).
    var idleState: (count: Int, bytes: Int) {
        idle.withLockedValue { ($0.workspaces.count, $0.bytes) }
    }
}
