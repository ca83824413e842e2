import ArgumentParser
import Foundation
import LoanScoreAudit
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreVersion

/// `loanscore`: offline scoring, features for training, bundle inspection, audit log export.
///
/// Exit codes: 0 success, 1 internal error, 2 usage error, 3 invalid data (input file,
/// schema or bundle), each with a message naming the file, row, field and value, 4 the server
/// could not be reached or trusted.
@main
struct LoanScore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loanscore",
        abstract: "Score loan applications with a LoanScore model bundle.",
        discussion: """
            Exit codes: 0 success, 1 internal error, 2 usage error, 3 invalid data \
            (messages name the file, row, field, value and what was expected), 4 the server could not \
            be reached or trusted (connection refused, TLS certificate not trusted).
            """,
        version: LoanScoreVersion.versionLine(executable: "loanscore"),
        subcommands: [ScoreCommand.self, PredictCommand.self, DriftCommand.self, FeaturesCommand.self, BundleCommand.self, BenchCommand.self, AuditCommand.self,
                      AdminCommand.self, OutcomesCommand.self]
    )

    static func main() {
        let command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                terminate(0)
            }
            printError(fullMessage(for: error))
            printError("Run 'loanscore --help' for usage.")
            terminate(ExitStatus.usage)
        }
        do {
            var runnable = command
            try runnable.run()
        } catch let failure as Failure {
            printError("error: \(failure.message)")
            terminate(failure.status)
        } catch let error as ModelError {
            printError("error: bundle refused: \(error)")
            terminate(ExitStatus.invalidData)
        } catch let error as SchemaError {
            printError("error: schema refused: \(error)")
            terminate(ExitStatus.invalidData)
        } catch let error as ApplicationFile.FileError {
            printError("error: \(error)")
            terminate(ExitStatus.invalidData)
        } catch let error as CSVReader.FormatError {
            printError("error: malformed CSV: \(error)")
            terminate(ExitStatus.invalidData)
        } catch let error as AuditError {
            printError("error: audit log: \(error)")
            terminate(ExitStatus.invalidData)
        } catch {
            // Help and version requests surface here when no subcommand runs.
            if exitCode(for: error) == .success {
                print(fullMessage(for: error))
                terminate(0)
            }
            printError("error: internal: \(error)")
            terminate(ExitStatus.internalError)
        }
    }
}

/// Process exit statuses of `loanscore`.
enum ExitStatus {
    static let internalError: Int32 = 1
    static let usage: Int32 = 2
    static let invalidData: Int32 = 3
    /// The server could not be reached, or its certificate not trusted (or it refused ours).
    static let unreachable: Int32 = 4
}

/// An error that ends the command with a message and an exit status.
struct Failure: Error {
    var message: String
    var status: Int32

    static func invalidData(_ message: String) -> Failure { Failure(message: message, status: ExitStatus.invalidData) }
    static func usage(_ message: String) -> Failure { Failure(message: message, status: ExitStatus.usage) }
    static func internalError(_ message: String) -> Failure { Failure(message: message, status: ExitStatus.internalError) }
    static func unreachable(_ message: String) -> Failure { Failure(message: message, status: ExitStatus.unreachable) }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Prints one JSON object on standard output (keys sorted, for stable output).
func printJSON(_ object: [String: Any]) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}

/// Loads a bundle, turning a missing folder into a usage-style message.
func loadBundle(_ path: String) throws -> ModelBundle {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw Failure.invalidData("\(path): no such bundle folder")
    }
    return try ModelBundle(directory: URL(fileURLWithPath: path))
}

/// Ends the process with a status (outside the command type, whose `exit` shadows the C one).
func terminate(_ status: Int32) -> Never {
    exit(status)
}
