import LoanScoreClient
import LoanScoreTLS
import Testing

/// The SDK's TLS policy: Mozilla intermediate by default, so a server that offers only CBC
/// suites (or only TLS 1.2 to a TLS 1.3-only client) is refused with a tlsFailed error that
/// says why.
@Suite("Client TLS policy")
struct TLSPolicyClientTests {
    /// A server that speaks only TLS 1.2 with a CBC suite with SHA-1 MACs (its certificate is EC).
    static let cbcOnly = TLSPolicy(ciphers: "ECDHE-ECDSA-AES128-SHA", ciphersuites: "")

    @Test("the default SDK policy refuses a server that offers only a CBC suite")
    func refusesCBCServer() async throws {
        let server = try await FakeServer.start(policy: Self.cbcOnly)
        var configuration = try server.clientConfiguration()
        #expect(configuration.tls.policy == .intermediate)
        configuration.retry = .none
        let client = try LoanScoreClient(configuration: configuration)
        let error = await clientError { try await client.connect() }
        #expect(error?.code == .tlsFailed)
        #expect(error?.message.contains("accepts none of the cipher suites we offer") == true, "\(String(describing: error))")
        #expect(server.log.withLock { $0.helloNames }.isEmpty)
        await client.close()
        try await server.stop()
    }

    @Test("the default SDK policy scores through a default server, over TLS 1.2 too")
    func defaultSucceeds() async throws {
        for serverPolicy in [TLSPolicy.intermediate, TLSPolicy(ciphersuites: "")] {
            let server = try await FakeServer.start(policy: serverPolicy)
            let client = try LoanScoreClient(configuration: server.clientConfiguration())
            try await #expect(riskLevels(client.score([application("ok")])) == ["ok"])
            await client.close()
            try await server.stop()
        }
    }

    @Test("a TLS 1.3-only client refuses a TLS 1.2 server, naming the version")
    func modernClient() async throws {
        let server = try await FakeServer.start(policy: TLSPolicy(ciphersuites: ""))
        var configuration = try server.clientConfiguration()
        configuration.tls.policy = .modern
        configuration.retry = .none
        let client = try LoanScoreClient(configuration: configuration)
        let error = await clientError { try await client.connect() }
        #expect(error?.code == .tlsFailed)
        #expect(error?.message.contains("no common protocol version (TLS 1.3 required)") == true, "\(String(describing: error))")
        await client.close()
        try await server.stop()
    }

    @Test("a policy OpenSSL refuses is a tlsFailed error naming the setting when the client is made")
    func invalidPolicy() throws {
        var tls = LoanScoreClient.TLS(caFile: nil)
        tls.policy.ciphers = "FOO"
        let configuration = LoanScoreClient.Configuration(host: "127.0.0.1", port: 1, tls: tls)
        #expect { try LoanScoreClient(configuration: configuration) } throws: { error in
            let error = error as? LoanScoreClientError
            return error?.code == .tlsFailed && error?.message.contains(#"tls.ciphers: no cipher in "FOO" is known to OpenSSL"#) == true
        }
    }
}
