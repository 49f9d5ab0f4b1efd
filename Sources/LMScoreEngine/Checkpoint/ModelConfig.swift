import Foundation

/// The GPT-2 hyper-parameters lmscore reads from a Hugging Face `config.json`.
public struct ModelConfig: Sendable, Equatable {
    public enum Activation: String, Sendable {
        /// `gelu_new` / `gelu_pytorch_tanh`: the tanh approximation GPT-2 was trained with.
        case geluTanh = "gelu_new"
        /// `gelu`: the exact erf form.
        case geluErf = "gelu"
    }

    public var vocabSize: Int
    public var nPositions: Int
    public var nEmbd: Int
    public var nLayer: Int
    public var nHead: Int
    /// Width of the MLP's hidden layer (`n_inner`, null meaning 4·n_embd).
    public var nInner: Int
    public var activation: Activation
    public var layerNormEpsilon: Double
    public var tieWordEmbeddings: Bool
    public var scaleAttnWeights: Bool
    public var scaleAttnByInverseLayerIdx: Bool

    public init(
        vocabSize: Int, nPositions: Int, nEmbd: Int, nLayer: Int, nHead: Int, nInner: Int? = nil,
        activation: Activation = .geluTanh, layerNormEpsilon: Double = 1e-5, tieWordEmbeddings: Bool = true,
        scaleAttnWeights: Bool = true, scaleAttnByInverseLayerIdx: Bool = false
    ) {
        self.vocabSize = vocabSize
        self.nPositions = nPositions
        self.nEmbd = nEmbd
        self.nLayer = nLayer
        self.nHead = nHead
        self.nInner = nInner ?? 4 * nEmbd
        self.activation = activation
        self.layerNormEpsilon = layerNormEpsilon
        self.tieWordEmbeddings = tieWordEmbeddings
        self.scaleAttnWeights = scaleAttnWeights
        self.scaleAttnByInverseLayerIdx = scaleAttnByInverseLayerIdx
    }

    public var headSize: Int { nEmbd / nHead }

    /// Parameters a checkpoint of this shape holds (the untied LM head counted when there is one).
    public var parameterCount: Int {
        let perLayer = 2 * nEmbd + (nEmbd * 3 * nEmbd + 3 * nEmbd) + (nEmbd * nEmbd + nEmbd)
            + 2 * nEmbd + (nEmbd * nInner + nInner) + (nInner * nEmbd + nEmbd)
        let head = tieWordEmbeddings ? 0 : vocabSize * nEmbd
        return vocabSize * nEmbd + nPositions * nEmbd + nLayer * perLayer + 2 * nEmbd + head
    }

    /// Reads and checks `config.json`. Keys GPT-2 configs carry but that do not change inference
    /// (dropouts, summary heads, `reorder_and_upcast_attn` which only matters below FP32) are ignored.
    public static func load(contentsOf url: URL) throws -> ModelConfig {
        let path = url.path
        guard FileManager.default.fileExists(atPath: path) else { throw CheckpointError.missingFile(path) }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw CheckpointError.unreadableFile(path: path, reason: error.localizedDescription)
        }
        guard let object = try? JSONSerialization.jsonObject(with: data), let json = object as? [String: Any] else {
            throw CheckpointError.badConfig(path: path, reason: "not a JSON object")
        }
        return try ModelConfig(json: json, path: path)
    }

    init(json: [String: Any], path: String) throws {
        func bad(_ reason: String) -> CheckpointError { .badConfig(path: path, reason: reason) }
        func int(_ key: String) throws -> Int {
            guard let value = json[key] else { throw bad("missing key \"\(key)\"") }
            guard let number = value as? NSNumber, !(value is Bool), let int = Int(exactly: number.doubleValue), int > 0
            else { throw bad("\"\(key)\" must be a positive integer") }
            return int
        }
        func bool(_ key: String, default fallback: Bool) throws -> Bool {
            guard let value = json[key], !(value is NSNull) else { return fallback }
            guard let flag = value as? Bool else { throw bad("\"\(key)\" must be true or false") }
            return flag
        }

        guard let modelType = json["model_type"] as? String else { throw bad("missing key \"model_type\"") }
        guard modelType == "gpt2" else {
            throw CheckpointError.unsupportedModel(path: path, reason: "model_type \"\(modelType)\"; lmscore runs \"gpt2\"")
        }
        if try bool("add_cross_attention", default: false) {
            throw CheckpointError.unsupportedModel(path: path, reason: "add_cross_attention is true (encoder-decoder GPT-2)")
        }
        let nEmbd = try int("n_embd")
        let nHead = try int("n_head")
        guard nEmbd % nHead == 0 else { throw bad("n_embd \(nEmbd) is not divisible by n_head \(nHead)") }

        var nInner: Int?
        if let value = json["n_inner"], !(value is NSNull) { nInner = try int("n_inner") }

        let activationName = (json["activation_function"] as? String) ?? "gelu_new"
        let activation: Activation
        switch activationName {
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": activation = .geluTanh
        case "gelu": activation = .geluErf
        default:
            throw CheckpointError.unsupportedModel(
                path: path, reason: "activation_function \"\(activationName)\"; supported: gelu_new, gelu")
        }

        var epsilon = 1e-5
        if let value = json["layer_norm_epsilon"], !(value is NSNull) {
            guard let number = value as? NSNumber, !(value is Bool), number.doubleValue > 0 else {
                throw bad("\"layer_norm_epsilon\" must be a positive number")
            }
            epsilon = number.doubleValue
        }

        self.init(
            vocabSize: try int("vocab_size"), nPositions: try int("n_positions"), nEmbd: nEmbd,
            nLayer: try int("n_layer"), nHead: nHead, nInner: nInner, activation: activation,
            layerNormEpsilon: epsilon,
            tieWordEmbeddings: try bool("tie_word_embeddings", default: true),
            scaleAttnWeights: try bool("scale_attn_weights", default: true),
            scaleAttnByInverseLayerIdx: try bool("scale_attn_by_inverse_layer_idx", default: false))
    }

    /// The `config.json` that `make-checkpoint` writes: what transformers' GPT2Config would save.
    public func jsonObject() -> [String: Any] {
        [
            "model_type": "gpt2",
            "architectures": ["GPT2LMHeadModel"],
            "vocab_size": vocabSize,
            "n_positions": nPositions,
            "n_ctx": nPositions,
            "n_embd": nEmbd,
            "n_layer": nLayer,
            "n_head": nHead,
            "n_inner": nInner == 4 * nEmbd ? NSNull() : nInner as Any,
            "activation_function": activation.rawValue,
            "layer_norm_epsilon": layerNormEpsilon,
            "tie_word_embeddings": tieWordEmbeddings,
            "scale_attn_weights": scaleAttnWeights,
            "scale_attn_by_inverse_layer_idx": scaleAttnByInverseLayerIdx,
            "reorder_and_upcast_attn": false,
            "add_cross_attention": false,
            "attn_pdrop": 0.1, "embd_pdrop": 0.1, "resid_pdrop": 0.1,
            "bos_token_id": 50256, "eos_token_id": 50256,
            "initializer_range": 0.02,
        ]
    }
}
