import Foundation

/// Gemma (`model_type: gemma`): the Llama layout with RMSNorm gains stored as w of (1 + w),
/// embeddings × √hidden, a GELU-tanh gated MLP, MQA/GQA and an explicit `head_dim` (default 256, not
/// hidden / heads), tied head. `GemmaLayout` is the tensor mapping Gemma 2 and 3 share.
struct GemmaFamily: ModelFamily {
    let modelType = "gemma"

    func describe(_ config: ConfigReader) throws -> ModelConfig {
        let shape = try config.attentionShape(defaultHeadSize: 256)
        // transformers rewrites Gemma's legacy `hidden_act: "gelu"` to the tanh form it was trained with.
        let activationName = (config.value("hidden_act") as? String) ?? "gelu_pytorch_tanh"
        guard let activation = activationName == "gelu" ? .geluTanh : GPT2Family.geluActivation(activationName) else {
            throw config.unsupported("hidden_act \"\(activationName)\"; supported: gelu_pytorch_tanh, gelu_new, gelu_fast, gelu")
        }
        let attentionBias = try config.bool("attention_bias", default: false)
        let layer = try LayerSpec(
            attention: AttentionSpec(
                rotary: config.rotary(headSize: shape.headSize, thetaKey: "rope_theta", partialKey: "partial_rotary_factor",
                                          defaultPartial: 1),
                scale: 1 / Float(shape.headSize).squareRoot(), qkvBias: attentionBias, outputBias: attentionBias),
            mlp: MLPSpec(gated: true, activation: activation, bias: false))
        return try GemmaLayout.config(modelType: modelType, config, shape: shape,
                                      layers: Array(repeating: layer, count: config.int("num_hidden_layers")), finalLogitSoftcap: nil)
    }

    func weights<Source: TensorSource>(_ config: ModelConfig, _ source: Source) throws -> DecoderWeights {
        try GemmaLayout.weights(config, source)
    }

    func jsonObject(_ config: ModelConfig) -> [String: Any] {
        var json = GemmaLayout.jsonObject(config, architecture: "GemmaForCausalLM")
        json["hidden_act"] = "gelu_pytorch_tanh"
        json["rope_theta"] = config.layers[0].attention.rotary!.theta
        return json
    }
}

/// What Gemma 1, 2 and 3 share: the description's common part, the tensor names, the config keys.
enum GemmaLayout {
    static func config(modelType: String, _ config: ConfigReader, shape: (hidden: Int, heads: Int, kvHeads: Int, headSize: Int),
                       layers: [LayerSpec], finalLogitSoftcap: Float?) throws -> ModelConfig {
        ModelConfig(
            modelType: modelType, vocabSize: try config.int("vocab_size"), maxPositions: try config.int("max_position_embeddings"),
            nEmbd: shape.hidden, nHead: shape.heads, nKVHead: shape.kvHeads, headSize: shape.headSize,
            nInner: try config.int("intermediate_size"),
            norm: NormSpec(kind: .rmsNorm, epsilon: try config.double("rms_norm_eps", default: 1e-6), gainOffset: 1),
            // HF: hidden_size**0.5 as an FP32 tensor, times the embeddings.
            embeddingScale: Float(Double(shape.hidden).squareRoot()),
            layers: layers, finalLogitSoftcap: finalLogitSoftcap,
            tieWordEmbeddings: try config.bool("tie_word_embeddings", default: true))
    }

    /// `sliding_attention` / `full_attention` per layer from `layer_types`, or nil when absent.
    static func layerTypes(_ config: ConfigReader, layers: Int) throws -> [Bool]? {
        guard let value = config.value("layer_types") else { return nil }
        guard let types = value as? [String], types.count == layers else {
            throw config.bad("layer_types must list one string per layer (\(layers))")
        }
        return try types.map { type in
            switch type {
            case "sliding_attention": return true
            case "full_attention": return false
            default: throw config.unsupported("layer_types \"\(type)\"; supported: sliding_attention, full_attention")
            }
        }
    }

