import Foundation

/// The Llama layout, shared by `llama` (also SmolLM, TinyLlama), `mistral`, `qwen2` (Qwen2/2.5) and
/// `qwen3`: RMSNorm, rotary positions, separate q/k/v projections [out, in] with GQA/MQA, SwiGLU MLP.
/// What differs between them is which biases exist, Qwen3's q/k norm and Mistral's window.
enum LlamaFamily {
    static func describe(_ config: ConfigReader, modelType: String) throws -> ModelConfig {
        let nEmbd = try config.int("hidden_size")
        let nHead = try config.int("num_attention_heads")
        let nKVHead = try config.int("num_key_value_heads", default: nHead)
        guard nHead % nKVHead == 0 else {
            throw config.bad("num_attention_heads \(nHead) is not a multiple of num_key_value_heads \(nKVHead)")
        }
        guard config.has("head_dim") || nEmbd % nHead == 0 else {
            throw config.bad("hidden_size \(nEmbd) is not divisible by num_attention_heads \(nHead) and head_dim is not given")
        }
        let headSize = try config.int("head_dim", default: nEmbd / nHead)
        let activation = (config.value("hidden_act") as? String) ?? "silu"
        guard activation == "silu" else { throw config.unsupported("hidden_act \"\(activation)\"; supported: silu (SwiGLU)") }

        // Biases: Llama and Qwen3 put `attention_bias` on q, k, v and o; Qwen2 always has q/k/v
        // biases and none on o; Mistral has none.
        let attentionBias = try config.bool("attention_bias", default: false)
        let (qkvBias, outputBias): (Bool, Bool) = switch modelType {
        case "qwen2": (true, false)
        case "mistral": (false, false)
        default: (attentionBias, attentionBias)
        }
        // Qwen2/Qwen3 windows apply only to some layers (`max_window_layers`, `layer_types`): not built.
        if modelType == "qwen2" || modelType == "qwen3", try config.bool("use_sliding_window", default: false) {
            throw config.unsupported("use_sliding_window true (\(modelType)'s per-layer sliding windows)")
        }
        if let types = config.value("layer_types") as? [String], let other = types.first(where: { $0 != "full_attention" }) {
            throw config.unsupported("layer_types \"\(other)\"; supported: full_attention")
        }
        let slidingWindow = modelType == "mistral" ? try config.optionalInt("sliding_window") : nil
        let maxPositions = try config.int("max_position_embeddings")

        var description = ModelConfig(vocabSize: try config.int("vocab_size"), nPositions: maxPositions, nEmbd: nEmbd,
                                      nLayer: try config.int("num_hidden_layers"), nHead: nHead)
        description.family = .llama
        description.modelType = modelType
        description.nKVHead = nKVHead
        description.headSize = headSize
        description.nInner = try config.int("intermediate_size")
        description.norm = .rmsNorm
        description.normEpsilon = try config.double("rms_norm_eps", default: 1e-6)
        description.positions = .rotary(try config.rotary(
            headSize: headSize, thetaKey: "rope_theta", partialKey: "partial_rotary_factor", defaultPartial: 1))
        description.qkvBias = qkvBias
        description.attentionOutputBias = outputBias
        description.queryKeyNorm = modelType == "qwen3"
        description.slidingWindow = slidingWindow
        description.mlp = .swiGLU
        description.mlpBias = modelType == "llama" ? try config.bool("mlp_bias", default: false) : false
        description.tieWordEmbeddings = try config.bool("tie_word_embeddings", default: false)
        return description
    }

    static func weights(_ config: ModelConfig, _ source: some TensorSource) throws -> DecoderWeights {
        let C = config.nEmbd, I = config.nInner, Q = config.queryWidth, KV = config.keyValueWidth
        let embedding = try source.matrix("model.embed_tokens.weight", [config.vocabSize, C], .embedding)
        var layers: [LayerWeights] = []
        for l in 0..<config.nLayer {
            let p = "model.layers.\(l)."
            let inputNorm = try source.norm(p + "input_layernorm", width: C, .rmsNorm)
            let q = try source.linear(p + "self_attn.q_proj", out: Q, in: C, bias: config.qkvBias)
            let k = try source.linear(p + "self_attn.k_proj", out: KV, in: C, bias: config.qkvBias)
            let v = try source.linear(p + "self_attn.v_proj", out: KV, in: C, bias: config.qkvBias)
            let queryNorm = config.queryKeyNorm ? try source.vector(p + "self_attn.q_norm.weight", [config.headSize], .gain) : nil
            let keyNorm = config.queryKeyNorm ? try source.vector(p + "self_attn.k_norm.weight", [config.headSize], .gain) : nil
            let o = try source.linear(p + "self_attn.o_proj", out: C, in: Q, bias: config.attentionOutputBias, role: .residualProjection)
            let postNorm = try source.norm(p + "post_attention_layernorm", width: C, .rmsNorm)
            let gate = try source.linear(p + "mlp.gate_proj", out: I, in: C, bias: config.mlpBias)
            let up = try source.linear(p + "mlp.up_proj", out: I, in: C, bias: config.mlpBias)
            let down = try source.linear(p + "mlp.down_proj", out: C, in: I, bias: config.mlpBias, role: .residualProjection)
            layers.append(LayerWeights(attentionNorm: inputNorm, qkv: [q, k, v], queryNorm: queryNorm, keyNorm: keyNorm,
                                       attentionOutput: o, mlpNorm: postNorm, mlpIn: [gate, up], mlpOut: down))
        }
        let finalNorm = try source.norm("model.norm", width: C, .rmsNorm)
        let lmHead = config.tieWordEmbeddings ? embedding : try source.matrix("lm_head.weight", [config.vocabSize, C], .projection)
        return DecoderWeights(tokenEmbedding: embedding, positionEmbedding: nil, qkvLayout: .grouped, layers: layers,
                              finalNorm: finalNorm, lmHead: lmHead, owner: source.owner)
    }

    /// A Hub-style `config.json` (legacy keys: `rope_theta`, `rope_scaling`).
    static func jsonObject(_ config: ModelConfig) -> [String: Any] {
        guard case .rotary(let rotary) = config.positions else { preconditionFailure("the Llama layout is rotary") }
        let architecture = ["llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM",
                            "qwen3": "Qwen3ForCausalLM"][config.modelType] ?? "LlamaForCausalLM"
        var json: [String: Any] = [
            "model_type": config.modelType,
            "architectures": [architecture],
            "vocab_size": config.vocabSize,
            "hidden_size": config.nEmbd,
            "intermediate_size": config.nInner,
            "num_hidden_layers": config.nLayer,
            "num_attention_heads": config.nHead,
            "num_key_value_heads": config.nKVHead,
            "head_dim": config.headSize,
            "max_position_embeddings": config.maxPositions,
            "rms_norm_eps": config.normEpsilon,
            "rope_theta": rotary.theta,
            "rope_scaling": rotary.scaling.jsonObject ?? NSNull(),
            "hidden_act": "silu",
            "tie_word_embeddings": config.tieWordEmbeddings,
            "initializer_range": 0.02,
        ]
        if rotary.dimensions != config.headSize { json["partial_rotary_factor"] = Double(rotary.dimensions) / Double(config.headSize) }
        switch config.modelType {
        case "mistral": json["sliding_window"] = config.slidingWindow ?? NSNull()
        case "qwen2": json["use_sliding_window"] = false
        case "llama": json["attention_bias"] = config.qkvBias; json["mlp_bias"] = config.mlpBias
        default: json["attention_bias"] = config.qkvBias
        }
        return json
    }
}
