// Feature computation, each ensemble member and the whole ensemble, at batch sizes 1, 64,
// 1024 and 65,536. The applications are the bundle's holdout (validation/holdout.csv),
// resampled to 65,536 the way `loanscore bench` does (row i takes application i*7919 mod n).
//
// One iteration = one batch: the throughput metric counts batches/s; applications/s is
// throughput × batch size, and wall clock / batch size is the time per application.
import Benchmark
import Foundation
import LoanScoreFeatures
import LoanScoreModel

let batchSizes = [1, 64, 1024, 65_536]

/// Everything the benchmarks read, built once before they run (never timed).
struct Fixture: @unchecked Sendable {  // immutable after init
    let bundle: ModelBundle
    let applications: [[RawValue]]
    /// `applications` encoded: row-major, `featureCount` doubles per application.
    let rows: [Double]
    let featureCount: Int
    let members: [(name: String, member: any EnsembleMember)]

    static func load() -> Fixture {
        guard let path = ProcessInfo.processInfo.environment["LOANSCORE_BENCH_BUNDLE"], !path.isEmpty else {
            fail("LOANSCORE_BENCH_BUNDLE is not set: point it at a model bundle folder, e.g. "
                + "LOANSCORE_BENCH_BUNDLE=/tmp/bench-bundle swift package --package-path Bench benchmark "
                + "(Bench/README.md says how to train one)")
        }
        do {
            let directory = URL(fileURLWithPath: path)
            let bundle = try ModelBundle(directory: directory)
            let file = try ApplicationFile(url: directory.appendingPathComponent("validation/holdout.csv"), schema: bundle.schema)
            var pool: [[RawValue]] = []
            while let application = try file.next() {
                if case .accepted = bundle.pipeline.encode(application.values).outcome { pool.append(application.values) }
            }
            guard !pool.isEmpty else { fail("\(path): the holdout has no valid application") }
            let count = batchSizes.max()!
            let applications = (0..<count).map { pool[($0 &* 7919) % pool.count] }
            let n = bundle.scorer.featureCount
            var rows = [Double](repeating: .nan, count: count * n)
            rows.withUnsafeMutableBufferPointer { all in
                for i in 0..<count {
                    _ = bundle.pipeline.encode(applications[i], into: UnsafeMutableBufferPointer(rebasing: all[(i * n)..<((i + 1) * n)]))
                }
            }
            var members: [(name: String, member: any EnsembleMember)] = []
            for member in bundle.manifest.members {
                let data = try Data(contentsOf: directory.appendingPathComponent(member.file))
                switch member.kind {
                case .xgboost: members.append((member.name, try XGBoostModel(data: data, file: member.file, featureCount: n)))
                case .randomForest: members.append((member.name, try RandomForestModel(data: data, file: member.file, featureCount: n)))
                case .logisticRegression: members.append((member.name, try LogisticModel(data: data, file: member.file, featureCount: n)))
                }
            }
            return Fixture(bundle: bundle, applications: applications, rows: rows, featureCount: n, members: members)
        } catch {
            fail("\(path): \(error)")
        }
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("Scoring benchmarks: \(message)\n".utf8))
    exit(2)
}

extension Fixture {
    /// Calls `body` with `count` encoded rows from `start` on.
    @inline(__always)
    func forEachRow(from start: Int, _ count: Int, _ body: (UnsafeBufferPointer<Double>) -> Void) {
        rows.withUnsafeBufferPointer { all in
            for i in start..<(start + count) {
                body(UnsafeBufferPointer(rebasing: all[(i * featureCount)..<((i + 1) * featureCount)]))
            }
        }
    }

    /// Where the next batch starts: consecutive batches walk the 65,536 applications, so a
    /// small batch does not score the same (cache- and branch-predictor-warm) rows every time.
    @inline(__always)
    func next(after start: Int, batch: Int) -> Int {
        let limit = applications.count - batch + 1
        return (start + batch) % limit
    }
}

/// Bytes written to evict the caches: twice this machine's 32 MiB L3.
let flushBytes = 64 << 20

