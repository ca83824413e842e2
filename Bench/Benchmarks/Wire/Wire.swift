// The wire path, one SCORE_REQUEST at a time, at 1, 64 and 256 applications: decode (frame +
// payload), features (wire columns → model-ready matrix), the response frame with the audit
// records, and the whole request (decode → features → ensemble with reasons → response frame
// and audit records; the audit log's write and fsync are not included). Plus
// encode of the request (the client's side) and LZ4 alone on the 256-application payload.
// The applications are the bundle's holdout ($LOANSCORE_BENCH_BUNDLE), typed the way
// loanscored's wire schema types them (numbers as number, booleans and categories as text).
import Benchmark
import Foundation
import LoanScoreCompression
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreProtocol
import NIOCore

let sizes = [1, 64, 256]

struct WireFixture: @unchecked Sendable {  // immutable after init
    let bundle: ModelBundle
    let schema: WireSchema
    let requests: [Int: ScoreRequest]
    let plainFrames: [Int: ByteBuffer]
    let lz4Frame: ByteBuffer
    let payload: ByteBuffer
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
            let fields = bundle.schema.fields
            let schema = WireSchema(fields: fields.map { field in
                switch field.type {
                case .number, .integer: WireField(name: field.name, type: .number)
                case .boolean, .category: WireField(name: field.name, type: .string)
                }
            })
            var requests: [Int: ScoreRequest] = [:], frames: [Int: ByteBuffer] = [:]
            for size in sizes {
                let applications = (0..<size).map { pool[($0 &* 7919) % pool.count] }
                let request = try makeRequest(applications, fields: fields, schema: schema)
                var frame = ByteBuffer()
                try FrameEncoder(compression: .never).encode(request, requestID: 1, into: &frame)
                requests[size] = request
                frames[size] = frame
            }
            var payload = ByteBuffer(), lz4Frame = ByteBuffer(), compressed = ByteBuffer()
            requests[256]!.encode(into: &payload)
            try FrameEncoder(compression: .always).encode(requests[256]!, requestID: 1, into: &lz4Frame)
            _ = try LZ4.compress(payload, into: &compressed)
            print("Wire fixture: SCORE_REQUEST of 256 applications, payload \(payload.readableBytes) bytes, "
                + "LZ4 frame \(lz4Frame.readableBytes) bytes")
            return WireFixture(bundle: bundle, schema: schema, requests: requests, plainFrames: frames,
                               lz4Frame: lz4Frame, payload: payload, compressedPayload: compressed)
        } catch {
            fail("\(path): \(error)")
        }
    }

    static func makeRequest(_ applications: [ApplicationFile.Application], fields: [Schema.Field], schema: WireSchema) throws -> ScoreRequest {
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
        return try ScoreRequest(schemaHash: schema.hash, applicationIDs: applications.map { "app-\($0.row)" }, columns: columns)
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
    for size in sizes { wireBenchmarks(fixture, size: size) }
    lz4Benchmarks(fixture)
}

func lz4Benchmarks(_ fixture: WireFixture) {
    Benchmark("LZ4 compress 256-application payload") { benchmark in
        var out = ByteBuffer()
        out.reserveCapacity(fixture.payload.readableBytes * 2)
        for _ in benchmark.scaledIterations {
            out.clear()
            blackHole(try? LZ4.compress(fixture.payload, into: &out))
        }
    }
    Benchmark("LZ4 decompress 256-application payload") { benchmark in
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
