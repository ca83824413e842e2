import LoanScoreTestSupport
@testable import LoanScoreTLS
import NIOCore
import NIOEmbedded
import Testing

@Suite("Application data over back-to-back EmbeddedChannels")
struct DataTests {
    private func connectedPair(mutual: Bool = false) throws -> BackToBack {
        let pair = try BackToBack(
            server: try makeServerContext(peerVerification: mutual ? .required : .none),
            client: try TLSContext(configuration: makeClientConfiguration(withCertificate: mutual))
        )
        try pair.handshake()
        return pair
    }

    @Test("data flows both ways")
    func bothWays() throws {
        let pair = try connectedPair()
        defer { pair.finish() }
        try pair.client.writeAndFlush(ByteBuffer(string: "score this application")).wait()
        try pair.pump()
        #expect(pair.serverRecorder.received == Array("score this application".utf8))

        try pair.server.writeAndFlush(ByteBuffer(string: "PD 0.031")).wait()
        try pair.pump()
        #expect(pair.clientRecorder.received == Array("PD 0.031".utf8))
    }

    @Test("a 1 MiB write arrives whole, in records of at most 16 KiB, and its promise succeeds")
    func oneMebibyte() throws {
        let pair = try connectedPair()
        defer { pair.finish() }
        let payload = testBytes(count: 1 << 20)
        let written = pair.client.writeAndFlush(ByteBuffer(bytes: payload))
        try pair.pump()
        try written.wait()
        #expect(pair.serverRecorder.received.count == payload.count)
        #expect(pair.serverRecorder.received == payload)
        #expect(pair.serverRecorder.readCount >= 64)  // 1 MiB / 16 KiB records

        // And back, delivered in ragged pieces so records straddle reads.
        let reply = testBytes(count: 1 << 20, seed: 7)
        pair.server.writeAndFlush(ByteBuffer(bytes: reply), promise: nil)
        try pair.pump(chunkSize: 7_919)
        #expect(pair.clientRecorder.received == reply)
    }

    @Test("bytes delivered one at a time decrypt to the same data")
    func oneByteAtATime() throws {
        let pair = try connectedPair()
        defer { pair.finish() }
        let payload = testBytes(count: 20_000, seed: 3)
        pair.client.writeAndFlush(ByteBuffer(bytes: payload), promise: nil)
        try pair.pump(chunkSize: 1)
        #expect(pair.serverRecorder.received == payload)
    }

    @Test("many small writes in one flush keep their order")
    func manySmallWrites() throws {
        let pair = try connectedPair()
        defer { pair.finish() }
        var expected: [UInt8] = []
        for index in 0..<500 {
            let bytes = Array("message \(index);".utf8)
            expected += bytes
            pair.client.write(ByteBuffer(bytes: bytes), promise: nil)
        }
        pair.client.flush()
        try pair.pump()
        #expect(pair.serverRecorder.received == expected)
    }

    @Test("writes made before the handshake are held, then sent in order")
    func writesBeforeHandshake() throws {
        let pair = try BackToBack(
            server: try makeServerContext(), client: try TLSContext(configuration: makeClientConfiguration())
        )
        defer { pair.finish() }
        try pair.connect()
        let first = pair.client.writeAndFlush(ByteBuffer(string: "early "))
        let second = pair.client.writeAndFlush(ByteBuffer(string: "bird"))
        #expect(pair.serverRecorder.received.isEmpty)
        try pair.pump()
        try first.wait()
        try second.wait()
        #expect(pair.serverRecorder.received == Array("early bird".utf8))
    }

    @Test("unflushed writes wait for flush")
    func writeWaitsForFlush() throws {
        let pair = try connectedPair()
        defer { pair.finish() }
        pair.client.write(ByteBuffer(string: "held"), promise: nil)
        try pair.pump()
        #expect(pair.serverRecorder.received.isEmpty)
        pair.client.flush()
        try pair.pump()
        #expect(pair.serverRecorder.received == Array("held".utf8))
    }

    @Test("closing sends close_notify; the peer closes in turn and both free their SSL objects")
    func closeNotify() throws {
        let pair = try connectedPair(mutual: true)
        defer { pair.finish() }
        try pair.client.close().wait()
        try pair.pump()
        #expect(!pair.client.isActive && !pair.server.isActive)
        #expect(pair.serverRecorder.inactive)
        #expect(pair.serverRecorder.errors.isEmpty && pair.clientRecorder.errors.isEmpty)
        #expect(!pair.clientHandler.ownsConnection && !pair.serverHandler.ownsConnection)
    }

    @Test("writes after close fail")
    func writesAfterClose() throws {
        let pair = try connectedPair()
        defer { pair.finish() }
        try pair.client.close().wait()
        #expect(!pair.clientHandler.ownsConnection)
        #expect(throws: (any Error).self) { try pair.client.writeAndFlush(ByteBuffer(string: "late")).wait() }
    }
}
