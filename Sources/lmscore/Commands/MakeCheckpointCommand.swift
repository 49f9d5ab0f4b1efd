import ArgumentParser
import Foundation
import LMScoreEngine

/// `lmscore make-checkpoint --preset gpt2 --random --seed 0 DIR`
struct MakeCheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make-checkpoint",
        abstract: "Write a checkpoint (GPT-2, Llama, Qwen2, GPT-NeoX shapes) with random weights in the Hugging Face layout (for benchmarks and tests).")

    @Option(name: .long, help: "Shape: \(RandomCheckpoint.Preset.allCases.map(\.rawValue).joined(separator: ", ")).")
    var preset: String

    @Flag(name: .long, help: "Required: the weights are random (lmscore has no trained weights to write).")
    var random = false

    @Option(name: .long, help: "Random seed.")
    var seed: UInt64 = 0

    @Option(name: .long, help: "Storage type: F32, F16 or BF16.")
    var dtype: String = "F32"

    @Flag(name: .long, help: "Give the model its own LM head instead of tying it to the token embedding (the preset's choice otherwise).")
    var untied = false

    @Flag(name: .long, help: "GPT-2: name tensors without the `transformer.` prefix.")
    var noPrefix = false

    @Option(name: .long, help: "Split the weights over N shard files with model.safetensors.index.json.")
    var shards: Int = 1

    @Argument(help: "Output directory (created if needed).")
    var directory: String

    func run() throws {
        // Checked here rather than in validate(), so a mistake costs one line, not a usage screen.
        guard random else { throw CommandFailure("pass --random: make-checkpoint only writes random weights") }
        guard var config = RandomCheckpoint.Preset(rawValue: preset)?.config else {
            throw CommandFailure("unknown preset \(preset); choose one of \(RandomCheckpoint.Preset.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let storage = TensorDType(rawValue: dtype.uppercased()) else { throw CommandFailure("--dtype must be F32, F16 or BF16") }
        guard shards >= 1 else { throw CommandFailure("--shards must be at least 1") }
        if untied { config.tieWordEmbeddings = false }
        var options = RandomCheckpoint.Options()
        options.dtype = storage
        options.seed = seed
        options.prefixed = !noPrefix
        options.shards = shards
        do {
            try RandomCheckpoint.write(config: config, options: options, to: URL(fileURLWithPath: directory))
        } catch let error as CheckpointError {
            throw CommandFailure("\(error)")
        }
        print("wrote \(preset) (\(config.parameterCount) parameters, \(options.dtype.rawValue), seed \(seed)) to \(directory)")
    }
}
