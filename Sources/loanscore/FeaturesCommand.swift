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

    func run() throws {
        let schema = try Schema.load(from: URL(fileURLWithPath: schema))
        let pipeline = try FeaturePipeline(schema: schema)
        let file = try ApplicationFile(url: URL(fileURLWithPath: input), schema: schema)
        let out = try AtomicOutputFile(path: output)
        let rejectsFile = try rejects.map { try RejectsFile(path: $0, header: file.header) }
        try out.writeRecord(["row"] + pipeline.featureNames)
        var row = [Double](repeating: .nan, count: pipeline.featureNames.count)
        var rejected = 0
        while let application = try file.next() {
            let outcome = row.withUnsafeMutableBufferPointer { pipeline.encode(application.values, into: $0) }
            switch outcome {
            case .accepted:
                try out.write(String(application.row) + "," + row.map(formatFeature).joined(separator: ",") + "\n")
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
