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
let nioHTTP1: Target.Dependency = .product(name: "NIOHTTP1", package: "swift-nio")
let nioConcurrencyHelpers: Target.Dependency = .product(name: "NIOConcurrencyHelpers", package: "swift-nio")
let atomics: Target.Dependency = .product(name: "Atomics", package: "swift-atomics")
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")
let prometheus: Target.Dependency = .product(name: "Prometheus", package: "swift-prometheus")
let histogram: Target.Dependency = .product(name: "Histogram", package: "hdrhistogram-swift")
let lifecycle: Target.Dependency = .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")

let package = Package(
    name: "loanscore",
    platforms: [.macOS(.v15)],  // Linux is the deployment target; this only bounds local macOS builds.
    products: [
        .library(name: "LoanScoreDecision", targets: ["LoanScoreDecision"]),
        .library(name: "LoanScoreFeatures", targets: ["LoanScoreFeatures"]),
        .library(name: "LoanScoreModel", targets: ["LoanScoreModel"]),
        .library(name: "LoanScoreCompression", targets: ["LoanScoreCompression"]),
        .library(name: "LoanScoreProtocol", targets: ["LoanScoreProtocol"]),
        .library(name: "LoanScoreTLS", targets: ["LoanScoreTLS"]),
        .library(name: "LoanScoreWorkerPool", targets: ["LoanScoreWorkerPool"]),
        .library(name: "LoanScoreAudit", targets: ["LoanScoreAudit"]),
        .library(name: "LoanScoreMonitoring", targets: ["LoanScoreMonitoring"]),
        .library(name: "LoanScoreServer", targets: ["LoanScoreServer"]),
        .library(name: "LoanScoreClient", targets: ["LoanScoreClient"]),
        // For the Fuzz/ package's seeds (a nested package sees only products).
        .library(name: "LoanScoreTestSupport", targets: ["LoanScoreTestSupport"]),
        // The C ABI (include/loanscore.h) as a shared library: .build/<config>/libLoanScoreC.so,
        // shipped in the Python wheel as loanscore/_lib/libloanscore.so (`make wheel`).
        .library(name: "LoanScoreC", type: .dynamic, targets: ["LoanScoreC"]),
        .executable(name: "loanscore", targets: ["LoanScoreCLI"]),
        .executable(name: "loanscored", targets: ["LoanScoreDaemon"]),
        .executable(name: "loanscore-load", targets: ["LoanScoreLoad"]),
        .executable(name: "loanscore-stream", targets: ["LoanScoreStream"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        // MARK: - System libraries
        // The system OpenSSL 3 (Debian: libssl-dev); imported only by LoanScoreTLS.
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        // liblz4 (Debian: liblz4-dev); imported only by LoanScoreCompression.
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        // glibc's <malloc.h> (mallinfo2, malloc_trim, mallopt), which Swift's Glibc module
        // leaves out; imported only by LoanScoreServer (MemoryMaintenance).
        .systemLibrary(name: "CMalloc"),
        // include/loanscore.h as a module, so that LoanScoreC implements the C API over the
        // header's own struct layouts; imported only by LoanScoreC.
        .systemLibrary(name: "CLoanScoreABI"),
        // librdkafka (Debian: librdkafka-dev); imported only by LoanScoreKafka.
        .systemLibrary(name: "CKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),

        // MARK: - Libraries
        // Schema, validation, derived features, encoding, CSV streaming. No NIO, no I/O beyond files.
        .target(name: "LoanScoreFeatures", exclude: ["SCHEMA.md"]),
        // Bundle loading and checks, members, ensemble, calibration, decision policy, reasons.
        .target(name: "LoanScoreDecision"),
        .target(name: "LoanScoreModel", dependencies: ["LoanScoreDecision", "LoanScoreFeatures", crypto], exclude: ["BUNDLE.md"]),
        // Bounded LZ4 block compress/decompress; the only importer of CLZ4.
        .target(name: "LoanScoreCompression", dependencies: ["CLZ4", nioCore]),
        // Frames, messages and the batch codec of the wire protocol (Protocol/PROTOCOL.md).
        // NIOCore only: no transport, no scoring code; shared by server and client.
        .target(name: "LoanScoreProtocol", dependencies: ["LoanScoreDecision", "LoanScoreCompression", nioCore, crypto]),
        // TLS over the system OpenSSL: contexts, and a NIO ChannelHandler over memory BIOs.
        .target(name: "LoanScoreTLS", dependencies: ["COpenSSL", nioCore]),
        // Lock-free bounded MPMC queue and worker threads (no NIO).
        .target(name: "LoanScoreWorkerPool", dependencies: [atomics]),
        // The decision audit log: checksummed append-only segments, group commit, archiving
        // (LZ4 frames through LoanScoreCompression; no NIO of its own).
        .target(name: "LoanScoreAudit", dependencies: ["LoanScoreCompression", crypto]),
        // Model monitoring: reference bins against live traffic (PSI/CSI drift, anomalies) and
        // realised outcomes against predicted PDs. Shared by the server and the CLI; no NIO.
        .target(name: "LoanScoreMonitoring", dependencies: ["LoanScoreFeatures", "LoanScoreModel"]),
        // The NIO server: connections, backpressure, admin HTTP, metrics, graceful shutdown.
        .target(name: "LoanScoreServer", dependencies: [
            "LoanScoreFeatures", "LoanScoreModel", "LoanScoreProtocol", "LoanScoreTLS", "LoanScoreWorkerPool", "LoanScoreMonitoring",
            "LoanScoreAudit", "LoanScoreVersion", "CMalloc", nioCore, nioPosix, nioHTTP1, nioConcurrencyHelpers, atomics, logging, crypto,
            prometheus, lifecycle, .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        ]),
        // The client SDK: pooled, pipelined TLS connections, deadlines, retries with backoff.
        .target(name: "LoanScoreClient", dependencies: ["LoanScoreProtocol", "LoanScoreTLS", nioCore, nioPosix, nioConcurrencyHelpers, logging]),
        // The C ABI (include/loanscore.h): @_cdecl functions over ModelBundle, FeaturePipeline
        // and EnsembleScorer (no second implementation), for in-process scoring from C and Python.
        .target(name: "LoanScoreC", dependencies: [
            "CLoanScoreABI", "LoanScoreDecision", "LoanScoreFeatures", "LoanScoreModel", "LoanScoreMonitoring", "LoanScoreVersion",
        ]),
        // The Kafka client over librdkafka: a group consumer with manual commits, rebalance
        // handler, pause/resume; a producer with delivery reports. The only importer of CKafka.
        .target(name: "LoanScoreKafka", dependencies: ["CKafka"]),
        // The version and the commit every executable reports (--version, /health, metrics);
        // BuildInfoPlugin writes the commit at build time.
        .target(name: "LoanScoreVersion", plugins: ["BuildInfoPlugin"]),
        // What the long-running executables share on the command line: the README's exit codes
        // (usage 2, not ArgumentParser's 64) and the error that carries a status.
        .target(name: "LoanScoreCommandLine", dependencies: [argumentParser]),
        .plugin(name: "BuildInfoPlugin", capability: .buildTool()),
        // Fixtures shared by the test targets (a hand-computed bundle, temporary folders, test certificates).
        .target(name: "LoanScoreTestSupport", dependencies: [crypto]),

        // MARK: - Executables
        .executableTarget(
            name: "LoanScoreCLI",
            dependencies: ["LoanScoreFeatures", "LoanScoreModel", "LoanScoreAudit", "LoanScoreMonitoring", "LoanScoreClient", "LoanScoreProtocol", "LoanScoreVersion", argumentParser],
            path: "Sources/loanscore"
        ),
        // The load generator: closed or open loop (no coordinated omission), HdrHistogram latencies.
        .executableTarget(
            name: "LoanScoreLoad",
            dependencies: ["LoanScoreClient", "LoanScoreProtocol", "LoanScoreFeatures", "LoanScoreVersion", "LoanScoreCommandLine", argumentParser, histogram, logging, nioConcurrencyHelpers, nioCore, nioPosix],
            path: "Sources/loanscore-load"
        ),
        // The Kafka bridge: applications from a topic, scored through the SDK, decisions and
        // dead letters to topics, at least once (Protocol/STREAM.md).
        .executableTarget(
            name: "LoanScoreStream",
            dependencies: [
                "LoanScoreKafka", "LoanScoreClient", "LoanScoreProtocol", "LoanScoreFeatures", "LoanScoreVersion", "LoanScoreCommandLine", argumentParser,
                logging, prometheus, nioCore, nioPosix, nioHTTP1, .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            path: "Sources/loanscore-stream"
        ),
        .executableTarget(
            name: "LoanScoreDaemon",
            dependencies: ["LoanScoreServer", "LoanScoreVersion", "LoanScoreCommandLine", argumentParser, logging],
            path: "Sources/loanscored"
        ),

        // MARK: - Tests
        .testTarget(name: "LoanScoreFeaturesTests", dependencies: ["LoanScoreFeatures", "LoanScoreTestSupport"]),
        .testTarget(name: "LoanScoreMonitoringTests", dependencies: ["LoanScoreMonitoring", "LoanScoreModel", "LoanScoreFeatures", "LoanScoreTestSupport"]),
        .testTarget(name: "LoanScoreModelTests", dependencies: ["LoanScoreModel", "LoanScoreFeatures", "LoanScoreTestSupport"]),
        .testTarget(name: "LoanScoreCompressionTests", dependencies: ["LoanScoreCompression", "LoanScoreTestSupport", nioCore]),
        // Decodes Protocol/vectors (located via #filePath) and re-encodes them byte for byte.
        .testTarget(name: "LoanScoreProtocolTests", dependencies: ["LoanScoreProtocol", nioCore]),
        .testTarget(
            name: "LoanScoreTLSTests",
            dependencies: ["LoanScoreTLS", "LoanScoreTestSupport", nioCore, nioEmbedded, nioPosix]
        ),
        .testTarget(name: "LoanScoreWorkerPoolTests", dependencies: ["LoanScoreWorkerPool", atomics]),
        .testTarget(name: "LoanScoreAuditTests", dependencies: ["LoanScoreAudit", "LoanScoreCompression", "LoanScoreTestSupport"]),
        // The real server on 127.0.0.1 over real TLS, driven by raw protocol frames and the SDK;
        // the built loanscored and loanscore run as subprocesses (reload, drain, systemd).
        .testTarget(name: "LoanScoreServerTests", dependencies: [
            "LoanScoreServer", "LoanScoreProtocol", "LoanScoreTLS", "LoanScoreAudit", "LoanScoreModel", "LoanScoreFeatures",
            "LoanScoreTestSupport", "LoanScoreClient", "LoanScoreDaemon", "LoanScoreCLI", "LoanScoreVersion", nioCore, nioEmbedded, nioPosix, nioConcurrencyHelpers, logging,
        ]),
        .testTarget(
            name: "LoanScoreClientTests",
            dependencies: ["LoanScoreClient", "LoanScoreProtocol", "LoanScoreTLS", "LoanScoreTestSupport", "LoanScoreCLI", "LoanScoreLoad", nioCore, nioPosix]
        ),
        // The bridge's pure parts: offset progress, the message formats of Protocol/STREAM.md
        // (its process tests against a real broker are Protocol/stream_tests).
        .testTarget(name: "LoanScoreStreamTests", dependencies: ["LoanScoreStream", "LoanScoreClient", "LoanScoreProtocol", "LoanScoreDecision"]),
        // Runs the built `loanscore` executable as a subprocess: exit codes and messages.
        // LoanScoreModel and LoanScoreFeatures compute the expected figures of test bundles.
        .testTarget(name: "LoanScoreCLITests", dependencies: [
            "LoanScoreCLI", "LoanScoreDaemon", "LoanScoreLoad", "LoanScoreTestSupport", "LoanScoreAudit", "LoanScoreVersion",
            "LoanScoreModel", "LoanScoreFeatures", "LoanScoreMonitoring",
        ]),
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
