// The wire path's codec: a 256-application SCORE_REQUEST encoded into a frame and decoded
// back (frame + payload), with and without LZ4, and LZ4 alone on the same payload.
// The applications are the bundle's holdout ($LOANSCORE_BENCH_BUNDLE), typed the way
// loanscored's wire schema types them (numbers as number, booleans and categories as text).
import Benchmark
import Foundation
import LoanScoreCompression
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreProtocol
import NIOCore

let batch = 256

struct WireFixture: @unchecked Sendable {  // immutable after init
    let schema: WireSchema
    let request: ScoreRequest
    let payload: ByteBuffer
    let plainFrame: ByteBuffer
    let lz4Frame: ByteBuffer
    let compressedPayload: ByteBuffer

    static func load() -> WireFixture {
        guard let path = ProcessInfo.processInfo.environment["LOANSCORE_BENCH_BUNDLE"], !path.isEmpty else {
            fail("LOANSCORE_BENCH_BUNDLE is not set: point it at a model bundle folder, e.g. "
                + "LOANSCORE_BENCH_BUNDLE=/tmp/bench-bundle swift package --package-path Bench benchmark "
                + "(Bench/README.md says how to train one)")
        }
        do {
            let directory = URL(fileURLWithPath: path)
            let bundle = try ModelBundle(directory: directory)
            let file = try ApplicationFile(url: directory.appendingPathComponent("validation/holdout.csv"), schema: bundle.schema)
            var pool: [ApplicationFile.Application] = []
            while let application = try file.next() { pool.append(application) }
            guard !pool.isEmpty else { fail("\(path): the holdout is empty") }
            let applications = (0..<batch).map { pool[($0 &* 7919) % pool.count] }
            let fields = bundle.schema.fields
            let schema = WireSchema(fields: fields.map { field in
                switch field.type {
                case .number, .integer: WireField(name: field.name, type: .number)
                case .boolean, .category: WireField(name: field.name, type: .string)
                }
            })
            let columns: [Column] = fields.indices.map { f in
                let cells = applications.map { $0.values[f] }
                switch fields[f].type {
                case .number, .integer:
                    return Column(numbers: cells.map { cell -> Double? in
                        switch cell {
                        case .number(let x): return x
                        case .text(let t): return Double(t.trimmingCharacters(in: .whitespaces))
                        default: return nil
                        }
                    })
                case .boolean, .category:
                    return Column(strings: cells.map { cell -> String? in
                        if case .missing = cell { return nil }
                        return cell.display
                    })
                }
            }
            let request = try ScoreRequest(schemaHash: schema.hash, applicationIDs: applications.map { "app-\($0.row)" }, columns: columns)
            var payload = ByteBuffer()
            request.encode(into: &payload)
            var plainFrame = ByteBuffer(), lz4Frame = ByteBuffer(), compressed = ByteBuffer()
            try FrameEncoder(compression: .never).encode(request, requestID: 1, into: &plainFrame)
            try FrameEncoder(compression: .always).encode(request, requestID: 1, into: &lz4Frame)
            _ = try LZ4.compress(payload, into: &compressed)
            print("Wire fixture: SCORE_REQUEST of \(batch) applications, payload \(payload.readableBytes) bytes, "
                + "LZ4 frame \(lz4Frame.readableBytes) bytes")
            return WireFixture(schema: schema, request: request, payload: payload, plainFrame: plainFrame,
                               lz4Frame: lz4Frame, compressedPayload: compressed)
        } catch {
            fail("\(path): \(error)")
        }
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("Wire benchmarks: \(message)\n".utf8))
    exit(2)
}

let benchmarks: @Sendable () -> Void = {
    let fixture = WireFixture.load()
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .microseconds,
        warmupIterations: 10,
        maxDuration: .seconds(1),
        maxIterations: 100_000
    )

    for (label, compression) in [("no LZ4", FrameEncoder.Compression.never), ("LZ4", .always)] {
        Benchmark("encode SCORE_REQUEST \(batch) (\(label))") { benchmark in
            let encoder = FrameEncoder(compression: compression)
            var out = ByteBuffer()
            out.reserveCapacity(fixture.plainFrame.readableBytes * 2)
            for _ in benchmark.scaledIterations {
                out.clear()
                try? encoder.encode(fixture.request, requestID: 1, into: &out)
                blackHole(out.readableBytes)
            }
        }
        let frame = compression == .never ? fixture.plainFrame : fixture.lz4Frame
        Benchmark("decode SCORE_REQUEST \(batch) (\(label))") { benchmark in
            var decoder = FrameDecoder()
            for _ in benchmark.scaledIterations {
                var wire = frame
                guard let decoded = try? decoder.decode(buffer: &wire) else { fatalError("frame did not decode") }
                var payload = decoded.payload
                blackHole(try? ScoreRequest.decode(from: &payload, schema: fixture.schema, maximumBatch: 4096).count)
            }
        }
    }

    Benchmark("LZ4 compress \(batch)-application payload") { benchmark in
        var out = ByteBuffer()
        out.reserveCapacity(fixture.payload.readableBytes * 2)
        for _ in benchmark.scaledIterations {
            out.clear()
            blackHole(try? LZ4.compress(fixture.payload, into: &out))
        }
    }
    Benchmark("LZ4 decompress \(batch)-application payload") { benchmark in
        var out = ByteBuffer()
        out.reserveCapacity(fixture.payload.readableBytes * 2)
        for _ in benchmark.scaledIterations {
            out.clear()
            try? LZ4.decompress(fixture.compressedPayload, declaredSize: fixture.payload.readableBytes,
                                limit: 1 << 24, into: &out)
            blackHole(out.readableBytes)
        }
    }
}
