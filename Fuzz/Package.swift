// swift-tools-version:6.1
import PackageDescription

// libFuzzer targets for LoanScore (issue 5, item 1). A package of its own so that the root
// package never needs the sanitizer flags. Build and run with `Fuzz/run.sh`:
//
//   swift build -c debug -Xswiftc -sanitize=fuzzer,address --package-path Fuzz
//
// Each target is one file exporting `LLVMFuzzerTestOneInput`, compiled as a library
// (`-parse-as-library`: no top-level code, no @main). libFuzzer's own `main` would do, but in a
// debug build SwiftPM links executables with `--defsym main=<Target>_main` (so that tests can
// import them), so each file also exports `<Target>_main`, which runs libFuzzer's driver
// through the C shim CFuzzDriver. In a release build that symbol is simply unused.
let nioCore: Target.Dependency = .product(name: "NIOCore", package: "swift-nio")
let protocolLib: Target.Dependency = .product(name: "LoanScoreProtocol", package: "loanscore")
let compression: Target.Dependency = .product(name: "LoanScoreCompression", package: "loanscore")
let model: Target.Dependency = .product(name: "LoanScoreModel", package: "loanscore")
let features: Target.Dependency = .product(name: "LoanScoreFeatures", package: "loanscore")
let testSupport: Target.Dependency = .product(name: "LoanScoreTestSupport", package: "loanscore")
let cABI: Target.Dependency = .product(name: "LoanScoreC", package: "loanscore")
let fuzzSettings: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

let package = Package(
    name: "LoanScoreFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "loanscore", path: "../"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        // `LLVMFuzzerRunDriver` for the targets' entry points.
        .target(name: "CFuzzDriver"),
        // Splits arbitrary bytes into frames (FrameDecoder through NIOSingleStepByteToMessageProcessor).
        .executableTarget(name: "FrameDecoderFuzz", dependencies: ["CFuzzDriver", protocolLib, nioCore], swiftSettings: fuzzSettings),
        // SCORE_REQUEST batch decoder and every other payload decoder.
        .executableTarget(name: "BatchDecoderFuzz", dependencies: ["CFuzzDriver", protocolLib, nioCore], swiftSettings: fuzzSettings),
        // LZ4 block decompression with attacker-declared sizes; compress -> decompress round trip.
        .executableTarget(name: "LZ4Fuzz", dependencies: ["CFuzzDriver", compression, nioCore], swiftSettings: fuzzSettings),
        // HELLO -> WELCOME -> requests under WELCOME's limits, as a client and a server would see them.
        .executableTarget(name: "HandshakeFuzz", dependencies: ["CFuzzDriver", protocolLib, nioCore], swiftSettings: fuzzSettings),
        // Bundle parsers: manifest, schema, XGBoost JSON, forest, logistic.
        .executableTarget(name: "BundleFuzz", dependencies: ["CFuzzDriver", model, features, testSupport], swiftSettings: fuzzSettings),
        // The C API (include/loanscore.h): column descriptors, lengths, offsets, masks and
        // result reads over the tiny bundle, with the library itself under ASan.
        .executableTarget(name: "CABIFuzz", dependencies: ["CFuzzDriver", cABI, testSupport], swiftSettings: fuzzSettings),
    ],
    swiftLanguageModes: [.v6]
)
