import Foundation
import LoanScoreClient
import LoanScoreProtocol
import LoanScoreTestSupport
import Testing

/// `loanscore score --server` against the fake server: the built executable, as a user runs it.
@Suite("loanscore score --server")
struct CLIServerTests {
    static let binary: URL = {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent().appendingPathComponent("loanscore")
    }()

    func run(_ arguments: [String], executable: String = "loanscore") async throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = Self.binary.deletingLastPathComponent().appendingPathComponent(executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let (stdout, stderr) = await Task.detached {
            (out.fileHandleForReading.readDataToEndOfFile(), err.fileHandleForReading.readDataToEndOfFile())
        }.value
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    @Test("Scores a CSV in input order; cells that cannot travel are rejected locally")
    func scoresAFile() async throws {
        let server = try await FakeServer.start()
        let folder = try TinyBundle.temporaryDirectory()
        let input = folder.appendingPathComponent("in.csv").path
        let output = folder.appendingPathComponent("out.csv").path
        let rejects = folder.appendingPathComponent("rejects.csv").path
        try """
        application_id,Seniority,Home,Income,Records,status
        A1,9,rent,130.5,no,1
        A2,abc,owner,10,yes,0
        A3,,owner,-5,,1
        A4,nan,rent,1,no,0
        A5,2,rent,3,true,1
        """.write(toFile: input, atomically: true, encoding: .utf8)
        let certificates = try certificates()
        let common = ["score", "--server", "127.0.0.1:\(server.port)", "--ca", certificates.caCertificate,
                      "--input", input, "--output", output, "--batch", "2"]

        let withRejects = try await run(common + ["--ignore-column", "status", "--rejects", rejects, "--json"])
        #expect(withRejects.status == 0, "\(withRejects.stderr)")
        #expect(!withRejects.stderr.contains("leaving out"), "--ignore-column leaves the column out without a note")
        #expect(withRejects.stdout.contains("\"rows_scored\":3"))
        let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n")
        #expect(lines.first == "id,pd,risk_level,decision,confidence,reasons,reason_texts,flags,model_version")
        #expect(lines.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false)[0] } == ["A1", "A3", "A5"])
        let rejected = try String(contentsOfFile: rejects, encoding: .utf8)
        #expect(rejected.contains(#"2,A2,abc,owner,10,yes,0,"field 'Seniority': is not a number (value ""abc""; expected a number)""#))
        #expect(rejected.contains("field 'Seniority': is not a finite number"))

        let withoutRejects = try await run(common + ["--ignore-column", "status"])
        #expect(withoutRejects.status == 3)
        #expect(withoutRejects.stderr.contains("row 2: field 'Seniority': is not a number"))
        try await server.stop()
    }

    @Test("A target column (a bundle's holdout file) is left out with a note, as offline scoring ignores it")
    func targetColumnIsLeftOut() async throws {
        let server = try await FakeServer.start()
        let folder = try TinyBundle.temporaryDirectory()
        let input = folder.appendingPathComponent("holdout.csv").path
        let output = folder.appendingPathComponent("out.csv").path
        try "Seniority,Home,Status,Income,Records\n9,rent,good,130.5,no\n2,owner,bad,3,yes\n"
            .write(toFile: input, atomically: true, encoding: .utf8)
        let result = try await run(["score", "--server", "127.0.0.1:\(server.port)", "--ca", try certificates().caCertificate,
                                    "--input", input, "--output", output, "--json"])
        try await server.stop()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("\"rows_scored\":2"))
        #expect(result.stderr.contains("note: \(input): leaving out column(s) 'Status', not fields of the served schema"))
        let ids = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").dropFirst()
            .map { $0.split(separator: ",", omittingEmptySubsequences: false)[0] }
        #expect(ids == ["1", "2"])

        // A field's column is still required: a misspelt field name is refused, not left out.
        try "Seniority,Home,Incme,Records\n9,rent,130.5,no\n".write(toFile: input, atomically: true, encoding: .utf8)
        let server2 = try await FakeServer.start()
        let misspelt = try await run(["score", "--server", "127.0.0.1:\(server2.port)", "--ca", try certificates().caCertificate,
                                      "--input", input, "--output", output])
        try await server2.stop()
        #expect(misspelt.status == 3)
        #expect(misspelt.stderr.contains("missing column(s) 'Income' required by the served schema"))
    }

