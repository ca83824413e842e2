import CFuzzDriver
import LoanScoreProtocol
import NIOCore

/// The input is a byte stream of frames, read as a connection's conversation (PROTOCOL.md §4, §5):
///
/// 1. the first frame must be HELLO: it is decoded, the version is negotiated (the server speaks
///    version 1 only) and the HELLO re-encoded must give the same payload;
/// 2. the second frame must be WELCOME: it is decoded (schema hash checked against its fields)
///    and re-encoded byte for byte; its limits replace the decoder's, as the client does;
/// 3. every later frame is decoded under WELCOME's limits (capped at 64 KiB so that a hostile
///    WELCOME cannot make one input take seconds) and SCORE_REQUESTs against WELCOME's schema.
///
/// A frame of the wrong type at a step ends the conversation, as a server would close.
/// Must not happen: traps, sanitizer reports, leaks, non-protocol errors, a re-encoding that
/// differs, or a frame over the limits the decoder was given.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var stream = ByteBuffer()
    stream.writeBytes(UnsafeRawBufferPointer(start: data, count: size))
    var decoder = FrameDecoder(limits: .default)
    var welcome: Welcome?
    var step = 0
    do {
        while let frame = try decoder.decode(buffer: &stream) {
            precondition(Int(frame.header.payloadLength) <= decoder.limits.maximumFramePayload, "frame above the limit")
            var payload = frame.payload
            switch step {
            case 0:
                guard frame.type == .hello else { return 0 }
                let hello = try Hello.decode(from: &payload)
                precondition(hello.minimumVersion <= hello.maximumVersion, "HELLO with min > max accepted")
                roundTrip(hello, frame.payload)
                guard hello.supports(FrameHeader.currentVersion) else { return 0 }  // server answers UNSUPPORTED_VERSION
            case 1:
                guard frame.type == .welcome else { return 0 }
                let decoded = try Welcome.decode(from: &payload)
                precondition(decoded.schema.hash == WireSchema(fields: decoded.schema.fields).hash, "schema hash mismatch accepted")
                precondition(decoded.limits.maximumFramePayload > 0 && decoded.limits.maximumBatch > 0, "zero limit accepted")
                roundTrip(decoded, frame.payload)
                welcome = decoded
                // The client adopts WELCOME's limits, capped to keep each input fast.
                let cap = 64 << 10
                decoder.limits = ProtocolLimits(
                    maximumFramePayload: min(decoded.limits.maximumFramePayload, cap),
                    maximumUncompressedPayload: min(decoded.limits.maximumUncompressedPayload, cap),
                    maximumBatch: min(decoded.limits.maximumBatch, 256),
                    maximumInFlight: decoded.limits.maximumInFlight)
            default:
                guard let welcome else { return 0 }
                switch frame.type {
                case .scoreRequest:
                    let request = try ScoreRequest.decode(from: &payload, schema: welcome.schema, maximumBatch: decoder.limits.maximumBatch, flags: frame.header.flags)
                    precondition(request.columns.count == welcome.schema.fields.count, "columns differ from WELCOME's schema")
                    roundTrip(request, frame.payload)
                case .scoreResponse: roundTrip(try ScoreResponse.decode(from: &payload, maximumBatch: decoder.limits.maximumBatch), frame.payload)
                case .error: roundTrip(try ErrorMessage.decode(from: &payload), frame.payload)
                case .goodbye: roundTrip(try Goodbye.decode(from: &payload), frame.payload); return 0
                case .ping: roundTrip(try Ping.decode(from: &payload).pong, frame.payload)
                case .pong: roundTrip(try Pong.decode(from: &payload), frame.payload)
                default: return 0  // HELLO or WELCOME again: the peer closes with UNEXPECTED_MESSAGE
                }
            }
            step += 1
        }
    } catch let error as ProtocolError {
        _ = error.isConnectionFatal
    } catch {
        preconditionFailure("a non-protocol error: \(error)")
    }
    return 0
}

func roundTrip(_ message: some ProtocolMessage, _ original: ByteBuffer) {
    var encoded = ByteBuffer()
    message.encode(into: &encoded)
    precondition(encoded == original, "\(type(of: message)) re-encodes to different bytes")
}

/// The entry point SwiftPM links a debug executable with (see Package.swift); runs libFuzzer.
@_cdecl("HandshakeFuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    loanscore_fuzz_run(argc, argv) { data, size in
        guard let data else { return 0 }
        return fuzz(data, size)
    }
}
