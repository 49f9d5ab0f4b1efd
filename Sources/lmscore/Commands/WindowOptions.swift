import ArgumentParser
import LMScoreEngine

/// The options `perplexity` and `compare` share: one long token stream read in sliding windows,
/// reported as text or JSON, with a progress line.
struct WindowOptions: ParsableArguments {
    @Option(name: .long, help: "Window stride in tokens (default: n_positions / 2).")
    var stride: Int?

    @Flag(name: .long, help: "Print JSON instead of the text report.")
    var json = false

    @Flag(name: .long, help: "No progress line on standard error.")
    var quiet = false

    /// The stride the report names: `--stride`, else n_positions / 2; at most n_positions − 1.
    func effectiveStride(_ config: ModelConfig) -> Int {
        min(stride ?? config.nPositions / 2, config.nPositions - 1)
    }
}
