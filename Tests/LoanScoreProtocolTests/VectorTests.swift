import LoanScoreProtocol
import NIOCore
import Testing

@Suite("Protocol/vectors")
struct VectorTests {
    /// Decodes a valid vector to exactly one frame with nothing left over.
    private func onlyFrame(_ stem: String) throws -> (bytes: ByteBuffer, frame: Frame) {
        let bytes = try vector(stem)
        let outcome = decode(bytes)
        #expect(outcome.error == nil, "\(stem): \(String(describing: outcome.error))")
        #expect(outcome.unprocessed == 0)
        let frame = try #require(outcome.frames.count == 1 ? outcome.frames.first : nil)
        return (bytes, frame)
    }

    @Test func schemaHashMatchesTheGenerator() {
        #expect(vectorSchema.hash.description == "275517985" + "27acc0077b659b70fbcf9b1a0c3751ca09597fb39c5c518a8c00e1b")
        #expect(schemaHash(of: vectorSchema.fields.map { ($0.name, $0.type) }) == vectorSchema.hash)
        // Order and type both matter.
        #expect(schemaHash(of: [("Home", .string), ("Seniority", .number)]) != schemaHash(of: [("Seniority", .number), ("Home", .string)]))
        #expect(schemaHash(of: [("Home", .string)]) != schemaHash(of: [("Home", .number)]))
    }

    @Test func hello() throws {
        let (bytes, frame) = try onlyFrame("01-hello")
        #expect(frame.type == .hello && frame.requestID == 0)
        var payload = frame.payload
        let hello = try Hello.decode(from: &payload)
        #expect(hello == Hello(clientName: "loanscore-client/1.0"))
        #expect(hello.supports(1) && !hello.supports(2))
        #expect(try encodeFrame(hello, requestID: 0) == bytes)
    }

    @Test func welcome() throws {
        let (bytes, frame) = try onlyFrame("02-welcome")
        var payload = frame.payload
        let welcome = try Welcome.decode(from: &payload)
        #expect(welcome == Welcome(modelName: "credit-default", modelVersion: "2026.11.1", schema: vectorSchema))
        #expect(welcome.limits == .default)
        #expect(try encodeFrame(welcome, requestID: 0) == bytes)
    }

    @Test func scoreRequest() throws {
        let (bytes, frame) = try onlyFrame("03-score-request")
        #expect(frame.type == .scoreRequest && frame.requestID == 7 && !frame.header.isCompressed)
        var payload = frame.payload
        let request = try ScoreRequest.decode(from: &payload, schema: vectorSchema, maximumBatch: 4096)
        #expect(request == (try vectorRequest()))
        #expect(request.count == 2)
        #expect(request.value(application: 0, field: 0) == .number(9))
        #expect(request.value(application: 1, field: 0) == .missing)
        #expect(request.value(application: 0, field: 1) == .text("rent"))
        #expect(request.value(application: 1, field: 2) == .number(-5))
        #expect(request.value(application: 1, field: 3) == .bool(true))
        #expect(try encodeFrame(request, requestID: 7) == bytes)
    }

    @Test func scoreRequestCompressed() throws {
        let (bytes, frame) = try onlyFrame("04-score-request-lz4")
        #expect(frame.header.isCompressed && frame.header.uncompressedLength == 97 && frame.header.payloadLength == 91)
        #expect(frame.payload.readableBytes == 97)
        var payload = frame.payload
        #expect(try ScoreRequest.decode(from: &payload, schema: vectorSchema, maximumBatch: 4096) == (try vectorRequest()))
        // Same liblz4 as the generator: byte for byte. Smaller, so `.whenSmaller` compresses too.
        #expect(try encodeFrame(try vectorRequest(), requestID: 7, compression: .always) == bytes)
        #expect(try encodeFrame(try vectorRequest(), requestID: 7, compression: .whenSmaller(threshold: 64)) == bytes)
        #expect(try encodeFrame(try vectorRequest(), requestID: 7, compression: .whenSmaller(threshold: 98)) == (try vector("03-score-request")))
    }

