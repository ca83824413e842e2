/// A bundle or member file that LoanScore refuses, with what failed and where.
public struct ModelError: Error, CustomStringConvertible, Equatable {
    /// The file (relative to the bundle) or `manifest.json`.
    public var file: String
    public var problem: String

    public init(file: String, _ problem: String) {
        self.file = file
        self.problem = problem
    }

    public var description: String { "\(file): \(problem)" }
}
