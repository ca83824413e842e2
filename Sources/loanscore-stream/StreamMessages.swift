import Foundation
import LoanScoreClient
import LoanScoreFeatures
import LoanScoreProtocol

/// Where an input message came from: the offset a decision or dead letter names, and what the
/// bridge commits once its answer is acknowledged.
struct SourcePosition: Hashable, Sendable {
    var topic: String
    var partition: Int32
    var offset: Int64
}

/// Why an input message became a dead letter (Protocol/STREAM.md §4): a kind, a sentence,
/// and the field, value and expectation at fault where there is one.
struct DeadLetterReason: Error, Sendable, Hashable {
    enum Kind: String, Sendable {
        case messageTooLarge = "message_too_large"
        case invalidJSON = "invalid_json"
        case notAnObject = "not_an_object"
        case invalidID = "invalid_id"
        case keyMismatch = "key_mismatch"
        case unknownField = "unknown_field"
        case wrongType = "wrong_type"
        case invalidApplication = "invalid_application"
    }

    /// One field at fault.
    struct Violation: Sendable, Hashable {
        var field: String?
        var value: String?
        var problem: String
        var expected: String?
    }

    var kind: Kind
    var message: String
    var violations: [Violation]

    init(_ kind: Kind, _ message: String, field: String? = nil, value: String? = nil, expected: String? = nil) {
        self.kind = kind
        self.message = message
        violations = field == nil && value == nil && expected == nil ? [] : [Violation(field: field, value: value, problem: message, expected: expected)]
    }

    /// The appliance's INVALID_APPLICATION message, split into its violations
    /// ("field 'X': problem (value "V"; expected E)", joined by "; ").
    static func invalidApplication(_ message: String) -> DeadLetterReason {
        var reason = DeadLetterReason(.invalidApplication, message)
        reason.violations = parseViolations(message)
        return reason
    }

    static func parseViolations(_ message: String) -> [Violation] {
        // The server writes LoanScoreFeatures.Violation.description for each violation.
        let pattern = #/field '(?<field>[^']*)': (?<problem>.*?) \(value "(?<value>.*?)"; expected (?<expected>.*?)\)(?:; |$)/#
        let found = message.matches(of: pattern).map {
            Violation(field: String($0.output.field), value: String($0.output.value), problem: String($0.output.problem), expected: String($0.output.expected))
        }
        return found.isEmpty ? [Violation(field: nil, value: nil, problem: message, expected: nil)] : found
    }
}

/// A JSON value as the input decoder sees it.
private enum JSONValue: Decodable {
    case null, bool(Bool), number(Double), string(String), array, object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null; return }
        if let flag = try? container.decode(Bool.self) { self = .bool(flag); return }
        if let number = try? container.decode(Double.self) { self = .number(number); return }
        if let text = try? container.decode(String.self) { self = .string(text); return }
        if (try? container.decode([JSONValue].self)) != nil { self = .array; return }
        self = .object(try container.decode([String: JSONValue].self))
    }

    var display: String {
        switch self {
        case .null: return "null"
        case .bool(let flag): return flag ? "true" : "false"
        case .number(let number): return formatNumber(number)
        case .string(let text): return text
        case .array: return "(an array)"
        case .object: return "(an object)"
        }
    }
}

/// An input object decoded against the served schema's wire types (passed in the decoder's
/// `userInfo`): values of the expected JSON type, and what did not fit, for the dead letter.
private struct FlatApplication: Decodable {
    static let typesKey = CodingUserInfoKey(rawValue: "loanscore.wireTypes")!

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    var id: String?
    var idDisplay: String?
    var values: [String: WireValue] = [:]
    var unknown: [(String, String)] = []
    var wrongType: [(String, String)] = []

