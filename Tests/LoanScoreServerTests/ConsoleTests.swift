import Foundation
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreProtocol
@testable import LoanScoreServer
import LoanScoreTestSupport
import NIOHTTP1
import Testing

/// The web console's server side: the admin secret (hashes, 401, the loopback rule), the
/// JSON endpoints and the hardening headers, on a real server over real sockets. The pages
/// themselves are tested in a browser (deploy/tests/test_console.py).
@Suite("Web console", .serialized)
struct ConsoleTests {
    /// SHA-256 in hex, as `printf %s TEXT | sha256sum` prints it, of the secrets used here.
    static func sha256(_ text: String) -> String {
        [
            "the-token": "c2a73fcf61dfbdcadc79a10ba330b2ef5eb66fc0a6735ed69b796bb3c97b97ae",
            "pa:ss": "1507e7f82a2b0181d415933d5c8a9ea43972e705486fcbe936a742f6ab4e17fe",
            "t": "e3b98a4da31a127d4bde6e43033f66ba274cab0eb7eb1c70ec41402bf6273dd8",
            "x": "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881",
        ][text] ?? ""
    }

    static let auth = ServerConfiguration.AdminAuth(tokenSHA256: sha256("the-token"), basicUser: "ops", basicPasswordSHA256: sha256("pa:ss"))

    // MARK: - The secret

    @Test func theSecretIsCheckedAgainstItsHash() {
        let access = AdminAccess(Self.auth)
        func accepts(_ value: String?) -> Bool {
            var headers = HTTPHeaders()
            if let value { headers.add(name: "Authorization", value: value) }
            return access.accepts(headers)
        }
        let basic = { (credentials: String) in "Basic " + Data(credentials.utf8).base64EncodedString() }
        #expect(accepts("Bearer the-token"))
        #expect(accepts("bearer the-token"), "the scheme is case-insensitive (RFC 9110 §11.1)")
        #expect(!accepts("Bearer the-token2") && !accepts("Bearer ") && !accepts(nil) && !accepts("the-token"))
        #expect(accepts(basic("ops:pa:ss")), "the password may hold ':' (only the first separates the user)")
        #expect(!accepts(basic("ops:wrong")) && !accepts(basic("root:pa:ss")) && !accepts("Basic not-base64!"))
        #expect(access.challenges == [#"Bearer realm="loanscored admin""#, #"Basic realm="loanscored admin", charset="UTF-8""#])
        #expect(AdminAccess.equal([1, 2, 3], [1, 2, 3]) && !AdminAccess.equal([1, 2, 3], [1, 2, 4]) && !AdminAccess.equal([1], [1, 2]))
    }

    @Test func whatNeedsTheSecret() {
        for (method, path) in [(HTTPMethod.GET, "/console"), (.GET, "/console/score.js"), (.GET, "/stats"), (.GET, "/decisions/x"),
                               (.GET, "/model/card"), (.POST, "/reload"), (.POST, "/score")] {
            #expect(AdminAccess.isProtected(method: method, path: path), "\(method) \(path)")
        }
        for path in ["/health", "/ready", "/metrics", "/model", "/drift"] {
            #expect(!AdminAccess.isProtected(method: .GET, path: path), "\(path) stays open for probes and scrapers")
        }
    }

    @Test func theConfigurationRefusesAConsoleBeyondLoopbackWithoutASecret() throws {
        var configuration = ServerConfiguration(bundle: "b", certificate: "c", privateKey: "k")
        configuration.console = true
        for loopback in ["127.0.0.1:9090", "localhost:9090", "[::1]:9090"] {
            configuration.admin = loopback
            try configuration.validate()
        }
        configuration.admin = "0.0.0.0:9090"
        let error = #expect(throws: ConfigurationError.self) { try configuration.validate() }
        #expect(error?.message.contains("beyond loopback") == true && error?.message.contains("admin_auth.token_sha256") == true)
        configuration.adminAuth = Self.auth
        try configuration.validate()
        configuration.console = false
        configuration.adminAuth = nil
        try configuration.validate()  // no console: the admin port as before
        configuration.admin = nil
        try configuration.validate()  // no admin port, no console
        configuration.console = true
        let off = #expect(throws: ConfigurationError.self) { try configuration.validate() }
        #expect(off?.message.contains("the admin port, which is off") == true, "\(String(describing: off))")
    }

