import Foundation

/// A decoder-only transformer as its checkpoint describes it: which norm, which positions, the
/// attention's shape, the MLP, the residual form and the head. Each family's `config.json` keys are
/// mapped onto this description in `Checkpoint/Families/` (the only place that knows a family); the
/// forward pass reads only the description.
public struct ModelConfig: Sendable, Equatable {
    /// Whose tensor names and `config.json` keys the checkpoint uses.
    public enum Family: String, Sendable, CaseIterable {
        case gpt2
        /// Llama, Mistral, Qwen2/2.5, Qwen3, SmolLM: `model.layers.N.self_attn.q_proj`, …
        case llama
        /// GPT-NeoX, Pythia: `gpt_neox.layers.N.attention.query_key_value`, …
        case gptNeoX = "gpt_neox"
    }

    public enum Norm: String, Sendable {
        /// (x − mean) / √(var + ε) · gain + bias
        case layerNorm
        /// x / √(mean(x²) + ε) · gain, statistics in Double (HF computes them in FP32 at least).
        case rmsNorm
    }

    public enum Activation: String, Sendable {
        /// `gelu_new` / `gelu_pytorch_tanh`: the tanh approximation GPT-2 was trained with.
        case geluTanh = "gelu_new"
        /// `gelu`: the exact erf form.
        case geluErf = "gelu"
    }

    public enum MLP: Sendable, Equatable {
        /// down(act(up x))
        case gelu(Activation)
        /// down(silu(gate x) · up x)
        case swiGLU
    }

    /// RoPE scaling of the inverse frequencies (`rope_scaling` / `rope_parameters.rope_type`).
    public enum RopeScaling: Sendable, Equatable {
        case none
        /// Positions divided by `factor` (every inverse frequency divided by it).
        case linear(factor: Double)
        /// Llama 3.1: long wavelengths divided by `factor`, short ones kept, a smooth band between.
        case llama3(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalContext: Int)
    }

    public struct Rotary: Sendable, Equatable {
        /// θ of inv_freq[i] = θ^(−2i/dims).
        public var theta: Double
        /// How many leading dimensions of each head rotate (head_dim · partial factor, even).
        public var dimensions: Int
        public var scaling: RopeScaling
    }

    public enum Positions: Sendable, Equatable {
        /// A learned table added to the token embeddings (GPT-2's `wpe`).
        case learned
        /// Rotary embeddings applied to q and k in HF's rotate-half layout.
        case rotary(Rotary)
    }

    public var family: Family
    /// `config.json`'s `model_type` (e.g. "qwen2"), as reported.
    public var modelType: String
    public var vocabSize: Int
    /// The context the scorer uses: windows span at most this many tokens. The checkpoint's maximum
    /// (`maxPositions`) for learned positions; for rotary ones min(maximum, 4096) unless set (`--context`).
    public var nPositions: Int
    /// The longest context the checkpoint claims (`n_positions` / `max_position_embeddings`).
    public var maxPositions: Int
    public var nEmbd: Int
    public var nLayer: Int
    public var nHead: Int
    /// Key/value heads: nHead (MHA), fewer (GQA), 1 (MQA).
    public var nKVHead: Int
    /// Width of one head; Qwen3's differs from nEmbd / nHead.
    public var headSize: Int
    /// Width of the MLP's hidden layer.
    public var nInner: Int
    public var norm: Norm
    /// ε of every norm (`layer_norm_epsilon`, `rms_norm_eps`, `layer_norm_eps`).
    public var normEpsilon: Double
    public var positions: Positions
    /// Biases on the q, k, v projections (GPT-2, NeoX, Qwen2, `attention_bias`).
    public var qkvBias: Bool
    /// A bias on the attention's output projection (GPT-2, NeoX, `attention_bias`).
    public var attentionOutputBias: Bool
    /// Qwen3: RMSNorm over each q and k head before the rotation.
    public var queryKeyNorm: Bool
    /// Mistral: a query sees only the last `slidingWindow` positions (itself included).
    public var slidingWindow: Int?
    public var mlp: MLP
    public var mlpBias: Bool
    /// NeoX: x + attn(ln1 x) + mlp(ln2 x) instead of two residual steps.
    public var parallelResidual: Bool
    public var tieWordEmbeddings: Bool
    public var scaleAttnWeights: Bool
    public var scaleAttnByInverseLayerIdx: Bool

    /// A GPT-2 description (the shape `make-checkpoint`'s GPT-2 presets and the tests build).
    public init(
        vocabSize: Int, nPositions: Int, nEmbd: Int, nLayer: Int, nHead: Int, nInner: Int? = nil,
        activation: Activation = .geluTanh, normEpsilon: Double = 1e-5, tieWordEmbeddings: Bool = true,
        scaleAttnWeights: Bool = true, scaleAttnByInverseLayerIdx: Bool = false
    ) {
        family = .gpt2
        modelType = "gpt2"
        self.vocabSize = vocabSize
        self.nPositions = nPositions
        maxPositions = nPositions
        self.nEmbd = nEmbd
        self.nLayer = nLayer
        self.nHead = nHead
        nKVHead = nHead
        headSize = nEmbd / nHead
        self.nInner = nInner ?? 4 * nEmbd
        norm = .layerNorm
        self.normEpsilon = normEpsilon
        positions = .learned
        qkvBias = true
        attentionOutputBias = true
        queryKeyNorm = false
        slidingWindow = nil
        mlp = .gelu(activation)
        mlpBias = true
        parallelResidual = false
        self.tieWordEmbeddings = tieWordEmbeddings
        self.scaleAttnWeights = scaleAttnWeights
        self.scaleAttnByInverseLayerIdx = scaleAttnByInverseLayerIdx
    }

