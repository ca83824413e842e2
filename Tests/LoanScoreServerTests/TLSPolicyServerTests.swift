import Foundation
import LoanScoreServer
import LoanScoreTestSupport
import Testing

/// The `tls` section of the configuration reaches the server's listener, at startup and after
/// a reload, checked with the real `openssl s_client` (the harness's certificates are EC).
@Suite("Server TLS policy")
struct TLSPolicyServerTests {
    @Test("absent tls keys keep the Mozilla intermediate defaults")
    func decoding() throws {
        let json = #"{"bundle": "b", "certificate": "c", "private_key": "k", "tls": {"min_version": "1.3"}}"#
        let configuration = try JSONDecoder().decode(ServerConfiguration.self, from: Data(json.utf8))
        var expected = ServerConfiguration.TLS()
        expected.minimumVersion = "1.3"
        #expect(configuration.tls == expected)
        #expect(configuration.tls.ciphers.hasPrefix("ECDHE-ECDSA-AES128-GCM-SHA256:"))
        try configuration.validate()
        let none = try JSONDecoder().decode(ServerConfiguration.self, from: Data(#"{"bundle": "b", "certificate": "c", "private_key": "k"}"#.utf8))
        #expect(none.tls == ServerConfiguration.TLS())
    }

    /// Runs s_client against the harness with `arguments`; returns what it printed.
    private func sClient(_ harness: ServerHarness, _ arguments: [String]) async throws -> String {
        try await OpenSSLCommand.run(
            ["s_client", "-connect", "127.0.0.1:\(harness.server.port)", "-servername", "localhost",
             "-CAfile", harness.certificates.caCertificate, "-alpn", "loanscore/1"] + arguments,
            input: "Q\n")
    }

    @Test("by default the server refuses CBC suites and TLS 1.1 and accepts ECDHE with AES-GCM")
    func defaultPolicy() async throws {
        let harness = try await ServerHarness.start()
        let cbc = try await sClient(harness, ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"])
        #expect(cbc.contains("Cipher is (NONE)") && cbc.contains("alert handshake failure"), "\(cbc)")
        let old = try await sClient(harness, ["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"])
        #expect(old.contains("Cipher is (NONE)") && old.contains("alert protocol version"), "\(old)")
        let gcm = try await sClient(harness, ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"])
        #expect(gcm.contains("New, TLSv1.2, Cipher is ECDHE-ECDSA-AES128-GCM-SHA256"), "\(gcm)")
        await harness.server.shutdown()
    }

    @Test("tls.min_version 1.3 refuses TLS 1.2, at startup and after a reload")
    func strictPolicySurvivesReload() async throws {
        let harness = try await ServerHarness.start { $0.tls.minimumVersion = "1.3" }
        for round in ["startup", "reload"] {
            if round == "reload" {
                let outcome = await harness.server.reload()
                #expect(outcome.succeeded, "\(outcome)")
            }
            let tls12 = try await sClient(harness, ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"])
            #expect(tls12.contains("Cipher is (NONE)") && tls12.contains("alert protocol version"), "\(round): \(tls12)")
            let tls13 = try await sClient(harness, ["-tls1_3"])
            #expect(tls13.contains("New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384"), "\(round): \(tls13)")
        }
        await harness.server.shutdown()
    }
}
