import Foundation
import LoanScoreTestSupport
@testable import LoanScoreTLS
import Testing

@Suite("TLS policy: defaults and refused settings")
struct PolicyTests {
    @Test("the default is Mozilla intermediate without DHE")
    func defaults() {
        let policy = TLSConfiguration.makeServerConfiguration(certificateChainFile: "c", privateKeyFile: "k").policy
        #expect(policy == .intermediate)
        #expect(TLSConfiguration.makeClientConfiguration().policy == .intermediate)
        #expect(policy.minimumVersion == .tls12)
        #expect(policy.ciphers == "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
            + "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")
        #expect(policy.ciphersuites == "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256")
        #expect(TLSPolicy.modern.minimumVersion == .tls13)
        #expect(throws: Never.self) { try TLSPolicy.intermediate.validate() }
        #expect(throws: Never.self) { try TLSPolicy.modern.validate() }
    }

    static let refused: [(TLSPolicy, String)] = [
        (TLSPolicy(ciphers: "FOO"), #"tls.ciphers: no cipher in "FOO" is known to OpenSSL"#),
        (TLSPolicy(ciphers: ""), "tls.ciphers must not be empty (it lists the TLS 1.2 cipher suites)"),
        (TLSPolicy(ciphersuites: "FOO"), #"tls.ciphersuites: "FOO" in "FOO" is not a TLS 1.3 cipher suite known to OpenSSL"#),
        (TLSPolicy(ciphersuites: "TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES128-GCM-SHA256"),
         #"tls.ciphersuites: "ECDHE-RSA-AES128-GCM-SHA256" in "TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES128-GCM-SHA256" is not a TLS 1.3 cipher suite known to OpenSSL"#),
        (TLSPolicy(minimumVersion: .tls13, ciphersuites: ""),
         "tls.ciphersuites is empty, which turns TLS 1.3 off, but tls.min_version is 1.3"),
    ]

    @Test("a setting OpenSSL would refuse or ignore is refused with our words", arguments: refused.indices)
    func refusedSetting(index: Int) throws {
        let (policy, message) = Self.refused[index]
        let error = try #require(throws: TLSError.self) { try policy.validate() }
        #expect(error.code == .invalidConfiguration)
        #expect(error.message == message)
        // The same check when a context is loaded.
        let certificates = try certificates()
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChainFile: certificates.serverCertificate, privateKeyFile: certificates.serverKey, policy: policy)
        let loadError = try #require(throws: TLSError.self) { try TLSContext(configuration: configuration) }
        #expect(loadError.message == message)
    }

    @Test("the minimum version is 1.2 or 1.3, given as text")
    func minimumVersionText() throws {
        #expect(try TLSPolicy(minimumVersion: "1.3", ciphers: "HIGH", ciphersuites: "").minimumVersion == .tls13)
        for text in ["1.1", "TLSv1.2", ""] {
            let error = try #require(throws: TLSError.self) {
                try TLSPolicy(minimumVersion: text, ciphers: TLSPolicy.intermediateCiphers, ciphersuites: "")
            }
            #expect(error.message == "tls.min_version must be \"1.2\" or \"1.3\", got \"\(text)\"")
        }
    }

    @Test("an empty ciphersuites list turns TLS 1.3 off: both ends settle on TLS 1.2")
    func tls13Off() throws {
        let certificates = try certificates()
        let tls12Only = TLSPolicy(ciphersuites: "")
        let server = try TLSContext(configuration: .makeServerConfiguration(
            certificateChainFile: certificates.serverCertificate, privateKeyFile: certificates.serverKey, policy: tls12Only))
        let pair = try BackToBack(server: server, client: TLSContext(configuration: makeClientConfiguration()),
                                  serverName: "localhost")
        try pair.handshake()
        #expect(pair.clientRecorder.handshake?.version == "TLSv1.2")
        pair.finish()
    }

    @Test("a client whose policy the server does not share fails with noCommonCipher, both sides")
    func clientSideRefusal() throws {
        let certificates = try certificates()
        // The server speaks only TLS 1.2 with a CBC suite (ECDHE-ECDSA: these are EC certificates).
        let legacy = TLSPolicy(ciphers: "ECDHE-ECDSA-AES128-SHA", ciphersuites: "")
        let server = try TLSContext(configuration: .makeServerConfiguration(
            certificateChainFile: certificates.serverCertificate, privateKeyFile: certificates.serverKey, policy: legacy))
        let pair = try BackToBack(server: server, client: TLSContext(configuration: makeClientConfiguration()),
                                  serverName: "localhost")
        try pair.handshake()
        #expect(pair.clientRecorder.handshake == nil)
        #expect(pair.serverRecorder.tlsErrors.map(\.code) == [.noCommonCipher])
        let clientError = try #require(pair.clientRecorder.tlsErrors.first)
        #expect(clientError.code == .noCommonCipher)
        #expect(clientError.message.contains("accepts none of the cipher suites we offer"), "\(clientError)")
        pair.finish()
    }

    @Test("a handshake_failure alert after the suite was chosen is not blamed on the ciphers")
    func lateHandshakeFailure() throws {
        let certificates = try certificates()
        // Mutual TLS over TLS 1.2: a server refuses a client without a certificate with a
        // handshake_failure alert, long after it chose the suite.
        let server = try TLSContext(configuration: .makeServerConfiguration(
            certificateChainFile: certificates.serverCertificate, privateKeyFile: certificates.serverKey,
            trustRootsFile: certificates.caCertificate, peerVerification: .required, policy: TLSPolicy(ciphersuites: "")))
        let pair = try BackToBack(server: server, client: TLSContext(configuration: makeClientConfiguration()),
                                  serverName: "localhost")
        try pair.handshake()
        #expect(pair.serverRecorder.tlsErrors.map(\.code) == [.peerCertificateRequired])
        let clientError = try #require(pair.clientRecorder.tlsErrors.first)
        #expect(clientError.code != .noCommonCipher, "\(clientError)")
        pair.finish()
    }
}