    init(from decoder: any Decoder) throws {
        let types = decoder.userInfo[Self.typesKey] as? [String: WireType] ?? [:]
        let container = try decoder.container(keyedBy: Key.self)
        values.reserveCapacity(container.allKeys.count)
        for key in container.allKeys {
            let name = key.stringValue
            if name == "id" {
                id = try? container.decode(String.self, forKey: key)
                if id == nil { idDisplay = (try? container.decode(JSONValue.self, forKey: key))?.display }
                continue
            }
            if try container.decodeNil(forKey: key) {
                if types[name] == nil { unknown.append((name, "null")) } else { values[name] = .missing }
                continue
            }
            guard let type = types[name] else {
                unknown.append((name, (try? container.decode(JSONValue.self, forKey: key))?.display ?? "?"))
                continue
            }
            let decoded: WireValue? = switch type {
            case .number: (try? container.decode(Double.self, forKey: key)).map(WireValue.number)
            case .bool: (try? container.decode(Bool.self, forKey: key)).map(WireValue.bool)
            case .string: (try? container.decode(String.self, forKey: key)).map(WireValue.text)
            }
            if let decoded { values[name] = decoded } else { wrongType.append((name, (try? container.decode(JSONValue.self, forKey: key))?.display ?? "?")) }
        }
    }
}

/// The input message format (Protocol/STREAM.md §2) against the served schema.
struct ApplicationDecoder: Sendable {
    let schema: WireSchema
    let maximumMessageBytes: Int
    private let types: [String: WireType]

    init(schema: WireSchema, maximumMessageBytes: Int) {
        self.schema = schema
        self.maximumMessageBytes = maximumMessageBytes
        types = Dictionary(schema.fields.map { ($0.name, $0.type) }, uniquingKeysWith: { first, _ in first })
    }

    /// The application in `value`, or why it is a dead letter. `key` is the message key.
    func decode(key: [UInt8]?, value: [UInt8]) -> Result<ApplicationInput, DeadLetterReason> {
        guard value.count <= maximumMessageBytes else {
            return .failure(DeadLetterReason(
                .messageTooLarge, "the message is \(value.count) bytes, over the limit of \(maximumMessageBytes)",
                value: "\(value.count) bytes", expected: "at most \(maximumMessageBytes) bytes (max_message_bytes)"))
        }
        if let bad = StrictJSON.firstInvalidUTF8(in: value) {
            return .failure(DeadLetterReason(.invalidJSON, "the message is not UTF-8 (invalid byte at offset \(bad))", expected: "one JSON object in UTF-8"))
        }
        let text = String(decoding: value, as: UTF8.self)
        do {
            try StrictJSON.validate(text)
        } catch {
            return .failure(DeadLetterReason(.invalidJSON, "the message is not valid JSON: \(error)", expected: "one JSON object (RFC 8259)"))
        }
        // One pass over the object, each value decoded as its field's wire type expects: in the
        // common case nothing is thrown (a thrown DecodingError per tried type costs more than
        // the rest of the bridge's work per message).
        let decoder = JSONDecoder()
        decoder.userInfo[FlatApplication.typesKey] = types
        let flat: FlatApplication
        do {
            flat = try decoder.decode(FlatApplication.self, from: Data(value))
        } catch {
            // Not an object (StrictJSON accepted the text): say what it is.
            let parsed = (try? JSONDecoder().decode(JSONValue.self, from: Data(value)))?.display ?? "(unreadable)"
            return .failure(DeadLetterReason(.notAnObject, "the message is JSON but not an object", value: parsed, expected: "a JSON object"))
        }
        guard let id = flat.id, !id.isEmpty, id.utf8.count <= 65_535 else {
            return .failure(DeadLetterReason(
                .invalidID, "the application has no usable id", field: "id", value: flat.idDisplay ?? "(missing)",
                expected: "a non-empty string of at most 65,535 bytes"))
        }
        if let key {
            let keyText = String(decoding: key, as: UTF8.self)
            guard keyText == id else {
                return .failure(DeadLetterReason(
                    .keyMismatch, "the message key is not the application's id", field: "id", value: id, expected: "the message key '\(keyText)'"))
            }
        }
        if let (name, display) = flat.unknown.min(by: { $0.0 < $1.0 }) {
            return .failure(DeadLetterReason(
                .unknownField, "'\(name)' is not a field of the served schema", field: name, value: display,
                expected: "one of " + schema.fields.map(\.name).joined(separator: ", ")))
        }
        if let (name, display) = flat.wrongType.min(by: { $0.0 < $1.0 }) {
            let expected = switch types[name]! {
            case .number: "a JSON number"
            case .bool: "true or false"
            case .string: "a JSON string"
            }
            return .failure(DeadLetterReason(.wrongType, "field '\(name)' has the wrong JSON type", field: name, value: display, expected: expected))
        }
        let values = flat.values
        return .success(ApplicationInput(id: id, values: values))
    }
}

