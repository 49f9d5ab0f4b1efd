import ArgumentParser
import Foundation
import LMScoreAPI
import LMScoreEngine
import LMScoreTokenizer

@main
struct LMScoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lmscore",
        abstract: "Score token sequences with a decoder-only language model (GPT-2, Llama, Mistral, Qwen2/3, GPT-NeoX, Gemma 1/2/3, Phi-3; safetensors or GGUF): per-token log-probabilities, loss, perplexity.",
        subcommands: [ServeCommand.self, HealthcheckCommand.self, ScoreCommand.self, BatchCommand.self, PerplexityCommand.self, CompareCommand.self, InspectCommand.self, MakeCheckpointCommand.self, BenchCommand.self, TokenizeCommand.self]
    )
}

/// `--model DIR` and `--threads N`, shared by every command that loads a model.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Hugging Face model directory (GPT-2, Llama, Mistral, Qwen2/3, GPT-NeoX, Gemma 1/2/3, Phi-3): config.json + model.safetensors (or an index and shards); or a GGUF file (the same families). Default: the bundled lmscore-gpt2-small-en.")
    var model: String?

    @Option(name: .long, help: "Threads for matrix products (default: the number of cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .long, help: "Context in tokens: how far windows reach (default: the checkpoint's positions, at most 4096).")
    var context: Int?

    @Option(name: .long, help: "Quantize the weights as they load: none, or q8_0 (llama.cpp's 8-bit blocks; products on the W8A8 integer kernels).")
    var quantize: String = "none"

    @Flag(name: .long, help: "With --quantize: keep the LM head (and a tied token embedding) as stored.")
    var leaveLmHead = false

    @Option(name: .long, help: "Whose arithmetic to follow where they differ: transformers (default) or llama.cpp (its GELU table and Q8_0 product order: agrees with llama.cpp on the same Q8_0 GGUF file; docs/models.md).")
    var numerics: String = Numerics.transformers.rawValue

    /// `--numerics`, checked.
    func chosenNumerics() throws -> Numerics {
        guard let chosen = Numerics(rawValue: numerics) else {
            throw CommandFailure("--numerics \(numerics): expected one of \(Numerics.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return chosen
    }

    /// `--quantize` and `--leave-lm-head`, checked.
    func quantization() throws -> Quantization? {
        if quantize == "none" {
            guard !leaveLmHead else { throw CommandFailure("--leave-lm-head needs --quantize q8_0") }
            return nil
        }
        guard let quantization = Quantization(name: quantize, lmHead: !leaveLmHead) else {
            throw CommandFailure("--quantize \(quantize): expected one of \(Quantization.names.joined(separator: ", "))")
        }
        return quantization
    }

    /// The tokenizer for `model` (`TokenizerLookup`: its directory's gpt2.tiktoken or tokenizer.json, or
    /// the bundled ranks for a model with GPT-2's vocabulary), nil when it has none; a broken or
    /// unsupported tokenizer file is a one-line error.
    func loadTokenizer(for model: DecoderModel) throws -> (any TextTokenizer)? {
        let fallback = DefaultModel.ranksFile.map { URL(fileURLWithPath: $0) }
        do {
            return try TokenizerLookup.load(modelDirectory: URL(fileURLWithPath: model.summary.directory),
                                            vocabSize: model.config.vocabSize, fallback: fallback)
        } catch { throw CommandFailure("cannot load tokenizer: \(error)") }
    }

    /// Loads the model, or exits with one line naming what is wrong (a bad LMSCORE_KERNEL included).
    func load() throws -> DecoderModel {
        guard threads >= 1 else { throw CommandFailure("--threads must be at least 1") }
        do { _ = try KernelPath.active() } catch { throw CommandFailure("\(error)") }
        ComputeThreads.set(threads)
        let model = try DefaultModel.resolve(model)
        let quantization = try quantization()
        let numerics = try chosenNumerics()
        do {
            return try Checkpoint.load(directory: URL(fileURLWithPath: model), context: context, quantization: quantization)
                .with(numerics: numerics)
        } catch let error as CheckpointError {
            throw CommandFailure("cannot load model: \(error)")
        }
    }
}

/// A one-line error message and exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

extension FileHandle {
    func write(line: String) { write(Data((line + "\n").utf8)) }
}

/// Reads FILE, or standard input when FILE is nil or "-".
func readInput(_ path: String?) throws -> Data {
    if let path, path != "-" {
        guard let data = FileManager.default.contents(atPath: path) else { throw CommandFailure("cannot read \(path)") }
        return data
    }
    return FileHandle.standardInput.readDataToEndOfFile()
}
