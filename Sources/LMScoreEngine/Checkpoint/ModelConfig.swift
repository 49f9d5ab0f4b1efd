import Foundation

/// A decoder-only transformer as data, the same for every family: its shape, the norm, the
/// embeddings, one `LayerSpec` per layer (attention, MLP, norms, residual) and the head. A family
/// (`Checkpoint/Families/`, registered in `Families.table`) maps its `config.json` keys onto it; the
/// forward pass reads only this description.
public struct ModelConfig: Sendable, Equatable {
    /// `config.json`'s `model_type` (e.g. "qwen2"): which family's file reads it, as reported.
    public var modelType: String
    public var vocabSize: Int
    /// The context the scorer uses: windows span at most this many tokens, min(maxPositions, 4096)
    /// unless set (`--context`).
    public var nPositions: Int
    /// The longest context the checkpoint claims (`n_positions` / `max_position_embeddings`).
    public var maxPositions: Int
    /// Width of the residual stream (hidden size).
    public var nEmbd: Int
    public var nHead: Int
    /// Key/value heads: nHead (MHA), fewer (GQA), 1 (MQA).
    public var nKVHead: Int
    /// Width of one head (may differ from nEmbd / nHead: Qwen3, Gemma).
    public var headSize: Int
    /// Width of the MLP's hidden layer.
    public var nInner: Int
    /// Every norm of the model: the pre-norms, post-norms, q/k norms and the final norm.
    public var norm: NormSpec
    /// A learned position table added to the token embeddings (GPT-2's `wpe`).
    public var learnedPositions: Bool
    /// The embeddings are multiplied by this (Gemma: √hidden, an FP32 value as HF computes it).
    public var embeddingScale: Float?
    public var layers: [LayerSpec]
    /// logits = cap · tanh(logits / cap) before the log-softmax (Gemma 2's `final_logit_softcapping`).
    public var finalLogitSoftcap: Float?
    public var tieWordEmbeddings: Bool
    /// Whose arithmetic the forward pass follows where transformers' and llama.cpp's differ (`Numerics`;
    /// not read from a checkpoint: `DecoderModel.with(numerics:)`).
    public var numerics = Numerics.transformers

    public init(
        modelType: String, vocabSize: Int, maxPositions: Int, nEmbd: Int, nHead: Int, nKVHead: Int, headSize: Int, nInner: Int,
        norm: NormSpec, learnedPositions: Bool = false, embeddingScale: Float? = nil, layers: [LayerSpec],
        finalLogitSoftcap: Float? = nil, tieWordEmbeddings: Bool
    ) {
        self.modelType = modelType
        self.vocabSize = vocabSize
        nPositions = min(maxPositions, Self.defaultContextLimit)
        self.maxPositions = maxPositions
        self.nEmbd = nEmbd
        self.nHead = nHead
        self.nKVHead = nKVHead
        self.headSize = headSize
        self.nInner = nInner
        self.norm = norm
        self.learnedPositions = learnedPositions
        self.embeddingScale = embeddingScale
        self.layers = layers
        self.finalLogitSoftcap = finalLogitSoftcap
        self.tieWordEmbeddings = tieWordEmbeddings
    }

    public var nLayer: Int { layers.count }

    /// Query width (nHead · headSize) and key/value width (nKVHead · headSize).
    public var queryWidth: Int { nHead * headSize }
    public var keyValueWidth: Int { nKVHead * headSize }

    /// The MLPs' activations, e.g. "gelu_new" or "silu".
    public var activationName: String { Set(layers.map(\.mlp.activation.rawValue)).sorted().joined(separator: ", ") }

    /// "learned", or each distinct rotary setting, e.g. "rotary 16/64 θ=10000 llama3×8".
    public var positionsDescription: String {
        let rotaries = layers.compactMap(\.attention.rotary).map { $0.description(headSize: headSize) }
        var seen = Set<String>()
        let distinct = rotaries.filter { seen.insert($0).inserted }
        return learnedPositions ? "learned" : distinct.map { "rotary " + $0 }.joined(separator: "; ")
    }

    /// Parameters a checkpoint of this shape holds (the untied LM head counted when there is one).
    public var parameterCount: Int {
        let C = nEmbd, I = nInner, Q = queryWidth, KV = keyValueWidth
        let normSize = norm.kind == .layerNorm ? 2 * C : C
        let layerParameters = layers.map { layer -> Int in
            let a = layer.attention, m = layer.mlp
            let norms = (2 + (layer.postAttentionNorm ? 1 : 0) + (layer.postMLPNorm ? 1 : 0)) * normSize
            let qkv = C * (Q + 2 * KV) + (a.qkvBias ? Q + 2 * KV : 0)
            let output = Q * C + (a.outputBias ? C : 0)
            let qkNorm = a.queryKeyNorm ? 2 * headSize : 0
            let mlp = m.gated ? 3 * C * I + (m.bias ? 2 * I + C : 0) : 2 * C * I + (m.bias ? I + C : 0)
            return norms + qkv + output + qkNorm + mlp
        }
        let learned = learnedPositions ? maxPositions * C : 0
        let head = tieWordEmbeddings ? 0 : vocabSize * C
        return vocabSize * C + learned + layerParameters.reduce(0, +) + normSize + head
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

    /// Maps a `config.json` object of any supported family onto the description: the family is the
    /// row of `Families.table` for its `model_type`.
    init(json: [String: Any], path: String) throws {
        let reader = ConfigReader(json: json, path: path)
        let modelType = try reader.string("model_type")
        guard let family = Families.family(modelType) else {
            throw CheckpointError.unsupportedModel(
                path: path, reason: "model_type \"\(modelType)\"; lmscore runs \(Families.modelTypes.joined(separator: ", "))")
        }
        self = try family.describe(reader)
        try setContext(nil, path: path)
    }

    /// The family that reads this description's `model_type` (every description comes from one).
    var family: any ModelFamily {
        guard let family = Families.family(modelType) else { preconditionFailure("no family reads model_type \(modelType)") }
        return family
    }

    /// The `config.json` that `make-checkpoint` writes, in the form Hub checkpoints carry.
    public func jsonObject() -> [String: Any] { family.jsonObject(self) }

    /// The name a tensor the mapping reads as `name` is saved under (GPT-2's optional prefix).
    func savedTensorName(_ name: String, prefixed: Bool) -> String { family.savedName(name, prefixed: prefixed) }
}
