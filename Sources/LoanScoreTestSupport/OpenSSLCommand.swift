public import Foundation

/// The real `openssl` command, for tests that make certificates or play a TLS peer
/// (`openssl s_client`). A test that needs it fails, never skips, when it is missing.
public enum OpenSSLCommand {
    /// The `openssl` executable on `PATH`.
    ///
    /// - Throws: ``CertificateGenerationError`` saying that `openssl` was not found on `PATH`
    ///   and how to install it.
    public static func locate() throws -> URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for folder in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(folder)).appendingPathComponent("openssl")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw CertificateGenerationError(
            "the `openssl` command was not found on PATH (\(path)); install it (Debian: apt-get install openssl)"
        )
    }

    /// Runs `openssl ARGUMENTS` with `input` on stdin (then closed), killing it after `timeout`
    /// seconds, and returns what it printed on stdout and stderr together.
    ///
    /// - Parameters:
    ///   - arguments: The arguments after `openssl`, e.g. `["s_client", "-connect", "127.0.0.1:7443"]`.
    ///   - input: Written to its stdin, which is then closed (`"Q\n"` makes `s_client` quit).
    ///   - timeout: Seconds before it is terminated.
    /// - Throws: ``CertificateGenerationError`` when `openssl` is not on `PATH`, or what
    ///   `Process.run()` throws.
    public static func run(_ arguments: [String], input: String = "", timeout: Double = 20) async throws -> String {
        let process = Process()
        process.executableURL = try locate()
        process.arguments = arguments
        let stdin = Pipe()
        let output = Pipe()
        process.standardInput = stdin
        process.standardOutput = output
        process.standardError = output
        try process.run()
        // openssl may have exited already (a refused handshake): its stdin is then a broken
        // pipe, which the throwing write reports instead of trapping.
        try? stdin.fileHandleForWriting.write(contentsOf: Data(input.utf8))
        try? stdin.fileHandleForWriting.close()

        let killer = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
        // Read to EOF off the cooperative pool: the pipe closes when openssl exits (or is killed).
        let data = await withCheckedContinuation { (continuation: CheckedContinuation<Data, Never>) in
            DispatchQueue.global().async {
                continuation.resume(returning: output.fileHandleForReading.readDataToEndOfFile())
            }
        }
        process.waitUntilExit()
        killer.cancel()
        return String(decoding: data, as: UTF8.self)
    }
}
