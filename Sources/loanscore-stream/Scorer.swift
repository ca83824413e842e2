import Logging
import LoanScoreClient
import LoanScoreProtocol

/// Scores batches through the client SDK on one or more appliances (`--server`, repeatable):
/// one multi-endpoint client, whose pool spreads its connections over the appliances, marks
/// one that fails down for a while (logged at notice) and sends a batch that got no answer to
/// another (the SDK's failover, the one failover path of LoanScore's clients). When the SDK
/// gives up (every appliance down, or BUSY on every attempt), the caller backs off and sends
/// the same batch again. Nothing is dropped here: a batch ends scored, or the bridge stops
/// without committing it.
final class Scorer: Sendable {
    let client: LoanScoreClient
    private let logger: Logger

    init(servers: [HostPort], ca: String?, cert: String?, key: String?, logger: Logger) throws {
        self.logger = logger
        var configuration = LoanScoreClient.Configuration(
            endpoints: servers, tls: .init(caFile: ca, certificateFile: cert, privateKeyFile: key),
            connections: LoanScoreClient.Configuration.connections(for: servers))
        configuration.clientName = "loanscore-stream/1"
        configuration.deadline = .seconds(30)
        configuration.logger = logger
        client = try LoanScoreClient(configuration: configuration)
    }

    /// Opens the client's connections (one per appliance, at most 16; an appliance that refuses is
    /// skipped and tried again on use); returns the first WELCOME.
    ///
    /// - Throws: ``LoanScoreClientError`` when no appliance could be reached (naming each one
    ///   and its failure when there are several).
    func connect() async throws(LoanScoreClientError) -> Welcome {
        let welcome = try await client.connect()
        logger.info("connected to appliance(s) \(client.configuration.server): model \(welcome.modelName) \(welcome.modelVersion), maximum batch \(welcome.limits.maximumBatch)")
        return welcome
    }

    /// What went wrong, in words a person acts on.
    static func explain(_ error: LoanScoreClientError) -> String {
        switch error.code {
        case .tlsFailed: return "the TLS handshake failed (a certificate not signed by --ca, a client certificate required or refused, no common TLS version): \(error.message)"
        case .connectFailed: return "cannot connect: \(error.message)"
        case .handshakeFailed: return "the LoanScore handshake failed: \(error.message)"
        default: return error.description
        }
    }

    enum Outcome: Sendable {
        case scored(ScoreResponse)
        /// The SDK refused one application before sending (an id or text too long): it goes
        /// to the dead letters and the rest is sent again.
        case refused(index: Int, message: String)
        /// The SDK gave up (every appliance down, or BUSY throughout): back off, and send again.
        case unavailable(LoanScoreClientError, busy: Bool)
    }

    /// Scores `batch` through the SDK (its retries and failover included).
    func score(_ batch: [ApplicationInput]) async -> Outcome {
        do {
            return .scored(try await client.score(batch))
        } catch {
            if error.code == .invalidInput, let index = error.applicationIndex { return .refused(index: index, message: error.message) }
            logger.warning("no appliance scored a batch of \(batch.count) (\(client.configuration.server)): \(Self.explain(error))")
            return .unavailable(error, busy: error.code == .busy)
        }
    }

    func close() async {
        await client.close()
    }
}
