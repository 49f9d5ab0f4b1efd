// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "lmscore",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "lmscore", targets: ["lmscore"]),
        .library(name: "LMScoreEngine", targets: ["LMScoreEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // OpenBLAS (Debian libopenblas-dev), located with pkg-config.
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // The model and the loss: checkpoints in, scores out. No JSON, no HTTP.
        .target(
            name: "LMScoreEngine",
            dependencies: ["COpenBLAS"],
            swiftSettings: [
                // The engine's loops (layer norm, GELU, log-sum-exp) are slow unoptimized;
                // build it optimized even in debug so `swift test` exercises real speed.
                .unsafeFlags(["-O"]),
            ]
        ),
        // The JSON request/response schema shared by `lmscore score` and HTTP `POST /score`.
        .target(
            name: "LMScoreAPI",
            dependencies: ["LMScoreEngine"]
        ),
        .executableTarget(
            name: "lmscore",
            dependencies: [
                "LMScoreEngine",
                "LMScoreAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "LMScoreEngineTests", dependencies: ["LMScoreEngine"]),
        .testTarget(name: "LMScoreAPITests", dependencies: ["LMScoreAPI", "LMScoreEngine"]),
        .testTarget(name: "LMScoreCLITests", dependencies: ["LMScoreEngine"]),
    ]
)
