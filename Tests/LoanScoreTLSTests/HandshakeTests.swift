import LoanScoreTestSupport
@testable import LoanScoreTLS
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@Suite("Handshake over back-to-back EmbeddedChannels")
struct HandshakeTests {
    @Test("handshake agrees on TLS 1.3 and ALPN loanscore/1; the client sees the server's subject")
    func handshakeSucceeds() throws {
        let pair = try BackToBack(
            server: try makeServerContext(), client: try TLSContext(configuration: makeClientConfiguration())
        )
        defer { pair.finish() }
        try pair.handshake()

        let server = try #require(pair.serverRecorder.handshake)
        let client = try #require(pair.clientRecorder.handshake)
        #expect(server == TLSHandshakeCompleted(alpn: "loanscore/1", peerSubject: nil, version: "TLSv1.3"))
        #expect(client.alpn == "loanscore/1")
        #expect(client.version == "TLSv1.3")
        #expect(client.peerSubject == TestCertificates.serverSubject)
        #expect(pair.serverRecorder.errors.isEmpty && pair.clientRecorder.errors.isEmpty)
        #expect(pair.server.isActive && pair.client.isActive)
    }

    @Test("the server name may be an IP address in the certificate's subjectAltName")
    func ipAddressServerName() throws {
        let pair = try BackToBack(
            server: try makeServerContext(),
            client: try TLSContext(configuration: makeClientConfiguration()),
            serverName: "127.0.0.1"
        )
        defer { pair.finish() }
        try pair.handshake()
        #expect(pair.clientRecorder.handshake != nil)
        #expect(pair.clientRecorder.errors.isEmpty)
    }

    @Test("a handshake delivered one byte at a time completes")
    func oneByteAtATime() throws {
        let pair = try BackToBack(
            server: try makeServerContext(), client: try TLSContext(configuration: makeClientConfiguration())
        )
        defer { pair.finish() }
        try pair.handshake(chunkSize: 1)
        #expect(pair.serverRecorder.handshake?.alpn == "loanscore/1")
        #expect(pair.clientRecorder.handshake?.alpn == "loanscore/1")
    }

    @Test("a client that offers no ALPN is accepted, with no protocol agreed")
    func clientWithoutALPN() throws {
        var configuration = try makeClientConfiguration()
        configuration.applicationProtocols = []
        let pair = try BackToBack(server: try makeServerContext(), client: try TLSContext(configuration: configuration))
        defer { pair.finish() }
        try pair.handshake()
        #expect(pair.serverRecorder.handshake?.alpn == nil)
        #expect(pair.serverRecorder.handshake != nil)
    }

    @Test("mutual TLS: the server reports the client certificate's subject")
    func mutualTLS() throws {
        let pair = try BackToBack(
            server: try makeServerContext(peerVerification: .required),
            client: try TLSContext(configuration: makeClientConfiguration(withCertificate: true))
        )
        defer { pair.finish() }
        try pair.handshake()
        #expect(pair.serverRecorder.handshake?.peerSubject == TestCertificates.clientSubject)
        #expect(pair.serverRecorder.errors.isEmpty && pair.clientRecorder.errors.isEmpty)
    }

    @Test("optional client verification accepts a client without a certificate")
    func optionalClientCertificate() throws {
        let pair = try BackToBack(
            server: try makeServerContext(peerVerification: .optional),
            client: try TLSContext(configuration: makeClientConfiguration())
        )
        defer { pair.finish() }
        try pair.handshake()
        #expect(pair.serverRecorder.handshake != nil)
        #expect(pair.serverRecorder.handshake?.peerSubject == nil)
    }
}

@Suite("Refused handshakes")
struct RefusedHandshakeTests {
    @Test("mutual TLS required: a client without a certificate is refused")
    func clientWithoutCertificateRefused() throws {
        let pair = try BackToBack(
            server: try makeServerContext(peerVerification: .required),
            client: try TLSContext(configuration: makeClientConfiguration())
        )
        defer { pair.finish() }
        try pair.handshake()
        #expect(pair.serverRecorder.handshake == nil)
        #expect(pair.serverRecorder.tlsErrors.map(\.code) == [.peerCertificateRequired])
        #expect(!pair.server.isActive)
        #expect(!pair.serverHandler.ownsConnection)
        // TLS 1.3: the client finished first, then learns from the server's alert.
        #expect(pair.clientRecorder.tlsErrors.map(\.code) == [.peerCertificateRequired])
        #expect(!pair.client.isActive)
    }

