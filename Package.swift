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
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
    ],
    targets: [
        // The matrix kernels: C with intrinsics, one path per CPU feature set (AVX-512F, AVX2+FMA+F16C,
        // portable) in one binary via per-function target attributes. Optimized even in debug so
        // `swift test` runs them at real speed; FP contraction off so every path's rounding is the
        // one its code spells out (the batch-invariance argument in gemm_template.h).
        .target(
            name: "CKernels",
            cSettings: [.unsafeFlags(["-O2", "-ffp-contract=off"])]
        ),
        // zlib (Debian zlib1g-dev) and zstd (libzstd-dev): `.gz` and `.zst` batch files.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // GGUF files (llama.cpp's format): the container — metadata, tensor descriptions, mapped data —
        // read for the engine (weights) and the tokenizer (its vocabulary). No dependencies.
        .target(name: "LMScoreGGUF"),
        // The model and the loss: checkpoints in, scores out. No JSON, no HTTP.
        .target(
            name: "LMScoreEngine",
            dependencies: ["CKernels", "LMScoreGGUF"],
            swiftSettings: [
                // The engine's loops (layer norm, GELU, log-sum-exp) are slow unoptimized;
                // build it optimized even in debug so `swift test` exercises real speed.
                .unsafeFlags(["-O"]),
            ]
        ),
        // The JSON request/response schema shared by `lmscore score` and HTTP `POST /score`.
        .target(
            name: "LMScoreAPI",
            dependencies: ["LMScoreEngine", "LMScoreTokenizer", "LMScoreGGUF"]
        ),
        // GPT-2 byte-level BPE (tiktoken r50k_base): text → token ids → text. SHA-256 of the ranks file
        // from swift-crypto; optimized even in debug like the engine, so `swift test` runs at real speed.
        .target(
            name: "LMScoreTokenizer",
            dependencies: ["LMScoreGGUF", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: [.unsafeFlags(["-O"])]
        ),
        // libmicrohttpd (Debian libmicrohttpd-dev): one header and one .c of forwards for what Swift
        // cannot call directly (variadic functions, the va_list logger).
        .target(
            name: "CMicroHTTPD",
            linkerSettings: [.linkedLibrary("microhttpd")]
        ),
        // The HTTP service: MHD event loop, routes, the batching actor, settings, metrics, lifecycle.
        .target(
            name: "LMScoreServer",
            dependencies: [
                "CMicroHTTPD",
                "LMScoreEngine",
                "LMScoreAPI",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // `lmscore batch`: OpenAI batch files (plain, .gz, .zst) streamed through the scorer with the
        // server's packing rule; checkpointed output chunks for resume, shards, merge, progress.
        .target(
            name: "LMScoreBatch",
            dependencies: [
                "CZlib",
                "CZstd",
                "LMScoreEngine",
                "LMScoreAPI",
                "LMScoreTokenizer",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .executableTarget(
            name: "lmscore",
            dependencies: [
                "LMScoreEngine",
                "LMScoreAPI",
                "LMScoreServer",
                "LMScoreBatch",
                "LMScoreTokenizer",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // libFuzzer target for the request decoders and the tokenizer (Scripts/fuzz.sh builds it with
        // -sanitize=fuzzer,address); a plain build makes a replayer of saved inputs.
        .executableTarget(
            name: "LMScoreFuzz",
            dependencies: ["LMScoreAPI", "LMScoreEngine", "LMScoreTokenizer"]
        ),
        // What several test targets share: the transformers reference fixtures, the `lmscore` binary
        // the CLI and drain tests start, the HF sliding-window count.
        .target(name: "LMScoreTestSupport", dependencies: ["LMScoreEngine"], path: "Tests/LMScoreTestSupport"),
        .testTarget(name: "LMScoreEngineTests", dependencies: ["LMScoreEngine", "LMScoreGGUF", "LMScoreTestSupport"]),
        .testTarget(name: "LMScoreGGUFTests", dependencies: ["LMScoreGGUF"]),
        .testTarget(name: "LMScoreTokenizerTests", dependencies: ["LMScoreTokenizer", "LMScoreGGUF", "LMScoreTestSupport"]),
        .testTarget(name: "LMScoreAPITests", dependencies: ["LMScoreAPI", "LMScoreEngine", "LMScoreTokenizer", "LMScoreTestSupport"]),
        .testTarget(name: "LMScoreCLITests", dependencies: ["LMScoreEngine", "LMScoreTestSupport"]),
        .testTarget(name: "LMScoreBatchTests", dependencies: ["LMScoreBatch", "LMScoreAPI", "LMScoreEngine", "LMScoreTestSupport"]),
        .testTarget(name: "LMScoreServerTests", dependencies: ["LMScoreServer", "LMScoreAPI", "LMScoreBatch", "LMScoreEngine", "LMScoreTokenizer", "LMScoreTestSupport"]),
    ]
)