    @Test("--bundle and --server are mutually exclusive, and one is required")
    func exactlyOneSource() async throws {
        let both = try await run(["score", "--bundle", "b", "--server", "h:1", "--input", "i", "--output", "o"])
        #expect(both.status == 2)
        let neither = try await run(["score", "--input", "i", "--output", "o"])
        #expect(neither.status == 2)
        #expect(neither.stderr.contains("exactly one of --bundle"))
    }

    @Test("loanscore-load: closed and open loop reports in the documented JSON shape",
          arguments: [[], ["--rate", "200"], ["--rate", "200", "--reconnect-every", "10"]])
    func loadGenerator(extra: [String]) async throws {
        let server = try await FakeServer.start(behavior: { received in
            received.sequence % 10 == 0 ? [.error(requestID: received.requestID, .busy, "at capacity")] : [.answer(received)]
        })
        let folder = try TinyBundle.temporaryDirectory()
        let input = folder.appendingPathComponent("load.csv").path
        try "id,Seniority,Home,Income,Records\nA1,9,rent,130.5,no\nA2,1,owner,10,yes\n".write(toFile: input, atomically: true, encoding: .utf8)
        let result = try await run(
            ["--server", "127.0.0.1:\(server.port)", "--ca", try certificates().caCertificate, "--input", input,
             "--duration", "1", "--warmup", "0.2", "--connections", "2", "--pipeline", "2", "--batch", "3", "--json"] + extra,
            executable: "loanscore-load")
        try await server.stop()
        // One request in ten is BUSY: more than 1 % failed, so the run is overloaded (exit 5).
        #expect(result.status == 5, "\(result.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(Set(report.keys) == ["applications_per_s", "requests_per_s", "latency_ms", "errors", "first_error_s", "longest_gap_ms",
                                     "connections", "schema_changes", "overload", "settings"])
        let schemaChanges = try #require(report["schema_changes"] as? [String: Any])
        #expect(schemaChanges["relayouts"] as? Int == 0 && schemaChanges["resent"] as? Int == 0, "no reload, no re-layout")
        #expect((report["first_error_s"] as? [String: Double])?["BUSY"].map { $0 > 0 } == true)
        let overload = try #require(report["overload"] as? [String: Any])
        #expect(overload["overloaded"] as? Bool == true)
        #expect((overload["reasons"] as? [String])?.contains { $0.contains("above 1 %") } == true)
        let connections = try #require(report["connections"] as? [String: Int])
        if extra.contains("--reconnect-every") {
            // About 240 requests (warm-up included) over 2 connections, each replaced after 10.
            #expect((connections["reconnected"] ?? 0) >= 15)
            #expect(connections["opened"] == 2 + (connections["reconnected"] ?? 0))
        } else {
            #expect(connections == ["opened": 2, "reconnected": 0])
        }
        let requests = try #require(report["requests_per_s"] as? Double)
        #expect(requests > 0)
        #expect(report["applications_per_s"] as? Double == requests * 3)
        let latency = try #require(report["latency_ms"] as? [String: Double])
        #expect(Set(latency.keys) == ["p50", "p90", "p99", "p999", "max"])
        #expect(latency["p50"]! > 0 && latency["p50"]! <= latency["max"]!)
        let errors = try #require(report["errors"] as? [String: Int])
        #expect((errors["BUSY"] ?? 0) > 0)
        if !extra.isEmpty {
            // 200 requests/s for 1 s: about 200 answered or refused, whatever the server's speed.
            let answered = requests + Double(errors.values.reduce(0, +))
            #expect(answered > 150 && answered < 250)
        }
    }

    @Test("loanscore-load: a run the server keeps up with exits 0 and says it was not overloaded")
    func loadGeneratorNotOverloaded() async throws {
        let server = try await FakeServer.start()
        let folder = try TinyBundle.temporaryDirectory()
        let input = folder.appendingPathComponent("load.csv").path
        try "id,Seniority,Home,Income,Records\nA1,9,rent,130.5,no\n".write(toFile: input, atomically: true, encoding: .utf8)
        let result = try await run(
            ["--server", "127.0.0.1:\(server.port)", "--ca", try certificates().caCertificate, "--input", input,
             "--duration", "1", "--warmup", "0.2", "--pipeline", "2"],
            executable: "loanscore-load")
        try await server.stop()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("not overloaded: 0.00 % of requests failed"))
    }
}
