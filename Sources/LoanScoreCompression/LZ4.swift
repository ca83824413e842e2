internal import CLZ4
public import NIOCore

/// Bounded LZ4 *block* compression (no LZ4 frame format: the caller carries the sizes).
///
/// The wire protocol sends a compressed payload as one LZ4 block together with its declared
/// decompressed size. ``decompress(_:declaredSize:limit:into:)`` checks that size against a
/// configured limit and against what the compressed bytes can possibly expand to *before*
/// reserving any memory, so a peer cannot make us allocate by lying about a size.
public enum LZ4 {
    /// The most bytes one LZ4 block can decompress to per compressed byte.
    ///
    /// From the LZ4 block format (lz4/lz4, `doc/lz4_Block_format.md`): a block is a run of
    /// sequences, each `token (1 byte) · literal-length extension bytes · literals ·
    /// offset (2 bytes) · match-length extension bytes`, the last sequence stopping after its
    /// literals. Literals cost one input byte per output byte; literal-length extension bytes
    /// produce nothing. A match produces `4 + 15 + Σ(extension bytes)` bytes, each extension
    /// byte adding at most 255, and costs at least the token and the offset (3 bytes) plus its
    /// extension bytes. So `19 + 255·k` output bytes need at least `3 + k` input bytes, which
    /// is under 255 per byte, and every other byte yields at most 1. Hence
    /// `decompressed ≤ 255 × compressed` for every valid block.
    public static let maximumExpansion = 255

    /// The largest input one block can hold (`LZ4_MAX_INPUT_SIZE`, 2,113,929,216 bytes).
    public static let maximumInputSize = Int(LZ4_MAX_INPUT_SIZE)

    /// The most bytes compressing `count` bytes can produce (`LZ4_compressBound`:
    /// `count + count/255 + 16`), or `nil` if `count` is above ``maximumInputSize``.
    public static func compressBound(_ count: Int) -> Int? {
        guard count >= 0, count <= maximumInputSize else { return nil }
        return count + count / 255 + 16
    }

    /// Compresses `input` as one LZ4 block and appends it to `buffer`.
    ///
    /// - Parameters:
    ///   - input: the bytes to compress; any length up to ``maximumInputSize`` (empty input
    ///     yields a one-byte block).
    ///   - buffer: receives the block at its writer index; nothing else is written (the caller
    ///     records `input.count` as the declared size).
    /// - Returns: the number of bytes appended.
    /// - Throws: ``CompressionError/Code/inputTooLarge``.
    /// - Complexity: O(`input.count`); reserves at most ``compressBound(_:)`` bytes.
    @discardableResult
    public static func compress(_ input: UnsafeRawBufferPointer, into buffer: inout ByteBuffer) throws(CompressionError) -> Int {
        guard let bound = compressBound(input.count) else {
            throw CompressionError(.inputTooLarge, "input is \(input.count) bytes; one LZ4 block holds at most \(maximumInputSize)")
        }
        // Both counts fit in Int32: input.count <= LZ4_MAX_INPUT_SIZE < Int32.max, and so is its bound.
        let written = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { destination -> Int in
            // `destination` is the buffer's writable region, at least `bound` bytes long; LZ4
            // writes at most `dstCapacity` bytes into it and reads exactly `srcSize` from input.
            // Both pointers live only for this closure. An empty buffer's baseAddress may be nil:
            // give LZ4 a valid one-byte stand-in to read zero bytes from.
            let capacity = Int32(min(destination.count, bound))
            guard let dst = destination.baseAddress else { return 0 }
            let result: Int32
            if let src = input.baseAddress {
                result = LZ4_compress_default(
                    src.assumingMemoryBound(to: CChar.self), dst.assumingMemoryBound(to: CChar.self),
                    Int32(input.count), capacity)
            } else {
                var none: CChar = 0
                result = LZ4_compress_default(&none, dst.assumingMemoryBound(to: CChar.self), 0, capacity)
            }
            // With dstCapacity >= LZ4_compressBound(srcSize) compression cannot fail.
            precondition(result > 0, "LZ4_compress_default failed with a bound-sized destination")
            return Int(result)
        }
        return written
    }

