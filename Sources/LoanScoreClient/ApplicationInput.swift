public import LoanScoreProtocol

/// One application to score: the caller's id and its values by schema field name.
///
/// A field without a key is sent as missing (whether that is allowed is the served schema's
/// business: the server answers such an application *invalid* if the field is required). A key
/// that names no field of the served schema fails the whole call with
/// ``LoanScoreClientError/Code-swift.enum/invalidInput`` before anything is sent, unless
/// ``LoanScoreClient/Configuration/unknownFields`` is ``LoanScoreClient/UnknownFieldPolicy/ignore``
/// (then it is left out and counted in ``ScoredBatch/ignoredFields``). A value of another wire
/// type than the field's (see ``LoanScoreProtocol/Welcome/schema``) always fails the call.
///
/// ```swift
/// let application = ApplicationInput(id: "app-001", values: [
///     "Seniority": .number(9), "Home": .text("rent"), "Income": .number(130.5),
/// ])
/// ```
public struct ApplicationInput: Sendable, Hashable {
    /// The caller's id, echoed by position in the response (at most 65,535 UTF-8 bytes).
    public var id: String
    /// Values by field name: `.number` for NUMBER fields, `.bool` for BOOL, `.text` for
    /// STRING (categories travel as the level's text); `.missing` is the same as no key.
    public var values: [String: WireValue]

    /// An application with the given id and values.
    public init(id: String, values: [String: WireValue]) {
        self.id = id
        self.values = values
    }
}

/// A batch laid out in a schema's columns, and what was left out of it.
struct LaidOutBatch: Sendable {
    var request: ScoreRequest
    /// Values left out under ``LoanScoreClient/UnknownFieldPolicy/ignore``, by field name.
    var ignored: [String: Int]
}

extension ScoreRequest {
    /// Lays `batch` out in `schema`'s column order, refusing unknown fields.
    ///
    /// - Throws: ``LoanScoreClientError`` `invalidInput` for an empty batch, an unknown field
    ///   name, a value of the wrong wire type, or an id or text over 65,535 bytes.
    /// - Complexity: O(applications × fields).
    init(batch: [ApplicationInput], schema: WireSchema) throws(LoanScoreClientError) {
        self = try Self.layOut(batch, schema: schema, unknownFields: .reject).request
    }

    /// Lays `batch` out in `schema`'s column order. Keys that name no field of `schema` are
    /// refused (``LoanScoreClient/UnknownFieldPolicy/reject``) or left out and counted by name
    /// (``LoanScoreClient/UnknownFieldPolicy/ignore``).
    ///
    /// - Throws: ``LoanScoreClientError`` `invalidInput` for an empty batch, an unknown field
    ///   name under `.reject`, a value of the wrong wire type, or an id or text over 65,535 bytes.
    /// - Complexity: O(applications × fields), plus O(keys) for each application with an
    ///   unknown key.
    static func layOut(
        _ batch: [ApplicationInput], schema: WireSchema, unknownFields: LoanScoreClient.UnknownFieldPolicy
    ) throws(LoanScoreClientError) -> LaidOutBatch {
        guard !batch.isEmpty else {
            throw LoanScoreClientError(.invalidInput, "the batch is empty: send at least one application")
        }
        /// Throws for the first application (in batch order) with a key the schema lacks
        /// (under `.reject`; under `.ignore` such keys are left out, so it does nothing).
        func refuseUnknownFields() throws(LoanScoreClientError) {
            guard unknownFields == .reject else { return }
            let fieldNames = Set(schema.fields.map(\.name))
            for (index, application) in batch.enumerated() {
                if let unknown = application.values.keys.filter({ !fieldNames.contains($0) }).sorted().first {
                    throw LoanScoreClientError(
                        .invalidInput,
                        "application '\(application.id)' (index \(index)) has unknown field '\(unknown)'; the served schema has fields "
                            + schema.fields.map(\.name).joined(separator: ", ")
                            + " (LoanScoreClient.Configuration.unknownFields = .ignore leaves such fields out)",
                        field: unknown, applicationIndex: index)
                }
            }
        }
        // Keys found under a schema field, per application: fewer than the application has
        // means an unknown key (checked once, after the columns, instead of a second pass of
        // lookups for every application).
        var found = [Int](repeating: 0, count: batch.count)
        var columns: [Column] = []
        columns.reserveCapacity(schema.fields.count)
        for field in schema.fields {
            /// Application `index`'s value of this field, counting the key when present.
            func lookup(_ index: Int) -> WireValue {
                guard let value = batch[index].values[field.name] else { return .missing }
                found[index] += 1
                return value
            }
            func wrongType(_ index: Int, _ value: WireValue) throws(LoanScoreClientError) -> Never {
                try refuseUnknownFields()  // an unknown field is reported first, as before any type
                throw LoanScoreClientError(
                    .invalidInput,
                    "application '\(batch[index].id)' (index \(index)): field '\(field.name)' is \(field.type) on the wire, not \(value.typeName)",
                    field: field.name, applicationIndex: index)
            }
            switch field.type {
            case .number:
                var values: [Double?] = []
                values.reserveCapacity(batch.count)
                for index in batch.indices {
                    switch lookup(index) {
                    case .missing: values.append(nil)
                    case .number(let number): values.append(number)
                    case let other: try wrongType(index, other)
                    }
                }
                columns.append(Column(numbers: values))
            case .bool:
                var values: [Bool?] = []
                values.reserveCapacity(batch.count)
                for index in batch.indices {
                    switch lookup(index) {
                    case .missing: values.append(nil)
                    case .bool(let flag): values.append(flag)
                    case let other: try wrongType(index, other)
                    }
                }
                columns.append(Column(bools: values))
            case .string:
                var values: [String?] = []
                values.reserveCapacity(batch.count)
                for index in batch.indices {
                    switch lookup(index) {
                    case .missing: values.append(nil)
                    case .text(let text): values.append(text)
                    case let other: try wrongType(index, other)
                    }
                }
                columns.append(Column(strings: values))
            }
        }
        var ignored: [String: Int] = [:]
        if zip(found, batch).contains(where: { $0 != $1.values.count }) {
            try refuseUnknownFields()
            let fieldNames = Set(schema.fields.map(\.name))  // only when some key is unknown: not on every batch
            for (count, application) in zip(found, batch) where count != application.values.count {
                for key in application.values.keys where !fieldNames.contains(key) { ignored[key, default: 0] += 1 }
            }
        }
        do {
            let request = try ScoreRequest(schemaHash: schema.hash, applicationIDs: batch.map(\.id), columns: columns)
            return LaidOutBatch(request: request, ignored: ignored)
        } catch {
            throw LoanScoreClientError(.invalidInput, error.message, applicationIndex: error.applicationIndex)
        }
    }
}

extension WireValue {
    /// The wire type's name, for messages.
    var typeName: String {
        switch self {
        case .missing: return "missing"
        case .number: return "NUMBER"
        case .bool: return "BOOL"
        case .text: return "STRING"
        }
    }
}
