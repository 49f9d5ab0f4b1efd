import ArgumentParser
import Foundation
import LMScoreEngine

/// `lmscore inspect --model DIR`: what a checkpoint is.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Show a checkpoint's configuration, parameter count, dtype and context length.")

    @OptionGroup var options: ModelOptions

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        let start = Date()
        let model = try options.load()
        let seconds = Date().timeIntervalSince(start)
        let c = model.config
        let info: KeyValuePairs<String, Any> = [
            "model": model.name,
            "directory": model.summary.directory,
            "files": model.summary.files.joined(separator: ", "),
            "dtype": model.summary.dtypes.joined(separator: ", "),
            "tensors": model.summary.tensorTypes.joined(separator: ", "),
            "quantized_at_load": model.summary.quantization ?? "none",
            "numerics": c.numerics.rawValue,
            "model_type": c.modelType,
            "parameters": c.parameterCount,
            "vocab_size": c.vocabSize,
            "n_positions": c.nPositions,
            "max_position_embeddings": c.maxPositions,
            "n_embd": c.nEmbd,
            "n_layer": c.nLayer,
            "n_head": c.nHead,
            "n_kv_head": c.nKVHead,
            "head_dim": c.headSize,
            "n_inner": c.nInner,
            "norm": c.norm.kind.rawValue + (c.norm.gainOffset == 0 ? "" : " (1 + w)"),
            "norm_epsilon": c.norm.epsilon,
            "positions": c.positionsDescription,
            "embedding_scale": c.embeddingScale.map { Double($0) as Any } ?? NSNull(),
            "mlp": Set(c.layers.map { $0.mlp.gated ? ($0.mlp.activation == .silu ? "swiglu" : "geglu") : "gelu" }).sorted().joined(separator: ", "),
            "layers": c.layerSummary,
            "activation_function": c.activationName,
            "final_logit_softcap": c.finalLogitSoftcap.map { Double($0) as Any } ?? NSNull(),
            "tie_word_embeddings": c.tieWordEmbeddings,
            "weights_mapped_bytes": model.summary.mappedBytes,
            "weights_copied_bytes": model.summary.copiedBytes,
            "load_seconds": seconds,
            "kernel": try KernelPath.active().rawValue,
            "cpu_features": KernelPath.cpuFeatures.joined(separator: " "),
        ]
        if json {
            let object = Dictionary(uniqueKeysWithValues: info.map { ($0.key, $0.value) })
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
            FileHandle.standardOutput.write(data)
            FileHandle.standardOutput.write(line: "")
        } else {
            for (key, value) in info { print("\(key.padding(toLength: 24, withPad: " ", startingAt: 0)) \(value)") }
        }
    }
}
