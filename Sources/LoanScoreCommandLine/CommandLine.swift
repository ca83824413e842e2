public import ArgumentParser
import Foundation

/// An error that ends a program with a message and an exit status (README's table: 1
/// internal, 2 usage, 3 invalid input, 4 a server or broker that could not be reached or trusted).
public struct ExitMessage: Error, CustomStringConvertible {
    /// What went wrong and what to do, printed after `error: `.
    public var description: String
    /// The process exit status.
    public var status: Int32

    /// An error ending the program with `status` (default 1, internal).
    public init(_ description: String, status: Int32 = 1) {
        self.description = description
        self.status = status
    }
}

/// Writes one line to standard error.
public func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

extension AsyncParsableCommand {
    /// Parses the command line and runs the command with the README's exit codes: a usage
    /// failure prints ArgumentParser's message (which points to `--help`) and exits 2 (not
    /// ArgumentParser's 64), an ``ExitMessage`` prints `error: ` and its text and exits with its
    /// status, anything else as ArgumentParser would. The executables' `main()` calls this.
    public static func mainWithExitCodes() async {
        do {
            var command = try parseAsRoot()
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch let failure as ExitMessage {
            printError("error: \(failure.description)")
            Foundation.exit(failure.status)
        } catch {
            if exitCode(for: error) == .validationFailure {
                printError(fullMessage(for: error))  // ends "See '… --help' for more information."
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