    @Test func scoreResponse() throws {
        let (bytes, frame) = try onlyFrame("05-score-response")
        var payload = frame.payload
        #expect(try ScoreResponse.decode(from: &payload) == vectorResponse)
        #expect(try encodeFrame(vectorResponse, requestID: 7) == bytes)
    }

    /// Protocol version 2: application 1 was scored by another model version (status 2).
    @Test func scoreResponseVersion2() throws {
        let (bytes, frame) = try onlyFrame("24-score-response-v2")
        #expect(frame.requestID == 13)
        let expected = ScoreResponse(modelVersion: "2026.11.1", results: [
            .scored(ScoredApplication(pd: 0.0734, riskLevel: "B", decision: .approve, confidence: 0.91,
                                      reasons: ["R01_LOW_SENIORITY", "R07_HIGH_DEBT_RATIO"])),
            .scored(ScoredApplication(pd: 0.52, riskLevel: "E", decision: .decline, confidence: 0.66,
                                      reasons: ["R07_HIGH_DEBT_RATIO"], modelVersion: "2026.12.1")),
        ])
        var payload = frame.payload
        #expect(try ScoreResponse.decode(from: &payload, protocolVersion: 2) == expected)
        #expect(try encodeFrame(expected, requestID: 13) == bytes)
        // A version-1 connection never receives status 2: refused where application 1's status is.
        var version1 = frame.payload
        do {
            _ = try ScoreResponse.decode(from: &version1, protocolVersion: 1)
            Issue.record("status 2 decoded on a version-1 connection")
        } catch {
            #expect(error.code == .malformedFrame && error.offset == 74 && error.applicationIndex == 1, "\(error)")
        }
    }

    @Test func helloNegotiatesTheHighestCommonVersion() {
        #expect(Hello(clientName: "c").negotiatedVersion() == 1)
        #expect(Hello(clientName: "c", minimumVersion: 1, maximumVersion: 2).negotiatedVersion() == 2)
        #expect(Hello(clientName: "c", minimumVersion: 2, maximumVersion: 9).negotiatedVersion() == 2)
        #expect(Hello(clientName: "c", minimumVersion: 3, maximumVersion: 4).negotiatedVersion() == nil)
    }

    @Test func errorBusy() throws {
        let (bytes, frame) = try onlyFrame("06-error-busy")
        var payload = frame.payload
        let message = try ErrorMessage.decode(from: &payload)
        #expect(message.code == .busy && !message.code.isConnectionFatal && frame.requestID == 8)
        #expect(try encodeFrame(message, requestID: 8) == bytes)
    }

    @Test func scoreRequestWithDeadline() throws {
        let (bytes, frame) = try onlyFrame("21-score-request-deadline")
        #expect(frame.header.flags == .deadline && frame.requestID == 11)
        #expect(ScoreRequestPrefix(peeking: frame.payload, flags: frame.header.flags) == ScoreRequestPrefix(peeking: frame.payload, flags: .deadline))
        let prefix = try #require(ScoreRequestPrefix(peeking: frame.payload, flags: frame.header.flags))
        #expect(prefix.deadline == 250_000 && prefix.count == 2 && prefix.columnsOffset == 4)
        var payload = frame.payload
        let request = try ScoreRequest.decode(from: &payload, schema: vectorSchema, maximumBatch: 4096, flags: frame.header.flags)
        var expected = try vectorRequest()
        expected.deadline = 250_000
        #expect(request == expected)
        #expect(try encodeFrame(expected, requestID: 11) == bytes)
    }

    @Test func errorDeadlineExceeded() throws {
        let (bytes, frame) = try onlyFrame("22-error-deadline-exceeded")
        var payload = frame.payload
        let message = try ErrorMessage.decode(from: &payload)
        #expect(message.code == .deadlineExceeded && message.code.name == "DEADLINE_EXCEEDED" && !message.code.isConnectionFatal)
        #expect(frame.requestID == 11)
        #expect(try encodeFrame(message, requestID: 11) == bytes)
    }