    /// Compresses a buffer's readable bytes (without moving its reader index).
    /// See ``compress(_:into:)-(UnsafeRawBufferPointer,_)``.
    @discardableResult
    public static func compress(_ input: ByteBuffer, into buffer: inout ByteBuffer) throws(CompressionError) -> Int {
        let result = input.withUnsafeReadableBytes { bytes -> Result<Int, CompressionError> in
            do throws(CompressionError) {
                return .success(try compress(bytes, into: &buffer))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Checks a declared decompressed size before anything is allocated for it.
    ///
    /// - Parameters:
    ///   - declaredSize: the size the sender says the block decompresses to.
    ///   - compressedSize: the block's length in bytes.
    ///   - limit: the most bytes the caller accepts.
    /// - Throws: ``CompressionError/Code/declaredSizeOverLimit`` or
    ///   ``CompressionError/Code/declaredSizeImpossible``.
    public static func checkDeclaredSize(_ declaredSize: Int, compressedSize: Int, limit: Int) throws(CompressionError) {
        guard declaredSize >= 0, compressedSize >= 0 else {
            throw CompressionError(.declaredSizeImpossible, "negative size (declared \(declaredSize), compressed \(compressedSize))")
        }
        guard declaredSize <= limit else {
            throw CompressionError(.declaredSizeOverLimit, "declared size \(declaredSize) is above the limit of \(limit) bytes")
        }
        guard compressedSize > 0 else {
            throw CompressionError(.declaredSizeImpossible, "empty LZ4 block (a block has at least one token)")
        }
        let (bound, overflow) = compressedSize.multipliedReportingOverflow(by: maximumExpansion)
        guard overflow || declaredSize <= bound else {
            throw CompressionError(
                .declaredSizeImpossible,
                "declared size \(declaredSize) cannot come from \(compressedSize) compressed bytes (an LZ4 block expands at most \(maximumExpansion)x)")
        }
    }

    /// Decompresses one LZ4 block that must expand to exactly `declaredSize` bytes, appending
    /// them to `buffer`.
    ///
    /// The size is checked (``checkDeclaredSize(_:compressedSize:limit:)``) before anything is
    /// reserved; then `LZ4_decompress_safe` decodes into exactly `declaredSize` bytes of space,
    /// so it can neither read past `input` nor write past the declared size.
    ///
    /// - Parameters:
    ///   - input: one LZ4 block. An empty input is refused (a block has at least one token).
    ///   - declaredSize: the decompressed size the sender declared, in bytes.
    ///   - limit: the largest `declaredSize` accepted, in bytes.
    ///   - buffer: receives the decompressed bytes at its writer index. On error nothing is
    ///     appended (the writer index is unchanged), though capacity may have been reserved.
    /// - Throws: ``CompressionError`` with code `declaredSizeOverLimit`,
    ///   `declaredSizeImpossible`, `corruptInput` (corrupt or truncated block, or one that
    ///   would expand past `declaredSize`) or `sizeMismatch` (expands to fewer bytes).
    /// - Complexity: O(`declaredSize`); reserves at most `declaredSize` bytes.
    public static func decompress(
        _ input: UnsafeRawBufferPointer, declaredSize: Int, limit: Int, into buffer: inout ByteBuffer
    ) throws(CompressionError) {
        try checkDeclaredSize(declaredSize, compressedSize: input.count, limit: limit)
        // After the check: 0 < input.count and declaredSize <= 255 * input.count. Both must fit
        // LZ4's Int32 parameters.
        guard input.count <= Int(Int32.max), declaredSize <= Int(Int32.max) else {
            throw CompressionError(.declaredSizeImpossible, "sizes above 2^31-1 bytes are not supported by LZ4")
        }
        guard let src = input.baseAddress else {
            throw CompressionError(.declaredSizeImpossible, "empty LZ4 block (a block has at least one token)")
        }
        var produced = -1
        let writerIndex = buffer.writerIndex
        if declaredSize == 0 {
            // A block for empty input is a single token; LZ4 still needs a valid destination.
            var none: CChar = 0
            produced = Int(LZ4_decompress_safe(src.assumingMemoryBound(to: CChar.self), &none, Int32(input.count), 0))
        } else {
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: declaredSize) { destination -> Int in
                // `destination` has at least `declaredSize` writable bytes (reserved just now,
                // after the size checks); dstCapacity = declaredSize so LZ4 never writes beyond
                // it, and srcSize = input.count so it never reads beyond the block. Pointers do
                // not escape the closure.
                guard let dst = destination.baseAddress else { return 0 }
                produced = Int(
                    LZ4_decompress_safe(
                        src.assumingMemoryBound(to: CChar.self), dst.assumingMemoryBound(to: CChar.self),
                        Int32(input.count), Int32(declaredSize)))
                // Commit the bytes only when the result is exactly the declared size.
                return produced == declaredSize ? declaredSize : 0
            }
        }
        guard produced >= 0 else {
            buffer.moveWriterIndex(to: writerIndex)
            throw CompressionError(
                .corruptInput,
                "LZ4_decompress_safe refused the \(input.count)-byte block (corrupt, truncated, or longer than the declared \(declaredSize) bytes)")
        }
        guard produced == declaredSize else {
            buffer.moveWriterIndex(to: writerIndex)
            throw CompressionError(.sizeMismatch, "block decompressed to \(produced) bytes, declared \(declaredSize)")
        }
    }

    /// Decompresses a buffer's readable bytes (without moving its reader index).
    /// See ``decompress(_:declaredSize:limit:into:)-(UnsafeRawBufferPointer,_,_,_)``.
    public static func decompress(
        _ input: ByteBuffer, declaredSize: Int, limit: Int, into buffer: inout ByteBuffer
    ) throws(CompressionError) {
        let result = input.withUnsafeReadableBytes { bytes -> Result<Void, CompressionError> in
            do throws(CompressionError) {
                try decompress(bytes, declaredSize: declaredSize, limit: limit, into: &buffer)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }
}
