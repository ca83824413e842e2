import Foundation
import LoanScoreAudit
import LoanScoreProtocol
import LoanScoreServer
import LoanScoreTestSupport
import Testing

/// Per-client quotas against the real server with mutual TLS and two client certificates: the
/// client over its quota gets QUOTA_EXCEEDED with a retry-after hint, the other is unaffected.
@Suite("quotas", .serialized)
struct QuotaTests {
    static let partner = "/O=LoanScore/CN=partner-gateway"

    @Test func aClientOverItsQuotaIsRefusedWithAHintAndOthersAreUnaffected() async throws {
        let harness = try await ServerHarness.start { configuration, certificates in
            configuration.clientCA = certificates.caCertificate  // mutual TLS: identities are subjects
            // The default: 200 applications/s, burst 1,000 (slow refill: a busy machine cannot
            // let the third request in by taking long to read it).
            configuration.quotas.applicationsPerSecond = 200
            configuration.quotas.burstApplications = 1_000
            configuration.quotas.clients[Self.partner] = .init(applicationsPerSecond: 1_000_000)
        }
        // A second client certificate from the same CA (the server trusts the CA, not the files).
        let partnerIdentity = try harness.certificates.makeClientCertificate(name: "partner", subject: Self.partner)
        let standard = (certificate: harness.certificates.clientCertificate, key: harness.certificates.clientKey)
        let (limited, welcome) = try await harness.handshaken(identity: standard)
        let (partner, _) = try await harness.handshaken(identity: partnerIdentity)
        let rows = (0..<400).map { ("Q\($0)", Double(500 + $0), 1000.0 as Double?, "rent" as String?, "no" as String?, 12.0 as Double?) }
        let request = try tinyRequest(welcome, rows)

        // Pipelined: 400 + 400 fit the burst of 1,000; the third finds about 200 tokens.
        for id in 1...3 { try await limited.send(request, id: UInt64(id)) }
        var outcomes: [UInt64: ErrorCode?] = [:]
        var hint: Duration?
        for _ in 1...3 {
            let frame = try await limited.expectFrame()
            outcomes.updateValue(frame.error?.code, forKey: frame.requestID)
            if let error = frame.error, error.code == .quotaExceeded { hint = error.retryAfter }
        }
        #expect(outcomes == [1: nil, 2: nil, 3: .quotaExceeded])
        let retryAfter = try #require(hint, "QUOTA_EXCEEDED carries 'retry after N ms'")
        #expect(retryAfter > .zero && retryAfter <= .seconds(1))  // (400 - ~200) / 200 per second

        // The partner, over the same moments, is not limited by the other client's quota.
        for id in 1...5 {
            try await partner.send(request, id: UInt64(id))
            #expect(try await partner.expectFrame().response?.results.count == 400)
        }

        // After the hint, the limited client's request is admitted again.
        try await Task.sleep(for: retryAfter + .milliseconds(5))
        try await limited.send(request, id: 4)
        #expect(try await limited.expectFrame().response != nil)

        let records = try AuditReader(directory: harness.auditDirectory).records()
        #expect(records.count == 400 * 8, "refused requests are neither scored nor recorded")
        await harness.server.shutdown()
    }
}
