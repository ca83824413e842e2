public import Foundation

/// An executable of this package, run the way a user runs it: by path, with arguments, its
/// standard output and error captured.
public struct BuiltExecutable: Sendable {
    /// What a finished run left: exit status and both streams as UTF-8 text.
    public struct Run: Sendable {
        /// The exit status (-1 when the run never happened).
        public var status: Int32
        /// Standard output, decoded as UTF-8.
        public var stdout: String
        /// Standard error, decoded as UTF-8.
        public var stderr: String

        /// A run's outcome, as given.
        public init(status: Int32, stdout: String, stderr: String) {
            self.status = status
            self.stdout = stdout
            self.stderr = stderr
        }
    }

    /// The build folder that holds the running test bundle, and so every executable SwiftPM
    /// built for a test target that depends on it.
    public static let buildFolder = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()

    /// The executable's path.
    public let url: URL

    /// The executable `name` (e.g. `loanscore`) in ``buildFolder``.
    public init(_ name: String) {
        url = Self.buildFolder.appendingPathComponent(name)
    }

    /// Whether the executable has been built.
    public var exists: Bool { FileManager.default.isExecutableFile(atPath: url.path) }

    /// Runs the executable to its end.
    ///
    /// - Throws: when the process cannot be started (e.g. the executable is missing).
    public func run(_ arguments: [String]) throws -> Run {
        let process = Process()
        process.executableURL = url
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                   stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// Runs the executable to its end on a thread of its own, for async tests: waiting for a
    /// process on one of Swift concurrency's cooperative threads (two on a 2-core machine)
    /// stalls every other test of the run for as long.
    ///
    /// - Throws: when the process cannot be started.
    public func runOffThePool(_ arguments: [String]) async throws -> Run {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Run, any Error>) in
            let thread = Thread { continuation.resume(with: Result { try run(arguments) }) }
            thread.start()
        }
    }
}
