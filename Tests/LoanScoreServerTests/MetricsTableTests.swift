#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LoanScoreClient
import LoanScoreProtocol
import LoanScoreServer
import LoanScoreTestSupport
import Testing

/// `deploy/METRICS.md` is the table of every metric family: a live `loanscored`'s `/metrics`
/// (after a few requests) must match it, carry HELP text everywhere, and pass
/// `promtool check metrics`. The same run logs in JSON (`log_format: json`): every line parses.
@Suite("Metrics table")
struct MetricsTableTests {
    /// One row of METRICS.md.
    struct DocumentedFamily: Equatable {
        var name: String
        var type: String
        var labels: [String]
        var present: String
        var help: String
    }

    /// The rows of `deploy/METRICS.md`'s table.
    static func documentedFamilies() throws -> [String: DocumentedFamily] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("deploy/METRICS.md")
        let text = try String(contentsOf: url, encoding: .utf8)
        var families: [String: DocumentedFamily] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard cells.count >= 5 else { continue }
            let labels = cells[2] == "—" ? [] : cells[2].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "`")) }
            let name = cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            families[name] = DocumentedFamily(name: name, type: cells[1], labels: labels, present: cells[3], help: cells[4])
        }
        return families
    }

    /// A scrape's families: TYPE, HELP and the label names its samples use.
    struct ScrapedFamily {
        var type: String?
        var help: String?
        var labels: Set<String> = []
    }

    static func parse(scrape: String) -> [String: ScrapedFamily] {
        var families: [String: ScrapedFamily] = [:]
        for line in scrape.split(separator: "\n") {
            if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
                guard parts.count >= 3 else { continue }
                if parts[1] == "HELP" { families[parts[2], default: .init()].help = parts.count > 3 ? parts[3] : "" }
                else { families[parts[2], default: .init()].type = parts.count > 3 ? parts[3] : "" }
                continue
            }
            guard !line.hasPrefix("#") else { continue }
            let series = line.prefix { $0 != " " }
            var name = String(series.prefix { $0 != "{" })
            if families[name] == nil {
                for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
                    name = String(name.dropLast(suffix.count))
                }
            }
            var labels: Set<String> = []
            if let open = series.firstIndex(of: "{") {
                // Label values here never hold `,` or `=` (versions, codes, statuses).
                for pair in series[series.index(after: open)...].dropLast().split(separator: ",") {
                    if let name = pair.split(separator: "=").first { labels.insert(String(name)) }
                }
            }
            labels.remove("le")
            families[name, default: .init()].labels.formUnion(labels)
        }
        return families
    }

    @Test func liveScrapeMatchesTheTablePassesPromtoolAndLogsJSON() async throws {
        var setup = try DaemonSetup()
        defer { try? FileManager.default.removeItem(at: setup.folder) }
        // The tiny bundle with `amount` as its exposure field, an LGD of 0.5, and a cut-off
        // that approves its small loans (its PDs start at about 0.21).
        var files = TinyBundle.files
        files["schema.json"] = TinyBundle.schemaJSON.replacingOccurrences(
            of: #""range": {"min": 0, "max": 100000}, "nullable": false,"#,
            with: #""range": {"min": 0, "max": 100000}, "nullable": false, "exposure": true,"#)
        #expect(files["schema.json"] != TinyBundle.schemaJSON)
        let bundle = setup.folder.appendingPathComponent("bundle-exposure")
        try TinyBundle.write(files: files, to: bundle) { manifest in
            manifest["cutoffs"] = ["lgd": 0.5]
            var policy = manifest["policy"] as? [String: Any] ?? [:]
            policy["approve_below"] = 0.3
            manifest["policy"] = policy
        }
        setup.configuration.bundle = bundle.path
        setup.configuration.workers = 1
        setup.configuration.logFormat = .json
        let daemon = try DaemonUnderTest(configuration: setup.configuration, folder: setup.folder)
        try await daemon.waitUntilReady()

        let client = try setup.client(port: daemon.port)
        var exposure = 0.0, expectedLoss = 0.0, decided = 0
        for round in 0..<3 {
            let batch = (0..<20).map { Self.application(id: "m\(round)-\($0)", seed: round * 20 + $0) }
            let response = try await client.score(batch)
            for (application, result) in zip(batch, response.results) {
                guard case .scored(let scored) = result else { continue }
                decided += 1
                guard scored.decision == .approve, case .number(let amount)? = application.values["amount"] else { continue }
                exposure += amount
                expectedLoss += scored.pd * 0.5 * amount
            }
        }
        await client.close()
        #expect(decided == 60)
        #expect(exposure > 0, "some applications must be approved for the exposure check to mean anything")

        let response = try await httpGet(port: daemon.adminPort, path: "/metrics")
        let scrape = try #require(response.range(of: "\r\n\r\n").map { String(response[$0.upperBound...]) }, "\(response)")
        let scraped = Self.parse(scrape: scrape)
        let documented = try Self.documentedFamilies()
        #expect(documented.count >= 45, "METRICS.md rows: \(documented.keys.sorted())")

        for (name, family) in scraped.sorted(by: { $0.key < $1.key }) {
            #expect(family.help?.isEmpty == false, "\(name) has no HELP text")
            guard let row = documented[name] else {
                Issue.record("\(name) is in the scrape but not in deploy/METRICS.md")
                continue
            }
            #expect(family.type == row.type, "\(name): scraped type \(family.type ?? "none"), METRICS.md \(row.type)")
            #expect(family.labels == Set(row.labels), "\(name): scraped labels \(family.labels.sorted()), METRICS.md \(row.labels)")
            #expect(family.help == row.help, "\(name): scraped HELP \(family.help ?? "none"), METRICS.md \(row.help)")
        }
        for row in documented.values where row.present == "always" || row.present == "with exposure field" {
            #expect(scraped[row.name] != nil, "\(row.name) is marked \(row.present) in METRICS.md but not in the scrape")
        }
        // Families that need reference bins: this bundle has none, so they are absent (never zero).
        for row in documented.values where row.present == "with reference bins" {
            #expect(scraped[row.name] == nil, "\(row.name) without reference bins")
        }
        // Families of a challenger: none is configured here.
        for row in documented.values where row.present == "with challenger" {
            #expect(scraped[row.name] == nil, "\(row.name) without a challenger")
        }
        // The documented table and the Swift catalog are the same table.
        #expect(Set(documented.keys) == Set(MetricsCatalog.all.map(\.name)))
        for family in MetricsCatalog.all {
            #expect(documented[family.name] == DocumentedFamily(
                name: family.name, type: family.kind.rawValue, labels: family.labels, present: family.presence.rawValue, help: family.help))
        }

        // The business figures of what was sent.
        func value(_ series: String) -> Double? {
            scrape.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        let exported = try #require(value(#"loanscore_approved_exposure_total{model_version="test-1",role="champion"}"#), "\(scrape)")
        #expect(abs(exported - exposure) <= 1e-6 * max(1, exposure), "exposure \(exported), sent \(exposure)")
        let loss = try #require(value(#"loanscore_approved_expected_loss_total{model_version="test-1",role="champion"}"#), "\(scrape)")
        #expect(abs(loss - expectedLoss) <= 1e-4 * max(1, expectedLoss), "expected loss \(loss), computed \(expectedLoss)")
        let decisions = ["approve", "review", "decline"].compactMap {
            value("loanscore_decisions_total{decision=\"\($0)\",model_version=\"test-1\",role=\"champion\"}")
        }
        #expect(decisions.count == 3 && decisions.reduce(0, +) == 60, "\(decisions)")
        #expect(value(#"loanscore_pd_count{model_version="test-1",role="champion"}"#) == 60)
        let expiry = try #require(value("loanscore_tls_certificate_expiry_timestamp_seconds"))
        #expect(expiry > Date().timeIntervalSince1970 && expiry < Date().timeIntervalSince1970 + 3650 * 86400, "\(expiry)")
        #expect((value("process_resident_memory_bytes") ?? 0) > 0)
        #expect((value("process_open_fds") ?? 0) > 0)
        let start = try #require(value("process_start_time_seconds"))
        #expect(abs(start - Date().timeIntervalSince1970) < 600, "\(start)")

        try Self.promtoolCheck(scrape, in: setup.folder)

        #expect(await daemon.stop() == 0)
        let lines = daemon.logText.split(separator: "\n")
        #expect(lines.count >= 3, "\(daemon.logText)")
        for line in lines {
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["timestamp"] is String && object?["level"] is String && object?["message"] is String, "not a JSON log line: \(line)")
        }
        #expect(lines.contains { $0.contains(#""message":"serving tiny test-1"#) }, "\(daemon.logText)")
    }

    /// `model_version` series belong to the generation: a reload to another version removes
    /// the old version's, a reload of the same version keeps them (counts continue).
    @Test func aReloadRetiresTheOldVersionsSeries() async throws {
        let folder = try TinyBundle.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let version1 = folder.appendingPathComponent("bundle-1"), version2 = folder.appendingPathComponent("bundle-2")
        try TinyBundle.write(to: version1)
        try TinyBundle.writeVersion2(to: version2)
        let current = folder.appendingPathComponent("current")
        try ReloadTests.point(current, at: version1)
        let harness = try await ServerHarness.start {
            $0.bundle = current.path
            $0.admin = "127.0.0.1:0"
        }
        defer { try? FileManager.default.removeItem(at: harness.folder) }
        let admin = try #require(harness.server.adminPort)
        func scrape() async throws -> String { try await httpGet(port: admin, path: "/metrics") }
        func count(_ text: String, _ version: String) -> Double? {
            text.split(separator: "\n").first { $0.hasPrefix("loanscore_pd_count{model_version=\"\(version)\",role=\"champion\"} ") }
                .flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        let client = try LoanScoreClient(configuration: .init(
            host: "127.0.0.1", port: harness.server.port, tls: .init(caFile: harness.certificates.caCertificate, serverName: "localhost")))
        _ = try await client.score((0..<5).map { ScoringLoad.application(id: "a\($0)", seed: $0) })
        #expect(count(try await scrape(), "test-1") == 5)

        try ReloadTests.point(current, at: version2)
        #expect(await harness.server.reload().status == .reloaded)
        var text = try await scrape()
        #expect(!text.contains(#"model_version="test-1""#), "\(text)")
        #expect(count(text, "test-2") == 0, "\(text)")
        #expect(text.contains(#"loanscore_model_info{name="tiny",version="test-1",role="champion"} 0"#), "\(text)")
        #expect(text.contains("loanscore_tls_certificate_expiry_timestamp_seconds "), "\(text)")

        await client.close()
        let again = try LoanScoreClient(configuration: .init(
            host: "127.0.0.1", port: harness.server.port, tls: .init(caFile: harness.certificates.caCertificate, serverName: "localhost")))
        _ = try await again.score((0..<3).map { ScoringLoad.application(id: "b\($0)", seed: $0) })
        await again.close()
        #expect(count(try await scrape(), "test-2") == 3)
        // The same version again: its series stay, with their counts.
        #expect(await harness.server.reload().status == .reloaded)
        text = try await scrape()
        #expect(count(text, "test-2") == 3, "\(text)")
        await harness.server.shutdown()
    }

    /// An exposure field that is not a model feature (`term`) is read from the request through
    /// the pipeline's parser, not from the matrix; without `cutoffs.lgd` the LGD is 0.45.
    @Test func exposureFromAFieldThatIsNotAFeature() async throws {
        let folder = try TinyBundle.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        var files = TinyBundle.files
        files["schema.json"] = TinyBundle.schemaJSON.replacingOccurrences(
            of: #""range": {"min": 1, "max": 120}, "feature": false}"#,
            with: #""range": {"min": 1, "max": 120}, "feature": false, "exposure": true}"#)
        #expect(files["schema.json"] != TinyBundle.schemaJSON)
        let bundle = folder.appendingPathComponent("bundle-term")
        try TinyBundle.write(files: files, to: bundle) { manifest in
            var policy = manifest["policy"] as? [String: Any] ?? [:]
            policy["approve_below"] = 0.3
            manifest["policy"] = policy
        }
        let harness = try await ServerHarness.start {
            $0.bundle = bundle.path
            $0.admin = "127.0.0.1:0"
        }
        defer { try? FileManager.default.removeItem(at: harness.folder) }
        let client = try LoanScoreClient(configuration: .init(
            host: "127.0.0.1", port: harness.server.port, tls: .init(caFile: harness.certificates.caCertificate, serverName: "localhost")))
        let batch = (0..<30).map { seed in
            var application = Self.application(id: "t\(seed)", seed: seed)
            application.values["term"] = .number(Double(6 + seed))
            return application
        }
        let response = try await client.score(batch)
        await client.close()
        var exposure = 0.0, loss = 0.0
        for (application, result) in zip(batch, response.results) {
            guard case .scored(let scored) = result, scored.decision == .approve, case .number(let term)? = application.values["term"] else { continue }
            exposure += term
            loss += scored.pd * 0.45 * term
        }
        #expect(exposure > 0)
        let text = try await httpGet(port: try #require(harness.server.adminPort), path: "/metrics")
        func value(_ series: String) -> Double? {
            text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        #expect(value(#"loanscore_approved_exposure_total{model_version="test-1",role="champion"}"#) == exposure, "\(text)")
        let exported = try #require(value(#"loanscore_approved_expected_loss_total{model_version="test-1",role="champion"}"#))
        #expect(abs(exported - loss) <= 1e-9 * max(1, loss), "\(exported) vs \(loss)")
        await harness.server.shutdown()
    }

    /// Small loans on good incomes (many approved by the tiny bundle) and larger ones.
    static func application(id: String, seed: Int) -> ApplicationInput {
        ApplicationInput(id: id, values: [
            "amount": .number(Double(100 + (seed * 137) % 1800)), "income": .number(Double(1000 + (seed * 53) % 3000)),
            "home": .text(["rent", "own"][seed % 2]), "records": .text(seed % 5 == 0 ? "yes" : "no"), "term": .number(12),
        ])
    }

    /// Runs `promtool check metrics` on a scrape and requires it clean.
    static func promtoolCheck(_ scrape: String, in folder: URL) throws {
        let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let promtool else {
            Issue.record("promtool not found: install Debian's prometheus package (scripts/install-system-packages.sh test does)")
            return
        }
        let file = folder.appendingPathComponent("scrape.prom")
        try Data(scrape.utf8).write(to: file)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: promtool)
        process.arguments = ["check", "metrics"]
        process.standardInput = try FileHandle(forReadingFrom: file)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0 && text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
                "promtool check metrics (exit \(process.terminationStatus)):\n\(text)")
    }
}