/// Writes one byte per cache line of `scratch`, evicting what the caches held.
func flush(_ scratch: inout [UInt8]) {
    scratch.withUnsafeMutableBufferPointer { bytes in
        for i in stride(from: 0, to: bytes.count, by: 64) { bytes[i] &+= 1 }
    }
    blackHole(scratch[0])
}

let benchmarks: @Sendable () -> Void = {
    let fixture = Fixture.load()
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: 3,
        maxDuration: .seconds(1),
        maxIterations: 100_000
    )

    // A lone application in a server that shares its cores finds the model's nodes evicted
    // by everything else that ran since the last request: each sample here flushes the caches
    // first (untimed), then scores one application.
    let flushed = Benchmark.Configuration(scalingFactor: .one, maxDuration: .seconds(2), maxIterations: 150)
    var scratch = [UInt8](repeating: 1, count: flushBytes)
    for (name, member) in fixture.members {
        Benchmark("\(name)/batch 1, caches flushed", configuration: flushed) { benchmark in
            flush(&scratch)
            var sum = 0.0
            benchmark.startMeasurement()
            fixture.forEachRow(from: 7, 1) { sum += member.probability($0) }
            benchmark.stopMeasurement()
            blackHole(sum)
        }
    }
    Benchmark("ensemble/batch 1, caches flushed", configuration: flushed) { benchmark in
        flush(&scratch)
        var sum = 0.0
        benchmark.startMeasurement()
        fixture.forEachRow(from: 7, 1) { sum += fixture.bundle.scorer.score($0, explain: false).pd }
        benchmark.stopMeasurement()
        blackHole(sum)
    }

    for batch in batchSizes {
        Benchmark("features/batch \(batch)") { benchmark in
            var row = [Double](repeating: .nan, count: fixture.featureCount)
            var accepted = 0, start = 0
            row.withUnsafeMutableBufferPointer { buffer in
                for _ in benchmark.scaledIterations {
                    for i in start..<(start + batch) {
                        if case .accepted = fixture.bundle.pipeline.encode(fixture.applications[i], into: buffer) { accepted += 1 }
                    }
                    start = fixture.next(after: start, batch: batch)
                }
            }
            blackHole(accepted)
        }

        for (name, member) in fixture.members {
            Benchmark("\(name)/batch \(batch)") { benchmark in
                var sum = 0.0, start = 0
                for _ in benchmark.scaledIterations {
                    fixture.forEachRow(from: start, batch) { sum += member.probability($0) }
                    start = fixture.next(after: start, batch: batch)
                }
                blackHole(sum)
            }
        }

        Benchmark("ensemble/batch \(batch)") { benchmark in
            var sum = 0.0, start = 0
            for _ in benchmark.scaledIterations {
                fixture.forEachRow(from: start, batch) { sum += fixture.bundle.scorer.score($0, explain: false).pd }
                start = fixture.next(after: start, batch: batch)
            }
            blackHole(sum)
        }

        Benchmark("ensemble+reasons/batch \(batch)") { benchmark in
            var sum = 0.0, start = 0
            for _ in benchmark.scaledIterations {
                fixture.forEachRow(from: start, batch) { sum += fixture.bundle.scorer.score($0, explain: true).pd }
                start = fixture.next(after: start, batch: batch)
            }
            blackHole(sum)
        }

        Benchmark("features+ensemble/batch \(batch)") { benchmark in
            var row = [Double](repeating: .nan, count: fixture.featureCount)
            var sum = 0.0, start = 0
            row.withUnsafeMutableBufferPointer { buffer in
                for _ in benchmark.scaledIterations {
                    defer { start = fixture.next(after: start, batch: batch) }
                    for i in start..<(start + batch) {
                        if case .accepted = fixture.bundle.pipeline.encode(fixture.applications[i], into: buffer) {
                            sum += fixture.bundle.scorer.score(UnsafeBufferPointer(buffer), explain: false).pd
                        }
                    }
                }
            }
            blackHole(sum)
        }
    }
}
