import LoanScoreCompression
import LoanScoreTestSupport
import NIOCore
import Testing

@Suite("LZ4 block compression")
struct LZ4Tests {
    private static func compressed(_ bytes: [UInt8]) throws -> ByteBuffer {
        var out = ByteBuffer()
        _ = try bytes.withUnsafeBytes { try LZ4.compress($0, into: &out) }
        return out
    }

    private static func decompress(_ block: [UInt8], declared: Int, limit: Int = 1 << 24) throws(CompressionError) -> [UInt8] {
        var out = ByteBuffer()
        let result = block.withUnsafeBytes { bytes -> Result<Void, CompressionError> in
            do throws(CompressionError) {
                try LZ4.decompress(bytes, declaredSize: declared, limit: limit, into: &out)
                return .success(())
            } catch { return .failure(error) }
        }
        try result.get()
        return Array(out.readableBytesView)
    }

    /// The code `body` fails with; nil if it succeeds. A non-LZ4 error fails the test.
    private static func code(of body: () throws -> Void) -> CompressionError.Code? {
        do {
            try body()
            return nil
        } catch let error as CompressionError {
            return error.code
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test("round trip", arguments: [1, 7, 100, 4096, 70_000, 1 << 20])
    func roundTrip(size: Int) throws {
        var generator = SplitMix64(seed: UInt64(size))
        // Half repetitive, half random: exercises both literals and matches.
        let input = (0..<size).map { i in i % 2 == 0 ? UInt8(truncatingIfNeeded: i / 64) : UInt8.random(in: 0...255, using: &generator) }
        let block = try Self.compressed(input)
        #expect(block.readableBytes <= LZ4.compressBound(size)!)
        let output = try Self.decompress(Array(block.readableBytesView), declared: size)
        #expect(output == input)
    }

    @Test("appends after existing bytes and compresses a ByteBuffer")
    func appends() throws {
        let input = ByteBuffer(string: String(repeating: "loanscore ", count: 100))
        var out = ByteBuffer(string: "HDR")
        let n = try LZ4.compress(input, into: &out)
        #expect(out.readableBytes == 3 + n)
        #expect(n < input.readableBytes)
        var plain = ByteBuffer(string: "X")
        try LZ4.decompress(out.getSlice(at: 3, length: n)!, declaredSize: input.readableBytes, limit: 4096, into: &plain)
        #expect(plain.readString(length: 1) == "X")
        #expect(plain == input)
    }

    @Test("empty input compresses to one token and back")
    func empty() throws {
        let block = try Self.compressed([])
        #expect(Array(block.readableBytesView) == [0x00])
        #expect(try Self.decompress([0x00], declared: 0).isEmpty)
        // A zero-length block is not a block.
        #expect(Self.code { _ = try Self.decompress([], declared: 0) } == .declaredSizeImpossible)
    }

    @Test("a declared size above the limit is refused before allocating")
    func overLimit() {
        #expect(Self.code { _ = try Self.decompress([0x00], declared: 1025, limit: 1024) } == .declaredSizeOverLimit)
        // A size no machine could allocate: refused by arithmetic, never reserved (the test
        // would crash or take seconds if it were).
        #expect(Self.code { _ = try Self.decompress([0x1F, 0x61, 0x01, 0x00], declared: Int.max, limit: Int.max) } == .declaredSizeImpossible)
        #expect(Self.code { _ = try Self.decompress([0x00], declared: -1) } == .declaredSizeImpossible)
    }

    @Test("a declared size above 255 x the block is impossible")
    func aboveExpansion() throws {
        let input = [UInt8](repeating: 0x41, count: 10_000)
        let block = Array(try Self.compressed(input).readableBytesView)
        #expect(block.count * LZ4.maximumExpansion >= input.count)
        #expect(Self.code { _ = try Self.decompress(block, declared: block.count * 255 + 1) } == .declaredSizeImpossible)
        // Exactly the bound is allowed through to LZ4 (which then finds a mismatch).
        #expect(Self.code { _ = try Self.decompress(block, declared: block.count * 255) } == .sizeMismatch)
        // Highest real ratio stays within the bound: 16 MiB of zeros.
        let zeros = [UInt8](repeating: 0, count: 1 << 24)
        let zblock = try Self.compressed(zeros)
        #expect(zblock.readableBytes * LZ4.maximumExpansion >= zeros.count)
    }

    @Test("mismatched declared size")
    func mismatch() throws {
        let input = Array("the quick brown fox jumps over the lazy dog, twice: the quick brown fox".utf8)
        let block = Array(try Self.compressed(input).readableBytesView)
        #expect(Self.code { _ = try Self.decompress(block, declared: input.count + 1) } == .sizeMismatch)
        #expect(Self.code { _ = try Self.decompress(block, declared: input.count - 1) } == .corruptInput)
        var out = ByteBuffer(string: "kept")
        #expect(throws: CompressionError.self) {
            try LZ4.decompress(ByteBuffer(bytes: block), declaredSize: input.count + 5, limit: 1 << 20, into: &out)
        }
        #expect(out == ByteBuffer(string: "kept"))
    }

    @Test("corrupted input")
    func corrupted() throws {
        let input = [UInt8](repeating: 0x41, count: 1000)
        var block = Array(try Self.compressed(input).readableBytesView)
        // Point the first match's offset (bytes 2-3 after a 1-literal token) far before the start.
        #expect(block[0] >> 4 == 1)
        block[2] = 0xFF
        block[3] = 0xFF
        #expect(Self.code { _ = try Self.decompress(block, declared: input.count) } == .corruptInput)
        // Seeded random garbage never traps, and never yields more than declared.
        var generator = SplitMix64(seed: 42)
        for _ in 0..<2000 {
            let length = Int.random(in: 1...64, using: &generator)
            let garbage = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let declared = Int.random(in: 0...(length * 255), using: &generator)
            if let out = try? Self.decompress(garbage, declared: declared) { #expect(out.count == declared) }
        }
    }

    @Test("truncated input")
    func truncated() throws {
        let input = Array(String(repeating: "applicant income debt ratio ", count: 40).utf8)
        let block = Array(try Self.compressed(input).readableBytesView)
        for cut in 1..<block.count {
            let code = Self.code { _ = try Self.decompress(Array(block[..<cut]), declared: input.count) }
            #expect(code != nil, "cut at \(cut) of \(block.count)")
        }
    }
}
