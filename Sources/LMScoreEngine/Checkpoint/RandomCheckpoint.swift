import Foundation

/// Checkpoints with random weights in the Hugging Face GPT-2 layout, for benchmarks and tests:
/// lmscore has no pretrained weights it could download here.
public enum RandomCheckpoint {
    /// Shapes of published GPT-2 models, plus tiny ones for tests.
    public enum Preset: String, CaseIterable, Sendable {
        case gpt2, gpt2Medium = "gpt2-medium", distilgpt2, tiny, tinyGPT2Vocab = "tiny-gpt2vocab"

        public var config: ModelConfig {
            switch self {
            case .gpt2: ModelConfig(vocabSize: 50257, nPositions: 1024, nEmbd: 768, nLayer: 12, nHead: 12)
            case .gpt2Medium: ModelConfig(vocabSize: 50257, nPositions: 1024, nEmbd: 1024, nLayer: 24, nHead: 16)
            case .distilgpt2: ModelConfig(vocabSize: 50257, nPositions: 1024, nEmbd: 768, nLayer: 6, nHead: 12)
            case .tiny: ModelConfig(vocabSize: 1000, nPositions: 64, nEmbd: 32, nLayer: 2, nHead: 4)
            case .tinyGPT2Vocab: ModelConfig(vocabSize: 50257, nPositions: 128, nEmbd: 64, nLayer: 2, nHead: 4)
            }
        }
    }

    public struct Options: Sendable {
        public var dtype: TensorDType = .f32
        public var seed: UInt64 = 0
        /// Prefix tensor names with `transformer.` as GPT2LMHeadModel saves them.
        public var prefixed = true
        /// Split the tensors over this many shard files with a `model.safetensors.index.json`.
        public var shards = 1
        public init() {}
    }

    /// Writes `config.json` and the weights into `directory` (created if needed).
    /// GPT-2's initialisation: N(0, 0.02) weights, residual projections scaled by 1/√(2·n_layer),
    /// unit LayerNorm gains, zero biases; an untied config also gets its own `lm_head.weight`.
    public static func write(config: ModelConfig, options: Options, to directory: URL) throws {
        let fm = FileManager.default
        do { try fm.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw CheckpointError.cannotWrite(path: directory.path, reason: error.localizedDescription)
        }
        var random = SplitMix64(seed: options.seed)
        let C = config.nEmbd, I = config.nInner
        let std: Float = 0.02
        let residualStd = std / Float(2 * config.nLayer).squareRoot()
        let prefix = options.prefixed ? "transformer." : ""
        var tensors: [SafeTensorsWriter.Tensor] = []
        func add(_ name: String, _ shape: [Int], _ fill: (inout SplitMix64) -> Float) {
            let count = shape.reduce(1, *)
            var values = [Float](repeating: 0, count: count)
            for i in 0..<count { values[i] = fill(&random) }
            tensors.append(.init(name: name, shape: shape, values: values))
        }
        let normal = { (std: Float) in { (r: inout SplitMix64) in r.nextNormal() * std } }
        let zero = { (_: inout SplitMix64) -> Float in 0 }
        let one = { (_: inout SplitMix64) -> Float in 1 }

        add(prefix + "wte.weight", [config.vocabSize, C], normal(std))
        add(prefix + "wpe.weight", [config.nPositions, C], normal(0.01))
        for l in 0..<config.nLayer {
            let p = prefix + "h.\(l)."
            add(p + "ln_1.weight", [C], one); add(p + "ln_1.bias", [C], zero)
            add(p + "attn.c_attn.weight", [C, 3 * C], normal(std)); add(p + "attn.c_attn.bias", [3 * C], zero)
            add(p + "attn.c_proj.weight", [C, C], normal(residualStd)); add(p + "attn.c_proj.bias", [C], zero)
            add(p + "ln_2.weight", [C], one); add(p + "ln_2.bias", [C], zero)
            add(p + "mlp.c_fc.weight", [C, I], normal(std)); add(p + "mlp.c_fc.bias", [I], zero)
            add(p + "mlp.c_proj.weight", [I, C], normal(residualStd)); add(p + "mlp.c_proj.bias", [C], zero)
        }
        add(prefix + "ln_f.weight", [C], one); add(prefix + "ln_f.bias", [C], zero)
        if !config.tieWordEmbeddings { add("lm_head.weight", [config.vocabSize, C], normal(std)) }

        var configJSON = config.jsonObject()
        configJSON["torch_dtype"] = ["F32": "float32", "F16": "float16", "BF16": "bfloat16"][options.dtype.rawValue]
        let configData = try JSONSerialization.data(withJSONObject: configJSON, options: [.prettyPrinted, .sortedKeys])
        let configURL = directory.appendingPathComponent("config.json")
        guard fm.createFile(atPath: configURL.path, contents: configData) else {
            throw CheckpointError.cannotWrite(path: configURL.path, reason: "cannot create file")
        }
        try writeWeights(tensors, options: options, to: directory)
    }

    private static func writeWeights(_ tensors: [SafeTensorsWriter.Tensor], options: Options, to directory: URL) throws {
        let shards = max(1, min(options.shards, tensors.count))
        if shards == 1 {
            try SafeTensorsWriter.write(tensors, dtype: options.dtype, to: directory.appendingPathComponent("model.safetensors"))
            return
        }
        // Deal the tensors round-robin over the shards, as HF's index format allows any placement.
        var weightMap: [String: String] = [:]
        var totalSize = 0
        for s in 0..<shards {
            let name = String(format: "model-%05d-of-%05d.safetensors", s + 1, shards)
            let part = tensors.enumerated().filter { $0.offset % shards == s }.map(\.element)
            try SafeTensorsWriter.write(part, dtype: options.dtype, to: directory.appendingPathComponent(name))
            for tensor in part {
                weightMap[tensor.name] = name
                totalSize += tensor.values.count * options.dtype.byteSize
            }
        }
        let index: [String: Any] = ["metadata": ["total_size": totalSize], "weight_map": weightMap]
        let data = try JSONSerialization.data(withJSONObject: index, options: [.prettyPrinted, .sortedKeys])
        let url = directory.appendingPathComponent("model.safetensors.index.json")
        guard FileManager.default.createFile(atPath: url.path, contents: data) else {
            throw CheckpointError.cannotWrite(path: url.path, reason: "cannot create file")
        }
    }
}

/// A small, seedable generator (Steele, Lea & Flood's SplitMix64), so checkpoints are reproducible.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    private var spare: Float?

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Standard normal by the Box–Muller transform.
    mutating func nextNormal() -> Float {
        if let value = spare {
            spare = nil
            return value
        }
        let u1 = max(Double(next() >> 11) * 0x1p-53, .leastNonzeroMagnitude)
        let u2 = Double(next() >> 11) * 0x1p-53
        let radius = (-2 * Foundation.log(u1)).squareRoot()
        spare = Float(radius * Foundation.sin(2 * .pi * u2))
        return Float(radius * Foundation.cos(2 * .pi * u2))
    }
}
