/// The version of LoanScore's executables and the commit they were built from: the one source
/// of `--version`, `loanscored`'s start-up line, `/health` and `loanscore_build_info`.
public enum LoanScoreVersion {
    /// The release number. `Training/pyproject.toml` carries the same for `loanscore-train`
    /// (a Python test checks they agree).
    public static let number = "0.1.0"

    /// The commit the executables were built from, 12 hex digits, or `unknown` when built
    /// outside a git checkout (written at build time by `BuildInfoPlugin`).
    public static let commit: String = buildCommit

    /// `0.1.0 (commit 0123456789ab)`.
    public static var description: String { "\(number) (commit \(commit))" }

    /// What `--version` prints: `loanscore 0.1.0 (commit 0123456789ab)`.
    public static func versionLine(executable: String) -> String { "\(executable) \(description)" }
}