    @Test("a client that trusts another CA refuses the server (certificate verify failed)")
    func unknownCARefused() throws {
        let others = try otherCertificates.get()
        var configuration = try makeClientConfiguration()
        configuration.trustRootsFile = others.caCertificate
        let pair = try BackToBack(server: try makeServerContext(), client: try TLSContext(configuration: configuration))
        defer { pair.finish() }
        try pair.handshake()

        let error = try #require(pair.clientRecorder.tlsErrors.first)
        #expect(error.code == .certificateVerifyFailed)
        // The server sends its CA along (OpenSSL builds the chain from its trust roots), so the
        // client sees a self-signed root it does not trust.
        #expect(
            error.message.contains("self-signed certificate in certificate chain")
                || error.message.contains("unable to get local issuer certificate"),
            "\(error)"
        )
        #expect(!pair.client.isActive && !pair.clientHandler.ownsConnection)
        // The server hears the alert and closes too.
        #expect(pair.serverRecorder.tlsErrors.count == 1)
        #expect(pair.serverRecorder.handshake == nil)
        #expect(!pair.server.isActive)
    }

    @Test("a server certificate for another name is refused")
    func wrongHostnameRefused() throws {
        let pair = try BackToBack(
            server: try makeServerContext(),
            client: try TLSContext(configuration: makeClientConfiguration()),
            serverName: "scoring.example.com"
        )
        defer { pair.finish() }
        try pair.handshake()
        let error = try #require(pair.clientRecorder.tlsErrors.first)
        #expect(error.code == .certificateVerifyFailed)
        #expect(error.message.contains("hostname mismatch"), "\(error)")
        #expect(pair.clientRecorder.handshake == nil && !pair.client.isActive)
    }

    @Test("a client whose ALPN lacks loanscore/1 is refused")
    func alpnMismatchRefused() throws {
        var configuration = try makeClientConfiguration()
        configuration.applicationProtocols = ["http/1.1", "loanscore/2"]
        let pair = try BackToBack(server: try makeServerContext(), client: try TLSContext(configuration: configuration))
        defer { pair.finish() }
        try pair.handshake()
        #expect(pair.serverRecorder.tlsErrors.map(\.code) == [.noApplicationProtocol])
        #expect(pair.clientRecorder.tlsErrors.map(\.code) == [.noApplicationProtocol])
        #expect(!pair.server.isActive && !pair.client.isActive)
    }

    @Test("a client that speaks only TLS 1.1 is refused")
    func tls11Refused() throws {
        var configuration = try makeClientConfiguration()
        configuration.minimumProtocolVersionOverride = 0x0302  // TLS1_1_VERSION
        configuration.maximumProtocolVersionOverride = 0x0302
        configuration.cipherListOverride = "DEFAULT@SECLEVEL=0"  // OpenSSL 3 allows TLS 1.1 only at level 0
        let pair = try BackToBack(server: try makeServerContext(), client: try TLSContext(configuration: configuration))
        defer { pair.finish() }
        try pair.handshake()
        let error = try #require(pair.serverRecorder.tlsErrors.first)
        #expect(error.code == .unsupportedProtocolVersion, "\(error)")
        #expect(!pair.server.isActive)
        #expect(pair.clientRecorder.tlsErrors.map(\.code) == [.unsupportedProtocolVersion])
    }

    @Test("garbage instead of a ClientHello: a typed error and the channel closed", arguments: [
        Array("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8),
        testBytes(count: 600),
        [0x16, 0x03, 0x01, 0xFF, 0xFF] + testBytes(count: 100),
    ])
    func garbageRefused(bytes: [UInt8]) throws {
        let server = EmbeddedChannel()
        let context = try makeServerContext()
        let handler = try TLSHandler(context: context)
        let recorder = Recorder()
        try server.pipeline.syncOperations.addHandlers([handler, recorder])
        try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 4433)).wait()

        try server.writeInbound(ByteBuffer(bytes: bytes))
        // A record header that announces more than is sent may leave OpenSSL waiting; closing
        // the transport then ends it.
        if server.isActive { try server.close().wait() }

        let error = try #require(recorder.tlsErrors.first)
        #expect([.invalidRecord, .handshakeFailed, .closedDuringHandshake].contains(error.code), "\(error)")
        #expect(!server.isActive)
        #expect(!handler.ownsConnection)
        #expect(context.liveConnections.load(ordering: .relaxed) == 0)
        _ = try? server.finish(acceptAlreadyClosed: true)
    }

    @Test("plain HTTP gets the invalid-record error at once")
    func httpIsInvalidRecord() throws {
        let server = EmbeddedChannel()
        let recorder = Recorder()
        try server.pipeline.syncOperations.addHandlers([try TLSHandler(context: try makeServerContext()), recorder])
        try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 4433)).wait()
        try server.writeInbound(ByteBuffer(bytes: Array("GET / HTTP/1.1\r\n\r\n".utf8)))
        #expect(recorder.tlsErrors.map(\.code) == [.invalidRecord])
        #expect(!server.isActive)
        _ = try? server.finish(acceptAlreadyClosed: true)
    }

    @Test("a handshake that does not finish in time closes the channel with handshakeTimeout")
    func handshakeTimeout() throws {
        let server = EmbeddedChannel()
        let handler = try TLSHandler(context: try makeServerContext(handshakeTimeout: .seconds(5)))
        let recorder = Recorder()
        try server.pipeline.syncOperations.addHandlers([handler, recorder])
        try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 4433)).wait()
        try server.writeInbound(ByteBuffer(bytes: [0x16, 0x03, 0x01]))  // half a record header

        server.embeddedEventLoop.advanceTime(by: .seconds(4))
        #expect(server.isActive && recorder.errors.isEmpty)
        server.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(recorder.tlsErrors.map(\.code) == [.handshakeTimeout])
        #expect(!server.isActive)
        #expect(!handler.ownsConnection)
        _ = try? server.finish(acceptAlreadyClosed: true)
    }

    @Test("a completed handshake cancels the timeout")
    func timeoutCancelledAfterHandshake() throws {
        let pair = try BackToBack(
            server: try makeServerContext(handshakeTimeout: .seconds(1)),
            client: try TLSContext(configuration: makeClientConfiguration())
        )
        defer { pair.finish() }
        try pair.handshake()
        pair.loop.advanceTime(by: .seconds(30))
        #expect(pair.server.isActive && pair.serverRecorder.errors.isEmpty)
    }

    @Test("a peer that hangs up mid-handshake is reported")
    func closedDuringHandshake() throws {
        let pair = try BackToBack(
            server: try makeServerContext(), client: try TLSContext(configuration: makeClientConfiguration())
        )
        defer { pair.finish() }
        try pair.connect()
        _ = try pair.client.readOutbound(as: ByteBuffer.self)  // the ClientHello, never delivered
        pair.server.pipeline.fireChannelInactive()  // the transport went away under the handler
        #expect(pair.serverRecorder.tlsErrors.map(\.code) == [.closedDuringHandshake])
        #expect(!pair.serverHandler.ownsConnection)
    }
}