    @Test func errorQuotaExceeded() throws {
        let (bytes, frame) = try onlyFrame("23-error-quota-exceeded")
        var payload = frame.payload
        let message = try ErrorMessage.decode(from: &payload)
        #expect(message.code == .quotaExceeded && message.code.name == "QUOTA_EXCEEDED" && !message.code.isConnectionFatal)
        #expect(message.retryAfter == .milliseconds(250))
        #expect(message == .quotaExceeded(retryAfterMilliseconds: 250, detail: "/O=Acme/CN=gateway is over its quota of 1000 applications/s"))
        #expect(try encodeFrame(message, requestID: 12) == bytes)
        #expect(ErrorMessage(code: .quotaExceeded, message: "retry later").retryAfter == nil)
        #expect(ErrorMessage(code: .busy, message: "retry after 5 ms: no").retryAfter == nil)
    }

    @Test func errorUnavailable() throws {
        let (bytes, frame) = try onlyFrame("20-error-unavailable")
        var payload = frame.payload
        let message = try ErrorMessage.decode(from: &payload)
        #expect(message.code == .unavailable && message.code.name == "UNAVAILABLE" && !message.code.isConnectionFatal)
        #expect(frame.requestID == 10)
        #expect(try encodeFrame(message, requestID: 10) == bytes)
    }

    @Test func pingPongGoodbye() throws {
        let (pingBytes, pingFrame) = try onlyFrame("07-ping")
        var payload = pingFrame.payload
        let ping = try Ping.decode(from: &payload)
        #expect(ping.payload == ByteBuffer(bytes: Array(0..<8)))
        #expect(try encodeFrame(ping, requestID: 9) == pingBytes)
        #expect(try encodeFrame(ping.pong, requestID: 9) == (try vector("08-pong")))

        let (goodbyeBytes, goodbyeFrame) = try onlyFrame("09-goodbye")
        payload = goodbyeFrame.payload
        let goodbye = try Goodbye.decode(from: &payload)
        #expect(goodbye.reason == "draining for shutdown")
        #expect(try encodeFrame(goodbye, requestID: 0) == goodbyeBytes)
    }

    @Test(
        "bad frames fail with the code and header offset the README gives",
        arguments: [
            ("10-bad-magic", ErrorCode.malformedFrame, 0),
            ("11-unsupported-version", .unsupportedVersion, 4),
            ("12-unknown-type", .unknownType, 5),
            ("13-bad-flags", .malformedFrame, 6),
            ("14-length-above-limit", .frameTooLarge, 16),
            ("15-length-near-2-32", .frameTooLarge, 16),
            ("16-lz4-absurd-declared-size", .decompressionFailed, 20),
        ])
    func badHeader(stem: String, code: ErrorCode, offset: Int) throws {
        let bytes = try vector(stem)
        // The header alone is enough to fail: no payload is awaited.
        let outcome = decode(bytes.getSlice(at: 0, length: FrameHeader.size)!)
        let error = try #require(outcome.error)
        #expect(error.code == code)
        #expect(error.region == .header && error.offset == offset)
        #expect(error.isConnectionFatal)
        #expect(outcome.frames.isEmpty)
        #expect(decode(bytes).error?.code == code)
    }

    @Test func lz4MismatchedSize() throws {
        let error = try #require(decode(try vector("17-lz4-mismatched-size")).error)
        #expect(error.code == .decompressionFailed && error.region == .payload && error.requestID == 7)
    }

    @Test func truncatedPayloadWaits() throws {
        let outcome = decode(try vector("18-truncated-payload"))
        #expect(outcome.error == nil && outcome.frames.isEmpty)
        #expect(outcome.unprocessed == 24 + 97 - 10)
    }

    @Test func trailingBytes() throws {
        let (_, frame) = try onlyFrame("19-trailing-bytes")
        var payload = frame.payload
        let error = try #require(throws: ProtocolError.self) { try Goodbye.decode(from: &payload) }
        #expect(error.code == .malformedFrame && error.region == .payload && error.offset == 5)
    }
}
