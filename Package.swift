// swift-tools-version:6.1
import PackageDescription

// Settings every Swift target shares (the habit swift-nio and Hummingbird follow).
let upcomingFeatures: [SwiftSetting] = [
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]
let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")
let crypto: Target.Dependency = .product(name: "Crypto", package: "swift-crypto")
let atomics: Target.Dependency = .product(name: "Atomics", package: "swift-atomics")

let package = Package(
    name: "loanscore",
    platforms: [.macOS(.v15)],  // Linux is the deployment target; this only bounds local macOS builds.
    products: [
        .library(name: "LoanScoreFeatures", targets: ["LoanScoreFeatures"]),
        .library(name: "LoanScoreModel", targets: ["LoanScoreModel"]),
        .library(name: "LoanScoreWorkerPool", targets: ["LoanScoreWorkerPool"]),
        .library(name: "LoanScoreAudit", targets: ["LoanScoreAudit"]),
        .executable(name: "loanscore", targets: ["LoanScoreCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
    ],
    targets: [
        // MARK: - Libraries
        // Schema, validation, derived features, encoding, CSV streaming. No NIO, no I/O beyond files.
        .target(name: "LoanScoreFeatures", exclude: ["SCHEMA.md"]),
        // Bundle loading and checks, members, ensemble, calibration, decision policy, reasons.
        .target(name: "LoanScoreModel", dependencies: ["LoanScoreFeatures", crypto], exclude: ["BUNDLE.md"]),
        // Lock-free bounded MPMC queue and worker threads with backpressure. No NIO.
        .target(name: "LoanScoreWorkerPool", dependencies: [atomics]),
        // The decision audit log: checksummed, fsynced segment files; reader, verifier, export. No NIO.
        .target(name: "LoanScoreAudit", dependencies: [crypto]),

        // Fixtures shared by the test targets (a hand-computed bundle, temporary folders).
        .target(name: "LoanScoreTestSupport", dependencies: [crypto]),

        // MARK: - Executables
        .executableTarget(
            name: "LoanScoreCLI",
            dependencies: ["LoanScoreFeatures", "LoanScoreModel", "LoanScoreAudit", argumentParser],
            path: "Sources/loanscore"
        ),

        // MARK: - Tests
        .testTarget(name: "LoanScoreFeaturesTests", dependencies: ["LoanScoreFeatures", "LoanScoreTestSupport"]),
        .testTarget(name: "LoanScoreModelTests", dependencies: ["LoanScoreModel", "LoanScoreFeatures", "LoanScoreTestSupport"]),
        .testTarget(name: "LoanScoreWorkerPoolTests", dependencies: ["LoanScoreWorkerPool"]),
        .testTarget(name: "LoanScoreAuditTests", dependencies: ["LoanScoreAudit", "LoanScoreTestSupport"]),
        // Runs the built `loanscore` executable as a subprocess: exit codes and messages.
        .testTarget(name: "LoanScoreCLITests", dependencies: ["LoanScoreCLI", "LoanScoreAudit", "LoanScoreTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)

for target in package.targets {
    switch target.type {
    case .regular, .test, .executable: target.swiftSettings = (target.swiftSettings ?? []) + upcomingFeatures
    case .macro, .plugin, .system, .binary: ()
    @unknown default: ()
    }
}
