import CFuzzDriver
import LoanScoreProtocol
import NIOCore

/// Input: `limits byte · chunking byte · stream bytes`.
///
/// The stream is fed to ``FrameDecoder`` through `NIOSingleStepByteToMessageProcessor` in
/// chunks (sizes drawn from the chunking byte, as TCP might deliver them), with small limits
/// chosen by the limits byte so that both "under the limit" and "over the limit" are reachable.
/// Every frame produced is checked against its header and the limits, and its payload is
/// handed to the decoder of its message type. Any `ProtocolError` ends the stream (the decoder
/// must not be used after it has thrown), as on a real connection.
///
/// Must not happen: a trap, a sanitizer report, a leak, an error that is not a
/// ``ProtocolError``, a frame whose payload differs from its declared length or exceeds the
/// limits, or a buffered remainder above the processor's bound.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 2 else { return 0 }
    let limits = limitChoices[Int(data[0]) % limitChoices.count]
    let chunking = Int(data[1])
    let stream = UnsafeRawBufferPointer(start: data + 2, count: size - 2)
    let decoder = FrameDecoder(limits: limits)
    // Fed in chunks of at most 32 bytes, the processor never needs to hold more than one
    // frame plus one chunk: past that the decoder waited for a frame it should have refused.
    let maximumBuffer = chunking == 0 ? nil : FrameHeader.size + limits.maximumFramePayload + 32
    let processor = NIOSingleStepByteToMessageProcessor(decoder, maximumBufferSize: maximumBuffer)

    var frames = 0
    func receive(_ frame: Frame) throws {
        frames += 1
        let header = frame.header
        precondition(header.version == FrameHeader.currentVersion && header.type.isDefined, "an invalid header got through")
        precondition(Int(header.payloadLength) <= limits.maximumFramePayload, "payload length above the limit")
        precondition(Int(header.uncompressedLength) <= limits.maximumUncompressedPayload, "uncompressed length above the limit")
        precondition(frame.payload.readableBytes == Int(header.uncompressedLength),
                     "payload of \(frame.payload.readableBytes) bytes, header says \(header.uncompressedLength)")
        decodePayload(frame, limits: limits)
    }

    do {
        var offset = 0
        var step = 0
        while offset < stream.count {
            // Chunk sizes 1...32 (or the whole rest when chunking is 0), varying per step.
            let length = chunking == 0 ? stream.count : min(stream.count - offset, 1 + (chunking &* (step + 1)) % 32)
            var chunk = ByteBuffer()
            chunk.writeBytes(UnsafeRawBufferPointer(rebasing: stream[offset..<(offset + length)]))
            try processor.process(buffer: chunk, receive)
            offset += length
            step += 1
        }
        try processor.finishProcessing(seenEOF: true, receive)
    } catch let error as ProtocolError {
        if let offset = error.offset, error.region == .header {
            precondition(offset >= 0 && offset < FrameHeader.size, "header error offset \(offset)")
        }
    } catch is ByteToMessageDecoderError.PayloadTooLargeError {
        preconditionFailure("the processor buffered more than a whole frame: the decoder waited for a frame it should have refused")
    } catch {
        preconditionFailure("FrameDecoder threw a non-protocol error: \(error)")
    }
    _ = frames
    return 0
}

/// Small limits reach both sides of every check quickly; the last entry is the default.
let limitChoices: [ProtocolLimits] = [
    ProtocolLimits(maximumFramePayload: 64, maximumUncompressedPayload: 256, maximumBatch: 4, maximumInFlight: 4),
    ProtocolLimits(maximumFramePayload: 256, maximumUncompressedPayload: 256, maximumBatch: 16, maximumInFlight: 4),
    ProtocolLimits(maximumFramePayload: 1024, maximumUncompressedPayload: 64 << 10, maximumBatch: 64, maximumInFlight: 8),
    ProtocolLimits(maximumFramePayload: 0, maximumUncompressedPayload: 0, maximumBatch: 1, maximumInFlight: 0),
    .default,
]

let vectorSchema = WireSchema(fields: [
    WireField(name: "Seniority", type: .number), WireField(name: "Home", type: .string),
    WireField(name: "Income", type: .number), WireField(name: "Records", type: .bool),
])

/// Hands a frame's payload to the decoder of its type; any ProtocolError is a valid answer.
func decodePayload(_ frame: Frame, limits: ProtocolLimits) {
    var payload = frame.payload
    do throws(ProtocolError) {
        switch frame.type {
        case .hello: _ = try Hello.decode(from: &payload)
        case .welcome: _ = try Welcome.decode(from: &payload)
        case .scoreRequest: _ = try ScoreRequest.decode(from: &payload, schema: vectorSchema, maximumBatch: limits.maximumBatch, flags: frame.header.flags)
        case .scoreResponse: _ = try ScoreResponse.decode(from: &payload, maximumBatch: limits.maximumBatch)
        case .error: _ = try ErrorMessage.decode(from: &payload)
        case .ping: _ = try Ping.decode(from: &payload)
        case .pong: _ = try Pong.decode(from: &payload)
        case .goodbye: _ = try Goodbye.decode(from: &payload)
        default: preconditionFailure("FrameDecoder passed an undefined type \(frame.type)")
        }
    } catch {
        _ = error.code
    }
}

/// The entry point SwiftPM links a debug executable with (see Package.swift); runs libFuzzer.
@_cdecl("FrameDecoderFuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    loanscore_fuzz_run(argc, argv) { data, size in
        guard let data else { return 0 }
        return fuzz(data, size)
    }
}
