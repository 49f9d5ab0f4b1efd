import Foundation

/// Checkpoints with random weights in the Hugging Face GPT-2 layout, for benchmarks and tests:
/// lmscore has no pretrained weights it could download here.
public enum RandomCheckpoint {
    /// Shapes of published models (their `config.json` as the Hub has it), plus tiny ones for tests.
    public enum Preset: String, CaseIterable, Sendable {
        case gpt2, gpt2Medium = "gpt2-medium", distilgpt2, tiny, tinyGPT2Vocab = "tiny-gpt2vocab"
        case llamaTiny = "llama-tiny", qwen2Tiny = "qwen2-tiny", neoxTiny = "neox-tiny"
        case smolLM2 = "smollm2-135m", qwen25 = "qwen2.5-0.5b", pythia160m = "pythia-160m"
        case gemma3_270m = "gemma3-270m", gemma2_2b = "gemma2-2b", phi3Mini = "phi3-mini"

        public var config: ModelConfig {
            switch self {
            case .gpt2: Self.gpt2(vocab: 50257, positions: 1024, width: 768, layers: 12, heads: 12)
            case .gpt2Medium: Self.gpt2(vocab: 50257, positions: 1024, width: 1024, layers: 24, heads: 16)
            case .distilgpt2: Self.gpt2(vocab: 50257, positions: 1024, width: 768, layers: 6, heads: 12)
            case .tiny: Self.gpt2(vocab: 1000, positions: 64, width: 32, layers: 2, heads: 4)
            case .tinyGPT2Vocab: Self.gpt2(vocab: 50257, positions: 128, width: 64, layers: 2, heads: 4)
            case .llamaTiny: Self.describe([
                "model_type": "llama", "vocab_size": 1000, "hidden_size": 64, "intermediate_size": 172,
                "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 128,
                "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": false,
            ])
            case .qwen2Tiny: Self.describe([
                "model_type": "qwen2", "vocab_size": 1200, "hidden_size": 64, "intermediate_size": 128,
                "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 1, "max_position_embeddings": 128,
                "rms_norm_eps": 1e-6, "rope_theta": 1_000_000.0, "tie_word_embeddings": true,
            ])
            case .neoxTiny: Self.describe([
                "model_type": "gpt_neox", "vocab_size": 1000, "hidden_size": 64, "intermediate_size": 256,
                "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 128, "rotary_pct": 0.25,
                "rotary_emb_base": 10000, "use_parallel_residual": true, "tie_word_embeddings": false,
            ])
            // HuggingFaceTB/SmolLM2-135M
            case .smolLM2: Self.describe([
                "model_type": "llama", "vocab_size": 49152, "hidden_size": 576, "intermediate_size": 1536,
                "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3, "max_position_embeddings": 8192,
                "rms_norm_eps": 1e-5, "rope_theta": 100000.0, "tie_word_embeddings": true,
            ])
            // Qwen/Qwen2.5-0.5B
            case .qwen25: Self.describe([
                "model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864,
                "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2, "max_position_embeddings": 32768,
                "rms_norm_eps": 1e-6, "rope_theta": 1_000_000.0, "tie_word_embeddings": true, "use_sliding_window": false,
            ])
            // EleutherAI/pythia-160m
            case .pythia160m: Self.describe([
                "model_type": "gpt_neox", "vocab_size": 50304, "hidden_size": 768, "intermediate_size": 3072,
                "num_hidden_layers": 12, "num_attention_heads": 12, "max_position_embeddings": 2048, "rotary_pct": 0.25,
                "rotary_emb_base": 10000, "use_parallel_residual": true, "hidden_act": "gelu", "tie_word_embeddings": false,
            ])
            // google/gemma-3-270m
            case .gemma3_270m: Self.describe([
                "model_type": "gemma3_text", "vocab_size": 262144, "hidden_size": 640, "intermediate_size": 2048,
                "num_hidden_layers": 18, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256,
                "max_position_embeddings": 32768, "rms_norm_eps": 1e-6, "rope_theta": 1_000_000.0, "rope_local_base_freq": 10000.0,
                "sliding_window": 512, "sliding_window_pattern": 6, "query_pre_attn_scalar": 256,
                "hidden_activation": "gelu_pytorch_tanh", "tie_word_embeddings": true,
            ])
            // google/gemma-2-2b
            case .gemma2_2b: Self.describe([
                "model_type": "gemma2", "vocab_size": 256000, "hidden_size": 2304, "intermediate_size": 9216,
                "num_hidden_layers": 26, "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
                "max_position_embeddings": 8192, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "sliding_window": 4096,
                "query_pre_attn_scalar": 256, "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0,
                "hidden_activation": "gelu_pytorch_tanh", "tie_word_embeddings": true,
            ])
            // microsoft/Phi-3-mini-4k-instruct
            case .phi3Mini: Self.describe([
                "model_type": "phi3", "vocab_size": 32064, "hidden_size": 3072, "intermediate_size": 8192,
                "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32, "max_position_embeddings": 4096,
                "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "sliding_window": 2047, "hidden_act": "silu", "tie_word_embeddings": false,
            ])
            }
        }