    /// Gemma 2/3's activation key, `hidden_activation` (HF's `ACT2FN` names).
    static func activation(_ config: ConfigReader) throws -> Activation {
        let name = (config.value("hidden_activation") as? String) ?? "gelu_pytorch_tanh"
        guard let activation = GPT2Family.geluActivation(name) else {
            throw config.unsupported("hidden_activation \"\(name)\"; supported: gelu_pytorch_tanh, gelu_new, gelu_fast, gelu")
        }
        return activation
    }

    /// `model.layers.N.{input_layernorm, self_attn.{q,k,v,o}_proj, self_attn.{q,k}_norm,
    /// post_attention_layernorm, pre_feedforward_layernorm, mlp.{gate,up,down}_proj,
    /// post_feedforward_layernorm}`. With post-norms (Gemma 2/3) `post_attention_layernorm` is the
    /// attention's post-norm and `pre_feedforward_layernorm` the MLP's pre-norm; without (Gemma 1)
    /// `post_attention_layernorm` is the MLP's pre-norm, as in Llama.
    static func weights<Source: TensorSource>(_ config: ModelConfig, _ source: Source) throws -> DecoderWeights {
        let C = config.nEmbd, I = config.nInner, Q = config.queryWidth, KV = config.keyValueWidth
        let gainRole: TensorRole = config.norm.gainOffset == 0 ? .gain : .offsetGain
        let embedding = try source.matrix("model.embed_tokens.weight", [config.vocabSize, C], .embedding)
        var layers: [LayerWeights] = []
        for (l, spec) in config.layers.enumerated() {
            let p = "model.layers.\(l)."
            let a = spec.attention
            let inputNorm = try source.norm(p + "input_layernorm", width: C, config.norm)
            let q = try source.linear(p + "self_attn.q_proj", out: Q, in: C, bias: a.qkvBias)
            let k = try source.linear(p + "self_attn.k_proj", out: KV, in: C, bias: a.qkvBias)
            let v = try source.linear(p + "self_attn.v_proj", out: KV, in: C, bias: a.qkvBias)
            let queryNorm = a.queryKeyNorm ? try source.vector(p + "self_attn.q_norm.weight", [config.headSize], gainRole) : nil
            let keyNorm = a.queryKeyNorm ? try source.vector(p + "self_attn.k_norm.weight", [config.headSize], gainRole) : nil
            let o = try source.linear(p + "self_attn.o_proj", out: C, in: Q, bias: a.outputBias, role: .residualProjection)
            let afterAttention = try source.norm(p + "post_attention_layernorm", width: C, config.norm)
            let mlpNorm = spec.postAttentionNorm ? try source.norm(p + "pre_feedforward_layernorm", width: C, config.norm) : afterAttention
            let gate = try source.linear(p + "mlp.gate_proj", out: I, in: C, bias: false)
            let up = try source.linear(p + "mlp.up_proj", out: I, in: C, bias: false)
            let down = try source.linear(p + "mlp.down_proj", out: C, in: I, bias: false, role: .residualProjection)
            let postMLPNorm = spec.postMLPNorm ? try source.norm(p + "post_feedforward_layernorm", width: C, config.norm) : nil
            layers.append(LayerWeights(
                attentionNorm: inputNorm, qkv: [q, k, v], queryNorm: queryNorm, keyNorm: keyNorm, attentionOutput: o,
                postAttentionNorm: spec.postAttentionNorm ? afterAttention : nil, mlpNorm: mlpNorm, mlpIn: [gate, up], mlpOut: down,
                postMLPNorm: postMLPNorm))
        }
        let finalNorm = try source.norm("model.norm", width: C, config.norm)
        let lmHead = try source.lmHead(config, tiedTo: embedding)
        return DecoderWeights(tokenEmbedding: embedding, positionEmbedding: nil, qkvLayout: .grouped, layers: layers,
                              finalNorm: finalNorm, lmHead: lmHead, owner: source.owner)
    }

    /// The keys every Gemma config carries.
    static func jsonObject(_ config: ModelConfig, architecture: String) -> [String: Any] {
        config.hubKeys(architecture: architecture).merging([
            "head_dim": config.headSize,
            "attention_bias": config.layers[0].attention.qkvBias,
            "bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0,
        ]) { _, own in own }
    }
}