/// The decision and dead-letter formats (Protocol/STREAM.md §3, §4), written with a fixed key
/// order so that a re-processed application's decision is byte for byte its first.
enum StreamEncoder {
    static func decision(id: String, score: ScoredApplication, modelVersion: String, source: SourcePosition) -> [UInt8] {
        var text = "{\"id\":" + JSONText.quoted(id)
        text += ",\"pd\":" + number(score.pd)
        text += ",\"risk_level\":" + JSONText.quoted(score.riskLevel)
        text += ",\"decision\":" + JSONText.quoted(score.decision.rawValue)
        text += ",\"confidence\":" + number(score.confidence)
        text += ",\"reasons\":[" + score.reasons.map(JSONText.quoted).joined(separator: ",") + "]"
        text += ",\"model_version\":" + JSONText.quoted(score.modelVersion ?? modelVersion)
        text += ",\"source\":" + sourceObject(source) + "}"
        return Array(text.utf8)
    }

    /// The most bytes of the original message a dead letter carries.
    static let maximumEchoedBytes = 4096

    static func deadLetter(id: String?, key: [UInt8]?, original: [UInt8], reason: DeadLetterReason, source: SourcePosition, modelVersion: String?) -> [UInt8] {
        var text = "{\"id\":" + (id.map(JSONText.quoted) ?? "null")
        let first = reason.violations.first
        text += ",\"error\":{\"kind\":" + JSONText.quoted(reason.kind.rawValue) + ",\"message\":" + JSONText.quoted(reason.message)
        text += ",\"field\":" + optional(first?.field) + ",\"value\":" + optional(first?.value) + ",\"expected\":" + optional(first?.expected) + "}"
        text += ",\"violations\":[" + reason.violations.map { violation in
            "{\"field\":" + optional(violation.field) + ",\"value\":" + optional(violation.value) + ",\"problem\":" + JSONText.quoted(violation.problem)
                + ",\"expected\":" + optional(violation.expected) + "}"
        }.joined(separator: ",") + "]"
        text += ",\"model_version\":" + optional(modelVersion)
        text += ",\"source\":" + sourceObject(source)
        text += ",\"key\":" + optional(key.map { String(decoding: $0, as: UTF8.self) })
        let echoed = original.prefix(maximumEchoedBytes)
        text += ",\"original\":" + JSONText.quoted(String(decoding: echoed, as: UTF8.self))
        text += ",\"original_bytes\":\(original.count),\"original_truncated\":\(echoed.count < original.count)}"
        return Array(text.utf8)
    }

    private static func sourceObject(_ source: SourcePosition) -> String {
        "{\"topic\":" + JSONText.quoted(source.topic) + ",\"partition\":\(source.partition),\"offset\":\(source.offset)}"
    }

    private static func optional(_ text: String?) -> String { text.map(JSONText.quoted) ?? "null" }

    /// A finite double in its shortest round-trip form (Swift's description), as JSON.
    private static func number(_ value: Double) -> String {
        value.isFinite ? "\(value)" : "null"
    }
}
