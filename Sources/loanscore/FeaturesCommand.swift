import ArgumentParser
import Foundation
import LoanScoreFeatures

/// `loanscore features`: the model-ready feature matrix of a file, for the training tool.
struct FeaturesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "features",
        abstract: "Write the model-ready feature matrix of a CSV file.",
        discussion: """
            Validates every row against the schema, derives the schema's features and encodes \
            them (SCHEMA.md). The output has a 'row' column (1-based data row of the input), \
            then one column per feature; missing values are empty cells. This is the one \
            implementation of every feature: the training tool calls it.

            Any invalid row stops the command with exit code 3, unless --rejects is given: then \
            invalid rows go to that file and the matrix holds the valid ones.

            With --slots, the output holds the pipeline's slot values instead of the matrix: \
            'row', then one column per schema field (every field, in schema order, features or \
            not), then one per derived feature. A number is its value, a boolean 1/0, a \
            category its level's index in the schema; missing values, sentinels and unseen \
            levels are empty cells. These are the values drift is binned on (the training \
            tool's reference bins, the server's live counts).
            """
    )

    @Option(help: "The schema file (JSON, format loanscore-schema/1).")
    var schema: String

    @Option(help: "Input CSV with a header row naming the schema's fields.")
    var input: String

    @Option(help: "Output CSV for the feature matrix (written atomically).")
    var output: String

    @Option(help: "Write invalid rows, with their reasons, to this CSV instead of failing.")
    var rejects: String?

    @Flag(help: "Write each row's slot values (fields, then derived features) instead of the model matrix.")
    var slots = false

    func run() throws {
        let schema = try Schema.load(from: URL(fileURLWithPath: schema))
        let pipeline = try FeaturePipeline(schema: schema)
        let file = try ApplicationFile(url: URL(fileURLWithPath: input), schema: schema)
        let out = try AtomicOutputFile(path: output)
        let rejectsFile = try rejects.map { try RejectsFile(path: $0, header: file.header) }
        try out.writeRecord(["row"] + (slots ? pipeline.slotNames : pipeline.featureNames))
        var row = [Double](repeating: .nan, count: pipeline.featureNames.count)
        var slotRow = [Double](repeating: .nan, count: pipeline.slotCount)
        var rejected = 0
        while let application = try file.next() {
            let outcome = row.withUnsafeMutableBufferPointer { row in
                slotRow.withUnsafeMutableBufferPointer { pipeline.encode(application.values, into: row, slots: $0) }
            }
            switch outcome {
            case .accepted:
                let values = slots ? slotRow : row
                try out.write(String(application.row) + "," + values.map(formatFeature).joined(separator: ",") + "\n")
            case .rejected(let violations):
                rejected += 1
                guard let rejectsFile else {
                    throw Failure.invalidData("\(input): row \(application.row): " + violations.map(\.description).joined(separator: "; "))
                }
                try rejectsFile.write(application, violations)
            }
        }
        try out.commit()
        try rejectsFile?.commit()
        if rejected > 0 { printError("\(rejected) row(s) rejected, written to \(rejects ?? "")") }
    }
}

/// A feature value as written to CSV: empty for NaN, else the shortest round-trip form.
func formatFeature(_ value: Double) -> String {
    value.isNaN ? "" : "\(value)"
}

/// The rejects file: the input's own cells, prefixed by the row number and followed by the
/// reasons (field, value, problem, what was expected).
final class RejectsFile {
    private let file: AtomicOutputFile

    init(path: String, header: [String]) throws {
        file = try AtomicOutputFile(path: path)
        try file.writeRecord(["row"] + header + ["rejection_reasons"])
    }

    func write(_ application: ApplicationFile.Application, _ violations: [Violation]) throws {
        try file.writeRecord([String(application.row)] + application.cells + [violations.map(\.description).joined(separator: "; ")])
    }

    /// Writes a row rejected by the server (or before sending), with its reasons as text.
    func write(row: Int, cells: [String], reasons: String) throws {
        try file.writeRecord([String(row)] + cells + [reasons])
    }

    func commit() throws { try file.commit() }
}