@Suite("Verification turned off")
struct NoVerificationTests {
    @Test("a client with peerVerification .none accepts a server from an unknown CA")
    func unverifiedClient() throws {
        let others = try otherCertificates.get()
        let configuration = TLSConfiguration.makeClientConfiguration(
            trustRootsFile: others.caCertificate, serverName: "wrong.example", peerVerification: .none
        )
        let pair = try BackToBack(server: try makeServerContext(), client: try TLSContext(configuration: configuration))
        defer { pair.finish() }
        try pair.handshake()
        #expect(pair.clientRecorder.handshake?.alpn == "loanscore/1")
        #expect(pair.clientRecorder.errors.isEmpty)
    }

    @Test("with verification off, a later ALPN failure is not blamed on the certificate")
    func unverifiedClientALPNMismatch() throws {
        let others = try otherCertificates.get()
        let configuration = TLSConfiguration.makeClientConfiguration(
            trustRootsFile: others.caCertificate, peerVerification: .none, applicationProtocols: ["other/1"]
        )
        let pair = try BackToBack(server: try makeServerContext(), client: try TLSContext(configuration: configuration))
        defer { pair.finish() }
        try pair.handshake()
        #expect(pair.clientRecorder.tlsErrors.map(\.code) == [.noApplicationProtocol])
    }
}
