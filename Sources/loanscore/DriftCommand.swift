import ArgumentParser
import Foundation
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreMonitoring

/// `loanscore drift`: the drift of a file of applications against a bundle's reference bins,
/// computed by the same window code as the server's `/drift` (spec C).
struct DriftCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drift",
        abstract: "Compare a CSV file of applications with a bundle's training data (PSI per field and for the PD).",
        discussion: """
            Scores the file with the bundle, as 'loanscore score --bundle' does, and feeds the \
            accepted applications, in file order, through the same rolling window as the \
            server (the last --window applications; --window-seconds drops older ones). It \
            then prints, for every input field, derived feature and the PD, the population \
            stability index Σ (a − e)·ln(a / e) over the bundle's reference bins (shares \
            floored at 0.0001) and its band: stable below 0.1, moderate from 0.1, significant \
            from 0.25, with the bins that moved most. --json prints the same JSON as the \
            server's admin /drift after the same applications.

            The bundle must carry reference bins (reference.json, BUNDLE.md); one without \
            them exits 3. Invalid rows are left out of the window and reported on standard \
            error (exit 3 after the report), or written to --rejects.
            """
    )

    @Option(help: "The model bundle folder (with reference.json).")
    var bundle: String

    @Option(help: "Input CSV with a header row naming the schema's fields (any column order).")
    var input: String

    @Flag(help: "Print the report as JSON (the shape of the server's /drift).")
    var json = false

    @Option(help: "Applications in the rolling window (the last N accepted rows).")
    var window: Int = 10_000

    @Option(name: .customLong("window-seconds"), help: ArgumentHelp("Also drop applications older than this many seconds.", valueName: "seconds"))
    var windowSeconds: Double?

    @Option(help: "Write rejected rows, with their reasons, to this CSV.")
    var rejects: String?

    func validate() throws {
        if window < 1 { throw ValidationError("--window must be at least 1.") }
        if let windowSeconds, !(windowSeconds > 0 && windowSeconds.isFinite) {
            throw ValidationError("--window-seconds must be a positive number of seconds.")
        }
    }

    func run() throws {
        let bundle = try loadBundle(self.bundle)
        guard let driftWindow = DriftWindow(bundle: bundle, capacity: window, maxAge: windowSeconds) else {
            throw Failure.invalidData("\(self.bundle): the bundle has no reference bins (no 'reference' in manifest.json), "
                + "so drift is unavailable; retrain it with a training tool that writes reference.json")
        }
        let file = try ApplicationFile(url: URL(fileURLWithPath: input), schema: bundle.schema)
        let rejectsFile = try rejects.map { try RejectsFile(path: $0, header: file.header) }
        let scorer = bundle.scorer, pipeline = bundle.pipeline
        let blockSize = 256, width = scorer.featureCount, slotWidth = pipeline.slotCount
        var matrix = [Double](repeating: .nan, count: blockSize * width)
        var slots = [Double](repeating: .nan, count: blockSize * slotWidth)
        var scores = ScoreBatch()
        var pending = 0, rowsIn = 0, accepted = 0, rejectedMessages: [String] = []
        func flush() {
            guard pending > 0 else { return }
            matrix.withUnsafeBufferPointer { scorer.score(batch: $0, rows: pending, explain: false, into: &scores) }
            slots.withUnsafeBufferPointer { slots in
                scores.pd.withUnsafeBufferPointer { driftWindow.add(slots: slots, pds: $0, rows: pending) }
            }
            accepted += pending
            pending = 0
        }
        while let application = try file.next() {
            rowsIn += 1
            let slot = pending
            let outcome = matrix.withUnsafeMutableBufferPointer { matrix in
                slots.withUnsafeMutableBufferPointer { slots in
                    pipeline.encode(application.values, into: UnsafeMutableBufferPointer(rebasing: matrix[(slot * width)..<((slot + 1) * width)]),
                                    slots: UnsafeMutableBufferPointer(rebasing: slots[(slot * slotWidth)..<((slot + 1) * slotWidth)]))
                }
            }
            switch outcome {
            case .accepted:
                pending += 1
                if pending == blockSize { flush() }
            case .rejected(let violations):
                try rejectsFile?.write(application, violations)
                if rejectedMessages.count < 20 {
                    rejectedMessages.append("\(input): row \(application.row): " + violations.map(\.description).joined(separator: "; "))
                }
            }
        }
        flush()
        try rejectsFile?.commit()
        let rejected = rowsIn - accepted
        /// The rejected rows' problems, on standard error (unless --rejects keeps them).
        func printRejections() {
            guard rejected > 0 && rejects == nil else { return }
            for message in rejectedMessages { printError("rejected: \(message)") }
            if rejected > rejectedMessages.count { printError("… and \(rejected - rejectedMessages.count) more; use --rejects FILE to keep them all") }
        }
        guard let report = driftWindow.report() else {
            printRejections()
            throw Failure.invalidData("\(input): no valid application to compare (\(rowsIn) row(s), \(rejected) rejected)")
        }
        if json {
            FileHandle.standardOutput.write(report.json() + Data("\n".utf8))
        } else {
            print(Self.table(report, reference: driftWindow.bins.reference, window: window, seconds: windowSeconds, rowsIn: rowsIn, rejected: rejected))
        }
        if rejected > 0 && rejects == nil {
            printRejections()
            throw Failure.invalidData("\(rejected) of \(rowsIn) row(s) of \(input) are invalid (left out of the drift window)")
        }
    }

    /// The human-readable report: one line per field (PSI, band, the two bins whose shares
    /// moved the PSI most, live share vs reference share).
    static func table(_ report: DriftReport, reference: ReferenceProfile, window: Int, seconds: Double?, rowsIn: Int, rejected: Int) -> String {
        var lines = ["Drift of model \(report.modelVersion): \(report.applications) application(s) in the window (last \(window)"
            + (seconds.map { ", at most \($0) s old" } ?? "") + ") of \(rowsIn) row(s)" + (rejected > 0 ? ", \(rejected) rejected" : "")
            + "; reference: \(reference.rows) training rows, PD on \(reference.pdRows) holdout rows"]
        let nameWidth = max(5, report.fields.map(\.field.count).max() ?? 0)
        func pad(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: max(0, width - text.count)) }
        lines.append(pad("field", nameWidth) + "  " + pad("PSI", 8) + "  " + pad("band", 11) + "  worst bins (live vs reference)")
        for field in report.fields {
            let worst = field.bins.sorted {
                StabilityIndex.contribution(reference: $0.reference, live: $0.live)
                    > StabilityIndex.contribution(reference: $1.reference, live: $1.live)
            }.prefix(2).filter { $0.live != $0.reference }
            let bins = worst.map { "\($0.label) \(percent($0.live)) vs \(percent($0.reference))" }.joined(separator: "; ")
            lines.append(pad(field.field, nameWidth) + "  " + pad(String(format: "%.4f", field.psi), 8) + "  " + pad(field.band.rawValue, 11)
                + "  " + (bins.isEmpty ? "-" : bins))
        }
        return lines.joined(separator: "\n")
    }

    private static func percent(_ share: Double) -> String { String(format: "%.1f%%", share * 100) }
}
