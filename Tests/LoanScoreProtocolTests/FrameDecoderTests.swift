import LoanScoreProtocol
import NIOCore
import Testing

@Suite("FrameDecoder")
struct FrameDecoderTests {
    private func header(
        type: UInt8 = 0x30, version: UInt8 = 1, flags: UInt16 = 0, requestID: UInt64 = 1, payloadLength: UInt32,
        uncompressedLength: UInt32? = nil
    ) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(FrameHeader.magic)
        buffer.writeInteger(version)
        buffer.writeInteger(type)
        buffer.writeInteger(flags)
        buffer.writeInteger(requestID)
        buffer.writeInteger(payloadLength)
        buffer.writeInteger(uncompressedLength ?? payloadLength)
        return buffer
    }

    @Test("a frame delivered one byte at a time, and split at every point")
    func everySplitPoint() throws {
        for stem in ["03-score-request", "04-score-request-lz4", "05-score-response"] {
            let bytes = try vector(stem)
            let whole = decode(bytes).frames
            #expect(whole.count == 1)
            let oneByOne = decode(chunks: (0..<bytes.readableBytes).map { bytes.getSlice(at: $0, length: 1)! })
            #expect(oneByOne.frames == whole && oneByOne.error == nil && oneByOne.unprocessed == 0)
            for split in 1..<bytes.readableBytes {
                let outcome = decode(chunks: [
                    bytes.getSlice(at: 0, length: split)!, bytes.getSlice(at: split, length: bytes.readableBytes - split)!,
                ])
                #expect(outcome.frames == whole, "\(stem) split at \(split)")
            }
        }
    }

    @Test("the decoder returns nil without moving the reader index until a frame is whole")
    func nilUntilWhole() throws {
        let bytes = try vector("03-score-request")
        var decoder = FrameDecoder()
        for length in 0..<bytes.readableBytes {
            var partial = bytes.getSlice(at: 0, length: length)!
            #expect(try decoder.decode(buffer: &partial) == nil)
            #expect(partial.readerIndex == 0 && partial.readableBytes == length)
        }
        var all = bytes
        #expect(try decoder.decode(buffer: &all) != nil)
        #expect(all.readableBytes == 0)
    }

    @Test("several frames in one buffer, in order")
    func severalFrames() throws {
        var all = ByteBuffer()
        let stems = ["01-hello", "02-welcome", "03-score-request", "04-score-request-lz4", "05-score-response", "06-error-busy", "07-ping", "08-pong", "09-goodbye"]
        for stem in stems { all.writeImmutableBuffer(try vector(stem)) }
        let outcome = decode(all)
        #expect(outcome.error == nil && outcome.unprocessed == 0)
        #expect(outcome.frames.map(\.type) == [.hello, .welcome, .scoreRequest, .scoreRequest, .scoreResponse, .error, .ping, .pong, .goodbye])
        #expect(outcome.frames[2].payload == outcome.frames[3].payload)
        // And followed by half a frame: the whole ones come out, the half waits.
        all.writeImmutableBuffer(try vector("03-score-request").getSlice(at: 0, length: 30)!)
        let withHalf = decode(all)
        #expect(withHalf.frames.count == stems.count && withHalf.error == nil && withHalf.unprocessed == 30)
    }

    @Test("a zero-length payload is a whole frame")
    func emptyPayload() throws {
        let outcome = decode(header(payloadLength: 0))
        #expect(outcome.frames.count == 1 && outcome.frames[0].payload.readableBytes == 0)
        var payload = outcome.frames[0].payload
        #expect(try Ping.decode(from: &payload).payload.readableBytes == 0)
        // A zero-length LZ4 block is not a block.
        #expect(decode(header(flags: 1, payloadLength: 0)).error?.code == .decompressionFailed)
    }

    @Test("a length above the limit fails from the header, before any payload")
    func aboveLimit() {
        let limits = ProtocolLimits(maximumFramePayload: 1000, maximumUncompressedPayload: 4000)
        #expect(decode(header(payloadLength: 1000), limits: limits).error == nil)  // waits: at the limit
        let error = decode(header(payloadLength: 1001), limits: limits).error
        #expect(error?.code == .frameTooLarge && error?.offset == 16 && error?.requestID == 1)
        // Compressed: the wire length is within the limit, the declared size is not.
        let declared = decode(header(flags: 1, payloadLength: 100, uncompressedLength: 4001), limits: limits).error
        #expect(declared?.code == .frameTooLarge && declared?.offset == 20)
        // Uncompressed frames must have equal lengths.
        #expect(decode(header(payloadLength: 10, uncompressedLength: 11), limits: limits).error?.code == .malformedFrame)
    }

    @Test("lengths near 2^32 fail at once (and would fail even with huge limits, without allocating)")
    func nearUInt32Max() {
        for length in [UInt32.max, UInt32.max - 1, UInt32(1) << 31] {
            #expect(decode(header(payloadLength: length)).error?.code == .frameTooLarge)
        }
        // With limits at their maximum, the decoder waits for 4 GiB that never come: no error,
        // no allocation (the test finishing at once shows nothing was reserved).
        let huge = ProtocolLimits(maximumFramePayload: Int(UInt32.max), maximumUncompressedPayload: Int(UInt32.max))
        let outcome = decode(header(payloadLength: UInt32.max), limits: huge)
        #expect(outcome.error == nil && outcome.frames.isEmpty && outcome.unprocessed == 24)
    }

    @Test("a truncated payload then end of stream: nil, no error")
    func truncatedThenNothing() throws {
        let bytes = try vector("05-score-response")
        for cut in [1, 23, 24, 25, bytes.readableBytes - 1] {
            let outcome = decode(bytes.getSlice(at: 0, length: cut)!)
            #expect(outcome.error == nil && outcome.frames.isEmpty && outcome.unprocessed == cut)
        }
    }

    @Test("unknown type, unsupported version, bad flags, bad magic")
    func badHeaders() {
        for type in [0x00, 0x03, 0x12, 0x21, 0x41, 0xFF] as [UInt8] {
            #expect(decode(header(type: type, payloadLength: 0)).error?.code == .unknownType)
        }
        for version in [0, 2, 255] as [UInt8] {
            #expect(decode(header(version: version, payloadLength: 0)).error?.code == .unsupportedVersion)
        }
        for flags in [2, 4, 0x8000, 0xFFFF] as [UInt16] {
            let error = decode(header(flags: flags, payloadLength: 0)).error
            #expect(error?.code == .malformedFrame && error?.offset == 6)
        }
        var bad = header(payloadLength: 0)
        bad.setInteger(UInt8(0x4D), at: 0)
        #expect(decode(bad).error?.code == .malformedFrame)
    }

    @Test("LZ4 declared size: absurd, mismatched, corrupt")
    func lz4Sizes() throws {
        // 10 bytes cannot expand past 2550.
        #expect(decode(header(flags: 1, payloadLength: 10, uncompressedLength: 2551)).error?.code == .decompressionFailed)
        var atBound = header(flags: 1, payloadLength: 10, uncompressedLength: 2550)
        atBound.writeBytes([UInt8](repeating: 0, count: 10))
        #expect(decode(atBound).error?.code == .decompressionFailed)  // passes the header check, corrupt block

        let frame = try vector("04-score-request-lz4")
        for declared in [0, 1, 96, 98, 1000] as [UInt32] {
            var wrong = frame
            wrong.setInteger(declared, at: 20)
            let error = decode(wrong).error
            #expect(error?.code == .decompressionFailed, "declared \(declared)")
        }
        var corrupt = frame
        corrupt.setInteger(UInt8(0xFF), at: 24)  // the first token: claims 15+ literals
        #expect(decode(corrupt).error?.code == .decompressionFailed)
    }

    @Test("seeded random garbage never traps")
    func randomGarbage() throws {
        var generator = SplitMix64(seed: 20261129)
        let valid = try vector("04-score-request-lz4")
        for round in 0..<3000 {
            var bytes: ByteBuffer
            if round % 2 == 0 {
                // Pure garbage, sometimes behind a valid magic and version.
                let count = Int.random(in: 0...200, using: &generator)
                bytes = ByteBuffer(bytes: (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) })
                if round % 4 == 0, bytes.readableBytes >= 6 {
                    bytes.setInteger(FrameHeader.magic, at: 0)
                    bytes.setInteger(UInt8(1), at: 4)
                }
            } else {
                // A valid frame with a few bytes flipped.
                bytes = valid
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    let at = Int.random(in: 0..<bytes.readableBytes, using: &generator)
                    bytes.setInteger(UInt8.random(in: 0...255, using: &generator), at: at)
                }
            }
            let outcome = decode(bytes)
            for frame in outcome.frames {
                #expect(frame.payload.readableBytes == Int(frame.header.uncompressedLength))
                var payload = frame.payload
                _ = try? ScoreRequest.decode(from: &payload, schema: vectorSchema, maximumBatch: 4096)
            }
        }
    }
}