        /// A GPT-2 shape in GPT2Config's keys (tanh GELU, ε 1e-5, tied).
        private static func gpt2(vocab: Int, positions: Int, width: Int, layers: Int, heads: Int) -> ModelConfig {
            describe(["model_type": "gpt2", "vocab_size": vocab, "n_positions": positions, "n_embd": width, "n_layer": layers, "n_head": heads])
        }

        private static func describe(_ json: [String: Any]) -> ModelConfig {
            do { return try ModelConfig(json: json, path: "preset") } catch { preconditionFailure("preset config: \(error)") }
        }
    }

    public struct Options: Sendable {
        public var dtype: TensorDType = .f32
        public var seed: UInt64 = 0
        /// GPT-2 only: prefix tensor names with `transformer.` as GPT2LMHeadModel saves them.
        public var prefixed = true
        /// Split the tensors over this many shard files with a `model.safetensors.index.json`.
        public var shards = 1
        public init() {}
    }

    /// Writes `config.json` and the weights into `directory` (created if needed): every tensor the
    /// family's mapping reads, drawn by `RandomTensors` (GPT-2's initialisation).
    public static func write(config: ModelConfig, options: Options, to directory: URL) throws {
        let fm = FileManager.default
        do { try fm.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw CheckpointError.cannotWrite(path: directory.path, reason: error.localizedDescription)
        }
        let random = RandomTensors(seed: options.seed, layers: config.nLayer)
        _ = try DecoderWeights(config: config, source: random)

        var configJSON = config.jsonObject()
        configJSON["torch_dtype"] = ["F32": "float32", "F16": "float16", "BF16": "bfloat16"][options.dtype.rawValue]
        let configData = try JSONSerialization.data(withJSONObject: configJSON, options: [.prettyPrinted, .sortedKeys])
        let configURL = directory.appendingPathComponent("config.json")
        guard fm.createFile(atPath: configURL.path, contents: configData) else {
            throw CheckpointError.cannotWrite(path: configURL.path, reason: "cannot create file")
        }
        let tensors = random.tensors.map {
            SafeTensorsWriter.Tensor(name: config.savedTensorName($0.name, prefixed: options.prefixed), shape: $0.shape, values: $0.values)
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

/// Fresh random tensors for whatever a family's mapping asks for, in the order it asks (so a seed
/// gives the same file every time). GPT-2's initialisation: N(0, 0.02) matrices, residual projections
/// scaled by 1/√(2·layers), positions N(0, 0.01), unit gains, zero biases.
final class RandomTensors: TensorSource {
    private var random: SplitMix64
    private let layers: Int
    private var buffers: [UnsafeMutableBufferPointer<Float>] = []
    /// What was drawn, in order, pointing into `buffers`.
    private(set) var tensors: [SafeTensorsWriter.Tensor] = []

    init(seed: UInt64, layers: Int) {
        random = SplitMix64(seed: seed)
        self.layers = layers
    }

    deinit { for buffer in buffers { buffer.deallocate() } }

    var owner: AnyObject { self }

    /// Nothing exists before it is drawn: the mapping's first choice of name is written.
    func contains(_ name: String) -> Bool { false }

    private func draw(_ name: String, _ shape: [Int], _ role: TensorRole) -> UnsafeMutablePointer<Float> {
        let count = shape.reduce(1, *)
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(count, 1))
        let std: Float = switch role {
        case .embedding, .projection: 0.02
        case .residualProjection: 0.02 / Float(2 * layers).squareRoot()
        case .positionTable: 0.01
        case .gain, .offsetGain, .bias: 0
        }
        switch role {
        case .gain: buffer.initialize(repeating: 1)
        case .bias, .offsetGain: buffer.initialize(repeating: 0)
        default: for i in 0..<count { buffer[i] = random.nextNormal() * std }
        }
        buffers.append(buffer)
        tensors.append(.init(name: name, shape: shape, values: UnsafeBufferPointer(rebasing: buffer[0..<count])))
        return buffer.baseAddress!
    }

    func matrix(_ name: String, _ shape: [Int], _ role: TensorRole) throws -> WeightMatrix {
        WeightMatrix(base: UnsafeRawPointer(draw(name, shape, role)), elementType: .f32, rows: shape[0], columns: shape[1])
    }

    func vector(_ name: String, _ shape: [Int], _ role: TensorRole) throws -> UnsafePointer<Float> {
        UnsafePointer(draw(name, shape, role))
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
