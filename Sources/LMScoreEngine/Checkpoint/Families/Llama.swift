import Foundation

/// The Llama layout, one table row each for `llama` (also SmolLM, TinyLlama), `mistral`, `qwen2`
/// (Qwen2/2.5) and `qwen3`: RMSNorm, rotary positions, separate q/k/v projections [out, in] with
/// GQA/MQA, SwiGLU MLP. The rows differ in which biases exist, Qwen3's q/k norm and Mistral's window.
struct LlamaFamily: ModelFamily {
    enum Biases {
        /// `attention_bias` on q, k, v and o (Llama, Qwen3).
        case attentionBiasKey
        /// Always on q, k, v, never on o (Qwen2).
        case queryKeyValueOnly
        /// None (Mistral).
        case none
    }

    enum Window {
        /// No window key.
        case none
        /// `sliding_window` on every layer (Mistral).
        case everyLayer
        /// `use_sliding_window: true` (windows on some layers only, `max_window_layers`) is refused.
        case refused
    }

    let modelType: String
    let architecture: String
    let biases: Biases
    /// `mlp_bias` is read (Llama).
    var mlpBiasKey = false
    var queryKeyNorm = false
    var window = Window.none

    func describe(_ config: ConfigReader) throws -> ModelConfig {
        let shape = try config.attentionShape()
        let activation = (config.value("hidden_act") as? String) ?? "silu"
        guard activation == "silu" else { throw config.unsupported("hidden_act \"\(activation)\"; supported: silu (SwiGLU)") }
        let attentionBias = try config.bool("attention_bias", default: false)
        let (qkvBias, outputBias): (Bool, Bool) = switch biases {
        case .attentionBiasKey: (attentionBias, attentionBias)
        case .queryKeyValueOnly: (true, false)
        case .none: (false, false)
        }
        if window == .refused, try config.bool("use_sliding_window", default: false) {
            throw config.unsupported("use_sliding_window true (\(modelType)'s per-layer sliding windows)")
        }
        if let types = config.value("layer_types") as? [String], let other = types.first(where: { $0 != "full_attention" }) {
            throw config.unsupported("layer_types \"\(other)\"; supported: full_attention")
        }
        let rotary = try config.rotary(headSize: shape.headSize, thetaKey: "rope_theta", partialKey: "partial_rotary_factor",
                                       defaultPartial: 1)
        let attention = AttentionSpec(
            slidingWindow: window == .everyLayer ? try config.optionalInt("sliding_window") : nil, rotary: rotary,
            scale: 1 / Float(shape.headSize).squareRoot(), queryKeyNorm: queryKeyNorm, qkvBias: qkvBias, outputBias: outputBias)
        let mlp = MLPSpec(gated: true, activation: .silu, bias: mlpBiasKey ? try config.bool("mlp_bias", default: false) : false)
        return ModelConfig(
            modelType: modelType, vocabSize: try config.int("vocab_size"), maxPositions: try config.int("max_position_embeddings"),
            nEmbd: shape.hidden, nHead: shape.heads, nKVHead: shape.kvHeads, headSize: shape.headSize,
            nInner: try config.int("intermediate_size"),
            norm: NormSpec(kind: .rmsNorm, epsilon: try config.double("rms_norm_eps", default: 1e-6)),
            layers: Array(repeating: LayerSpec(attention: attention, mlp: mlp), count: try config.int("num_hidden_layers")),
            tieWordEmbeddings: try config.bool("tie_word_embeddings", default: false))
    }

    func weights<Source: TensorSource>(_ config: ModelConfig, _ source: Source) throws -> DecoderWeights {
        let C = config.nEmbd, I = config.nInner, Q = config.queryWidth, KV = config.keyValueWidth
        let embedding = try source.matrix("model.embed_tokens.weight", [config.vocabSize, C], .embedding)
        var layers: [LayerWeights] = []
        for (l, spec) in config.layers.enumerated() {
            let p = "model.layers.\(l)."
            let a = spec.attention, bias = spec.mlp.bias
            let inputNorm = try source.norm(p + "input_layernorm", width: C, config.norm)
            let q = try source.linear(p + "self_attn.q_proj", out: Q, in: C, bias: a.qkvBias)
            let k = try source.linear(p + "self_attn.k_proj", out: KV, in: C, bias: a.qkvBias)
            let v = try source.linear(p + "self_attn.v_proj", out: KV, in: C, bias: a.qkvBias)
            let queryNorm = a.queryKeyNorm ? try source.vector(p + "self_attn.q_norm.weight", [config.headSize], .gain) : nil
            let keyNorm = a.queryKeyNorm ? try source.vector(p + "self_attn.k_norm.weight", [config.headSize], .gain) : nil
            let o = try source.linear(p + "self_attn.o_proj", out: C, in: Q, bias: a.outputBias, role: .residualProjection)
            let postNorm = try source.norm(p + "post_attention_layernorm", width: C, config.norm)
            let gate = try source.linear(p + "mlp.gate_proj", out: I, in: C, bias: bias)
            let up = try source.linear(p + "mlp.up_proj", out: I, in: C, bias: bias)
            let down = try source.linear(p + "mlp.down_proj", out: C, in: I, bias: bias, role: .residualProjection)
            layers.append(LayerWeights(attentionNorm: inputNorm, qkv: [q, k, v], queryNorm: queryNorm, keyNorm: keyNorm,
                                       attentionOutput: o, mlpNorm: postNorm, mlpIn: [gate, up], mlpOut: down))
        }
        let finalNorm = try source.norm("model.norm", width: C, config.norm)
        let lmHead = try source.lmHead(config, tiedTo: embedding)
        return DecoderWeights(tokenEmbedding: embedding, positionEmbedding: nil, qkvLayout: .grouped, layers: layers,
                              finalNorm: finalNorm, lmHead: lmHead, owner: source.owner)
    }

    /// A Hub-style `config.json` (legacy keys: `rope_theta`, `rope_scaling`).
    func jsonObject(_ config: ModelConfig) -> [String: Any] {
        let layer = config.layers[0]
        let rotary = layer.attention.rotary!
        var json = config.hubKeys(architecture: architecture).merging([
            "head_dim": config.headSize,
            "rope_theta": rotary.theta,
            "rope_scaling": rotary.scaling.jsonObject ?? NSNull(),
            "hidden_act": "silu",
        ]) { _, own in own }
        if rotary.dimensions != config.headSize { json["partial_rotary_factor"] = Double(rotary.dimensions) / Double(config.headSize) }
        if biases == .attentionBiasKey { json["attention_bias"] = layer.attention.qkvBias }
        if mlpBiasKey { json["mlp_bias"] = layer.mlp.bias }
        switch window {
        case .everyLayer: json["sliding_window"] = layer.attention.slidingWindow ?? NSNull()
        case .refused: json["use_sliding_window"] = false
        case .none: break
        }
        return json
    }
}
