@testable import LoanScoreClient
import LoanScoreProtocol
import NIOCore
import Testing

/// The SDK sends the time left before a call's deadline with each request (PROTOCOL.md §5.4)
/// and does not retry DEADLINE_EXCEEDED.
@Suite("SDK deadlines")
struct DeadlineBudgetTests {
    @Test func theBudgetIsTheTimeLeftInMicroseconds() {
        let now = NIODeadline.uptimeNanoseconds(5_000_000_000)
        #expect(Connection.budget(until: now + .milliseconds(250), now: now) == 250_000)
        #expect(Connection.budget(until: now - .milliseconds(1), now: now) == 0)
        #expect(Connection.budget(until: now + .hours(5), now: now) == UInt32.max)
    }

    @Test func deadlineExceededIsNotRetried() {
        let error = LoanScoreClientError.fromServer(ErrorMessage(code: .deadlineExceeded, message: "late"))
        #expect(error.code == .server(.deadlineExceeded))
        #expect(!error.isRetryable)
        #expect(LoanScoreClient.Configuration(host: "h", port: 1, tls: .init(caFile: nil)).sendsDeadline)
    }
}

/// QUOTA_EXCEEDED: retried, but not before the server's hint.
@Suite("SDK quotas")
struct QuotaRetryTests {
    @Test func quotaExceededIsRetriedAfterItsHint() {
        let error = LoanScoreClientError.fromServer(.quotaExceeded(retryAfterMilliseconds: 120, detail: "over"))
        #expect(error.code == .server(.quotaExceeded))
        #expect(error.isRetryable)
        #expect(error.retryAfter == .milliseconds(120))
    }
}