@Suite("FrameEncoder")
struct FrameEncoderTests {
    @Test("refuses frames the peer would refuse, leaving the buffer as it was")
    func limits() throws {
        let encoder = FrameEncoder(compression: .never, limits: ProtocolLimits(maximumFramePayload: 16, maximumUncompressedPayload: 32))
        var out = ByteBuffer(string: "x")
        try encoder.encode(Ping(payload: ByteBuffer(repeating: 1, count: 16)), requestID: 1, into: &out)
        #expect(out.readableBytes == 1 + 24 + 16)
        let before = out
        #expect(throws: ProtocolError.self) { try encoder.encode(Ping(payload: ByteBuffer(repeating: 1, count: 17)), requestID: 1, into: &out) }
        #expect(throws: ProtocolError.self) { try encoder.encode(Ping(payload: ByteBuffer(repeating: 1, count: 33)), requestID: 1, into: &out) }
        #expect(out == before)
        // Compressible: 32 bytes fit in 16 on the wire.
        var compressed = ByteBuffer()
        try FrameEncoder(compression: .always, limits: encoder.limits)
            .encode(Ping(payload: ByteBuffer(repeating: 1, count: 32)), requestID: 1, into: &compressed)
        let frames = decode(compressed, limits: encoder.limits).frames
        #expect(frames.first?.payload == ByteBuffer(repeating: 1, count: 32) && frames.first?.header.isCompressed == true)
    }

    @Test("whenSmaller compresses large repetitive payloads and round-trips them")
    func roundTrip() throws {
        let ids = (0..<4096).map { "application-\($0)" }
        let request = try ScoreRequest(
            schemaHash: vectorSchema.hash, applicationIDs: ids,
            columns: [
                Column(numbers: ids.indices.map { $0 % 5 == 0 ? nil : Double($0) }),
                Column(strings: ids.indices.map { ["rent", "owner", "parents", "other"][$0 % 4] }),
                Column(numbers: ids.indices.map { Double($0) * 1.5 }),
                Column(bools: ids.indices.map { $0 % 3 == 0 ? nil : $0 % 2 == 0 }),
            ])
        var out = ByteBuffer()
        try FrameEncoder().encode(request, requestID: 42, into: &out)
        let frame = try #require(decode(out).frames.first)
        #expect(frame.header.isCompressed && frame.header.payloadLength < frame.header.uncompressedLength)
        var payload = frame.payload
        #expect(try ScoreRequest.decode(from: &payload, schema: vectorSchema, maximumBatch: 4096) == request)
    }
}
