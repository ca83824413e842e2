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
let nioCore: Target.Dependency = .product(name: "NIOCore", package: "swift-nio")
let nioEmbedded: Target.Dependency = .product(name: "NIOEmbedded", package: "swift-nio")
let nioPosix: Target.Dependency = .product(name: "NIOPosix", package: "swift-nio")

let package = Package(
    name: "loanscore",
    platforms: [.macOS(.v15)],  // Linux is the deployment target; this only bounds local macOS builds.
    products: [
        .library(name: "LoanScoreFeatures", targets: ["LoanScoreFeatures"]),
        .library(name: "LoanScoreModel", targets: ["LoanScoreModel"]),
        .library(name: "LoanScoreTLS", targets: ["LoanScoreTLS"]),
        .executable(name: "loanscore", targets: ["LoanScoreCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        // MARK: - System libraries
        // The system OpenSSL 3 (libssl, libcrypto) with shims for the macros Swift cannot import.
        // Only LoanScoreTLS imports it.
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),

        // MARK: - Libraries
        // Schema, validation, derived features, encoding, CSV streaming. No NIO, no I/O beyond files.
        .target(name: "LoanScoreFeatures", exclude: ["SCHEMA.md"]),
        // Bundle loading and checks, members, ensemble, calibration, decision policy, reasons.
        .target(name: "LoanScoreModel", dependencies: ["LoanScoreFeatures", crypto], exclude: ["BUNDLE.md"]),

        // TLS over the system OpenSSL: contexts, and a NIO ChannelHandler over memory BIOs.
        .target(name: "LoanScoreTLS", dependencies: ["COpenSSL", nioCore]),

        // Fixtures shared by the test targets (a hand-computed bundle, temporary folders, test certificates).
        .target(name: "LoanScoreTestSupport", dependencies: [crypto]),

        // MARK: - Executables
        .executableTarget(
            name: "LoanScoreCLI",
            dependencies: ["LoanScoreFeatures", "LoanScoreModel", argumentParser],
            path: "Sources/loanscore"
        ),

        // MARK: - Tests
        .testTarget(name: "LoanScoreFeaturesTests", dependencies: ["LoanScoreFeatures", "LoanScoreTestSupport"]),
        .testTarget(name: "LoanScoreModelTests", dependencies: ["LoanScoreModel", "LoanScoreFeatures", "LoanScoreTestSupport"]),
        .testTarget(
            name: "LoanScoreTLSTests",
            dependencies: ["LoanScoreTLS", "LoanScoreTestSupport", nioCore, nioEmbedded, nioPosix]
        ),
        // Runs the built `loanscore` executable as a subprocess: exit codes and messages.
        .testTarget(name: "LoanScoreCLITests", dependencies: ["LoanScoreCLI", "LoanScoreTestSupport"]),
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
