import Foundation
import LMScoreGGUF

/// The metadata keys as the config.json of the Hugging Face checkpoint the file was converted from.
/// A key GGUF does not carry takes the value llama.cpp uses for the architecture (e.g. Gemma 2's
/// `query_pre_attn_scalar` is the head size, as in llama.cpp, whatever the original config said).
extension GGUFArchitecture {
    func configJSON() throws -> [String: Any] {
        switch layout {
        case .llama, .qwen2, .qwen3: try llamaConfig()
        case .gemma, .gemma2, .gemma3: try gemmaConfig()
        case .phi3: try phi3Config()
        case .gpt2: try gpt2Config()
        case .gptneox: try neoxConfig()
        }
    }

    /// `token_embd.weight`'s rows: the vocabulary.
    func vocabularySize() throws -> Int {
        guard let embedding = file.tensor(named: "token_embd.weight"), embedding.dimensions.count == 2 else {
            throw CheckpointError.missingTensor(name: "token_embd.weight", searched: [(file.path as NSString).lastPathComponent])
        }
        return embedding.dimensions[1]
    }

    /// No `output.weight`: the head is the token embedding (llama.cpp's fallback).
    var tiedHead: Bool { file.tensor(named: "output.weight") == nil }

    /// The keys of the Llama layout and its relatives (Llama, Qwen, Gemma, Phi-3).
    func llamaLayoutKeys() throws -> [String: Any] {
        let heads = try int("attention.head_count")
        let hidden = try int("embedding_length")
        return [
            "model_type": modelType,
            "vocab_size": try vocabularySize(),
            "hidden_size": hidden,
            "num_hidden_layers": try int("block_count"),
            "num_attention_heads": heads,
            "num_key_value_heads": try optionalInt("attention.head_count_kv") ?? heads,
            "head_dim": try optionalInt("attention.key_length") ?? hidden / heads,
            "intermediate_size": try int("feed_forward_length"),
            "max_position_embeddings": try int("context_length"),
            "rms_norm_eps": try double("attention.layer_norm_rms_epsilon") ?? 1e-6,
            "rope_theta": try double("rope.freq_base") ?? 10000,
            "tie_word_embeddings": tiedHead,
        ]
    }

    /// `rope.dimension_count` as Hugging Face's `partial_rotary_factor` (nil: the whole head).
    func partialRotaryFactor(headSize: Int) throws -> Double? {
        guard let rotary = try optionalInt("rope.dimension_count"), rotary != headSize else { return nil }
        return Double(rotary) / Double(headSize)
    }

    /// `rope.scaling.type` (llama.cpp's default when absent: linear) with `rope.scaling.factor` (or the
    /// older `rope.scale_linear`) as a `rope_scaling` object; nil for none. Other types are refused by name.
    func ropeScaling() throws -> [String: Any]? {
        let factor = try double("rope.scaling.factor") ?? double("rope.scale_linear")
        let type = file["\(name).rope.scaling.type"]?.string ?? "linear"
        switch type {
        case "none": return nil
        case "linear":
            guard let factor, factor != 0, factor != 1 else { return nil }
            return ["type": "linear", "factor": factor]
        default:
            throw unsupported("\(name).rope.scaling.type", "\"\(type)\"; supported: none, linear")
        }
    }

    /// The sliding-window layers as `layer_types`: `attention.sliding_window_pattern` (one bool per
    /// layer, or every n-th layer global) or llama.cpp's pattern for the architecture.
    func layerTypes(layers: Int, defaultPattern: Int) throws -> [String] {
        let key = "\(name).attention.sliding_window_pattern"
        let sliding: [Bool]
        if let array = file[key]?.array {
            guard array.count == layers, array.allSatisfy({ $0.bool != nil }) else { throw bad(key, "not one bool per layer (\(layers))") }
            sliding = array.map { $0.bool! }
        } else {
            let pattern = try optionalInt("attention.sliding_window_pattern") ?? defaultPattern
            // llama.cpp's set_swa_pattern: layer l slides unless it is the last of each group of `pattern`.
            sliding = (0..<layers).map { pattern == 0 || $0 % pattern < pattern - 1 }
        }
        return sliding.map { $0 ? "sliding_attention" : "full_attention" }
    }

    func llamaConfig() throws -> [String: Any] {
        var json = try llamaLayoutKeys()
        json["hidden_act"] = "silu"
        if let partial = try partialRotaryFactor(headSize: json["head_dim"] as! Int) { json["partial_rotary_factor"] = partial }
        if let scaling = try ropeScaling() { json["rope_scaling"] = scaling }
        if layout != .qwen2 { json["attention_bias"] = file.tensor(named: "blk.0.attn_q.bias") != nil }
        return json
    }