    @Test func badSecretsAreRefusedNamingTheKey() throws {
        var configuration = ServerConfiguration(bundle: "b", certificate: "c", privateKey: "k")
        for (auth, key) in [(ServerConfiguration.AdminAuth(tokenSHA256: "abc"), "admin_auth.token_sha256"),
                            (.init(basicUser: "ops"), "admin_auth.basic_user and admin_auth.basic_password_sha256"),
                            (.init(basicUser: "a:b", basicPasswordSHA256: Self.sha256("x")), "admin_auth.basic_user"),
                            (.init(), "admin_auth needs")] {
            configuration.adminAuth = auth
            let error = #expect(throws: ConfigurationError.self) { try configuration.validate() }
            #expect(error?.message.hasPrefix(key) == true, "\(String(describing: error))")
        }
        // 63 ASCII hex digits and a fullwidth zero: 64 UTF-8 bytes, and no hash could ever match it.
        configuration.adminAuth = .init(tokenSHA256: String(repeating: "a", count: 61) + "\u{FF10}")
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
        configuration.adminAuth = nil
        configuration.console = true
        configuration.admin = "127.evil.example:9090"  // a name, not a loopback address
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
        let file = try TinyBundle.temporaryDirectory().appendingPathComponent("loanscored.json")
        try Data(#"{"console": true, "console_score_audited": true, "admin_auth": {"token_sha256": "\#(Self.sha256("t"))"}}"#.utf8).write(to: file)
        let loaded = try ServerConfiguration.load(from: file)
        #expect(loaded.console && loaded.consoleScoreAudited && loaded.adminAuth == .init(tokenSHA256: Self.sha256("t")))
    }

    @Test func loopbackMeansALoopbackAddress() {
        for host in ["127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "::1", "[::1]"] {
            #expect(AdminAccess.isLoopback(host), "\(host)")
        }
        for host in ["127.evil.example", "127.0.0.1.evil.example", "127.0.0", "127.0.0.256", "127.0.0.1a", "0.0.0.0", "10.0.0.1", ""] {
            #expect(!AdminAccess.isLoopback(host), "\(host)")
        }
    }

    @Test func requestsFromOtherOriginsAreRefused() {
        func refusal(_ headers: [(String, String)], loopback: Bool = true) -> String? {
            AdminRequestOrigin.refusal(HTTPHeaders(headers), listenerIsLoopback: loopback)
        }
        // The console's own requests, curl, scripts: served.
        #expect(refusal([("Host", "127.0.0.1:9090")]) == nil)
        #expect(refusal([("Host", "localhost:9090"), ("Origin", "http://localhost:9090"), ("Sec-Fetch-Site", "same-origin")]) == nil)
        #expect(refusal([("Host", "[::1]:9090"), ("Sec-Fetch-Site", "none")]) == nil)
        #expect(refusal([]) == nil, "HTTP/1.0 without Host")
        // Forged from a page elsewhere (CSRF), or a rebound name (DNS rebinding): refused.
        #expect(refusal([("Host", "127.0.0.1:9090"), ("Sec-Fetch-Site", "cross-site")])?.contains("another site") == true)
        #expect(refusal([("Host", "127.0.0.1:9090"), ("Sec-Fetch-Site", "same-site")]) != nil)
        #expect(refusal([("Host", "127.0.0.1:9090"), ("Origin", "http://localhost:8081")])?.contains("another origin") == true)
        #expect(refusal([("Host", "127.0.0.1:9090"), ("Origin", "null")]) != nil)
        #expect(refusal([("Host", "evil.example:9090")])?.contains("not a loopback name") == true)
        #expect(refusal([("Host", "127.evil.example:9090")]) != nil)
        // Beyond loopback (admin_auth is required there) any Host is served; Origin still counts.
        #expect(refusal([("Host", "scoring-0.loanscore.svc:9090")], loopback: false) == nil)
        #expect(refusal([("Host", "scoring-0:9090"), ("Origin", "http://evil.example")], loopback: false) != nil)
    }

    @Test func aConsoleAnswerInProgressIsSentBeforeTheNextRequestsRefusal() async throws {
        // /stats is answered off the event loop; the malformed line after it (no HTTP version)
        // once closed the connection with its 400 before the 200 was written.
        let (harness, port) = try await Self.start()
        let socket = try RawSocket(port: port)
        try socket.send("GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /x\r\n\r\n")
        let (text, _) = await socket.read(timeout: .seconds(20))
        let statuses = text.matches(of: /HTTP\/1\.1 (\d{3})/).map { String($0.1) }
        #expect(statuses == ["200", "400"], "\(text.prefix(600))")
        await harness.server.shutdown()
    }

    @Test func badLimitsAndManyUnknownFieldsGetBoundedClearAnswers() async throws {
        let (harness, port) = try await Self.start()
        for limit in ["abc", "", "1e2", "99999999999999999999999", "5%3B", "0", "101"] {
            let answer = try await Self.request(port, "GET", "/decisions/recent?limit=\(limit)")
            #expect(answer.status == 400 && answer.body.contains("bad_limit"), "limit=\(limit): \(answer.status) \(answer.body)")
        }
        let unknown = (0..<400).map { "\"extra_\($0)\": 1" }.joined(separator: ", ")
        let body = "{" + unknown + "}"
        let answer = try await Self.request(port, "POST", "/score", body: body, headers: ["Content-Type: application/json"])
        #expect(answer.status == 422)
        let object = try Self.json(answer.body)
        #expect((object["fields"] as? [Any])?.count == 400)
        #expect((object["error"] as? String)?.contains("and 390 more (see fields)") == true, "\(object["error"] ?? "")")
        // Each unknown field is named in `fields` (about 90 bytes each with its message), not the schema with it.
        #expect(answer.body.utf8.count < 6 * body.utf8.count, "\(answer.body.utf8.count) bytes answered to \(body.utf8.count)")
        await harness.server.shutdown()
    }

    @Test func aForgedReloadOrLookupIsRefusedBeforeItRuns() async throws {
        let (harness, port) = try await Self.start()
        let forged = try await Self.request(port, "POST", "/reload", headers: ["Origin: http://localhost:8081"])
        #expect(forged.status == 403 && forged.body.contains("forbidden_origin"), "\(forged)")
        let rebound = try await Self.request(port, "GET", "/stats", host: "evil.example:\(port)")
        #expect(rebound.status == 403 && rebound.body.contains("not a loopback name"), "\(rebound)")
        let health = try await Self.request(port, "GET", "/health", host: "evil.example:\(port)")
        #expect(health.status == 200, "probes are not checked")
        #expect(try await Self.request(port, "GET", "/stats").status == 200)
        await harness.server.shutdown()
    }

    // MARK: - Figures

    @Test func statsReadTheMetricsText() {
        let text = """
            # HELP loanscore_decisions_total Decisions.
            loanscore_decisions_total{decision="approve",model_version="v1",role="champion"} 30
            loanscore_decisions_total{decision="approve",model_version="v2",role="challenger"} 10
            loanscore_decisions_total{decision="decline",model_version="v1",role="champion"} 60
            loanscore_applications_total{outcome="scored"} 100
            loanscore_applications_total{outcome="invalid"} 4
            loanscore_errors_total{code="BUSY"} 2
            loanscore_busy_total{reason="queue_delay"} 2
            loanscore_request_duration_seconds_bucket{le="0.01"} 50
            loanscore_request_duration_seconds_bucket{le="0.1"} 90
            loanscore_request_duration_seconds_bucket{le="+Inf"} 100
            """
        let stats = ConsoleStats().document(exposition: text, models: [])
        #expect(stats["approval_rate"] as? Double == 0.4)
        #expect(stats["applications_total"] as? Double == 104)
        #expect(stats["busy_total"] as? Double == 2)
        #expect((stats["errors"] as? [String: Double]) == ["BUSY": 2])
        let latency = stats["latency_seconds"] as? [String: Any]
        #expect(latency?["p50"] as? Double == 0.01)
        // The 99th of 100 lies in the +Inf bucket: the largest finite bound.
        #expect(latency?["p99"] as? Double == 0.1)
        let buckets = [(le: 0.01, count: 50.0), (le: 0.1, count: 90.0), (le: Double.infinity, count: 100.0)]
        #expect(abs((ConsoleStats.quantile(0.7, buckets) ?? 0) - 0.055) < 1e-12, "interpolated within (0.01, 0.1]")
        #expect(ConsoleStats.quantile(0.5, [(le: Double.infinity, count: 0)]) == nil)
    }

    // MARK: - On a running server

    /// A console server (tiny bundle, admin on loopback port 0), and its admin port.
    static func start(_ edit: @escaping (inout ServerConfiguration) -> Void = { _ in }) async throws -> (ServerHarness, Int) {
        let harness = try await ServerHarness.start {
            $0.admin = "127.0.0.1:0"
            $0.console = true
            edit(&$0)
        }
        return (harness, try #require(harness.server.adminPort))
    }

    /// One request with `Connection: close`: status line, headers (lower-cased names) and body.
    static func request(_ port: Int, _ method: String, _ path: String, body: String = "", headers: [String] = [], host: String = "127.0.0.1")
        async throws -> (status: Int, headers: [String: String], body: String)
    {
        let socket = try RawSocket(port: port)
        let head = ["\(method) \(path) HTTP/1.1", "Host: \(host)", "Connection: close", "Content-Length: \(body.utf8.count)"] + headers
        try socket.send(head.joined(separator: "\r\n") + "\r\n\r\n" + body)
        let (text, _) = await socket.read(timeout: .seconds(20))
        let parts = text.components(separatedBy: "\r\n\r\n")
        let lines = parts[0].components(separatedBy: "\r\n")
        let status = Int(lines.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        var fields: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased(), value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            fields[name] = fields[name].map { $0 + ", " + value } ?? value
        }
        return (status, fields, parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func withASecretTheConsoleAndReloadAnswer401() async throws {
        let (harness, port) = try await Self.start { $0.adminAuth = Self.auth }
        for (method, path) in [("GET", "/console"), ("GET", "/stats"), ("GET", "/decisions/A1"), ("POST", "/reload"), ("POST", "/score")] {
            let answer = try await Self.request(port, method, path, body: method == "POST" ? "{}" : "")
            #expect(answer.status == 401, "\(method) \(path)")
            #expect(answer.headers["www-authenticate"]?.contains(#"Bearer realm="loanscored admin""#) == true)
            #expect(try Self.json(answer.body)["code"] as? String == "unauthorized")
        }
        #expect(try await Self.request(port, "GET", "/console", headers: ["Authorization: Bearer the-token"]).status == 200)
        #expect(try await Self.request(port, "GET", "/stats", headers: ["Authorization: Bearer wrong"]).status == 401)
        for path in ["/health", "/ready", "/metrics", "/model"] {
            #expect(try await Self.request(port, "GET", path).status == 200, "\(path) stays open")
        }
        await harness.server.shutdown()
    }

    @Test func theEndpointsAnswerWithTheHardeningHeaders() async throws {
        let (harness, port) = try await Self.start()
        let (connection, welcome) = try await harness.handshaken()
        try await connection.send(try tinyRequest(welcome, [("<script>A1</script>", 500, 1000, "rent", "no", 12), ("A2", 5000, 100, "own", "yes", 24)]), id: 1)
        #expect(try await connection.expectFrame().response?.results.count == 2)

        let page = try await Self.request(port, "GET", "/console")
        #expect(page.status == 200 && page.headers["content-type"] == "text/html; charset=utf-8")
        #expect(page.headers["content-security-policy"]?.contains("script-src 'self'") == true)
        #expect(page.headers["x-frame-options"] == "DENY" && page.headers["x-content-type-options"] == "nosniff")
        #expect(page.headers["referrer-policy"] == "no-referrer" && page.headers["cache-control"] == "no-store")
        #expect(!page.body.contains("<script>") && page.body.contains(#"<script src="/console/overview.js"></script>"#))

        let stats = try Self.json(try await Self.request(port, "GET", "/stats").body)
        #expect((stats["decisions_total"] as? Double) == 2)
        #expect((stats["models"] as? [[String: String]])?.first?["version"] == "test-1")

        let recent = try Self.json(try await Self.request(port, "GET", "/decisions/recent?limit=5").body)
        #expect((recent["decisions"] as? [[String: Any]])?.compactMap { $0["application_id"] as? String } == ["A2", "<script>A1</script>"])

        let found = try await Self.request(port, "GET", "/decisions/%3Cscript%3EA1%3C%2Fscript%3E")
        #expect(found.status == 200 && found.headers["content-type"] == "application/json")
        #expect(try Self.json(found.body)["application_id"] as? String == "<script>A1</script>")
        let missing = try await Self.request(port, "GET", "/decisions/nobody")
        let missingError = try Self.json(missing.body)["error"] as? String
        #expect(missing.status == 404 && missingError?.hasPrefix("not found") == true)

        // POST /score: the wire path's engine; the CLI's words for a refused field; no decision recorded.
        let scored = try await Self.request(port, "POST", "/score", body: #"{"amount": 500, "income": 1000, "home": "rent", "records": "no"}"#)
        let result = try Self.json(scored.body)
        let bundle = harness.server.bundle
        let expected = bundle.pipeline.encode([.number(500), .number(1000), .text("rent"), .text("no"), .missing]).row
            .withUnsafeBufferPointer { bundle.scorer.score($0) }
        #expect(scored.status == 200, "\(scored.body)")
        // JSON keeps the shortest round-trip text of the PD; Foundation may read back its neighbour.
        let pd = try #require((result["pd"] as? NSNumber)?.doubleValue)
        #expect(abs(pd - expected.pd) < 1e-12 && result["decision"] as? String == expected.decision.rawValue, "\(result) vs \(expected)")
        #expect(result["audited"] as? Bool == false)
        let refused = try await Self.request(port, "POST", "/score", body: #"{"amount": "lots", "records": "no"}"#)
        let fields = try Self.json(refused.body)["fields"] as? [[String: String]]
        #expect(refused.status == 422 && fields?.first?["field"] == "amount")
        #expect(fields?.first?["message"]?.hasPrefix("field 'amount': is not a number") == true)
        #expect(try await Self.request(port, "POST", "/score", body: "{").status == 400)
        let after = try Self.json(try await Self.request(port, "GET", "/stats").body)
        #expect((after["decisions_total"] as? Double) == 2, "a console score is not a decision")
        await harness.server.shutdown()
    }

    /// With `console_score_audited`, a console score is a decision: in the audit log and the recent list.
    @Test func aScoreFromTheConsoleIsAuditedWhenConfigured() async throws {
        let (harness, port) = try await Self.start { $0.consoleScoreAudited = true }
        let scored = try await Self.request(port, "POST", "/score", body: #"{"application_id": "from-console", "amount": 500, "records": "no"}"#)
        let result = try Self.json(scored.body)
        #expect(scored.status == 200 && result["audited"] as? Bool == true && result["application_id"] as? String == "from-console")
        let found = try await Self.request(port, "GET", "/decisions/from-console")
        let client = try Self.json(found.body)["client"] as? String
        #expect(found.status == 200 && client == "console")
        let recent = try Self.json(try await Self.request(port, "GET", "/decisions/recent?limit=1").body)
        #expect((recent["decisions"] as? [[String: Any]])?.first?["application_id"] as? String == "from-console")
        await harness.server.shutdown()
    }

    @Test func anUnreadableAuditLogIs503() async throws {
        let (harness, port) = try await Self.start()
        try FileManager.default.moveItem(at: harness.auditDirectory, to: harness.folder.appendingPathComponent("audit-moved"))
        let answer = try await Self.request(port, "GET", "/decisions/A1")
        #expect(answer.status == 503)
        let body = try Self.json(answer.body)
        #expect(body["code"] as? String == "audit_unreadable")
        #expect((body["error"] as? String)?.contains("no such audit folder") == true)
        await harness.server.shutdown()
    }

    @Test func withoutTheConsoleNothingOfItIsServed() async throws {
        let (harness, port) = try await Self.start { $0.console = false }
        for path in ["/console", "/stats", "/decisions/recent"] {
            #expect(try await Self.request(port, "GET", path).status == 404, "\(path)")
        }
        #expect(try await Self.request(port, "POST", "/score", body: "{}").status == 405)
        await harness.server.shutdown()
    }

    @Test func scriptsInsertValuesAsTextOnly() {
        for script in [ConsoleScripts.common, ConsoleScripts.overview, ConsoleScripts.model, ConsoleScripts.drift,
                       ConsoleScripts.decisions, ConsoleScripts.score] {
            for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"] {
                #expect(!script.contains(sink), "\(sink) in a console script")
            }
        }
    }
}
