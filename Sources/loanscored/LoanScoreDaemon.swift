import ArgumentParser
import Foundation
import LoanScoreServer
import LoanScoreVersion
import Logging

/// `loanscored`: the LoanScore scoring server.
@main
struct LoanScoreDaemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loanscored",
        abstract: "Serve a LoanScore model bundle over TLS (length-prefixed binary protocol, LZ4 batches).",
        discussion: """
            Settings come from --config (JSON; see Systemd/loanscored.json for every key) and are \
            overridden by flags. SIGHUP (or POST /reload on the admin port) reloads the bundle and \
            TLS certificates without dropping connections. SIGTERM or SIGINT stops accepting \
            connections, sends GOODBYE, finishes in-flight work, flushes the audit log and exits 0. \
            Under systemd (Type=notify) it sends READY=1, RELOADING=1 and STOPPING=1.
            """,
        version: LoanScoreVersion.versionLine(executable: "loanscored")
    )

    @Option(help: "The model bundle folder.")
    var bundle: String?

    @Option(help: "HOST:PORT of the scoring listener (default 127.0.0.1:7443).")
    var listen: String?

    @Option(help: "PEM certificate chain.")
    var cert: String?

    @Option(help: "PEM private key.")
    var key: String?

    @Option(name: .customLong("client-ca"), help: "Require client certificates signed by this CA (mutual TLS).")
    var clientCA: String?

    @Option(help: "HOST:PORT of the admin HTTP listener (default 127.0.0.1:9090); 'off' disables it.")
    var admin: String?

    @Option(name: .customLong("audit-dir"), help: "Folder of the decision audit log (default ./audit).")
    var auditDirectory: String?

    @Option(help: "Worker threads (default: one per core).")
    var workers: Int?

    @Option(name: .customLong("reason-codes"),
            help: "Reason codes in responses and the audit log: all (default) or none (PD, decision and confidence only).")
    var reasonCodes: String?

    @Option(help: "JSON configuration file; flags override its values.")
    var config: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    func resolvedConfiguration() throws -> ServerConfiguration {
        var configuration: ServerConfiguration
        if let config {
            configuration = try ServerConfiguration.load(from: URL(fileURLWithPath: config))
        } else {
            guard let bundle, let cert, let key else {
                throw ValidationError("--bundle, --cert and --key are required (or give them in --config)")
            }
            configuration = ServerConfiguration(bundle: bundle, certificate: cert, privateKey: key)
        }
        if let bundle { configuration.bundle = bundle }
        if let cert { configuration.certificate = cert }
        if let key { configuration.privateKey = key }
        if let clientCA { configuration.clientCA = clientCA }
        if let listen { configuration.listen = listen }
        if let admin { configuration.admin = admin == "off" ? nil : admin }
        if let auditDirectory { configuration.auditDirectory = auditDirectory }
        if let workers { configuration.workers = workers }
        if let reasonCodes { configuration.reasonCodes = reasonCodes }
        try configuration.validate()
        return configuration
    }

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "loanscored")
        let configuration: ServerConfiguration
        do {
            configuration = try resolvedConfiguration()
        } catch let error as ConfigurationError {
            logger.critical("configuration refused: \(error.message)")
            throw ExitCode(2)
        }
        do {
            try await Daemon(configuration: configuration, logger: logger).run()
        } catch let error as StartupError {
            logger.critical("cannot start: \(error.message)")
            throw ExitCode(3)
        }
    }
}
