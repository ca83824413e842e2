import Foundation
import LoanScoreServer
import LoanScoreTestSupport
import LoanScoreVersion
import Testing

/// The running `loanscored` names its build: start-up line, `/health`, `loanscore_build_info`.
@Suite("loanscored build info")
struct BuildInfoTests {
    @Test func startUpLineHealthAndMetricNameTheVersionAndCommit() async throws {
        var setup = try DaemonSetup()  // tiny bundle, test certificates, ports 0
        defer { try? FileManager.default.removeItem(at: setup.folder) }
        setup.configuration.workers = 1
        let daemon = try DaemonUnderTest(configuration: setup.configuration, folder: setup.folder)
        try await daemon.waitUntilReady()

        let health = try await httpGet(port: daemon.adminPort, path: "/health")
        let body = try #require(health.range(of: "\r\n\r\n").map { String(health[$0.upperBound...]) }, "\(health)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any], "\(body)")
        let version = try #require(object["version"] as? [String: String], "\(body)")
        #expect(version == ["version": LoanScoreVersion.number, "commit": LoanScoreVersion.commit])

        let metrics = try await httpGet(port: daemon.adminPort, path: "/metrics")
        let line = metrics.split(separator: "\n").first { $0.hasPrefix("loanscore_build_info{") }
        #expect(line?.contains("version=\"\(LoanScoreVersion.number)\"") == true, "\(metrics)")
        #expect(line?.contains("commit=\"\(LoanScoreVersion.commit)\"") == true, "\(metrics)")
        #expect(line.flatMap { Double($0.split(separator: " ").last ?? "") } == 1, "\(String(describing: line))")

        #expect(await daemon.stop() == 0)
        let startUp = daemon.logText.split(separator: "\n").first { $0.contains("serving tiny") }
        #expect(startUp?.contains("loanscored \(LoanScoreVersion.description)") == true, "\(daemon.logText)")
    }
}
