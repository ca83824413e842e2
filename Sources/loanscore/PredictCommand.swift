import ArgumentParser
import Foundation
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreMonitoring

/// `loanscore predict`: score one application given as JSON.
struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Score one application given as a JSON object.",
        discussion: """
            The application is a JSON object keyed by the schema's field names; numbers, \
            strings, booleans and null are accepted (null or an absent key is missing). Pass \
            the JSON text itself, or @FILE to read it from a file. Flags list values treated \
            as missing and, with a bundle that carries reference bins, values outside the \
            training range (out_of_range:FIELD) or in a bin training never saw \
            (unseen_bin:FIELD); the application is still scored.
            Example: loanscore predict --bundle demo/bundle --application \
            '{"Seniority": 9, "Home": "rent", "Time": 60, "Age": 30, "Marital": "married", \
            "Records": "no", "Job": "freelance", "Expenses": 73, "Income": 129, "Assets": 0, \
            "Debt": 0, "Amount": 800, "Price": 846}'
            """
    )

    @Option(help: "The model bundle folder.")
    var bundle: String

    @Option(help: "The application: a JSON object, or @FILE.")
    var application: String

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() throws {
        let bundle = try loadBundle(self.bundle)
        let values = try parseApplication(application, schema: bundle.schema)
        var row = [Double](repeating: .nan, count: bundle.pipeline.featureNames.count)
        var slots = [Double](repeating: .nan, count: bundle.pipeline.slotCount)
        let outcome = row.withUnsafeMutableBufferPointer { row in
            slots.withUnsafeMutableBufferPointer { bundle.pipeline.encode(values, into: row, slots: $0) }
        }
        guard case .accepted(var flags) = outcome else {
            if case .rejected(let violations) = outcome {
                throw Failure.invalidData("application rejected: " + violations.map(\.description).joined(separator: "; "))
            }
            return
        }
        // With reference bins: out_of_range:FIELD and unseen_bin:FIELD (still scored).
        if let reference = bundle.reference {
            flags += slots.withUnsafeBufferPointer { ReferenceBins(reference: reference).anomalyFlags(slots: $0) }
        }
        let scorer = bundle.scorer
        let score = row.withUnsafeBufferPointer { scorer.score($0) }
        if json {
            try printJSON([
                "model": ["name": scorer.model.name, "version": scorer.model.version],
                "pd": score.pd, "risk_level": score.riskLevel, "decision": score.decision.rawValue,
                "confidence": score.confidence,
                "reasons": score.reasons.map { ["field": $0.field, "code": $0.code, "text": $0.text, "contribution": $0.contribution] },
                "members": Dictionary(uniqueKeysWithValues: zip(scorer.memberNames, score.memberProbabilities)),
                "flags": flags,
            ])
            return
        }
        print("Model       \(scorer.model.name) \(scorer.model.version)")
        print("PD          \(String(format: "%.4f", score.pd))   risk level \(score.riskLevel)")
        print("Decision    \(score.decision.rawValue)   (approve below \(scorer.policy.approveBelow), decline at \(scorer.policy.declineAt))")
        print("Confidence  \(String(format: "%.2f", score.confidence))")
        print("Members     " + zip(scorer.memberNames, score.memberProbabilities).map { "\($0) \(String(format: "%.4f", $1))" }.joined(separator: ", "))
        if score.reasons.isEmpty { print("Reasons     none (no field raised the PD)") }
        for (i, reason) in score.reasons.enumerated() {
            print("\(i == 0 ? "Reasons    " : "           ") \(reason.code) \(reason.text) (\(reason.field), +\(String(format: "%.4f", reason.contribution)))")
        }
        for flag in flags { print("Flag        \(flag)") }
    }
}

/// Turns a JSON application into one raw value per schema field.
///
/// - Throws: ``Failure`` (invalid data) when the text is not strict JSON (a duplicate key, a
///   trailing comma: with line and column) or not a JSON object, names a field the
///   schema does not have, or holds a nested array or object.
func parseApplication(_ argument: String, schema: Schema) throws -> [RawValue] {
    var text = argument
    if argument.hasPrefix("@") {
        let path = String(argument.dropFirst())
        guard let data = FileManager.default.contents(atPath: path), let contents = String(data: data, encoding: .utf8) else {
            throw Failure.invalidData("\(path): cannot read the application file")
        }
        text = contents
    }
    // Strict first: a duplicate field would otherwise be scored with either of its values.
    let source = argument.hasPrefix("@") ? String(argument.dropFirst()) : "--application"
    do {
        try StrictJSON.validate(text)
    } catch {
        throw Failure.invalidData("\(source): not valid JSON: \(error)")
    }
    guard let object = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)),
          case .object(let dictionary) = object
    else { throw Failure.invalidData("the application is not a JSON object: \(text.prefix(80))") }
    let (values, problems) = schema.applicationValues(dictionary)
    let unknown = problems.filter { $0.kind == .unknownField }.map(\.field)
    guard unknown.isEmpty else {
        throw Failure.invalidData("unknown field(s) \(unknown.map { "'\($0)'" }.joined(separator: ", ")); the schema has \(schema.fields.map(\.name).joined(separator: ", "))")
    }
    if let nested = problems.first { throw Failure.invalidData(nested.message) }
    return values
}
