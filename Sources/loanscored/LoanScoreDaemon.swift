public import ArgumentParser
import Foundation
import LoanScoreCommandLine
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

            A challenger (--challenger, or the 'challenger' object) runs beside the champion: in \
            shadow mode every application is scored by both and the champion answers (the audit \
            record adds the challenger's verdict); in split mode the challenger decides the \
            applications whose id hashes (FNV-1a 64, mixed by fmix64) below --challenger-fraction, on connections of \
            protocol version 2. Its schema must accept the champion's input (a subset of its fields, \
            same types); checked at start and on every reload.

            Exit codes: 0 stopped cleanly, 1 internal error, 2 usage or configuration error \
            (including an address that cannot be bound, a challenger fraction outside 0...1), \
            3 invalid data (a bundle or certificate that fails its checks, a challenger whose \
            schema does not accept the champion's input, an audit folder that is damaged or in \
            use by another server).
            """,
        version: LoanScoreVersion.versionLine(executable: "loanscored")
    )

    /// Parses and runs, mapping ArgumentParser's usage failures (its exit code 64) to the
    /// README's usage code 2, so every LoanScore executable shares one exit-code table.
    static func main() async { await mainWithExitCodes() }

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
    var reasonCodes: ReasonCodes?

    @Option(name: .customLong("drift-window"), help: "Drift window: the most recent this many scored applications per model version (default 10000).")
    var driftWindow: Int?

    @Option(name: .customLong("drift-window-seconds"), help: "Applications older than this many seconds also leave the drift window (default: no age bound).")
    var driftWindowSeconds: Double?

    @Flag(name: .customLong("no-drift"), help: "Do not track drift (no /drift, no drift gauges).")
    var noDrift = false

    @Option(help: "A challenger bundle folder served beside the champion (--bundle); see --challenger-mode.")
    var challenger: String?

    @Option(name: .customLong("challenger-mode"),
            help: "shadow (default: every application scored by both, the champion answers) or split (the challenger decides --challenger-fraction of them, by a hash of the application id).")
    var challengerMode: ServerConfiguration.Challenger.Mode?

    @Option(name: .customLong("challenger-fraction"), help: "In split mode, the share of applications the challenger decides, from 0 to 1.")
    var challengerFraction: Double?

    @Flag(help: "Serve the web console under /console on the admin port (off by default; see README, Web console).")
    var console = false

    @Option(help: "JSON configuration file; flags override its values.")
    var config: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    @Option(name: .customLong("log-format"), help: "text (readable lines, the default) or json (one JSON object per line).")
    var logFormat: LogFormat?

    func resolvedConfiguration() throws -> ServerConfiguration {
        // The file first (any key may be left out), then the flags over it; validate() then
        // requires bundle, certificate and key from one or the other.
        var configuration = try config.map { try ServerConfiguration.load(from: URL(fileURLWithPath: $0)) }
            ?? ServerConfiguration(bundle: "", certificate: "", privateKey: "")
        if let bundle { configuration.bundle = bundle }
        if let cert { configuration.certificate = cert }
        if let key { configuration.privateKey = key }
        if let clientCA { configuration.clientCA = clientCA }
        if let listen { configuration.listen = listen }
        if let admin { configuration.admin = admin == "off" ? nil : admin }
        if let auditDirectory { configuration.auditDirectory = auditDirectory }
        if let workers { configuration.workers = workers }
        if let reasonCodes { configuration.reasonCodes = reasonCodes }
        if let driftWindow { configuration.drift.window = driftWindow }
        if let driftWindowSeconds { configuration.drift.windowSeconds = driftWindowSeconds }
        if noDrift { configuration.drift.enabled = false }
        if console { configuration.console = true }
        if let challenger {
            configuration.challenger = ServerConfiguration.Challenger(
                bundle: challenger, mode: configuration.challenger?.mode ?? .shadow, fraction: configuration.challenger?.fraction)
        }
        if challengerMode != nil || challengerFraction != nil {
            guard var settings = configuration.challenger else {
                throw ConfigurationError("--challenger-mode and --challenger-fraction need a challenger: give --challenger PATH "
                    + "or a 'challenger' object in the configuration file")
            }
            if let challengerMode {
                settings.mode = challengerMode
                // A fraction from the file belongs to split mode; switching to shadow by flag drops it.
                if challengerMode == .shadow && challengerFraction == nil { settings.fraction = nil }
            }
            if let challengerFraction { settings.fraction = challengerFraction }
            configuration.challenger = settings
        }
        try configuration.validate()
        return configuration
    }

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        // The configuration decides the log format, so it is read before logging starts; a
        // configuration error is then logged in the format the flag asked for (text by default).
        let resolved = Result { try resolvedConfiguration() }
        let format = logFormat ?? (try? resolved.get())?.logFormat ?? .text
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            case .json:
                var handler = JSONLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        }
        let logger = Logger(label: "loanscored")
        let configuration: ServerConfiguration
        do {
            configuration = try resolved.get()
        } catch let error as ConfigurationError {
            logger.critical("configuration refused: \(error.message)")
            throw ExitCode(2)
        }
        do {
            try await Daemon(configuration: configuration, logger: logger).run()
        } catch let error as StartupError {
            logger.critical("cannot start: \(error.message)")
            throw ExitCode(error.kind == .configuration ? 2 : 3)
        }
    }
}

extension ReasonCodes: ExpressibleByArgument {}
extension LogFormat: ExpressibleByArgument {}
extension ServerConfiguration.Challenger.Mode: ExpressibleByArgument {}
