import LoanScoreProtocol
import NIOCore
import Testing

@Suite("Messages")
struct MessageTests {
    private func requestPayload() throws -> ByteBuffer {
        var buffer = ByteBuffer()
        try vectorRequest().encode(into: &buffer)
        return buffer
    }

    private func decodeRequest(_ payload: ByteBuffer, maximumBatch: Int = 4096) throws(ProtocolError) -> ScoreRequest {
        var payload = payload
        return try ScoreRequest.decode(from: &payload, schema: vectorSchema, maximumBatch: maximumBatch)
    }

    private func requestError(_ payload: ByteBuffer, maximumBatch: Int = 4096) -> ProtocolError? {
        do {
            _ = try decodeRequest(payload, maximumBatch: maximumBatch)
            return nil
        } catch {
            return error
        }
    }

    @Test("schema mismatch, batch too large, count 0")
    func requestHeaderChecks() throws {
        var payload = try requestPayload()
        payload.setInteger(UInt8(0), at: payload.readerIndex)
        let mismatch = requestError(payload)
        #expect(mismatch?.code == .schemaMismatch && mismatch?.offset == 0 && mismatch?.isConnectionFatal == false)

        let tooLarge = requestError(try requestPayload(), maximumBatch: 1)
        #expect(tooLarge?.code == .batchTooLarge && tooLarge?.offset == 32)

        var zero = try requestPayload()
        zero.setInteger(UInt32(0), at: 32)
        #expect(requestError(zero)?.code == .malformedFrame)
    }

    @Test("a count far beyond the bytes present fails before reserving")
    func hugeCountWithoutBytes() throws {
        var payload = ByteBuffer()
        payload.writeBytes(vectorSchema.hash.bytes)
        payload.writeInteger(UInt32.max)
        #expect(requestError(payload, maximumBatch: Int(UInt32.max))?.code == .malformedFrame)
        var response = ByteBuffer()
        response.writeInteger(UInt16(2))
        response.writeString("v1")
        response.writeInteger(UInt32(4096))
        #expect(throws: ProtocolError.self) { try ScoreResponse.decode(from: &response) }
    }

    @Test("every truncation of every valid payload is MALFORMED_FRAME, never a trap")
    func truncations() throws {
        let request = try requestPayload()
        for cut in 0..<request.readableBytes {
            let error = requestError(request.getSlice(at: request.readerIndex, length: cut)!)
            #expect(error?.code == .malformedFrame, "cut \(cut)")
        }
        var payloads: [(ByteBuffer, (inout ByteBuffer) throws -> Void)] = []
        var hello = ByteBuffer()
        Hello(clientName: "c").encode(into: &hello)
        payloads.append((hello, { _ = try Hello.decode(from: &$0) }))
        var welcome = ByteBuffer()
        Welcome(modelName: "m", modelVersion: "1", schema: vectorSchema).encode(into: &welcome)
        payloads.append((welcome, { _ = try Welcome.decode(from: &$0) }))
        var response = ByteBuffer()
        vectorResponse.encode(into: &response)
        payloads.append((response, { _ = try ScoreResponse.decode(from: &$0) }))
        var error = ByteBuffer()
        ErrorMessage(code: .busy, message: "later").encode(into: &error)
        payloads.append((error, { _ = try ErrorMessage.decode(from: &$0) }))
        for (payload, decode) in payloads {
            for cut in 0..<payload.readableBytes {
                var slice = payload.getSlice(at: payload.readerIndex, length: cut)!
                #expect(throws: ProtocolError.self) { try decode(&slice) }
            }
            var extra = payload
            extra.writeInteger(UInt8(0))
            #expect(throws: ProtocolError.self) { try decode(&extra) }
        }
    }

    @Test("error locations name the field and the application")
    func locations() throws {
        // Records (BOOL) of application 1 is the last byte: make it 2.
        var payload = try requestPayload()
        payload.setInteger(UInt8(2), at: payload.writerIndex - 1)
        let error = try #require(requestError(payload))
        #expect(error.code == .malformedFrame && error.field == "Records" && error.applicationIndex == 1)
        #expect(error.offset == payload.readableBytes - 1)
        #expect(error.description.contains("Records") && error.description.contains("application 1"))

        // Padding bits in the Seniority bitmap (count 2: bits 2-7 must be 0). The bitmap
        // follows hash (32), count (4) and ids (9 + 9) at offset 54.
        var padded = try requestPayload()
        padded.setInteger(UInt8(0b0000_0101), at: padded.readerIndex + 54)
        let paddingError = requestError(padded)
        #expect(paddingError?.code == .malformedFrame && paddingError?.field == "Seniority" && paddingError?.offset == 54)
    }

