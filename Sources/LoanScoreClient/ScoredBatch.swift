public import LoanScoreProtocol

/// A batch's answer with what the client did to send it:
/// ``LoanScoreClient/scoreDetailed(_:)`` returns it.
///
/// ```swift
/// var configuration = LoanScoreClient.Configuration(host: "scoring.internal", port: 7443, tls: .init(caFile: "ca.pem"))
/// configuration.unknownFields = .ignore
/// let client = try LoanScoreClient(configuration: configuration)
/// let scored = try await client.scoreDetailed(batch)
/// if !scored.ignoredFields.isEmpty {
///     print("left out \(scored.ignoredValues) value(s) of \(scored.ignoredFields): not fields of \(scored.welcome.modelVersion)")
/// }
/// ```
public struct ScoredBatch: Sendable {
    /// The server's SCORE_RESPONSE: the version of the model that scored the batch, and one
    /// result per application in the batch's order.
    public var response: ScoreResponse
    /// The WELCOME of the connection the answered attempt went on: the batch was laid out for
    /// its ``LoanScoreProtocol/Welcome/schema``. The model that scored it is the response's
    /// ``LoanScoreProtocol/ScoreResponse/modelVersion`` (the server may have reloaded a model
    /// with the same schema since that connection opened).
    public var welcome: Welcome
    /// The names, sorted, of the batch's fields that the served schema does not have and that
    /// were left out under ``LoanScoreClient/UnknownFieldPolicy/ignore`` (empty under `.reject`).
    public var ignoredFields: [String]
    /// How many values were left out: applications × ``ignoredFields`` they had a key for.
    public var ignoredValues: Int
    /// How many times the batch was laid out again and resent because the server answered
    /// SCHEMA_MISMATCH (it reloaded a bundle with another schema): 0 almost always.
    public var schemaChanges: Int

    /// A scored batch (the client makes these; public for tests and wrappers).
    public init(response: ScoreResponse, welcome: Welcome, ignoredFields: [String] = [], ignoredValues: Int = 0, schemaChanges: Int = 0) {
        self.response = response
        self.welcome = welcome
        self.ignoredFields = ignoredFields
        self.ignoredValues = ignoredValues
        self.schemaChanges = schemaChanges
    }
}