    /// Query width (nHead · headSize) and key/value width (nKVHead · headSize).
    public var queryWidth: Int { nHead * headSize }
    public var keyValueWidth: Int { nKVHead * headSize }

    /// The activation of a GELU MLP; SwiGLU's is SiLU.
    public var activationName: String {
        switch mlp {
        case .gelu(let activation): activation.rawValue
        case .swiGLU: "silu"
        }
    }

    /// "learned", or "rotary" with its dimensions, θ and scaling, e.g. "rotary 16/64 θ=10000 llama3×8".
    public var positionsDescription: String {
        guard case .rotary(let rotary) = positions else { return "learned" }
        let scaling = switch rotary.scaling {
        case .none: ""
        case .linear(let factor): " linear×\(factor)"
        case .llama3(let factor, _, _, _): " llama3×\(factor)"
        }
        return "rotary \(rotary.dimensions)/\(headSize) θ=\(rotary.theta)\(scaling)"
    }

    /// Parameters a checkpoint of this shape holds (the untied LM head counted when there is one).
    public var parameterCount: Int {
        let C = nEmbd, I = nInner
        let normSize = norm == .layerNorm ? 2 * C : C
        let qkv = C * (queryWidth + 2 * keyValueWidth) + (qkvBias ? queryWidth + 2 * keyValueWidth : 0)
        let output = queryWidth * C + (attentionOutputBias ? C : 0)
        let qkNorm = queryKeyNorm ? 2 * headSize : 0
        let mlpWeights = mlp == .swiGLU ? 3 * C * I + (mlpBias ? 2 * I + C : 0) : 2 * C * I + (mlpBias ? I + C : 0)
        let perLayer = 2 * normSize + qkv + output + qkNorm + mlpWeights
        let learned = positions == .learned ? maxPositions * C : 0
        let head = tieWordEmbeddings ? 0 : vocabSize * C
        return vocabSize * C + learned + nLayer * perLayer + normSize + head
    }

    /// Reads and checks `config.json`; `context` sets the scorer's context (nil: the default).
    public static func load(contentsOf url: URL, context: Int? = nil) throws -> ModelConfig {
        let path = url.path
        guard FileManager.default.fileExists(atPath: path) else { throw CheckpointError.missingFile(path) }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw CheckpointError.unreadableFile(path: path, reason: error.localizedDescription)
        }
        guard let object = try? JSONSerialization.jsonObject(with: data), let json = object as? [String: Any] else {
            throw CheckpointError.badConfig(path: path, reason: "not a JSON object")
        }
        var config = try ModelConfig(json: json, path: path)
        try config.setContext(context, path: path)
        return config
    }

    /// The default context: the checkpoint's maximum, but at most this many tokens (configs claiming
    /// 32k–128k would otherwise size every window, and the attention's scratch, for it).
    public static let defaultContextLimit = 4096

    /// Sets the scorer's context: nil means min(maxPositions, 4096); a value above maxPositions is
    /// refused (positions the checkpoint never saw).
    public mutating func setContext(_ context: Int?, path: String) throws {
        guard let context else {
            nPositions = min(maxPositions, Self.defaultContextLimit)
            return
        }
        guard context >= 1, context <= maxPositions else {
            throw CheckpointError.badConfig(
                path: path, reason: "context \(context) must be between 1 and the checkpoint's \(maxPositions) positions")
        }
        nPositions = context
    }

    /// Maps a `config.json` object of any supported family onto the description.
    init(json: [String: Any], path: String) throws {
        let reader = ConfigReader(json: json, path: path)
        let modelType = try reader.string("model_type")
        switch modelType {
        case "gpt2": self = try GPT2Family.describe(reader)
        case "llama", "mistral", "qwen2", "qwen3": self = try LlamaFamily.describe(reader, modelType: modelType)
        case "gpt_neox": self = try GPTNeoXFamily.describe(reader)
        default:
            throw CheckpointError.unsupportedModel(
                path: path, reason: "model_type \"\(modelType)\"; lmscore runs gpt2, llama, mistral, qwen2, qwen3, gpt_neox")
        }
        try setContext(nil, path: path)
    }

    /// The `config.json` that `make-checkpoint` writes, in the form Hub checkpoints carry.
    public func jsonObject() -> [String: Any] {
        switch family {
        case .gpt2: GPT2Family.jsonObject(self)
        case .llama: LlamaFamily.jsonObject(self)
        case .gptNeoX: GPTNeoXFamily.jsonObject(self)
        }
    }

    /// The name a tensor the mapping reads as `name` is saved under (GPT-2's optional prefix).
    func savedTensorName(_ name: String, prefixed: Bool) -> String {
        switch family {
        case .gpt2: GPT2Family.savedName(name, prefixed: prefixed)
        case .llama, .gptNeoX: name
        }
    }
}
