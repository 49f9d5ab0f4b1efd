import Foundation

/// GPT-2 (`model_type: gpt2`): LayerNorm, learned positions, fused Conv1D qkv [C, 3C], GELU MLP,
/// biases everywhere. Tensor names are read without the optional `transformer.` prefix (see
/// `Checkpoint.openTensors`).
struct GPT2Family: ModelFamily {
    let modelType = "gpt2"

    /// Keys GPT-2 configs carry but that do not change inference (dropouts, summary heads,
    /// `reorder_and_upcast_attn` which only matters below FP32) are ignored.
    func describe(_ config: ConfigReader) throws -> ModelConfig {
        if try config.bool("add_cross_attention", default: false) {
            throw config.unsupported("add_cross_attention is true (encoder-decoder GPT-2)")
        }
        let nEmbd = try config.int("n_embd")
        let nHead = try config.int("n_head")
        guard nEmbd % nHead == 0 else { throw config.bad("n_embd \(nEmbd) is not divisible by n_head \(nHead)") }
        let activationName = (config.value("activation_function") as? String) ?? "gelu_new"
        guard let activation = Self.geluActivation(activationName) else {
            throw config.unsupported("activation_function \"\(activationName)\"; supported: gelu_new, gelu_pytorch_tanh, gelu_fast, gelu")
        }
        let headSize = nEmbd / nHead
        let scaleWeights = try config.bool("scale_attn_weights", default: true)
        let byInverseLayer = try config.bool("scale_attn_by_inverse_layer_idx", default: false)
        let layers = (0..<(try config.int("n_layer"))).map { l in
            var scale: Float = scaleWeights ? 1 / Float(headSize).squareRoot() : 1
            if byInverseLayer { scale /= Float(l + 1) }
            return LayerSpec(attention: AttentionSpec(rotary: nil, scale: scale, qkvBias: true, outputBias: true),
                             mlp: MLPSpec(gated: false, activation: activation, bias: true))
        }
        return ModelConfig(
            modelType: modelType, vocabSize: try config.int("vocab_size"), maxPositions: try config.int("n_positions"),
            nEmbd: nEmbd, nHead: nHead, nKVHead: nHead, headSize: headSize, nInner: try config.optionalInt("n_inner") ?? 4 * nEmbd,
            norm: NormSpec(kind: .layerNorm, epsilon: try config.double("layer_norm_epsilon", default: 1e-5)),
            learnedPositions: true, layers: layers, tieWordEmbeddings: try config.bool("tie_word_embeddings", default: true))
    }

    /// HF's names for the GELU forms (`ACT2FN`).
    static func geluActivation(_ name: String) -> Activation? {
        switch name {
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": .geluTanh
        case "gelu": .geluErf
        default: nil
        }
    }

    func weights<Source: TensorSource>(_ config: ModelConfig, _ source: Source) throws -> DecoderWeights {
        let C = config.nEmbd, I = config.nInner
        // Conv1D: Hugging Face stores [in, out], a GGUF file [out, in] (the source says which).
        func conv1D(_ prefix: String, in: Int, out: Int, role: TensorRole = .projection) throws -> Linear {
            try source.conv1D(prefix, in: `in`, out: out, role: role)
        }
        let wte = try source.matrix("wte.weight", [config.vocabSize, C], .embedding)
        let wpe = try source.vector("wpe.weight", [config.maxPositions, C], .positionTable)
        var layers: [LayerWeights] = []
        for l in 0..<config.nLayer {
            let p = "h.\(l)."
            layers.append(LayerWeights(
                attentionNorm: try source.norm(p + "ln_1", width: C, config.norm),
                qkv: [try conv1D(p + "attn.c_attn", in: C, out: 3 * C)],
                attentionOutput: try conv1D(p + "attn.c_proj", in: C, out: C, role: .residualProjection),
                mlpNorm: try source.norm(p + "ln_2", width: C, config.norm),
                mlpIn: [try conv1D(p + "mlp.c_fc", in: C, out: I)],
                mlpOut: try conv1D(p + "mlp.c_proj", in: I, out: C, role: .residualProjection)))
        }
        let lnF = try source.norm("ln_f", width: C, config.norm)
        let lmHead = try source.lmHead(config, tiedTo: wte)
        return DecoderWeights(tokenEmbedding: wte, positionEmbedding: wpe, qkvLayout: .grouped, layers: layers,
                              finalNorm: lnF, lmHead: lmHead, owner: source.owner)
    }

    /// The name GPT2LMHeadModel saves a tensor under: `transformer.` before all but the head.
    func savedName(_ name: String, prefixed: Bool) -> String {
        prefixed && name != "lm_head.weight" ? "transformer." + name : name
    }

    /// What transformers' GPT2Config would save.
    func jsonObject(_ config: ModelConfig) -> [String: Any] {
        let scales = config.layers.map(\.attention.scale)
        let byInverseLayer = scales.count > 1 && scales[1] != scales[0]
        return [
            "model_type": "gpt2",
            "architectures": ["GPT2LMHeadModel"],
            "vocab_size": config.vocabSize,
            "n_positions": config.maxPositions,
            "n_ctx": config.maxPositions,
            "n_embd": config.nEmbd,
            "n_layer": config.nLayer,
            "n_head": config.nHead,
            "n_inner": config.nInner == 4 * config.nEmbd ? NSNull() : config.nInner as Any,
            "activation_function": config.activationName,
            "layer_norm_epsilon": config.norm.epsilon,
            "tie_word_embeddings": config.tieWordEmbeddings,
            "scale_attn_weights": scales.first.map { $0 != 1 } ?? true,
            "scale_attn_by_inverse_layer_idx": byInverseLayer,
            "reorder_and_upcast_attn": false,
            "add_cross_attention": false,
            "attn_pdrop": 0.1, "embd_pdrop": 0.1, "resid_pdrop": 0.1,
            "bos_token_id": 50256, "eos_token_id": 50256,
            "initializer_range": 0.02,
        ]
    }
}
