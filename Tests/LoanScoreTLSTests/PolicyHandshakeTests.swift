import Foundation
import LoanScoreTestSupport
@testable import LoanScoreTLS
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// RSA certificates: with an EC key a server could not negotiate static-RSA or ECDHE-RSA
/// suites whatever its policy, and the refusals below would prove nothing.
let rsaCertificates = Result { try TestCertificates.make(caName: "LoanScore RSA Test CA", keyAlgorithm: .rsa2048) }

/// What `openssl s_client` must see.
enum HandshakeOutcome: Sendable {
    /// The handshake completes with this protocol version and suite (as s_client names them).
    case negotiates(version: String, cipher: String)
    /// The server refuses: s_client prints `alert` and the server's handler reports `code`.
    case refused(alert: String, code: TLSError.Code)
}

/// One `openssl s_client` run against a server with a given policy.
struct HandshakeCase: Sendable, CustomTestStringConvertible {
    var server: TLSPolicy
    var client: [String]
    var outcome: HandshakeOutcome

    var testDescription: String {
        let policy = server == .intermediate ? "intermediate" : "min \(server.minimumVersion), ciphers \(server.ciphers)"
        return "\(policy): s_client \(client.joined(separator: " "))"
    }
}

/// A TLS server on 127.0.0.1 (OS-chosen port) that records the errors its connections end with.
private final class RecordingServer: Sendable {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let errors = Mutex<[TLSError]>([])
    private let channel = Mutex<(any Channel)?>(nil)

    func start(policy: TLSPolicy) async throws -> Int {
        let certificates = try rsaCertificates.get()
        let context = try TLSContext(configuration: .makeServerConfiguration(
            certificateChainFile: certificates.serverCertificate, privateKeyFile: certificates.serverKey, policy: policy))
        let bound = try await ServerBootstrap(group: group)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(TLSHandler(context: context))
                    try channel.pipeline.syncOperations.addHandler(ErrorRecorder(server: self))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        channel.withLock { $0 = bound }
        return try #require(bound.localAddress?.port)
    }

    /// The errors seen so far, waiting up to two seconds for the first one.
    func recordedErrors() async throws -> [TLSError] {
        for _ in 0..<200 {
            let seen = errors.withLock { $0 }
            if !seen.isEmpty { return seen }
            try await Task.sleep(for: .milliseconds(10))
        }
        return []
    }

    func stop() async throws {
        try await channel.withLock { $0 }?.close()
        try await group.shutdownGracefully()
    }

    private final class ErrorRecorder: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let server: RecordingServer
        init(server: RecordingServer) { self.server = server }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            if let error = error as? TLSError { server.errors.withLock { $0.append(error) } }
        }
    }
}

@Suite("TLS policy: openssl s_client against a real socket")
struct PolicyHandshakeTests {
    static let strict = TLSPolicy.modern
    /// OpenSSL's own default list: what LoanScore accepted before it had a policy.
    static let openSSLDefault = TLSPolicy(ciphers: "DEFAULT")

    static let cases: [HandshakeCase] = [
        // Refused by the default policy: static RSA (no forward secrecy), CBC, SHA-1 MACs.
        HandshakeCase(server: .intermediate, client: ["-tls1_2", "-cipher", "AES128-SHA"],
                      outcome: .refused(alert: "alert handshake failure", code: .noCommonCipher)),
        HandshakeCase(server: .intermediate, client: ["-tls1_2", "-cipher", "AES128-SHA256"],
                      outcome: .refused(alert: "alert handshake failure", code: .noCommonCipher)),
        HandshakeCase(server: .intermediate, client: ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA"],
                      outcome: .refused(alert: "alert handshake failure", code: .noCommonCipher)),
        // SECLEVEL=0 lets this client speak TLS 1.1 at all, so the refusal is the server's.
        HandshakeCase(server: .intermediate, client: ["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"],
                      outcome: .refused(alert: "alert protocol version", code: .unsupportedProtocolVersion)),
        // Accepted by the default policy.
        HandshakeCase(server: .intermediate, client: ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"],
                      outcome: .negotiates(version: "TLSv1.2", cipher: "ECDHE-RSA-AES128-GCM-SHA256")),
        HandshakeCase(server: .intermediate, client: ["-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305"],
                      outcome: .negotiates(version: "TLSv1.2", cipher: "ECDHE-RSA-CHACHA20-POLY1305")),
        HandshakeCase(server: .intermediate, client: ["-tls1_3"],
                      outcome: .negotiates(version: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384")),
        // min_version 1.3.
        HandshakeCase(server: strict, client: ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"],
                      outcome: .refused(alert: "alert protocol version", code: .unsupportedProtocolVersion)),
        HandshakeCase(server: strict, client: ["-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"],
                      outcome: .negotiates(version: "TLSv1.3", cipher: "TLS_CHACHA20_POLY1305_SHA256")),
        // The control: with OpenSSL's default list the same certificate and client get the
        // static-RSA CBC suite, so the refusals above are the policy's doing.
        HandshakeCase(server: openSSLDefault, client: ["-tls1_2", "-cipher", "AES128-SHA"],
                      outcome: .negotiates(version: "TLSv1.2", cipher: "AES128-SHA")),
    ]

    @Test("handshakes the policy must refuse or accept", arguments: cases)
    func handshake(_ testCase: HandshakeCase) async throws {
        let certificates = try rsaCertificates.get()
        let server = RecordingServer()
        let port = try await server.start(policy: testCase.server)
        let output = try await OpenSSLCommand.run(
            ["s_client", "-connect", "127.0.0.1:\(port)", "-servername", "localhost", "-CAfile", certificates.caCertificate,
             "-alpn", "loanscore/1"] + testCase.client,
            input: "Q\n")
        switch testCase.outcome {
        case let .negotiates(version, cipher):
            // s_client's "New, …" line names the suite's first version (SSLv3 for AES128-SHA);
            // the session block names the one negotiated, but under TLS 1.3 it is printed only
            // if a session ticket arrived before s_client quit.
            #expect(output.contains("Cipher is \(cipher)\n"), "\(output)")
            #expect(output.contains("New, \(version), Cipher is") || output.contains("Protocol  : \(version)\n"), "\(output)")
            #expect(output.contains("Verify return code: 0 (ok)"), "\(output)")
            #expect(server.errors.withLock { $0 }.isEmpty)
        case let .refused(alert, code):
            #expect(output.contains("Cipher is (NONE)"), "\(output)")
            #expect(output.contains(alert), "\(output)")
            let errors = try await server.recordedErrors()
            #expect(errors.map(\.code) == [code], "\(errors)")
        }
        try await server.stop()
    }
}