    @Test("invalid UTF-8 is MALFORMED_FRAME; NaN and infinity decode (refused later, per application)")
    func utf8AndNaN() throws {
        var payload = try requestPayload()
        // First byte of "rent" (Home, application 0): bitmap at 63, length at 64, text at 66.
        #expect(payload.getString(at: payload.readerIndex + 66, length: 4) == "rent")
        payload.setInteger(UInt8(0xFF), at: payload.readerIndex + 66)
        let error = requestError(payload)
        #expect(error?.code == .malformedFrame && error?.field == "Home" && error?.applicationIndex == 0)

        let request = try ScoreRequest(
            schemaHash: vectorSchema.hash, applicationIDs: ["a", "b", "c"],
            columns: [
                Column(numbers: [.nan, .infinity, -.infinity]), Column(strings: [nil, nil, nil]),
                Column(numbers: [nil, 1, nil]), Column(bools: [nil, nil, nil]),
            ])
        var encoded = ByteBuffer()
        request.encode(into: &encoded)
        let decoded = try decodeRequest(encoded)
        guard case .number(let nan) = decoded.value(application: 0, field: 0) else { Issue.record("not a number"); return }
        #expect(nan.isNaN)
        #expect(decoded.value(application: 1, field: 0) == .number(.infinity))
        #expect(decoded.value(application: 2, field: 1) == .missing)
    }

    @Test("batches of every size up to 17 round-trip (bitmap edges)")
    func bitmapEdges() throws {
        for count in 1...17 {
            let request = try ScoreRequest(
                schemaHash: vectorSchema.hash, applicationIDs: (0..<count).map { "id\($0)" },
                columns: [
                    Column(numbers: (0..<count).map { $0 % 3 == 0 ? nil : Double($0) }),
                    Column(strings: (0..<count).map { $0 % 2 == 0 ? "x\($0)" : nil }),
                    Column(numbers: (0..<count).map { _ in nil }),
                    Column(bools: (0..<count).map { $0 % 4 == 0 ? nil : $0 % 2 == 1 }),
                ])
            var payload = ByteBuffer()
            request.encode(into: &payload)
            #expect(try decodeRequest(payload) == request)
        }
    }

    @Test("encode appends after what the buffer holds, exactly the counted size (non-ASCII text, empty strings)")
    func encodeAppendsExactly() throws {
        let request = try ScoreRequest(
            schemaHash: vectorSchema.hash, applicationIDs: ["née-1", "", "ü\u{1F600}"],
            columns: [
                Column(numbers: [1.5, nil, -0.0]),
                Column(strings: ["propriétaire", "", nil]),
                Column(numbers: [nil, nil, nil]),
                Column(bools: [true, false, nil]),
            ])
        var buffer = ByteBuffer(bytes: [0xAA, 0xBB, 0xCC])
        request.encode(into: &buffer)
        #expect(buffer.readBytes(length: 3) == [0xAA, 0xBB, 0xCC])
        var alone = ByteBuffer()
        request.encode(into: &alone)  // encode checks it wrote exactly the size it counted
        #expect(buffer == alone)
        let decoded = try decodeRequest(buffer)
        #expect(decoded == request)
        // == cannot see a lost sign: −0.0 must arrive with its bits.
        guard case .number(let negativeZero) = decoded.value(application: 2, field: 0) else { Issue.record("not a number"); return }
        #expect(negativeZero.bitPattern == (-0.0 as Double).bitPattern)
    }

    @Test("ScoreRequest.init refuses inconsistent batches")
    func requestInit() {
        #expect(throws: ProtocolError.self) { try ScoreRequest(schemaHash: vectorSchema.hash, applicationIDs: [], columns: []) }
        #expect(throws: ProtocolError.self) {
            try ScoreRequest(schemaHash: vectorSchema.hash, applicationIDs: ["a"], columns: [Column(numbers: [1, 2])])
        }
    }

    @Test("WELCOME whose hash does not match its fields is refused")
    func welcomeHash() throws {
        var payload = ByteBuffer()
        Welcome(modelName: "m", modelVersion: "1", schema: vectorSchema).encode(into: &payload)
        // The hash starts after version (1), "m" (3) and "1" (3).
        payload.setInteger(UInt8(0), at: payload.readerIndex + 7)
        let error = #expect(throws: ProtocolError.self) { try Welcome.decode(from: &payload) }
        #expect(error?.offset == 7)
    }

    @Test("error codes: names, reach, unknown codes")
    func errorCodes() {
        #expect(ErrorCode.allDefined.count == 16)
        #expect(Set(ErrorCode.allDefined.map(\.rawValue)).count == 16)
        #expect(ErrorCode.allDefined.filter(\.isConnectionFatal).map(\.name) == [
            "MALFORMED_FRAME", "UNSUPPORTED_VERSION", "UNKNOWN_TYPE", "FRAME_TOO_LARGE", "DECOMPRESSION_FAILED", "HANDSHAKE_REQUIRED",
        ])
        #expect(ErrorCode(rawValue: 0x0042).isConnectionFatal && ErrorCode(rawValue: 0x0042).name == "ERROR_0x0042")
        #expect(!ErrorCode(rawValue: 0x01FF).isConnectionFatal)
        #expect(MessageType(rawValue: 0x7F).description == "TYPE_0x7F")
    }

    @Test("long strings are cut at a character boundary, not trapped on")
    func longStrings() throws {
        let long = String(repeating: "é", count: 200)  // 400 bytes
        var payload = ByteBuffer()
        ScoreResponse(
            modelVersion: "1",
            results: [.scored(ScoredApplication(pd: 0.5, riskLevel: long, decision: .review, confidence: 0.5, reasons: [long]))]
        ).encode(into: &payload)
        let decoded = try ScoreResponse.decode(from: &payload)
        guard case .scored(let scored) = decoded.results.first else { Issue.record("not scored"); return }
        #expect(scored.riskLevel == String(repeating: "é", count: 127) && scored.reasons == [scored.riskLevel])
    }
}
