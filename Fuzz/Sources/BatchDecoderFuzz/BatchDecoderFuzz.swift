import CFuzzDriver
import LoanScoreProtocol
import NIOCore

/// Input: `selector byte · payload`. The selector picks the decoder:
///
/// - 0: SCORE_REQUEST as sent, against the schema of Protocol/vectors (Seniority NUMBER, Home
///   STRING, Income NUMBER, Records BOOL); a wrong hash must be SCHEMA_MISMATCH.
/// - 1, 2: SCORE_REQUEST with the right schema hash prepended by the harness (so the fuzzer
///   reaches the columns without guessing 32 hash bytes), against that schema (1) or against
///   `NUMBER, STRING, NUMBER, STRING` (2). The maximum batch is small (64) to keep runs fast.
/// - 3: SCORE_RESPONSE, 4: WELCOME, 5: HELLO, 6: ERROR, 7: GOODBYE, 8: PING/PONG.
///
/// Selectors 0–2 also decode into one `RequestColumns` kept across inputs (as a connection
/// keeps its buffers), which must accept, refuse and hold exactly what a fresh decode does.
///
/// Any `ProtocolError` is a correct answer. What must not happen: a trap, a sanitizer report, a
/// leak, or an accepted payload that does not re-encode to the same bytes (every message's
/// encoding is canonical, so `encode(decode(p)) == p`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let selector = data[0] % 9
    let bytes = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    var payload = ByteBuffer()
    switch selector {
    case 1: payload.writeBytes(vectorSchema.hash.bytes)
    case 2: payload.writeBytes(stringSchema.hash.bytes)
    default: break
    }
    payload.writeBytes(bytes)
    let original = payload

    do throws(ProtocolError) {
        var buffer = payload
        switch selector {
        case 0, 1, 2:
            let schema = selector == 2 ? stringSchema : vectorSchema
            let request = try ScoreRequest.decode(from: &buffer, schema: schema, maximumBatch: 64)
            precondition(request.count > 0 && request.count <= 64, "batch of \(request.count) accepted")
            precondition(request.columns.count == schema.fields.count, "column count differs from the schema")
            for (column, field) in zip(request.columns, schema.fields) {
                precondition(column.count == request.count && column.type == field.type, "column shape differs")
            }
            check(request, original: original)
            checkReused(original, schema: schema, expected: .success(request))
        case 3: check(try ScoreResponse.decode(from: &buffer, maximumBatch: 64), original: original)
        case 4: check(try Welcome.decode(from: &buffer), original: original)
        case 5: check(try Hello.decode(from: &buffer), original: original)
        case 6: check(try ErrorMessage.decode(from: &buffer), original: original)
        case 7: check(try Goodbye.decode(from: &buffer), original: original)
        default:
            var copy = buffer
            check(try Ping.decode(from: &buffer), original: original)
            check(try Pong.decode(from: &copy), original: original)
            precondition(copy.readableBytes == 0, "PONG accepted the payload without consuming it")
        }
        precondition(buffer.readableBytes == 0, "a decoder accepted the payload without consuming it")
    } catch {
        if selector <= 2 { checkReused(original, schema: selector == 2 ? stringSchema : vectorSchema, expected: .failure(error)) }
        // Typed throws: `error` is a ProtocolError. Its location must lie inside the payload.
        if let offset = error.offset {
            precondition(offset >= 0 && offset <= original.readableBytes, "error offset \(offset) outside a \(original.readableBytes)-byte payload")
        }
        if selector == 0, original.readableBytes >= 32,
           original.getBytes(at: original.readerIndex, length: 32) != vectorSchema.hash.bytes {
            precondition(error.code == .schemaMismatch, "wrong schema hash answered \(error.code)")
        }
    }
    return 0
}

let vectorSchema = WireSchema(fields: [
    WireField(name: "Seniority", type: .number), WireField(name: "Home", type: .string),
    WireField(name: "Income", type: .number), WireField(name: "Records", type: .bool),
])
let stringSchema = WireSchema(fields: [
    WireField(name: "amount", type: .number), WireField(name: "home", type: .string),
    WireField(name: "income", type: .number), WireField(name: "job", type: .string),
])

/// One `RequestColumns` decodes every input, as a connection's does: whatever it held before
/// (or however its last decode failed), it must give what a fresh decode gives.
nonisolated(unsafe) var reused = RequestColumns()

func checkReused(_ payload: ByteBuffer, schema: WireSchema, expected: Result<ScoreRequest, ProtocolError>) {
    var buffer = payload
    do throws(ProtocolError) {
        try reused.decode(from: &buffer, schema: schema, maximumBatch: 64)
        guard case .success(let request) = expected else { preconditionFailure("a reused decoder accepted what a fresh one refused") }
        precondition(reused.count == request.count && buffer.readableBytes == 0, "reused decoder: count or consumption differs")
        for application in 0..<request.count {
            precondition(reused.id(application: application) == request.applicationIDs[application], "reused decoder: id differs")
            for field in schema.fields.indices {
                let (ours, theirs) = (reused.value(application: application, field: field), request.value(application: application, field: field))
                // NaN != NaN: compare numbers by bit pattern.
                if case .number(let a) = ours, case .number(let b) = theirs {
                    precondition(a.bitPattern == b.bitPattern, "reused decoder: number differs")
                } else {
                    precondition(ours == theirs, "reused decoder: value differs")
                }
            }
        }
    } catch {
        guard case .failure(let fresh) = expected else { preconditionFailure("a reused decoder refused what a fresh one accepted: \(error)") }
        precondition(error == fresh && reused.count == 0, "reused decoder: another error, or a count left after it")
    }
}

/// An accepted payload re-encodes to exactly the bytes it came from.
func check(_ message: some ProtocolMessage, original: ByteBuffer) {
    var encoded = ByteBuffer()
    message.encode(into: &encoded)
    precondition(encoded == original, "\(type(of: message)) does not re-encode to its \(original.readableBytes) bytes (got \(encoded.readableBytes))")
}

/// The entry point SwiftPM links a debug executable with (see Package.swift); runs libFuzzer.
@_cdecl("BatchDecoderFuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    loanscore_fuzz_run(argc, argv) { data, size in
        guard let data else { return 0 }
        return fuzz(data, size)
    }
}
