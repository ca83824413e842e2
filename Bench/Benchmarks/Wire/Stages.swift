// The stages of one SCORE_REQUEST as loanscored runs them (ScoringEngine, ScoringJob), each
// with its buffers reused from iteration to iteration the way a connection reuses them.
import Benchmark
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreProtocol
import NIOCore

/// The adapter LoanScoreServer declares (ScoringEngine.swift), repeated here so the benchmark
/// does not build the server and its dependencies.
extension RequestColumns: @retroactive ApplicationColumns {
    public var applicationCount: Int { count }

    public func cell(application: Int, field: Int) -> RawCell {
        guard isPresent(application: application, field: field) else { return .missing }
        switch types[field] {
        case .number: return .number(number(application: application, field: field) ?? .nan)
        case .bool: return .bool(number(application: application, field: field) == 1)
        case .string: return .utf8(utf8(application: application, field: field) ?? [])
        }
    }
}

/// One request's reused buffers (LoanScoreServer's RequestWorkspace, less the server).
/// package-benchmark calls a benchmark's closure once per sample, so a workspace lives outside
/// it (in a `Box`) to be reused across samples as a connection reuses it across requests; the
/// warm-up iterations grow it.
struct Workspace {
    var decoder = FrameDecoder()
    var columns = RequestColumns()
    var matrix: [Double] = []
    var outcomes: [FeaturePipeline.Outcome] = []
    var scores = ScoreBatch()
    var out = ByteBuffer()
    var scratch = ByteBuffer()
}

/// Holds a benchmark's workspace across samples. Only the one benchmark running touches it.
final class Box: @unchecked Sendable {
    var workspace = Workspace()
}

func wireBenchmarks(_ fixture: WireFixture, size: Int) {
    let request = fixture.requests[size]!
    let pipeline = fixture.bundle.pipeline, scorer = fixture.bundle.scorer

    func decode(_ frame: ByteBuffer, _ w: inout Workspace) {
        var wire = frame
        guard let decoded = try? w.decoder.decode(buffer: &wire) else { fatalError("frame did not decode") }
        var payload = decoded.payload
        do {
            try w.columns.decode(from: &payload, schema: fixture.schema, maximumBatch: 4096)
        } catch {
            fatalError("payload did not decode: \(error)")
        }
    }
    func features(_ w: inout Workspace) -> Int {
        pipeline.encode(w.columns, into: &w.matrix, outcomes: &w.outcomes)
    }
    func score(_ w: inout Workspace, rows: Int) {
        w.matrix.withUnsafeBufferPointer { scorer.score(batch: $0, rows: rows, explain: true, into: &w.scores) }
    }
    func respond(_ w: inout Workspace) {
        w.out.clear()
        let (outcomes, scores) = (w.outcomes, w.scores)
        try? FrameEncoder().encode(type: .scoreResponse, requestID: 1, into: &w.out, scratch: &w.scratch) { out in
            ScoreResponseWriter.writeHeader(modelVersion: "1", count: outcomes.count, into: &out)
            var row = 0
            for outcome in outcomes {
                guard case .accepted = outcome else {
                    ScoreResponseWriter.writeInvalid(code: .invalidApplication, message: "invalid", into: &out)
                    continue
                }
                let reasons = scores.reasonFields(row: row)
                ScoreResponseWriter.writeScored(
                    pd: scores.pd[row], riskLevel: scores.riskLevel[row], decision: wireDecision(scores.decision[row]),
                    confidence: scores.confidence[row], reasonCount: reasons.count,
                    reason: { scorer.reasonCode(field: reasons[reasons.startIndex + $0]) }, into: &out)
                row += 1
            }
        }
    }

    Benchmark("encode SCORE_REQUEST \(size)") { benchmark in
        let encoder = FrameEncoder(compression: .never)
        var out = ByteBuffer()
        out.reserveCapacity(fixture.plainFrames[size]!.readableBytes * 2)
        for _ in benchmark.scaledIterations {
            out.clear()
            try? encoder.encode(request, requestID: 1, into: &out)
            blackHole(out.readableBytes)
        }
    }
    let frames = size == 256 ? [("", fixture.plainFrames[size]!), (" LZ4", fixture.lz4Frame)] : [("", fixture.plainFrames[size]!)]
    for (label, frame) in frames {
        let box = Box()
        Benchmark("decode SCORE_REQUEST \(size)\(label)") { benchmark in
            for _ in benchmark.scaledIterations {
                decode(frame, &box.workspace)
                blackHole(box.workspace.columns.count)
            }
        }
    }
    let decoded = Box()
    decode(fixture.plainFrames[size]!, &decoded.workspace)
    Benchmark("features \(size)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(features(&decoded.workspace)) }
    }
    let scored = Box()
    decode(fixture.plainFrames[size]!, &scored.workspace)
    score(&scored.workspace, rows: features(&scored.workspace))
    Benchmark("encode SCORE_RESPONSE \(size)") { benchmark in
        for _ in benchmark.scaledIterations {
            respond(&scored.workspace)
            blackHole(scored.workspace.out.readableBytes)
        }
    }
    let whole = Box()
    Benchmark("request \(size) (decode, features, ensemble + reasons, response)") { benchmark in
        for _ in benchmark.scaledIterations {
            decode(fixture.plainFrames[size]!, &whole.workspace)
            score(&whole.workspace, rows: features(&whole.workspace))
            respond(&whole.workspace)
            blackHole(whole.workspace.out.readableBytes)
        }
    }
}

func wireDecision(_ decision: LoanScoreModel.Decision) -> LoanScoreProtocol.Decision {
    switch decision {
    case .approve: .approve
    case .review: .review
    case .decline: .decline
    }
}
