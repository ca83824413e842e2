import Foundation
import LoanScoreAudit
import LoanScoreFeatures
import LoanScoreModel

/// `POST /score`: one application as a JSON object (keyed by the schema's field names, as
/// `loanscore predict` takes it), scored by the serving champion's ``ScoringEngine``, the
/// wire path's own pipeline and ensemble, with no second scoring code.
enum ConsoleScoring {
    /// The answer: HTTP status and JSON object, and the audit record of a scored application.
    struct Outcome {
        var status: Int
        var body: [String: Any]
        var record: AuditRecord?
    }

    /// One application's cells, for the engine's batch interface.
    private struct OneApplication: ApplicationColumns {
        let values: [RawValue]
        var applicationCount: Int { 1 }
        var fieldCount: Int { values.count }
        func cell(application: Int, field: Int) -> RawCell {
            switch values[field] {
            case .missing: .missing
            case .number(let number): .number(number)
            case .bool(let flag): .bool(flag)
            case .text(let text): .utf8(ArraySlice(text.utf8))
            }
        }
    }

    /// Scores `body` (UTF-8 JSON) with `engine`. A body that is not a strict JSON object is
    /// 400; an unknown field, a nested value or a field the schema refuses is 422 with
    /// `fields` naming each field and what is wrong, in the CLI's words.
    static func score(_ body: [UInt8], engine: ScoringEngine) -> Outcome {
        let schema = engine.bundle.schema
        let text = String(decoding: body, as: UTF8.self)
        do {
            try StrictJSON.validate(text)
        } catch {
            return failure(400, "bad_json", "the body is not valid JSON: \(error)", fields: [])
        }
        guard case .object(let object)? = try? JSONDecoder().decode(JSONValue.self, from: Data(body)) else {
            return failure(400, "bad_json", "the body must be a JSON object keyed by the schema's field names", fields: [])
        }
        // The schema's names once, in the summary, not in every unknown field's message: an
        // answer stays about as long as the request (3,800 unknown fields once made 1.25 MB).
        let (values, problems) = schema.applicationValues(object)
        let unknownCount = problems.count { $0.kind == .unknownField }
        guard problems.isEmpty else {
            let shown = problems.prefix(Self.problemsInSummary).map(\.message).joined(separator: "; ")
                + (problems.count > Self.problemsInSummary ? "; and \(problems.count - Self.problemsInSummary) more (see fields)" : "")
            let schemaNames = unknownCount == 0 ? "" : "; the schema's fields are \(schema.fields.map(\.name).joined(separator: ", "))"
            return failure(422, "invalid_application", shown + schemaNames, fields: problems.map { ($0.field, $0.message) })
        }
        var buffers = ScoringBuffers()
        engine.score(OneApplication(values: values), into: &buffers)
        switch buffers.outcomes.first {
        case .accepted(let flags)?:
            let bundle = engine.bundle
            let score = bundle.scorer.result(row: 0, of: buffers.scores)
            let model = bundle.manifest.model
            var hasher = AuditRecord.InputHasher()
            for value in values {
                switch value {
                case .missing: hasher.appendMissing()
                case .number(let number): hasher.append(number: number)
                case .bool(let flag): hasher.append(bool: flag)
                case .text(let text): hasher.append(utf8: Array(text.utf8))
                }
            }
            let id = schema.idColumn.flatMap { object[$0] }.flatMap { if case .string(let id) = $0 { id } else { nil } }
                ?? "console-\(UUID().uuidString.lowercased())"
            let record = AuditRecord(
                requestID: 0, applicationID: id, modelName: model.name, modelVersion: model.version, inputHash: hasher.finalize(),
                pd: score.pd, decision: score.decision.rawValue, riskLevel: score.riskLevel, reasonCodes: score.reasons.map(\.code),
                client: "console")
            let body: [String: Any] = [
                "application_id": id, "model": ["name": model.name, "version": model.version], "pd": score.pd,
                "risk_level": score.riskLevel, "decision": score.decision.rawValue, "confidence": score.confidence,
                "reasons": score.reasons.map { ["field": $0.field, "code": $0.code, "text": $0.text, "contribution": $0.contribution] },
                "flags": flags,
            ]
            return Outcome(status: 200, body: body, record: record)
        case .rejected(let violations)?:
            return failure(422, "invalid_application", "application rejected: " + violations.map(\.description).joined(separator: "; "),
                           fields: violations.map { ($0.field, $0.description) })
        case nil:
            return failure(500, "internal", "the engine returned no outcome", fields: [])
        }
    }

    /// How many field problems the 422's `error` sentence names (`fields` has every one).
    static let problemsInSummary = 10

    private static func failure(_ status: Int, _ code: String, _ message: String, fields: [(field: String, message: String)]) -> Outcome {
        Outcome(status: status, body: ["code": code, "error": message, "fields": fields.map { ["field": $0.field, "message": $0.message] }],
                record: nil)
    }
}
