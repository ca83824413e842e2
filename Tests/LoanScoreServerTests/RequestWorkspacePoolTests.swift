import Testing
@testable import LoanScoreServer

@Suite("Request workspace pool")
struct RequestWorkspacePoolTests {
    /// A workspace whose matrix holds `doubles` values.
    private func workspace(doubles: Int) -> RequestWorkspace {
        let workspace = RequestWorkspace()
        workspace.matrix.reserveCapacity(doubles)
        return workspace
    }

    @Test func reusesWhatItWasGiven() {
        let pool = RequestWorkspacePool(maximumIdle: 4, maximumIdleBytes: 1 << 20)
        let first = workspace(doubles: 1_000)
        pool.give(first)
        #expect(pool.idleState.count == 1)
        #expect(pool.idleState.bytes == first.retainedBytes)
        #expect(pool.take() === first)
        #expect(pool.idleState == (0, 0))
        #expect(pool.take() !== first, "an empty pool makes a new workspace")
    }

    @Test func keepsAtMostMaximumIdle() {
        let pool = RequestWorkspacePool(maximumIdle: 3, maximumIdleBytes: 1 << 30)
        for _ in 0..<10 { pool.give(workspace(doubles: 10)) }
        #expect(pool.idleState.count == 3)
    }

    /// After a burst of maximum-size batches, only what fits the byte budget stays resident.
    @Test func freesWorkspacesBeyondTheByteBudget() {
        let pool = RequestWorkspacePool(maximumIdle: 64, maximumIdleBytes: 1 << 20)
        let big = workspace(doubles: 200_000)  // 1.6 MB: larger than the whole budget
        #expect(big.retainedBytes > 1 << 20)
        pool.give(big)
        #expect(pool.idleState.count == 0)
        for _ in 0..<10 { pool.give(workspace(doubles: 40_000)) }  // 320 KB each
        #expect(pool.idleState.count == 3)
        #expect(pool.idleState.bytes <= 1 << 20)
        _ = pool.take()
        #expect(pool.idleState.count == 2)
        #expect(pool.idleState.bytes <= 1 << 20 - 320_000)
    }
}
