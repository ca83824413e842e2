import Foundation
import LoanScoreServer
import LoanScoreTestSupport
import Testing

/// The files of Systemd/: the unit passes `systemd-analyze verify`, sysusers.d and tmpfiles.d
/// apply to a scratch root, and the example configuration names every setting.
@Suite("Systemd/ files")
struct SystemdUnitTests {
    static let systemd = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Systemd")

    static func tool(_ name: String) -> String? {
        ["/usr/bin/\(name)", "/bin/\(name)"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The systemd tools are required on Linux (.ci/run installs the `systemd` package).
    static func require(_ name: String) -> String? {
        guard let path = tool(name) else {
            #if os(Linux)
            Issue.record("\(name) not found: install the Debian package 'systemd' (.ci/run does)")
            #endif
            return nil
        }
        return path
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    /// `systemd-analyze verify` checks that ExecStart's binary exists, so the unit is copied
    /// with ExecStart pointing at the freshly built `loanscored`. It runs without a running
    /// systemd (a container is fine).
    @Test func unitPassesSystemdAnalyzeVerify() throws {
        guard let analyze = Self.require("systemd-analyze") else { return }
        let unit = try String(contentsOf: Self.systemd.appendingPathComponent("loanscored.service"), encoding: .utf8)
        for directive in ["Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "NoNewPrivileges=yes", "ProtectSystem=strict",
                          "CapabilityBoundingSet=\n", "ReadWritePaths=/var/lib/loanscore/audit", "MemoryDenyWriteExecute=yes",
                          "Restart=on-failure", "User=loanscore"] {
            #expect(unit.contains(directive), "the unit should have \(directive)")
        }
        let daemon = DaemonProcessTests.binaries.appendingPathComponent("loanscored").path
        try #require(FileManager.default.isExecutableFile(atPath: daemon))
        let folder = try TinyBundle.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let copy = folder.appendingPathComponent("loanscored.service")
        try unit.replacingOccurrences(of: "ExecStart=/usr/local/bin/loanscored", with: "ExecStart=\(daemon)")
            .write(to: copy, atomically: true, encoding: .utf8)
        let (status, output) = try Self.run(analyze, ["verify", "--man=no", copy.path])
        #expect(status == 0, "systemd-analyze verify failed:\n\(output)")
        #expect(!output.contains("loanscored.service:"), "systemd-analyze verify warned about the unit:\n\(output)")
    }

    /// sysusers.d creates the user that tmpfiles.d then gives the audit folder to.
    @Test func sysusersAndTmpfilesApplyToAScratchRoot() throws {
        guard let sysusers = Self.require("systemd-sysusers"), let tmpfiles = Self.require("systemd-tmpfiles") else { return }
        let root = try TinyBundle.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("etc"), withIntermediateDirectories: true)
        let users = try Self.run(sysusers, ["--root=\(root.path)", Self.systemd.appendingPathComponent("loanscore.sysusers.conf").path])
        #expect(users.status == 0, "\(users.output)")
        let passwd = try String(contentsOf: root.appendingPathComponent("etc/passwd"), encoding: .utf8)
        let entry = try #require(passwd.split(separator: "\n").first { $0.hasPrefix("loanscore:") }, "no loanscore user in \(passwd)")
        let uid = try #require(Int(entry.split(separator: ":", omittingEmptySubsequences: false)[2]))
        let folders = try Self.run(tmpfiles, ["--root=\(root.path)", "--create",
                                              Self.systemd.appendingPathComponent("loanscore.tmpfiles.conf").path])
        #expect(folders.status == 0, "\(folders.output)")
        let audit = try FileManager.default.attributesOfItem(atPath: root.appendingPathComponent("var/lib/loanscore/audit").path)
        #expect((audit[.ownerAccountID] as? NSNumber)?.intValue == uid, "the audit folder belongs to loanscore")
        #expect((audit[.posixPermissions] as? NSNumber)?.intValue == 0o750)
        for folder in ["etc/loanscore/tls", "var/lib/loanscore/bundles"] {
            #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent(folder).path), "\(folder)")
        }
    }

    /// The example configuration loads, validates, and spells out every key.
    @Test func exampleConfigurationHasEveryKey() throws {
        let file = Self.systemd.appendingPathComponent("loanscored.json")
        let configuration = try ServerConfiguration.load(from: file)
        try configuration.validate()
        #expect(configuration.auditDirectory == "/var/lib/loanscore/audit")
        // The example spells out the defaults: Mozilla intermediate.
        #expect(configuration.tls == ServerConfiguration.TLS())
        var full = ServerConfiguration(bundle: "b", certificate: "c", privateKey: "k")
        full.clientCA = "ca"
        let expected = try JSONSerialization.jsonObject(with: JSONEncoder().encode(full)) as! [String: Any]
        let written = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as! [String: Any]
        #expect(Set(written.keys) == Set(expected.keys))
        for section in ["limits", "timeouts", "memory", "audit", "tls", "admin_limits", "quotas", "drift"] {
            let keys = Set((expected[section] as? [String: Any] ?? [:]).keys)
            #expect(Set((written[section] as? [String: Any] ?? [:]).keys) == keys, "\(section)")
        }
        // LimitNOFILE covers the connection limit with room to spare.
        let unit = try String(contentsOf: Self.systemd.appendingPathComponent("loanscored.service"), encoding: .utf8)
        let limit = unit.split(separator: "\n").first { $0.hasPrefix("LimitNOFILE=") }.flatMap { Int($0.dropFirst("LimitNOFILE=".count)) }
        #expect((limit ?? 0) >= 2 * configuration.limits.maximumConnections)
        // TimeoutStopSec outlasts the drain.
        let stop = unit.split(separator: "\n").first { $0.hasPrefix("TimeoutStopSec=") }.flatMap { Double($0.dropFirst("TimeoutStopSec=".count)) }
        #expect((stop ?? 0) > configuration.timeouts.drain)
    }
}
