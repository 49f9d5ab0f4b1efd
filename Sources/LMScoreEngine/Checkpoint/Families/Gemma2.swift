import Foundation

/// Gemma 2 (`model_type: gemma2`): Gemma with pre- and post-norms around attention and MLP, a
/// soft-cap on the attention logits (`attn_logit_softcapping`, default 50) and on the final logits
/// (`final_logit_softcapping`, default 30), q·k scaled by `query_pre_attn_scalar`^−½, and a sliding
/// window on alternate layers (`layer_types`; absent, layers 0, 2, 4, … slide, as transformers derives it).
struct Gemma2Family: ModelFamily {
    let modelType = "gemma2"

    func describe(_ config: ConfigReader) throws -> ModelConfig {
        let shape = try config.attentionShape(defaultHeadSize: 256)
        let count = try config.int("num_hidden_layers")
        if try config.bool("use_bidirectional_attention", default: false) {
            throw config.unsupported("use_bidirectional_attention true (not a causal LM)")
        }
        let sliding = try GemmaLayout.layerTypes(config, layers: count) ?? (0..<count).map { ($0 + 1) % 2 != 0 }
        let window = config.isNull("sliding_window") ? nil : try config.int("sliding_window", default: 4096)
        let rotary = try config.rotary(headSize: shape.headSize, thetaKey: "rope_theta", partialKey: "partial_rotary_factor",
                                       defaultPartial: 1)
        let attentionBias = try config.bool("attention_bias", default: false)
        let scale = Float(Foundation.pow(try config.double("query_pre_attn_scalar", default: 256), -0.5))
        let softcap = try config.optionalDouble("attn_logit_softcapping", default: 50).map { Float($0) }
        let mlp = MLPSpec(gated: true, activation: try GemmaLayout.activation(config), bias: false)
        let layers = sliding.map { slides in
            LayerSpec(attention: AttentionSpec(slidingWindow: slides ? window : nil, rotary: rotary, scale: scale, logitSoftcap: softcap,
                                               qkvBias: attentionBias, outputBias: attentionBias),
                      mlp: mlp, postAttentionNorm: true, postMLPNorm: true)
        }
        return try GemmaLayout.config(modelType: modelType, config, shape: shape, layers: layers,
                                      finalLogitSoftcap: try config.optionalDouble("final_logit_softcapping", default: 30).map { Float($0) })
    }

    func weights<Source: TensorSource>(_ config: ModelConfig, _ source: Source) throws -> DecoderWeights {
        try GemmaLayout.weights(config, source)
    }

    func jsonObject(_ config: ModelConfig) -> [String: Any] {
        let attention = config.layers.map(\.attention)
        var json = GemmaLayout.jsonObject(config, architecture: "Gemma2ForCausalLM")
        json["hidden_activation"] = config.activationName == "gelu" ? "gelu" : "gelu_pytorch_tanh"
        json["rope_theta"] = attention[0].rotary!.theta
        json["query_pre_attn_scalar"] = (1 / (Double(attention[0].scale) * Double(attention[0].scale))).rounded()
        json["attn_logit_softcapping"] = attention[0].logitSoftcap.map { Double($0) as Any } ?? NSNull()
        json["final_logit_softcapping"] = config.finalLogitSoftcap.map { Double($0) as Any } ?? NSNull()
        json["sliding_window"] = attention.compactMap(\.slidingWindow).first ?? 4096
        json["layer_types"] = attention.map { $0.slidingWindow == nil ? "full_attention" : "sliding_attention" }
        return json
    }
}
