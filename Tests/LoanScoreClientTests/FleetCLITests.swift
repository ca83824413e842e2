import Foundation
import LoanScoreClient
import LoanScoreProtocol
import LoanScoreTestSupport
import Testing

/// `loanscore score` and `loanscore-load` given several `--server`s, one of which refuses
/// connections: the built executables, as a user runs them.
@Suite("Command-line clients over several servers")
struct FleetCLITests {
    let cli = CLIServerTests()

    @Test("loanscore score --server twice, one refusing: every row is scored by the other")
    func scoreSkipsARefusingServer() async throws {
        let refused = try await closedPort()
        let server = try await FakeServer.start()
        let folder = try TinyBundle.temporaryDirectory()
        let input = folder.appendingPathComponent("in.csv").path
        let output = folder.appendingPathComponent("out.csv").path
        try "id,Seniority,Home,Income,Records\nA1,9,rent,130.5,no\nA2,1,owner,10,yes\nA3,2,rent,3,no\n"
            .write(toFile: input, atomically: true, encoding: .utf8)
        let result = try await cli.run(
            ["score", "--server", "127.0.0.1:\(refused)", "--server", "127.0.0.1:\(server.port)", "--ca", try certificates().caCertificate,
             "--input", input, "--output", output, "--batch", "1", "--json"])
        try await server.stop()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("\"rows_scored\":3"))
        #expect(server.log.withLock { $0.requests.count } == 3)
    }

    @Test("loanscore-load --server twice with --retries: a refusing server costs no request; --answered-ids lists the answers")
    func loadSkipsARefusingServer() async throws {
        let refused = try await closedPort()
        let server = try await FakeServer.start()
        let folder = try TinyBundle.temporaryDirectory()
        let input = folder.appendingPathComponent("load.csv").path
        let answered = folder.appendingPathComponent("answered.txt").path
        try "id,Seniority,Home,Income,Records\nA1,9,rent,130.5,no\nA2,1,owner,10,yes\n".write(toFile: input, atomically: true, encoding: .utf8)
        let result = try await cli.run(
            ["--server", "127.0.0.1:\(refused)", "--server", "127.0.0.1:\(server.port)", "--ca", try certificates().caCertificate,
             "--input", input, "--duration", "0.5", "--warmup", "0", "--connections", "2", "--pipeline", "2", "--batch", "2",
             "--retries", "2", "--answered-ids", answered, "--json"],
            executable: "loanscore-load")
        try await server.stop()
        #expect(result.status == 0, "\(result.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect((report["errors"] as? [String: Int]) == [:])
        #expect((report["settings"] as? [String: Any])?["server"] as? String == "127.0.0.1:\(refused), 127.0.0.1:\(server.port)")
        let ids = try String(contentsOfFile: answered, encoding: .utf8).split(separator: "\n")
        #expect(!ids.isEmpty)
        #expect(Set(ids) == ["A1", "A2"])
        // Every application the server answered is listed, and nothing else (the run ended with all answered).
        #expect(ids.count == server.log.withLock { $0.requests.reduce(0) { $0 + $1.request.count } })
    }
}