    /// Gemma 1/2/3. llama.cpp scales q·k by head_dim^−½ (n_embd/n_head for the 27B models, which it
    /// recognises by their layer count); Gemma 2 slides on even layers, Gemma 3 on five of six, each
    /// unless `attention.sliding_window_pattern` says otherwise; Gemma 3's local layers rotate with
    /// `rope.freq_base_swa` (default 10⁴), its global ones with `rope.freq_base` and any scaling.
    func gemmaConfig() throws -> [String: Any] {
        var json = try llamaLayoutKeys()
        let layers = json["num_hidden_layers"] as! Int, headSize = json["head_dim"] as! Int
        let hidden = json["hidden_size"] as! Int, heads = json["num_attention_heads"] as! Int
        json["attention_bias"] = file.tensor(named: "blk.0.attn_q.bias") != nil
        if let partial = try partialRotaryFactor(headSize: headSize) { json["partial_rotary_factor"] = partial }
        if let scaling = try ropeScaling() { json["rope_scaling"] = scaling }
        switch layout {
        case .gemma:
            json["hidden_act"] = "gelu_pytorch_tanh"
        case .gemma2:
            json["hidden_activation"] = "gelu_pytorch_tanh"
            json["query_pre_attn_scalar"] = layers == 46 ? hidden / heads : headSize
            json["attn_logit_softcapping"] = try double("attn_logit_softcapping") ?? 50
            json["final_logit_softcapping"] = try double("final_logit_softcapping") ?? 30
            json["sliding_window"] = try optionalInt("attention.sliding_window") ?? 4096
            json["layer_types"] = try layerTypes(layers: layers, defaultPattern: 2)
            if let swa = try double("rope.freq_base_swa"), swa != json["rope_theta"] as! Double {
                throw unsupported("\(name).rope.freq_base_swa", "\(swa) (Gemma 2 rotates every layer with rope.freq_base)")
            }
        default:   // .gemma3
            json["hidden_activation"] = "gelu_pytorch_tanh"
            json["query_pre_attn_scalar"] = layers == 62 ? hidden / heads : headSize
            let softcap = try double("final_logit_softcapping") ?? 0
            json["final_logit_softcapping"] = softcap == 0 ? NSNull() : softcap
            json["attn_logit_softcapping"] = NSNull()
            json["rope_local_base_freq"] = try double("rope.freq_base_swa") ?? 10000
            let window = try optionalInt("attention.sliding_window") ?? 0
            json["sliding_window"] = window > 0 ? window : NSNull()
            json["layer_types"] = window > 0 ? try layerTypes(layers: layers, defaultPattern: 6)
                                             : Array(repeating: "full_attention", count: layers)
        }
        return json
    }

    /// Phi-3: `attention.sliding_window` 0 means none (the converter writes 0 for Phi-4).
    func phi3Config() throws -> [String: Any] {
        var json = try llamaLayoutKeys()
        json["hidden_act"] = "silu"
        json["original_max_position_embeddings"] = try optionalInt("rope.scaling.original_context_length") ?? json["max_position_embeddings"]
        if let partial = try partialRotaryFactor(headSize: json["head_dim"] as! Int) { json["partial_rotary_factor"] = partial }
        if let scaling = try ropeScaling() { json["rope_scaling"] = scaling }
        let window = try optionalInt("attention.sliding_window") ?? 0
        json["sliding_window"] = window > 0 ? window : NSNull()
        return json
    }

    /// GPT-2: the positions are `position_embd.weight`'s rows; llama.cpp's GELU is the tanh form
    /// (Hugging Face's gelu_new).
    func gpt2Config() throws -> [String: Any] {
        guard let positions = file.tensor(named: "position_embd.weight"), positions.dimensions.count == 2 else {
            throw CheckpointError.missingTensor(name: "position_embd.weight", searched: [(file.path as NSString).lastPathComponent])
        }
        return [
            "model_type": modelType,
            "vocab_size": try vocabularySize(),
            "n_positions": positions.dimensions[1],
            "n_embd": try int("embedding_length"),
            "n_layer": try int("block_count"),
            "n_head": try int("attention.head_count"),
            "n_inner": try int("feed_forward_length"),
            "activation_function": "gelu_new",
            "layer_norm_epsilon": try double("attention.layer_norm_epsilon") ?? 1e-5,
            "tie_word_embeddings": tiedHead,
        ]
    }

    /// GPT-NeoX: the activation is Hugging Face's default for the architecture, the exact (erf) GELU
    /// Pythia was trained with (the file does not say; llama.cpp computes the tanh form).
    func neoxConfig() throws -> [String: Any] {
        let hidden = try int("embedding_length"), heads = try int("attention.head_count")
        let headSize = hidden / heads
        var json: [String: Any] = [
            "model_type": modelType,
            "vocab_size": try vocabularySize(),
            "hidden_size": hidden,
            "num_hidden_layers": try int("block_count"),
            "num_attention_heads": heads,
            "intermediate_size": try int("feed_forward_length"),
            "max_position_embeddings": try int("context_length"),
            "rotary_pct": Double(try optionalInt("rope.dimension_count") ?? headSize) / Double(headSize),
            "rotary_emb_base": try double("rope.freq_base") ?? 10000,
            "layer_norm_eps": try double("attention.layer_norm_epsilon") ?? 1e-5,
            "use_parallel_residual": try bool("use_parallel_residual") ?? true,
            "hidden_act": "gelu",
            "attention_bias": file.tensor(named: "blk.0.attn_qkv.bias") != nil,
            "tie_word_embeddings": tiedHead,
        ]
        if let scaling = try ropeScaling() { json["rope_scaling"] = scaling }
        return json
    }
}
