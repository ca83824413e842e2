import Foundation
import LoanScoreCompression
import LoanScoreTestSupport
import Testing

/// The LZ4 frame format, checked against the `lz4` command in both directions.
@Suite("LZ4 frames")
struct LZ4FrameTests {
    static func text(_ count: Int) -> [UInt8] {
        Array((0..<count).map { "{\"sequence\":\($0),\"decision\":\"approve\"}\n" }.joined().utf8)
    }

    @Test("round trip", arguments: [0, 1, 100, 70_000, 1 << 20])
    func roundTrip(count: Int) throws {
        let input = Self.text(count / 40 + 1).prefix(count).map { $0 }
        let frame = try LZ4Frame.compress(input)
        #expect(try LZ4Frame.decompress(frame, limit: input.count) == input)
        #expect(Array(frame.prefix(4)) == [0x04, 0x22, 0x4D, 0x18], "the frame magic number")
    }

    @Test func theLimitIsEnforcedWhateverTheFrameDeclares() throws {
        let frame = try LZ4Frame.compress(Self.text(1000))
        let error = #expect(throws: CompressionError.self) { try LZ4Frame.decompress(frame, limit: 1000) }
        #expect(error?.code == .outputOverLimit)
    }

    @Test func corruptAndTruncatedFramesAreRefusedWithTheirOffset() throws {
        var frame = try LZ4Frame.compress(Self.text(500))
        let truncated = Array(frame.dropLast(5))
        #expect(throws: CompressionError.self) { try LZ4Frame.decompress(truncated, limit: 1 << 20) }
        frame[frame.count / 2] ^= 0xFF  // the content checksum catches what decoding does not
        let error = #expect(throws: CompressionError.self) { try LZ4Frame.decompress(frame, limit: 1 << 20) }
        #expect(error?.code == .corruptFrame)
        #expect(throws: CompressionError.self) { try LZ4Frame.decompress(Array("not lz4".utf8), limit: 100) }
    }

    @Test func theLz4CommandReadsOurFramesAndWeReadItsOwn() throws {
        let lz4 = "/usr/bin/lz4"
        try #require(FileManager.default.isExecutableFile(atPath: lz4), "the lz4 command is missing: apt-get install lz4")
        let folder = try TinyBundle.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let input = Self.text(20_000)
        let ours = folder.appendingPathComponent("ours.lz4")
        try Data(try LZ4Frame.compress(input)).write(to: ours)
        #expect(try Self.run(lz4, ["-d", "-c", ours.path]) == Data(input))
        let plain = folder.appendingPathComponent("plain")
        try Data(input).write(to: plain)
        let theirs = try Self.run(lz4, ["-c", plain.path])
        #expect(try LZ4Frame.decompress(Array(theirs), limit: input.count) == input)
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return data
    }
}
