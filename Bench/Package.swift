// swift-tools-version:6.1
// LoanScore's micro benchmarks: a package of its own, so the root package's build and tests
// never pay for the benchmark tool. Run from the repository root:
//   LOANSCORE_BENCH_BUNDLE=/path/to/bundle swift package --package-path Bench benchmark
// (Bench/README.md has the details.)
import PackageDescription

let package = Package(
    name: "loanscore-bench",
    platforms: [.macOS(.v15)],
    dependencies: [
        // The root package, named explicitly (a bare path would take the checkout folder's name).
        .package(name: "loanscore", path: "../"),
        .package(url: "https://github.com/ordo-one/package-benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        // Feature computation, each ensemble member and the whole ensemble, at batch sizes
        // 1, 64, 1024 and 65,536, on the applications of $LOANSCORE_BENCH_BUNDLE's holdout.
        .executableTarget(
            name: "Scoring",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "LoanScoreFeatures", package: "loanscore"),
                .product(name: "LoanScoreModel", package: "loanscore"),
            ],
            path: "Benchmarks/Scoring",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        // The wire path through the server's own code (decode, features, ensemble, response and
        // audit records) at 1, 64 and 256 applications, the request's encoding, and LZ4 alone.
        .executableTarget(
            name: "Wire",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "LoanScoreFeatures", package: "loanscore"),
                .product(name: "LoanScoreModel", package: "loanscore"),
                .product(name: "LoanScoreProtocol", package: "loanscore"),
                .product(name: "LoanScoreCompression", package: "loanscore"),
                .product(name: "LoanScoreServer", package: "loanscore"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/Wire",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
