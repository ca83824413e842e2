import ArgumentParser
import Foundation
import LoanScoreClient
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreMonitoring

/// `loanscore score`: score a CSV file of applications offline (`--bundle`) or on a LoanScore
/// server (`--server`).
struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score a CSV file of applications with a bundle, or on a LoanScore server.",
        discussion: """
            Streams the input (memory does not grow with the file), validates every row, and \
            writes, atomically, one output row per valid application: id (the id column, or \
            the row number), pd, risk_level, decision, confidence, reasons (codes), \
            reason_texts, flags (values treated as missing; with a bundle that carries \
            reference bins, also out_of_range:FIELD and unseen_bin:FIELD for values outside \
            the training range or in a bin training never saw) and model_version; --members \
            adds pd_<member> for each ensemble member.

            Invalid rows go to --rejects with their reasons. Without --rejects they are \
            reported on standard error and the command exits 3 after writing the valid rows.

            With --server HOST:PORT instead of --bundle, the applications are sent over TLS \
            (--ca, and --cert/--key for mutual TLS) in batches of --batch, several in flight, \
            and scored by the server's model; the output has the same columns (reason_texts \
            and flags stay empty: the protocol carries reason codes only). Columns are matched \
            to the served schema's fields; an 'id' or 'application_id' column names the \
            applications. Other columns, such as the target column of a bundle's holdout file, \
            are left out and named in a note on standard error (the server announces its \
            fields, not its target); --ignore-column NAME leaves one out without the note. \
            When the server reloads a model whose schema drops a field the file has, batches \
            sent after the reload fail (exit 3) unless --ignore-unknown-fields is given: then \
            the dropped field's values are left out, the batch is laid out again for the new \
            schema and sent again, and a note (and ignored_fields in the --json summary) says \
            how many values were left out.
            """
    )

    @Option(help: "The model bundle folder (offline scoring; or use --server).")
    var bundle: String?

    @Option(help: ArgumentHelp(
        "Score on a LoanScore server instead of a bundle; repeat it for a fleet (connections spread over the servers, a batch whose server died sent to another).",
        valueName: "host:port"))
    var server: [String] = []

    @Option(help: ArgumentHelp("With --server: the CA certificate (PEM) the server's certificate must chain to; default: the system's trust store.", valueName: "file"))
    var ca: String?

    @Option(help: ArgumentHelp("With --server: the client certificate (PEM) for mutual TLS.", valueName: "file"))
    var cert: String?

    @Option(help: ArgumentHelp("With --server: the client certificate's private key (PEM).", valueName: "file"))
    var key: String?

    @Option(help: "With --server: applications per request.")
    var batch: Int = 256

    @Option(name: .customLong("ignore-column"), help: ArgumentHelp("With --server: an input column to leave out without a note (e.g. the target); repeatable.", valueName: "name"))
    var ignoredColumns: [String] = []

    @Flag(name: .customLong("ignore-unknown-fields"),
          help: "With --server: when a reload drops a field of the served schema, leave that field's values out instead of failing (counted in the summary).")
    var ignoreUnknownFields = false

    @Option(help: "Input CSV with a header row naming the schema's fields (any column order).")
    var input: String

    @Option(help: "Output CSV (written to a temporary file and renamed when complete).")
    var output: String

    @Option(help: "Write rejected rows, with their reasons, to this CSV.")
    var rejects: String?

    @Flag(help: "Add each member's own probability as columns pd_<member>.")
    var members = false

    @Flag(help: ArgumentHelp(
        "Add each input field's contribution to the PD as columns contribution_<field>.",
        discussion: "Probability units before calibration, positive raises the PD: the attributions the reason codes rank (BUNDLE.md)."))
    var contributions = false

    @Flag(help: "Print a JSON summary on standard output.")
    var json = false

    func validate() throws {
        guard (bundle == nil) != server.isEmpty else {
            throw ValidationError("Give exactly one of --bundle (offline) and --server (on a LoanScore server).")
        }
        if bundle != nil {
            let serverOnly = [("--ca", ca != nil), ("--cert", cert != nil), ("--key", key != nil), ("--ignore-column", !ignoredColumns.isEmpty),
                              ("--ignore-unknown-fields", ignoreUnknownFields)]
            if let (name, _) = serverOnly.first(where: { $0.1 }) { throw ValidationError("\(name) goes with --server, not --bundle.") }
        } else {
            if members { throw ValidationError("--members needs --bundle: a server returns the combined PD only.") }
            if contributions { throw ValidationError("--contributions needs --bundle: a server returns reason codes only.") }
            if (cert == nil) != (key == nil) { throw ValidationError("--cert and --key go together.") }
            if batch < 1 { throw ValidationError("--batch must be at least 1.") }
        }
    }

    func run() throws {
        if !server.isEmpty {
            let scoring = ServerScoring(
                servers: server, tls: LoanScoreClient.TLS(caFile: ca, certificateFile: cert, privateKeyFile: key),
                input: input, output: output, rejects: rejects, json: json, batchSize: batch, ignoredColumns: ignoredColumns,
                ignoreUnknownFields: ignoreUnknownFields)
            try runBlocking { try await scoring.run() }
            return
        }
        let bundle = try loadBundle(self.bundle!)
        let scorer = bundle.scorer
        let file = try ApplicationFile(url: URL(fileURLWithPath: input), schema: bundle.schema)
        let out = try AtomicOutputFile(path: output)
        let rejectsFile = try rejects.map { try RejectsFile(path: $0, header: file.header) }
        var header = ["id", "pd", "risk_level", "decision", "confidence", "reasons", "reason_texts", "flags", "model_version"]
        if members { header += scorer.memberNames.map { "pd_\($0)" } }
        if contributions { header += scorer.inputFieldNames.map { "contribution_\($0)" } }
        try out.writeRecord(header)

        let progress = ProgressReporter(label: "scoring \(input)", totalBytes: ProgressReporter.fileSize(input), itemName: "rows")
        defer { progress.finish() }
        // Valid applications are scored in blocks of `blockSize` (the ensemble walks each tree
        // over a whole block); output order is input order, memory stays constant.
        let blockSize = 256, width = scorer.featureCount, slotWidth = bundle.pipeline.slotCount
        var matrix = [Double](repeating: .nan, count: blockSize * width)
        // Each pending application's slots, for the anomaly flags (bundles with reference bins).
        let referenceBins = bundle.reference.map(ReferenceBins.init)
        var slots = [Double](repeating: .nan, count: blockSize * slotWidth)
        var pending: [(id: String, flags: [String])] = []
        var batchScores = ScoreBatch()
        var rowsIn = 0, scored = 0
        var rejectedMessages: [String] = []
        func flush() throws {
            guard !pending.isEmpty else { return }
            matrix.withUnsafeBufferPointer { scorer.score(batch: $0, rows: pending.count, into: &batchScores) }
            for (row, application) in pending.enumerated() {
                let score = scorer.result(row: row, of: batchScores)
                var fields = [
                    application.id, "\(score.pd)", score.riskLevel, score.decision.rawValue, "\(score.confidence)",
                    score.reasons.map(\.code).joined(separator: ";"),
                    score.reasons.map(\.text).joined(separator: "; "),
                    application.flags.joined(separator: "; "), scorer.model.version,
                ]
                if members { fields += score.memberProbabilities.map { "\($0)" } }
                if contributions { fields += scorer.fieldContributions(row: row, of: batchScores).map { "\($0)" } }
                try out.writeRecord(fields)
            }
            scored += pending.count
            pending.removeAll(keepingCapacity: true)
        }
        while let application = try file.next() {
            rowsIn += 1
            let slot = pending.count
            let outcome = matrix.withUnsafeMutableBufferPointer { matrix in
                slots.withUnsafeMutableBufferPointer { slots in
                    bundle.pipeline.encode(application.values, into: UnsafeMutableBufferPointer(rebasing: matrix[(slot * width)..<((slot + 1) * width)]),
                                           slots: UnsafeMutableBufferPointer(rebasing: slots[(slot * slotWidth)..<((slot + 1) * slotWidth)]))
                }
            }
            switch outcome {
            case .accepted(var flags):
                if let referenceBins {
                    flags += slots.withUnsafeBufferPointer { referenceBins.anomalyFlags(slots: UnsafeBufferPointer(rebasing: $0[(slot * slotWidth)..<((slot + 1) * slotWidth)])) }
                }
                pending.append((application.id, flags))
                if pending.count == blockSize { try flush() }
            case .rejected(let violations):
                try rejectsFile?.write(application, violations)
                // Keep only the first messages: memory must not grow with the file.
                if rejectedMessages.count < 20 {
                    rejectedMessages.append("\(input): row \(application.row): " + violations.map(\.description).joined(separator: "; "))
                }
            }
            progress.update(bytes: file.bytesRead, items: rowsIn)
        }
        try flush()
        try out.commit()
        try rejectsFile?.commit()
        progress.finish()
        let rejected = rowsIn - scored
        if json {
            try printJSON(["rows_in": rowsIn, "rows_scored": scored, "rows_rejected": rejected,
                           "output": output, "rejects": rejects.map { $0 as Any } ?? NSNull()])
        } else {
            print("\(scored) of \(rowsIn) application(s) scored with \(scorer.model.name) \(scorer.model.version) -> \(output)"
                  + (rejected > 0 ? "; \(rejected) rejected" + (rejects.map { " -> \($0)" } ?? "") : ""))
        }
        if rejected > 0 && rejects == nil {
            for message in rejectedMessages { printError("rejected: \(message)") }
            if rejected > rejectedMessages.count { printError("… and \(rejected - rejectedMessages.count) more; use --rejects FILE to keep them all") }
            throw Failure.invalidData("\(rejected) of \(rowsIn) row(s) of \(input) are invalid")
        }
    }
}
