import Foundation
import LoanScoreTestSupport
@testable import LoanScoreTLS
import Testing

@Suite("Loading configurations")
struct ConfigurationTests {
    @Test("a missing certificate file is named in a fileNotFound error")
    func missingFile() throws {
        let certificates = try certificates()
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChainFile: "/nonexistent/server.pem", privateKeyFile: certificates.serverKey
        )
        let error = try #require(throws: TLSError.self) { try TLSContext(configuration: configuration) }
        #expect(error.code == .fileNotFound)
        #expect(error.message.contains("/nonexistent/server.pem"))
    }

    @Test("a key that belongs to another certificate is a keyMismatch")
    func keyMismatch() throws {
        let certificates = try certificates()
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChainFile: certificates.serverCertificate, privateKeyFile: certificates.clientKey
        )
        let error = try #require(throws: TLSError.self) { try TLSContext(configuration: configuration) }
        #expect(error.code == .keyMismatch)
        #expect(error.message.contains(certificates.clientKey))
        #expect(!error.openSSLErrors.isEmpty)
    }

    @Test("files that are not PEM are invalidPEM, naming the file", arguments: ["certificate", "key", "roots"])
    func badPEM(which: String) throws {
        let certificates = try certificates()
        let junk = certificates.path("junk-\(which).pem")
        try "this is not PEM\n".write(toFile: junk, atomically: true, encoding: .utf8)
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChainFile: which == "certificate" ? junk : certificates.serverCertificate,
            privateKeyFile: which == "key" ? junk : certificates.serverKey,
            trustRootsFile: which == "roots" ? junk : certificates.caCertificate,
            peerVerification: .required
        )
        let error = try #require(throws: TLSError.self) { try TLSContext(configuration: configuration) }
        #expect(error.code == .invalidPEM, "\(error)")
        #expect(error.message.contains(junk))
    }

    @Test("inconsistent configurations are refused before any file is read")
    func invalidConfigurations() throws {
        let certificates = try certificates()
        let noCertificate = TLSConfiguration(role: .server, peerVerification: .none)
        let mutualWithoutRoots = TLSConfiguration.makeServerConfiguration(
            certificateChainFile: certificates.serverCertificate, privateKeyFile: certificates.serverKey,
            peerVerification: .required
        )
        let emptyALPN = TLSConfiguration.makeClientConfiguration(applicationProtocols: [""])
        for configuration in [noCertificate, mutualWithoutRoots, emptyALPN] {
            let error = try #require(throws: TLSError.self) { try TLSContext(configuration: configuration) }
            #expect(error.code == .invalidConfiguration)
        }
    }

    @Test("errors compare by code and describe themselves")
    func errorDescription() {
        let error = TLSError(.handshakeTimeout, "too slow")
        #expect(error == TLSError(.handshakeTimeout, "other words"))
        #expect(error != TLSError(.invalidRecord, "too slow"))
        #expect(error.description.contains("handshake timeout"))
        #expect(error.description.contains("too slow"))
    }
}
