// The stages of one SCORE_REQUEST as loanscored runs them, through the server's own code
// (LoanScoreServer's RequestWorkspace and ScoringEngine), each with its buffers reused from
// iteration to iteration the way a connection reuses them.
import Benchmark
import Foundation
import LoanScoreProtocol
import LoanScoreServer
import NIOCore

/// One request's reused buffers: the server's workspace, and the frame decoder and output
/// buffer a connection keeps. package-benchmark calls a benchmark's closure once per sample,
/// so a workspace lives outside it (in a `Box`) to be reused across samples as a connection
/// reuses it across requests; the warm-up iterations grow it.
struct Workspace {
    var decoder = FrameDecoder()
    var request = RequestWorkspace()
    var out = ByteBuffer()
    var scratch = ByteBuffer()
}

/// Holds a benchmark's workspace across samples. Only the one benchmark running touches it.
final class Box: @unchecked Sendable {
    var workspace = Workspace()
}

func wireBenchmarks(_ fixture: WireFixture, size: Int) {
    let request = fixture.requests[size]!
    let engine = ScoringEngine(bundle: fixture.bundle)

    func decode(_ frame: ByteBuffer, _ w: inout Workspace) {
        var wire = frame
        guard let decoded = try? w.decoder.decode(buffer: &wire) else { fatalError("frame did not decode") }
        var payload = decoded.payload
        do {
            try w.request.columns.decode(from: &payload, schema: fixture.schema, maximumBatch: 4096)
        } catch {
            fatalError("payload did not decode: \(error)")
        }
    }
    func features(_ w: inout Workspace) -> Int {
        fixture.bundle.pipeline.encode(w.request.columns, into: &w.request.matrix, outcomes: &w.request.outcomes)
    }
    /// The response frame and the audit records (what the server appends before answering).
    func respond(_ w: inout Workspace) -> Int {
        let records = engine.respond(w.request, requestID: 1, client: "127.0.0.1:50000", time: Date())
        w.out.clear()
        let payload = w.request.response
        try? FrameEncoder().encode(type: .scoreResponse, requestID: 1, into: &w.out, scratch: &w.scratch) { $0.writeImmutableBuffer(payload) }
        return records.count
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
                blackHole(box.workspace.request.columns.count)
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
    engine.score(scored.workspace.request)
    Benchmark("SCORE_RESPONSE and audit records \(size)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(respond(&scored.workspace)) }
    }
    let whole = Box()
    Benchmark("request \(size) (decode, features, ensemble + reasons, response, audit records)") { benchmark in
        for _ in benchmark.scaledIterations {
            decode(fixture.plainFrames[size]!, &whole.workspace)
            engine.score(whole.workspace.request)
            blackHole(respond(&whole.workspace))
        }
    }
}
