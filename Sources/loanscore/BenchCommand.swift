import ArgumentParser
import Dispatch
import Foundation
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreMonitoring

/// `loanscore bench`: the in-process evaluator's throughput on this machine.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the in-process evaluator (features and ensemble) on a file's applications.",
        discussion: """
            Reads the file's valid applications once (parsing is not timed), resamples them to \
            --rows applications, and times validation, features, the ensemble, calibration, \
            decision and reason codes, in batches of --batch on --threads threads. Prints \
            applications/s, µs per application (per thread: wall time × threads / rows) and \
            CPU µs per application (process CPU time / rows: steadier on a shared machine).

            --drift also keeps each batch's slots and adds the batch to a drift window over the \
            bundle's reference bins (what the server does per request), one window shared by \
            the threads, and reports the time spent in the window's update per application.
            """
    )

    @Option(help: "The model bundle folder.")
    var bundle: String

    @Option(help: "CSV of applications (the schema's fields).")
    var input: String

    @Option(help: "Applications to score (resampled from the file).")
    var rows: Int = 200_000

    @Option(help: "Applications per batch.")
    var batch: Int = 1024

    @Option(help: "Threads scoring in parallel.")
    var threads: Int = 1

    @Flag(help: "Leave out reason codes (PD, decision and confidence only).")
    var noReasons = false

    @Option(help: "Time only this ensemble member (e.g. xgboost) on the model-ready matrix: features are computed once, untimed.")
    var member: String?

    @Flag(help: "Also track drift: keep slots and add every batch to a drift window (needs a bundle with reference bins).")
    var drift = false

    @Flag(help: "Print {\"applications_per_s\", \"us_per_application\", \"cpu_us_per_application\", \"batch\", \"threads\"} as JSON.")
    var json = false

    func validate() throws {
        guard rows > 0, batch > 0, threads > 0 else { throw ValidationError("--rows, --batch and --threads must be positive") }
    }

    func run() throws {
        let bundle = try loadBundle(self.bundle)
        let file = try ApplicationFile(url: URL(fileURLWithPath: input), schema: bundle.schema)
        var pool: [[RawValue]] = []
        while let application = try file.next() {
            if case .accepted = bundle.pipeline.encode(application.values).outcome { pool.append(application.values) }
        }
        guard !pool.isEmpty else { throw Failure.invalidData("\(input): no valid application to measure with") }
        // Deterministic resampling: row i takes application (i * 7919) mod count.
        let applications = (0..<rows).map { pool[($0 &* 7919) % pool.count] }
        let batches = stride(from: 0, to: rows, by: batch).map { $0..<min($0 + batch, rows) }
        let explain = !noReasons
        let pipeline = bundle.pipeline, scorer = bundle.scorer, width = scorer.featureCount
        let checksum = Checksum()
        let window: DriftWindow?
        if drift {
            guard member == nil else { throw Failure.usage("--drift times the whole path; leave out --member") }
            guard let made = DriftWindow(bundle: bundle) else {
                throw Failure.invalidData("\(self.bundle): the bundle has no reference bins; --drift needs them")
            }
            window = made
        } else {
            window = nil
        }
        let slotWidth = pipeline.slotCount
        var started = ContinuousClock.now, startedCPU = processCPUSeconds()
        if let member {
            guard let compiled = scorer.member(named: member) else {
                throw Failure.usage("--member \(member): the bundle's members are \(scorer.memberNames.joined(separator: ", "))")
            }
            // The model-ready matrix, computed before the clock starts.
            var matrix = [Double](repeating: .nan, count: rows * width)
            matrix.withUnsafeMutableBufferPointer { matrix in
                for i in 0..<rows { _ = pipeline.encode(applications[i], into: UnsafeMutableBufferPointer(rebasing: matrix[(i * width)..<((i + 1) * width)])) }
            }
            let keys = [Int32](repeating: 0, count: FeatureBatch.keyCount(rows: batch, width: width))
            let model = matrix  // immutable copy shared by the threads
            started = ContinuousClock.now
            startedCPU = processCPUSeconds()
            DispatchQueue.concurrentPerform(iterations: threads) { thread in
                var keys = keys, probabilities = [Double](repeating: 0, count: batch), sum = 0.0
                for index in stride(from: thread, to: batches.count, by: threads) {
                    let range = batches[index]
                    model.withUnsafeBufferPointer { matrix in
                        keys.withUnsafeMutableBufferPointer { keys in
                            probabilities.withUnsafeMutableBufferPointer { probabilities in
                                let features = FeatureBatch(rows: range.count, width: width,
                                                            doubles: UnsafeBufferPointer(rebasing: matrix[(range.lowerBound * width)..<(range.upperBound * width)]),
                                                            keys: keys)
                                compiled.evaluate(features, probabilities: probabilities, contributions: nil)
                                for r in 0..<range.count { sum += probabilities[r] }
                            }
                        }
                    }
                }
                checksum.add(sum)
            }
        } else {
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            var matrix = [Double](repeating: .nan, count: batch * width)
            var slots = [Double](repeating: .nan, count: window == nil ? 0 : batch * slotWidth)
            var pds = [Double](repeating: 0, count: batch)
            var sum = 0.0, driftTime = Duration.zero
            for index in stride(from: thread, to: batches.count, by: threads) {
                let range = batches[index]
                matrix.withUnsafeMutableBufferPointer { matrix in
                    slots.withUnsafeMutableBufferPointer { slots in
                        for (slot, i) in range.enumerated() {
                            let row = UnsafeMutableBufferPointer(rebasing: matrix[(slot * width)..<((slot + 1) * width)])
                            let slotRow = window == nil ? nil : UnsafeMutableBufferPointer(rebasing: slots[(slot * slotWidth)..<((slot + 1) * slotWidth)])
                            _ = pipeline.encode(applications[i], into: row, slots: slotRow)  // only valid applications were kept
                        }
                    }
                }
                let scores = matrix.withUnsafeBufferPointer { scorer.score(batch: $0, rows: range.count, explain: explain) }
                for (r, score) in scores.enumerated() {
                    sum += score.pd
                    pds[r] = score.pd
                }
                if let window {
                    let before = ContinuousClock.now
                    slots.withUnsafeBufferPointer { slots in pds.withUnsafeBufferPointer { window.add(slots: slots, pds: $0, rows: range.count) } }
                    driftTime += ContinuousClock.now - before
                }
            }
            checksum.add(sum, drift: driftTime)
        }
        }
        let elapsed = ContinuousClock.now - started
        let cpuMicroseconds = (processCPUSeconds() - startedCPU) * 1e6 / Double(rows)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let perSecond = Double(rows) / seconds
        let microseconds = seconds * 1e6 * Double(threads) / Double(rows)
        let drift = checksum.driftSeconds * 1e6 / Double(rows)
        if json {
            var object: [String: Any] = ["applications_per_s": perSecond, "us_per_application": microseconds,
                                         "cpu_us_per_application": cpuMicroseconds, "batch": batch,
                                         "threads": threads, "rows": rows, "reasons": explain && member == nil, "member": member ?? "ensemble"]
            if window != nil { object["drift_update_us_per_application"] = drift }
            try printJSON(object)
        } else {
            let what = member.map { "member \($0) only" } ?? (explain ? "ensemble with reasons" : "ensemble, no reasons")
            print(String(format: "%.0f applications/s, %.2f µs per application per thread, %.2f µs CPU (%d rows, batch %d, %d thread(s), %@; mean PD %.4f)",
                         perSecond, microseconds, cpuMicroseconds, rows, batch, threads, what, checksum.total / Double(rows)))
            if window != nil { print(String(format: "drift window update: %.3f µs per application (in the timed total)", drift)) }
        }
    }
}

/// CPU time this process has used, all threads (on a shared machine, CPU time per
/// application moves less with other people's load than wall time does).
private func processCPUSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// Keeps the scores alive (so the optimiser cannot drop them) and reports their mean.
private final class Checksum: @unchecked Sendable {  // guarded by `lock`
    private let lock = NSLock()
    private var value = 0.0
    private var drift = Duration.zero
    func add(_ x: Double, drift: Duration = .zero) {
        lock.withLock {
            value += x
            self.drift += drift
        }
    }
    var total: Double { lock.withLock { value } }
    /// Seconds spent in drift window updates, all threads together.
    var driftSeconds: Double {
        lock.withLock { Double(drift.components.seconds) + Double(drift.components.attoseconds) / 1e18 }
    }
}
