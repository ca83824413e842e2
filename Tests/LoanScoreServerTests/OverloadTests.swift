import Foundation
import LoanScoreProtocol
import LoanScoreServer
import LoanScoreTestSupport
import Testing

/// Overload against the real server over TLS, open loop: the server sheds load within
/// milliseconds with BUSY, keeps the latency of what it does answer near the queue-delay
/// limit, stays within its memory, and serves fully again as soon as the load drops.
@Suite("overload", .serialized)
struct OverloadTests {
    /// Applications per request: large enough that the event loops (debug builds, two shared
    /// cores) are not what saturates first; the work limits are then what must react.
    static let batch = 256

    @Test func shedsTenTimesCapacityWithFastBusyAndRecovers() async throws {
        let delayLimit = 50  // ms, the default
        let harness = try await ServerHarness.start {
            $0.limits.maximumInFlightPerConnection = 4096  // let the work limits, not this one, decide
            #expect($0.limits.maximumQueueDelayMilliseconds == delayLimit)
        }
        let (driver, welcome) = try await OpenLoopDriver.connect(port: harness.server.port, certificates: harness.certificates)
        let rows = (0..<Self.batch).map { i in ("A\(i)", Double(500 + i), Double(1000 + i), "rent" as String?, "no" as String?, Double(12)) }
        let frame = try OpenLoopDriver.encode(tinyRequest(welcome, rows), id: 1, compression: .always)

        // Capacity: a burst of 8 requests arrives at an empty queue; the time to the last
        // scored answer is what the server needs for the scored ones (those beyond the
        // queue-delay limit are answered BUSY and not counted).
        var capacity = 0.0  // applications/s
        for _ in 0..<3 {
            let (burst, unanswered) = try await driver.run(frame: frame, rate: 100_000, duration: .microseconds(80))
            #expect(unanswered == 0)
            let scored = burst.filter { $0.error == nil }
            let last = try #require(scored.map(\.answered).max())
            capacity = max(capacity, Double(scored.count * Self.batch) / seconds(last))
        }
        let capacityRate = capacity / Double(Self.batch)  // requests/s
        // One request alone: what this machine, now, needs for a batch (the unit of the bounds).
        var lone: [Duration] = []
        for _ in 0..<5 {
            let (one, _) = try await driver.run(frame: frame, rate: 1_000, duration: .milliseconds(1))
            lone += one.map(\.latency)
        }
        let unit = max(.milliseconds(delayLimit), lone.percentile(50))
        let before = residentBytes()

        // Ten times the capacity for three seconds.
        let (overload, lost) = try await driver.run(frame: frame, rate: 10 * capacityRate, duration: .seconds(3))
        #expect(lost == 0, "every request is answered, BUSY or not")
        let busy = overload.filter { $0.error == .busy }
        let answered = overload.filter { $0.error == nil }
        let others = overload.filter { $0.error != nil && $0.error != .busy }
        #expect(others.isEmpty, "only BUSY: \(Set(others.compactMap(\.error)))")
        let firstBusy = try #require(busy.map(\.answered).min(), "overload must be shed with BUSY")
        let busyLatency = busy.map(\.latency).percentile(99)
        let answeredP99 = answered.map(\.latency).percentile(99)
        let answeredRate = Double(answered.count * Self.batch) / 3
        let grown = (residentBytes() ?? 0) - (before ?? 0)
        print("""
            overload: capacity \(Int(capacity)) applications/s; offered \(Int(10 * capacity))/s for 3 s: \
            lone request \(millis(lone.percentile(50))) ms; \(answered.count) answered (\(Int(answeredRate)) applications/s), \(busy.count) BUSY; first BUSY at \
            \(millis(firstBusy)) ms, BUSY p99 \(millis(busyLatency)) ms; answered p50 \(millis(answered.map(\.latency).percentile(50))) \
            p99 \(millis(answeredP99)) ms; resident +\(grown >> 20) MiB
            """)
        // The bounds are in units of the larger of the limit and a lone request's latency: in a
        // debug build on two shared cores (other suites running too) the server's event loop
        // competes with its workers and this test, so a frame can wait before it is even read.
        // Release figures are in the report of issue 12. Before admission by queue delay, this
        // load got no BUSY at all and answers seconds late, later and later.
        #expect(firstBusy < unit * 10, "BUSY begins once the oldest queued request passes the limit")
        #expect(busyLatency < unit * 10, "a BUSY is a fast no")
        #expect(answered.count * Self.batch >= Int(capacity * 3 / 10), "the server keeps working while it sheds")
        #expect(answeredP99 < unit * 20, "answered requests waited about the queue-delay limit, not seconds")
        #expect(grown < 256 << 20, "memory stays bounded")

        // The load drops to a quarter of capacity: full service at once.
        let (recovery, lostAfter) = try await driver.run(frame: frame, rate: capacityRate / 4, duration: .seconds(2))
        #expect(lostAfter == 0)
        // Full service: (nearly) every request answered; other suites running beside this one
        // can cost a BUSY or two.
        #expect(recovery.filter { $0.error != nil }.count * 20 <= recovery.count, "no BUSY to speak of once the load is below capacity")
        let recoveryP99 = recovery.map(\.latency).percentile(99)
        print("recovery: \(recovery.count) answered at \(Int(capacity / 4)) applications/s, p99 \(millis(recoveryP99)) ms")
        #expect(recoveryP99 < unit * 10)
        await harness.server.shutdown()
    }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func millis(_ duration: Duration) -> String {
    String(format: "%.1f", seconds(duration) * 1000)
}
