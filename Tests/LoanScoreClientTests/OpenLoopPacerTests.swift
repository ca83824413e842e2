import LoanScoreClient
@testable import LoanScoreLoad
import LoanScoreProtocol
import NIOCore
import NIOPosix
import Testing

/// loanscore-load's open loop, against the fake server: how many requests it sends, and what
/// it counts when the in-flight cap is reached.
@Suite("loanscore-load open loop")
struct OpenLoopPacerTests {
    /// Runs the pacer at `rate` for `seconds` against a fake server with `behavior`; returns
    /// the report's JSON.
    func pace(rate: Double, seconds: Double, maximumInFlight: Int,
              behavior: @escaping FakeServer.Behavior = { [.answer($0)] }) async throws -> [String: Any] {
        let server = try await FakeServer.start(behavior: behavior)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let client = try ChurningConnections(configuration: try server.clientConfiguration(), count: 2, reconnectEvery: nil, group: group)
        let welcome = try await client.connect()
        let batches = BatchSource(
            applications: [LoadApplication(id: "a", values: [.number(3), .text("rent"), .number(130), .bool(false)])],
            schema: welcome.schema, batchSize: 1)
        let start = ContinuousClock.now + .milliseconds(20)
        let end = start + .milliseconds(Int64(seconds * 1000))
        let recorder = Recorder(measureFrom: start, end: end)
        try await OpenLoopPacer.run(on: group.next(), client: client, batches: batches, recorder: recorder, rate: rate,
                                    start: start, end: end, maximumInFlight: maximumInFlight).get()
        await client.close()
        try await server.stop()
        try await group.shutdownGracefully()
        return recorder.report(duration: seconds).json
    }

    @Test("rate × duration requests, every one answered, latency measured")
    func sendsEveryIntendedRequest() async throws {
        let report = try await pace(rate: 400, seconds: 0.5, maximumInFlight: 10_000)
        // Request i is intended at start + i/400 s; those before the end are 0..<200.
        #expect(report["requests_per_s"] as? Double == 400)
        #expect((report["errors"] as? [String: Int])?.isEmpty == true)
        let latency = try #require(report["latency_ms"] as? [String: Double])
        #expect((latency["p50"] ?? 0) > 0 && (latency["p50"] ?? 0) <= (latency["max"] ?? 0))
    }

    @Test("Above the in-flight cap a due request is DROPPED, not sent; the run still ends")
    func dropsAboveTheCap() async throws {
        // Answers come 300 ms late: only the first five of 40 requests (200/s for 0.2 s) go out.
        let report = try await pace(rate: 200, seconds: 0.2, maximumInFlight: 5) {
            [.answerLater($0, delay: .milliseconds(300))]
        }
        #expect(report["errors"] as? [String: Int] == ["DROPPED": 35])
        #expect(report["requests_per_s"] as? Double == 25)  // 5 answered in 0.2 s
    }
}
