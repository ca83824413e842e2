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
    /// Each application's validation, in request order.
    public var outcomes: [FeaturePipeline.Outcome] = []
    /// The accepted applications' scores.
    public var scores = ScoreBatch()
    /// The SCORE_RESPONSE payload.
    public var response = ByteBuffer()

    public init() {}
}

/// Idle request workspaces shared by every connection: a request takes one and its completion
/// gives it back. At most as many exist as requests were ever in flight at once, and at most
/// ``maximumIdle`` are kept (the others are freed), so memory stays bounded by the busiest
/// moment, not by the number of connections.
final class RequestWorkspacePool: Sendable {
    /// The most idle workspaces kept.
    let maximumIdle: Int
    private let idle = NIOLockedValueBox<[RequestWorkspace]>([])

    init(maximumIdle: Int = 64) {
        self.maximumIdle = maximumIdle
    }

    /// An idle workspace, or a new one. O(1).
    func take() -> RequestWorkspace {
        idle.withLockedValue { $0.popLast() } ?? RequestWorkspace()
    }

    /// Returns a workspace no one uses any more. O(1).
    func give(_ workspace: RequestWorkspace) {
        idle.withLockedValue { idle in
            if idle.count < maximumIdle { idle.append(workspace) }
        }
    }
}
