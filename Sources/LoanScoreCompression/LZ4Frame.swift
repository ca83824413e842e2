internal import CLZ4

/// LZ4 *frame* format (lz4/lz4 `doc/lz4_Frame_format.md`): the self-describing format of the
/// `lz4` command, with the content size and a content checksum in the frame.
///
/// Used for archived audit segments, so that an operator can read them with `lz4 -d` and no
/// LoanScore tool. Decompression is bounded by the caller's limit whatever the frame declares.
public enum LZ4Frame {
    /// Compresses `input` as one frame, recording its size and an xxHash32 content checksum.
    ///
    /// - Throws: ``CompressionError/Code/inputTooLarge`` when liblz4 refuses the input.
    /// - Complexity: O(`input.count`); allocates `LZ4F_compressFrameBound` bytes.
    public static func compress(_ input: [UInt8]) throws(CompressionError) -> [UInt8] {
        var preferences = LZ4F_preferences_t()  // zeroed: liblz4's defaults (64 KiB linked blocks)
        preferences.frameInfo.contentSize = UInt64(input.count)
        preferences.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled
        let bound = LZ4F_compressFrameBound(input.count, &preferences)
        var output = [UInt8](repeating: 0, count: bound)
        let written = output.withUnsafeMutableBytes { destination in
            input.withUnsafeBytes { source in
                // Both pointers live only for this call; liblz4 writes at most `destination.count`
                // (= the bound it computed) and reads exactly `source.count` bytes.
                LZ4F_compressFrame(destination.baseAddress, destination.count, source.baseAddress, source.count, &preferences)
            }
        }
        guard LZ4F_isError(written) == 0 else {
            throw CompressionError(.inputTooLarge, "cannot compress \(input.count) bytes as an LZ4 frame: \(errorName(written))")
        }
        output.removeSubrange(written...)
        return output
    }

    /// Decompresses one frame (or several concatenated, as `lz4` writes them), refusing to
    /// produce more than `limit` bytes.
    ///
    /// - Throws: ``CompressionError/Code/corruptFrame`` (bad magic, corrupt or truncated data,
    ///   checksum mismatch: the message carries liblz4's error name and the input offset),
    ///   ``CompressionError/Code/outputOverLimit``.
    /// - Complexity: O(output); memory grows with the output, never past `limit`.
    public static func decompress(_ input: [UInt8], limit: Int) throws(CompressionError) -> [UInt8] {
        var context: OpaquePointer?
        guard LZ4F_isError(LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))) == 0, let context else {
            throw CompressionError(.corruptFrame, "liblz4 could not create a decompression context")
        }
        defer { LZ4F_freeDecompressionContext(context) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 256 << 10)
        var consumed = 0
        var hint = 1
        while consumed < input.count {
            var sourceSize = input.count - consumed
            var destinationSize = chunk.count
            hint = input.withUnsafeBytes { source in
                chunk.withUnsafeMutableBytes { destination in
                    // `source` advanced by `consumed` (< source.count) and `sourceSize` bytes
                    // from there stay inside the array; liblz4 writes at most `destinationSize`
                    // (= chunk.count) bytes and reports in both sizes what it used.
                    LZ4F_decompress(context, destination.baseAddress, &destinationSize, source.baseAddress.map { $0 + consumed },
                                    &sourceSize, nil)
                }
            }
            if LZ4F_isError(hint) != 0 {
                throw CompressionError(.corruptFrame, "not a valid LZ4 frame at or after byte \(consumed): \(errorName(hint))")
            }
            guard output.count + destinationSize <= limit else {
                throw CompressionError(.outputOverLimit, "the LZ4 frame expands to more than \(limit) bytes")
            }
            output += chunk[..<destinationSize]
            consumed += sourceSize
            if sourceSize == 0 && destinationSize == 0 { break }  // no progress: truncated input
        }
        guard hint == 0 else {
            throw CompressionError(.corruptFrame, "the LZ4 frame is truncated: it ends after \(input.count) bytes, before its end mark")
        }
        return output
    }

    private static func errorName(_ code: Int) -> String {
        LZ4F_getErrorName(code).map { String(cString: $0) } ?? "error \(code)"
    }
}
