import Foundation
import LoanScoreProtocol
import NIOCore
import Testing

/// The schema of the vectors (Protocol/vectors/README.md).
let vectorSchema = WireSchema(fields: [
    WireField(name: "Seniority", type: .number),
    WireField(name: "Home", type: .string),
    WireField(name: "Income", type: .number),
    WireField(name: "Records", type: .bool),
])

/// The vectors folder, found from this file's path (Tests/LoanScoreProtocolTests/ → root).
let vectorsDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Protocol/vectors")

func vector(_ stem: String) throws -> ByteBuffer {
    let data = try Data(contentsOf: vectorsDirectory.appendingPathComponent("\(stem).bin"))
    return ByteBuffer(bytes: data)
}

/// What feeding bytes to a fresh decoder produced.
struct DecodeOutcome {
    var frames: [Frame] = []
    var error: ProtocolError?
    var unprocessed = 0
}

/// Feeds `chunks` in order through `NIOSingleStepByteToMessageProcessor`, then ends the stream.
func decode(chunks: [ByteBuffer], limits: ProtocolLimits = .default) -> DecodeOutcome {
    let processor = NIOSingleStepByteToMessageProcessor(FrameDecoder(limits: limits))
    var outcome = DecodeOutcome()
    do {
        for chunk in chunks {
            try processor.process(buffer: chunk) { outcome.frames.append($0) }
        }
        try processor.finishProcessing(seenEOF: true) { outcome.frames.append($0) }
    } catch let error as ProtocolError {
        outcome.error = error
    } catch {
        Issue.record("unexpected error type: \(error)")
    }
    outcome.unprocessed = processor.unprocessedBytes
    return outcome
}

func decode(_ bytes: ByteBuffer, limits: ProtocolLimits = .default) -> DecodeOutcome {
    decode(chunks: [bytes], limits: limits)
}

func encodeFrame<M: ProtocolMessage>(_ message: M, requestID: UInt64, compression: FrameEncoder.Compression = .never) throws -> ByteBuffer {
    var out = ByteBuffer()
    try FrameEncoder(compression: compression).encode(message, requestID: requestID, into: &out)
    return out
}

/// The SCORE_REQUEST of vectors 03 and 04.
func vectorRequest() throws -> ScoreRequest {
    try ScoreRequest(
        schemaHash: vectorSchema.hash, applicationIDs: ["app-001", "app-002"],
        columns: [
            Column(numbers: [9, nil]), Column(strings: ["rent", "owner"]), Column(numbers: [130.5, -5]),
            Column(bools: [false, true]),
        ])
}

/// The SCORE_RESPONSE of vector 05.
let vectorResponse = ScoreResponse(
    modelVersion: "2026.11.1",
    results: [
        .scored(
            ScoredApplication(
                pd: 0.0734, riskLevel: "B", decision: .approve, confidence: 0.91,
                reasons: ["R01_LOW_SENIORITY", "R07_HIGH_DEBT_RATIO"])),
        .invalid(code: .invalidApplication, message: "field 'Income': -5 is below the minimum 0"),
    ])

/// A small seeded generator so property loops are reproducible.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
