import Foundation

/// GPT-NeoX / Pythia (`model_type: gpt_neox`): LayerNorm, partial rotary (`rotary_pct`), one fused qkv
/// matrix per head, GELU MLP, parallel residual by default, untied `embed_out`.
struct GPTNeoXFamily: ModelFamily {
    let modelType = "gpt_neox"

    func describe(_ config: ConfigReader) throws -> ModelConfig {
        let nEmbd = try config.int("hidden_size")
        let nHead = try config.int("num_attention_heads")
        guard nEmbd % nHead == 0 else { throw config.bad("hidden_size \(nEmbd) is not divisible by num_attention_heads \(nHead)") }
        let activationName = (config.value("hidden_act") as? String) ?? "gelu"
        guard let activation = GPT2Family.geluActivation(activationName) else {
            throw config.unsupported("hidden_act \"\(activationName)\"; supported: gelu, gelu_new, gelu_pytorch_tanh, gelu_fast")
        }
        let headSize = nEmbd / nHead
        let attentionBias = try config.bool("attention_bias", default: true)
        let rotary = try config.rotary(headSize: headSize, thetaKey: "rotary_emb_base", partialKey: "rotary_pct", defaultPartial: 0.25)
        let layer = LayerSpec(
            attention: AttentionSpec(rotary: rotary, scale: 1 / Float(headSize).squareRoot(), qkvBias: attentionBias,
                                     outputBias: attentionBias),
            mlp: MLPSpec(gated: false, activation: activation, bias: true),
            residual: try config.bool("use_parallel_residual", default: true) ? .parallel : .sequential)
        return ModelConfig(
            modelType: modelType, vocabSize: try config.int("vocab_size"), maxPositions: try config.int("max_position_embeddings"),
            nEmbd: nEmbd, nHead: nHead, nKVHead: nHead, headSize: headSize, nInner: try config.int("intermediate_size"),
            norm: NormSpec(kind: .layerNorm, epsilon: try config.double("layer_norm_eps", default: 1e-5)),
            layers: Array(repeating: layer, count: try config.int("num_hidden_layers")),
            tieWordEmbeddings: try config.bool("tie_word_embeddings", default: false))
    }

    func weights<Source: TensorSource>(_ config: ModelConfig, _ source: Source) throws -> DecoderWeights {
        let C = config.nEmbd, I = config.nInner
        let embedding = try source.matrix("gpt_neox.embed_in.weight", [config.vocabSize, C], .embedding)
        var layers: [LayerWeights] = []
        for (l, spec) in config.layers.enumerated() {
            let p = "gpt_neox.layers.\(l)."
            let ln1 = try source.norm(p + "input_layernorm", width: C, config.norm)
            // [heads · 3 · head_dim, C]: rows are (head, q|k|v, d); read in place (QKVLayout.interleavedPerHead).
            let qkv = try source.linear(p + "attention.query_key_value", out: 3 * C, in: C, bias: spec.attention.qkvBias)
            let dense = try source.linear(p + "attention.dense", out: C, in: C, bias: spec.attention.outputBias, role: .residualProjection)
            let ln2 = try source.norm(p + "post_attention_layernorm", width: C, config.norm)
            let up = try source.linear(p + "mlp.dense_h_to_4h", out: I, in: C, bias: true)
            let down = try source.linear(p + "mlp.dense_4h_to_h", out: C, in: I, bias: true, role: .residualProjection)
            layers.append(LayerWeights(attentionNorm: ln1, qkv: [qkv], attentionOutput: dense, mlpNorm: ln2, mlpIn: [up], mlpOut: down))
        }
        let finalNorm = try source.norm("gpt_neox.final_layer_norm", width: C, config.norm)
        // Pythia's files name the head `embed_out`; transformers 5 saves it as `lm_head`.
        let headName = source.contains("embed_out.weight") || !source.contains("lm_head.weight") ? "embed_out.weight" : "lm_head.weight"
        let lmHead = try source.lmHead(config, tiedTo: embedding, name: headName)
        return DecoderWeights(tokenEmbedding: embedding, positionEmbedding: nil, qkvLayout: .interleavedPerHead, layers: layers,
                              finalNorm: finalNorm, lmHead: lmHead, owner: source.owner)
    }

    /// A Hub-style `config.json` (legacy keys: `rotary_pct`, `rotary_emb_base`).
    func jsonObject(_ config: ModelConfig) -> [String: Any] {
        let layer = config.layers[0]
        let rotary = layer.attention.rotary!
        return [
            "model_type": "gpt_neox",
            "architectures": ["GPTNeoXForCausalLM"],
            "vocab_size": config.vocabSize,
            "hidden_size": config.nEmbd,
            "intermediate_size": config.nInner,
            "num_hidden_layers": config.nLayer,
            "num_attention_heads": config.nHead,
            "max_position_embeddings": config.maxPositions,
            "rotary_pct": Double(rotary.dimensions) / Double(config.headSize),
            "rotary_emb_base": rotary.theta,
            "rope_scaling": rotary.scaling.jsonObject ?? NSNull(),
            "layer_norm_eps": config.norm.epsilon,
            "use_parallel_residual": layer.residual == .parallel,
            "hidden_act": config.activationName,
            "attention_bias": layer.attention.qkvBias,
            "tie_word_embeddings": config.tieWordEmbeddings,
            "initializer_range": 0.02,
        ]
    }
}
