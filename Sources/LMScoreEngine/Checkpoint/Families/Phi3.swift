import Foundation

/// Phi-3, Phi-3.5, Phi-4-mini (`model_type: phi3`): the Llama block with one fused `qkv_proj`
/// ([q; k; v] rows, GQA) and one fused `gate_up_proj` ([gate; up] rows), partial rotary
/// (`partial_rotary_factor`), a sliding window on every layer when `sliding_window` is set, tied or
/// untied head. `longrope` scaling (Phi-3 128k, Phi-3.5, Phi-4-mini) is refused by name.
struct Phi3Family: ModelFamily {
    let modelType = "phi3"

    func describe(_ config: ConfigReader) throws -> ModelConfig {
        let shape = try config.attentionShape()
        let activation = (config.value("hidden_act") as? String) ?? "silu"
        guard activation == "silu" else { throw config.unsupported("hidden_act \"\(activation)\"; supported: silu") }
        let rotary = try config.rotary(headSize: shape.headSize, thetaKey: "rope_theta", partialKey: "partial_rotary_factor",
                                       defaultPartial: 1)
        guard rotary.scaling == .none else { throw config.unsupported("rope_scaling \(rotary.scaling) for phi3; supported: default") }
        let layer = LayerSpec(
            attention: AttentionSpec(slidingWindow: try config.optionalInt("sliding_window"), rotary: rotary,
                                     scale: 1 / Float(shape.headSize).squareRoot(), qkvBias: false, outputBias: false),
            mlp: MLPSpec(gated: true, activation: .silu, bias: false))
        return ModelConfig(
            modelType: modelType, vocabSize: try config.int("vocab_size"), maxPositions: try config.int("max_position_embeddings"),
            nEmbd: shape.hidden, nHead: shape.heads, nKVHead: shape.kvHeads, headSize: shape.headSize,
            nInner: try config.int("intermediate_size"),
            norm: NormSpec(kind: .rmsNorm, epsilon: try config.double("rms_norm_eps", default: 1e-5)),
            layers: Array(repeating: layer, count: try config.int("num_hidden_layers")),
            tieWordEmbeddings: try config.bool("tie_word_embeddings", default: false))
    }

    /// `model.layers.N.{input_layernorm, self_attn.qkv_proj, self_attn.o_proj, post_attention_layernorm,
    /// mlp.gate_up_proj, mlp.down_proj}`: the fused matrices are read in place, their rows already the
    /// engine's [q | k | v] and [gate | up] order.
    func weights<Source: TensorSource>(_ config: ModelConfig, _ source: Source) throws -> DecoderWeights {
        let C = config.nEmbd, I = config.nInner, Q = config.queryWidth, KV = config.keyValueWidth
        let embedding = try source.matrix("model.embed_tokens.weight", [config.vocabSize, C], .embedding)
        var layers: [LayerWeights] = []
        for l in 0..<config.nLayer {
            let p = "model.layers.\(l)."
            layers.append(LayerWeights(
                attentionNorm: try source.norm(p + "input_layernorm", width: C, config.norm),
                qkv: [try source.linear(p + "self_attn.qkv_proj", out: Q + 2 * KV, in: C, bias: false)],
                attentionOutput: try source.linear(p + "self_attn.o_proj", out: C, in: Q, bias: false, role: .residualProjection),
                mlpNorm: try source.norm(p + "post_attention_layernorm", width: C, config.norm),
                mlpIn: [try source.linear(p + "mlp.gate_up_proj", out: 2 * I, in: C, bias: false)],
                mlpOut: try source.linear(p + "mlp.down_proj", out: C, in: I, bias: false, role: .residualProjection)))
        }
        let finalNorm = try source.norm("model.norm", width: C, config.norm)
        let lmHead = try source.lmHead(config, tiedTo: embedding)
        return DecoderWeights(tokenEmbedding: embedding, positionEmbedding: nil, qkvLayout: .grouped, layers: layers,
                              finalNorm: finalNorm, lmHead: lmHead, owner: source.owner)
    }

    func jsonObject(_ config: ModelConfig) -> [String: Any] {
        let attention = config.layers[0].attention
        let rotary = attention.rotary!
        return config.hubKeys(architecture: "Phi3ForCausalLM").merging([
            "original_max_position_embeddings": config.maxPositions,
            "rope_theta": rotary.theta,
            "rope_scaling": rotary.scaling.jsonObject ?? NSNull(),
            "partial_rotary_factor": Double(rotary.dimensions) / Double(config.headSize),
            "sliding_window": attention.slidingWindow ?? NSNull(),
            "hidden_act": "silu",
            "bos_token_id": 1, "eos_token_id": 32000, "pad_token_id": 32000,
        ]) { _, own in own }
    }
}
