import Foundation
import LoanScoreTestSupport
import LoanScoreVersion
import Testing

/// `--version` on every Swift executable, and `--help` texts that read as prose.
@Suite("--version and --help")
struct HelpAndVersionTests {
    /// The commit of the checkout these tests were built from (`git rev-parse --short=12 HEAD`
    /// in this file's folder), or nil without git.
    static let checkoutCommit: String? = {
        let git = Process()
        git.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        git.arguments = ["git", "-C", URL(fileURLWithPath: #filePath).deletingLastPathComponent().path, "rev-parse", "--short=12", "HEAD"]
        let out = Pipe()
        git.standardOutput = out
        git.standardError = FileHandle.nullDevice
        guard (try? git.run()) != nil else { return nil }
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        git.waitUntilExit()
        return git.terminationStatus == 0 ? text.trimmingCharacters(in: .whitespacesAndNewlines) : nil
    }()

    @Test("--version prints the version and the commit the executable was built from",
          arguments: ["loanscore", "loanscored", "loanscore-load"])
    func version(executable: String) throws {
        let binary = BuiltExecutable(executable)
        try #require(binary.exists, "\(binary.url.path) not built; build with 'swift build --build-tests'")
        let result = try binary.run(["--version"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "\(executable) \(LoanScoreVersion.number) (commit \(LoanScoreVersion.commit))\n")
        #expect(LoanScoreVersion.commit == "unknown" || LoanScoreVersion.commit.count == 12)
        #expect(LoanScoreVersion.commit.allSatisfy { $0.isHexDigit } || LoanScoreVersion.commit == "unknown")
        if let checkoutCommit = Self.checkoutCommit {
            // Built from this checkout: the commit is the one checked out (rebuild after committing).
            #expect(LoanScoreVersion.commit == checkoutCommit)
        }
    }

    @Test("Help texts have no source indentation inside a paragraph",
          arguments: [["--help"], ["score", "--help"], ["bundle", "verify", "--help"], ["audit", "verify", "--help"], ["audit", "export", "--help"], ["audit", "compare", "--help"],
                     ["bench", "--help"], ["drift", "--help"], ["features", "--help"]])
    func helpReadsCleanly(arguments: [String]) throws {
        let result = try BuiltExecutable("loanscore").run(arguments)
        #expect(result.status == 0, "\(result.stderr)")
        // Prose comes before the argument and option lists, whose lines align help with spaces.
        let prose = result.stdout.components(separatedBy: "\nARGUMENTS:").first?.components(separatedBy: "\nOPTIONS:").first ?? ""
        for line in prose.split(separator: "\n") {
            let text = line.drop { $0 == " " }
            #expect(!text.contains("   "), "a run of spaces inside: \(line)")
        }
    }
}
