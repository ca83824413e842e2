// The stages of one SCORE_REQUEST as loanscored runs them (ScoringJob), on the API before
// issue 4 item 2: per-application values, rows and results.
import Benchmark
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreProtocol
import NIOCore

func wireBenchmarks(_ fixture: WireFixture, size: Int) {
    let request = fixture.requests[size]!
    let pipeline = fixture.bundle.pipeline, scorer = fixture.bundle.scorer
    let fieldCount = fixture.schema.fields.count

    func decode(_ frame: ByteBuffer, _ decoder: inout FrameDecoder) -> ScoreRequest {
        var wire = frame
        guard let decoded = try? decoder.decode(buffer: &wire) else { fatalError("frame did not decode") }
        var payload = decoded.payload
        guard let request = try? ScoreRequest.decode(from: &payload, schema: fixture.schema, maximumBatch: 4096) else {
            fatalError("payload did not decode")
        }
        return request
    }
    func features(_ request: ScoreRequest, _ matrix: inout [Double]) -> Int {
        let width = scorer.featureCount
        if matrix.count < request.count * width { matrix = [Double](repeating: .nan, count: request.count * width) }
        var accepted = 0
        matrix.withUnsafeMutableBufferPointer { matrix in
            for i in 0..<request.count {
                let values = (0..<fieldCount).map { f -> RawValue in
                    switch request.value(application: i, field: f) {
                    case .missing: .missing
                    case .number(let x): .number(x)
                    case .bool(let b): .bool(b)
                    case .text(let t): .text(t)
                    }
                }
                let row = UnsafeMutableBufferPointer(rebasing: matrix[(accepted * width)..<((accepted + 1) * width)])
                if case .accepted = pipeline.encode(values, into: row) { accepted += 1 }
            }
        }
        return accepted
    }
    func respond(_ scores: [Score], _ out: inout ByteBuffer) {
        let results = scores.map { score in
            ApplicationResult.scored(ScoredApplication(
                pd: score.pd, riskLevel: score.riskLevel, decision: wireDecision(score.decision),
                confidence: score.confidence, reasons: score.reasons.map(\.code)))
        }
        try? FrameEncoder().encode(ScoreResponse(modelVersion: "1", results: results), requestID: 1, into: &out)
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
        Benchmark("decode SCORE_REQUEST \(size)\(label)") { benchmark in
            var decoder = FrameDecoder()
            for _ in benchmark.scaledIterations { blackHole(decode(frame, &decoder).count) }
        }
    }
    Benchmark("features \(size)") { benchmark in
        var matrix: [Double] = []
        for _ in benchmark.scaledIterations { blackHole(features(request, &matrix)) }
    }
    Benchmark("encode SCORE_RESPONSE \(size)") { benchmark in
        var matrix: [Double] = []
        let rows = features(request, &matrix)
        let scores = matrix.withUnsafeBufferPointer { scorer.score(batch: $0, rows: rows, explain: true) }
        var out = ByteBuffer()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            out.clear()
            respond(scores, &out)
            blackHole(out.readableBytes)
        }
    }
    Benchmark("request \(size) (decode, features, ensemble + reasons, response)") { benchmark in
        var decoder = FrameDecoder()
        var matrix: [Double] = []
        var out = ByteBuffer()
        for _ in benchmark.scaledIterations {
            let request = decode(fixture.plainFrames[size]!, &decoder)
            let rows = features(request, &matrix)
            let scores = matrix.withUnsafeBufferPointer { scorer.score(batch: $0, rows: rows, explain: true) }
            out.clear()
            respond(scores, &out)
            blackHole(out.readableBytes)
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
