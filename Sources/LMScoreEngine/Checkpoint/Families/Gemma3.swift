import Foundation

/// Gemma 3 text (`model_type: gemma3_text`): Gemma 2's block (pre- and post-norms, GELU-tanh gated MLP,
/// `query_pre_attn_scalar`) with RMSNorm (1 + w) over each q and k head, local (sliding window) and
/// global layers (`layer_types`, or every `sliding_window_pattern`-th layer global, default 6), each
/// kind with its own RoPE: local θ `rope_local_base_freq` (default 10⁴), global θ `rope_theta` (default
/// 10⁶) with `rope_scaling` (linear on Gemma 3 4B+), or transformers 5's `rope_parameters` per layer
/// type. Soft-caps only when the config sets them (default none).
struct Gemma3Family: ModelFamily {
    let modelType = "gemma3_text"

    func describe(_ config: ConfigReader) throws -> ModelConfig {
        let shape = try config.attentionShape(defaultHeadSize: 256)
        let count = try config.int("num_hidden_layers")
        if try config.bool("use_bidirectional_attention", default: false) {
            throw config.unsupported("use_bidirectional_attention true (not a causal LM)")
        }
        let pattern = try config.int("sliding_window_pattern", default: config.int("_sliding_window_pattern", default: 6))
        let sliding = try GemmaLayout.layerTypes(config, layers: count) ?? (0..<count).map { ($0 + 1) % pattern != 0 }
        let window = config.isNull("sliding_window") ? nil : try config.int("sliding_window", default: 4096)
        let (global, local) = try rotaries(config, headSize: shape.headSize)
        let attentionBias = try config.bool("attention_bias", default: false)
        let scale = Float(Foundation.pow(try config.double("query_pre_attn_scalar", default: 256), -0.5))
        let softcap = try config.optionalDouble("attn_logit_softcapping", default: nil).map { Float($0) }
        let mlp = MLPSpec(gated: true, activation: try GemmaLayout.activation(config), bias: false)
        let layers = sliding.map { slides in
            LayerSpec(attention: AttentionSpec(slidingWindow: slides ? window : nil, rotary: slides ? local : global, scale: scale,
                                               logitSoftcap: softcap, queryKeyNorm: true, qkvBias: attentionBias, outputBias: attentionBias),
                      mlp: mlp, postAttentionNorm: true, postMLPNorm: true)
        }
        return try GemmaLayout.config(modelType: modelType, config, shape: shape, layers: layers,
                                      finalLogitSoftcap: try config.optionalDouble("final_logit_softcapping", default: nil).map { Float($0) })
    }

    /// The global (full attention) and local (sliding) layers' RoPE.
    private func rotaries(_ config: ConfigReader, headSize: Int) throws -> (global: Rotary, local: Rotary) {
        let localTheta = try config.double("rope_local_base_freq", default: 10_000)
        if let parameters = try config.object("rope_parameters"), parameters["full_attention"] != nil || parameters["sliding_attention"] != nil {
            func kind(_ key: String, theta: Double) throws -> Rotary {
                try config.rotary(parameters: try config.object(key, in: parameters) ?? [:], objectKey: "rope_parameters.\(key)",
                                  headSize: headSize, theta: theta, partialKey: "partial_rotary_factor", partial: 1)
            }
            return (try kind("full_attention", theta: config.double("rope_theta", default: 1_000_000)),
                    try kind("sliding_attention", theta: localTheta))
        }
        let global = try config.rotary(headSize: headSize, thetaKey: "rope_theta", partialKey: "partial_rotary_factor",
                                       defaultTheta: 1_000_000, defaultPartial: 1)
        return (global, Rotary(theta: localTheta, dimensions: headSize, scaling: .none))
    }

    func weights<Source: TensorSource>(_ config: ModelConfig, _ source: Source) throws -> DecoderWeights {
        try GemmaLayout.weights(config, source)
    }

    /// The Hub's form (`rope_theta`, `rope_local_base_freq`, `rope_scaling` of the global layers).
    func jsonObject(_ config: ModelConfig) -> [String: Any] {
        let attention = config.layers.map(\.attention)
        let global = attention.first { $0.slidingWindow == nil }?.rotary ?? attention[0].rotary!
        let local = attention.first { $0.slidingWindow != nil }?.rotary ?? attention[0].rotary!
        var json = GemmaLayout.jsonObject(config, architecture: "Gemma3ForCausalLM")
        json["hidden_activation"] = config.activationName == "gelu" ? "gelu" : "gelu_pytorch_tanh"
        json["rope_theta"] = global.theta
        json["rope_local_base_freq"] = local.theta
        json["rope_scaling"] = global.scaling.jsonObject ?? NSNull()
        json["query_pre_attn_scalar"] = (1 / (Double(attention[0].scale) * Double(attention[0].scale))).rounded()
        json["attn_logit_softcapping"] = attention[0].logitSoftcap.map { Double($0) as Any } ?? NSNull()
        json["final_logit_softcapping"] = config.finalLogitSoftcap.map { Double($0) as Any } ?? NSNull()
        json["sliding_window"] = attention.compactMap(\.slidingWindow).first ?? 4096
        json["layer_types"] = attention.map { $0.slidingWindow == nil ? "full_attention" : "sliding_attention" }
        json["use_bidirectional_attention"] = false
        return json
    }
}
