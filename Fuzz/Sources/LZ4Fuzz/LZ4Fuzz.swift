import CFuzzDriver
import LoanScoreCompression
import NIOCore

/// Input: `declared size (u32, big-endian) · LZ4 block`.
///
/// 1. `LZ4.decompress(block, declaredSize:, limit: 1 MiB)`: it must either throw a
///    `CompressionError` leaving the output buffer's writer index where it was, or append exactly
///    `declaredSize` bytes. ASan checks that LZ4 never reads past the block or writes past the
///    reservation.
/// 2. The whole input compressed and decompressed again must be the same bytes.
/// 3. The whole input read as an LZ4 *frame* (archived audit segments): `LZ4Frame.decompress`
///    must throw or return at most its limit, never trap; and the input written as a frame must
///    read back as itself.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let limit = 1 << 20
    if size >= 4 {
        let declared = Int(UInt32(input[0]) << 24 | UInt32(input[1]) << 16 | UInt32(input[2]) << 8 | UInt32(input[3]))
        let block = UnsafeRawBufferPointer(rebasing: input[4...])
        var out = ByteBuffer()
        out.writeStaticString("prefix")  // the decoder appends; on error the prefix alone must remain
        do {
            try LZ4.decompress(block, declaredSize: declared, limit: limit, into: &out)
            precondition(out.readableBytes == 6 + declared, "decompress appended \(out.readableBytes - 6), declared \(declared)")
        } catch {
            precondition(out.readableBytes == 6, "a failed decompress left \(out.readableBytes - 6) bytes behind")
        }
    }

    // LZ4 frames: arbitrary bytes are refused or bounded; our own frames read back whole.
    let bytes = Array(input)
    if let frame = try? LZ4Frame.decompress(bytes, limit: 64 << 10) {
        precondition(frame.count <= 64 << 10, "a frame decompressed past its limit")
    }
    do {
        let framed = try LZ4Frame.compress(bytes)
        let restored = try LZ4Frame.decompress(framed, limit: max(size, 1))
        precondition(restored == bytes, "a frame round trip changed the bytes")
    } catch {
        preconditionFailure("frame round trip of \(size) bytes failed: \(error)")
    }

    // Round trip: every input compresses, and decompresses to itself with its exact size.
    var compressed = ByteBuffer()
    do {
        try LZ4.compress(input, into: &compressed)
    } catch {
        preconditionFailure("compress failed on \(size) bytes: \(error)")
    }
    precondition(compressed.readableBytes <= LZ4.compressBound(size)!, "compressed past compressBound")
    var restored = ByteBuffer()
    do {
        try LZ4.decompress(compressed, declaredSize: size, limit: max(size, 1), into: &restored)
    } catch {
        preconditionFailure("round trip of \(size) bytes failed: \(error)")
    }
    precondition(restored.readableBytesView.elementsEqual(input), "round trip changed the bytes")
    // One byte short of the real size must fail (never a silent truncation).
    if size > 0 {
        var short = ByteBuffer()
        do {
            try LZ4.decompress(compressed, declaredSize: size - 1, limit: size, into: &short)
            preconditionFailure("a block of \(size) bytes decompressed into \(size - 1)")
        } catch {
            precondition(short.readableBytes == 0, "a failed decompress left bytes behind")
        }
    }
    return 0
}

/// The entry point SwiftPM links a debug executable with (see Package.swift); runs libFuzzer.
@_cdecl("LZ4Fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    loanscore_fuzz_run(argc, argv) { data, size in
        guard let data else { return 0 }
        return fuzz(data, size)
    }
}
