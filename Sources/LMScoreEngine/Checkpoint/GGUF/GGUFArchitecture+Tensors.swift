import Foundation

/// Hugging Face tensor names → GGUF names (gguf-py's `TensorNameMap` read backwards), and the rows
/// llama.cpp's converter reordered.
extension GGUFArchitecture {
    /// The GGUF name of the tensor the Hugging Face checkpoint calls `name`, nil for a name with none.
    func ggufName(_ name: String) -> String? {
        if let global = globalNames[name] { return global }
        guard name.hasPrefix(layerPrefix) else { return nil }
        let rest = name.dropFirst(layerPrefix.count)
        guard let dot = rest.firstIndex(of: "."), let layer = Int(rest[..<dot]),
              let local = layerNames[String(rest[rest.index(after: dot)...])] else { return nil }
        return "blk.\(layer).\(local)"
    }

    /// What precedes the layer number in the Hugging Face names.
    var layerPrefix: String {
        switch layout {
        case .gpt2: "h."
        case .gptneox: "gpt_neox.layers."
        default: "model.layers."
        }
    }

    var globalNames: [String: String] {
        switch layout {
        case .gpt2:
            ["wte.weight": "token_embd.weight", "wpe.weight": "position_embd.weight", "ln_f.weight": "output_norm.weight",
             "ln_f.bias": "output_norm.bias", "lm_head.weight": "output.weight"]
        case .gptneox:
            ["gpt_neox.embed_in.weight": "token_embd.weight", "gpt_neox.final_layer_norm.weight": "output_norm.weight",
             "gpt_neox.final_layer_norm.bias": "output_norm.bias", "embed_out.weight": "output.weight", "lm_head.weight": "output.weight"]
        default:
            ["model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight"]
        }
    }

    /// A layer's tensors, by the name after `layerPrefix` and the layer number.
    var layerNames: [String: String] {
        func weightAndBias(_ pairs: [(String, String)]) -> [String: String] {
            Dictionary(uniqueKeysWithValues: pairs.flatMap { [($0.0 + ".weight", $0.1 + ".weight"), ($0.0 + ".bias", $0.1 + ".bias")] })
        }
        switch layout {
        case .gpt2:
            return weightAndBias([("ln_1", "attn_norm"), ("attn.c_attn", "attn_qkv"), ("attn.c_proj", "attn_output"),
                                  ("ln_2", "ffn_norm"), ("mlp.c_fc", "ffn_up"), ("mlp.c_proj", "ffn_down")])
        case .gptneox:
            return weightAndBias([("input_layernorm", "attn_norm"), ("attention.query_key_value", "attn_qkv"),
                                  ("attention.dense", "attn_output"), ("post_attention_layernorm", "ffn_norm"),
                                  ("mlp.dense_h_to_4h", "ffn_up"), ("mlp.dense_4h_to_h", "ffn_down")])
        case .phi3:
            return ["input_layernorm.weight": "attn_norm.weight", "self_attn.qkv_proj.weight": "attn_qkv.weight",
                    "self_attn.o_proj.weight": "attn_output.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
                    "mlp.gate_up_proj.weight": "ffn_up.weight", "mlp.down_proj.weight": "ffn_down.weight"]
        case .gemma2, .gemma3:
            // Pre- and post-norms: `post_attention_layernorm` is the attention's post-norm here.
            var names = llamaLayerNames
            names["post_attention_layernorm.weight"] = "post_attention_norm.weight"
            names["pre_feedforward_layernorm.weight"] = "ffn_norm.weight"
            names["post_feedforward_layernorm.weight"] = "post_ffw_norm.weight"
            return names
        case .llama, .qwen2, .qwen3, .gemma:
            return llamaLayerNames
        }
    }

    private var llamaLayerNames: [String: String] {
        [
            "input_layernorm.weight": "attn_norm.weight",
            "self_attn.q_proj.weight": "attn_q.weight", "self_attn.q_proj.bias": "attn_q.bias",
            "self_attn.k_proj.weight": "attn_k.weight", "self_attn.k_proj.bias": "attn_k.bias",
            "self_attn.v_proj.weight": "attn_v.weight", "self_attn.v_proj.bias": "attn_v.bias",
            "self_attn.o_proj.weight": "attn_output.weight", "self_attn.o_proj.bias": "attn_output.bias",
            "self_attn.q_norm.weight": "attn_q_norm.weight", "self_attn.k_norm.weight": "attn_k_norm.weight",
            "post_attention_layernorm.weight": "ffn_norm.weight",
            "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight", "mlp.down_proj.weight": "ffn_down.weight",
        ]
    }

    /// For each row of the Hugging Face tensor `name` (of `rows` rows), the row llama.cpp's converter
    /// stored it at; nil when the rows are in Hugging Face's order.
    func storedRows(_ name: String, rows: Int, config: ModelConfig) -> [Int]? {
        switch layout {
        case .llama:
            // `LlamaModel.permute`: q and k rotated in adjacent pairs.
            if name.hasSuffix("self_attn.q_proj.weight") || name.hasSuffix("self_attn.q_proj.bias") {
                return Self.unpermutedRows(rows: rows, heads: config.nHead)
            }
            if name.hasSuffix("self_attn.k_proj.weight") || name.hasSuffix("self_attn.k_proj.bias") {
                return Self.unpermutedRows(rows: rows, heads: config.nKVHead)
            }
            return nil
        case .gptneox:
            // `GPTNeoXModel.modify_tensors`: the fused qkv regrouped from per head [q | k | v] to [q heads | k heads | v heads].
            guard name.hasSuffix("attention.query_key_value.weight") || name.hasSuffix("attention.query_key_value.bias") else { return nil }
            return Self.ungroupedRows(heads: config.nHead, headSize: config.headSize)
        default:
            return nil
        }
    }

    /// `permute` views each head's rows as [2, head_dim/2] and transposes them, so the row (h, i, j) —
    /// head h, half i, index j — went to h·head_dim + 2j + i.
    static func unpermutedRows(rows: Int, heads: Int) -> [Int] {
        let headDim = rows / heads, half = headDim / 2
        return (0..<rows).map { row in
            let h = row / headDim, i = (row % headDim) / half, j = row % half
            return h * headDim + 2 * j + i
        }
    }

    /// GPT-NeoX's row (h, p, d) — head h, part p of q/k/v, index d — went to p·C + h·head_dim + d.
    static func ungroupedRows(heads: Int, headSize: Int) -> [Int] {
        let width = heads * headSize
        return (0..<3 * width).map { row in
            let h = row / (3 * headSize), p = (row % (3 * headSize)) / headSize, d = row % headSize
            return p * width + h * headSize + d
        }
    }
}
