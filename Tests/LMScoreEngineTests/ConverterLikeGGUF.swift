import Foundation
import LMScoreGGUF
import LMScoreTestSupport
@testable import LMScoreEngine
import Testing

/// A reference checkpoint written as llama.cpp's convert_hf_to_gguf.py (llama-cpp-python 0.3.36's
/// `conversion/`) writes it for `gpt2`, `gptneox`, `gemma`, `gemma2`, `gemma3` and `phi3`, written out
/// here independently of lmscore's reader: the keys each model class's `set_gguf_parameters` adds, the
/// names of gguf-py's `TensorNameMap`, and each `modify_tensors`: GPT-2's Conv1D weights transposed,
/// GPT-NeoX's fused qkv regrouped from per head [q|k|v] to [q heads|k heads|v heads], 1 added to
/// Gemma's norm gains in FP32 (and Gemma's `lm_head.weight` dropped); 1-D tensors stored as F32,
/// as GPT-2's position table, matrices in their stored type. (`Scripts/check_gguf_models.sh` runs the converter itself.)
enum ConverterLikeGGUF {
    static func write(_ directory: URL, architecture a: String, extra: [(String, GGUFWriter.Typed)] = [],
                      transform: (String, GGMLType) -> GGMLType? = { $1 }) throws -> URL {
        let config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("config.json"))) as? [String: Any])
        func int(_ key: String) -> Int { (config[key] as? NSNumber)?.intValue ?? 0 }
        func float(_ key: String) -> Float { (config[key] as? NSNumber)?.floatValue ?? 0 }
        var metadata: [(String, GGUFWriter.Typed)] = [("general.architecture", .string(a))]
        func put(_ key: String, _ value: GGUFWriter.Typed) { metadata.append(("\(a).\(key)", value)) }
        switch a {
        case "gpt2":
            put("block_count", .u32(UInt32(int("n_layer"))))
            put("context_length", .u32(UInt32(int("n_positions"))))
            put("embedding_length", .u32(UInt32(int("n_embd"))))
            put("feed_forward_length", .u32(UInt32(4 * int("n_embd"))))
            put("attention.head_count", .u32(UInt32(int("n_head"))))
            put("attention.layer_norm_epsilon", .f32(float("layer_norm_epsilon")))
        case "gptneox":
            let headSize = int("hidden_size") / int("num_attention_heads")
            put("context_length", .u32(UInt32(int("max_position_embeddings"))))
            put("embedding_length", .u32(UInt32(int("hidden_size"))))
            put("block_count", .u32(UInt32(int("num_hidden_layers"))))
            put("feed_forward_length", .u32(UInt32(int("intermediate_size"))))
            put("rope.dimension_count", .u32(UInt32(Int(Double(float("rotary_pct")) * Double(headSize)))))
            put("attention.head_count", .u32(UInt32(int("num_attention_heads"))))
            put("use_parallel_residual", .bool((config["use_parallel_residual"] as? Bool) ?? true))
            put("attention.layer_norm_epsilon", .f32(float("layer_norm_eps")))
        default:   // gemma, gemma2, gemma3, phi3: the Llama layout's keys
            put("context_length", .u32(UInt32(int("max_position_embeddings"))))
            put("embedding_length", .u32(UInt32(int("hidden_size"))))
            put("block_count", .u32(UInt32(int("num_hidden_layers"))))
            put("feed_forward_length", .u32(UInt32(int("intermediate_size"))))
            put("attention.head_count", .u32(UInt32(int("num_attention_heads"))))
            put("attention.head_count_kv", .u32(UInt32(int("num_key_value_heads"))))
            put("attention.layer_norm_rms_epsilon", .f32(float("rms_norm_eps")))
            if a.hasPrefix("gemma") {
                put("attention.key_length", .u32(UInt32(int("head_dim"))))
                put("attention.value_length", .u32(UInt32(int("head_dim"))))
            }
            if a == "gemma2" {
                put("attn_logit_softcapping", .f32(float("attn_logit_softcapping")))
                put("final_logit_softcapping", .f32(float("final_logit_softcapping")))
                put("attention.sliding_window", .u32(UInt32(int("sliding_window"))))
            }
            if a == "gemma3" {
                put("rope.freq_base", .f32(float("rope_theta")))
                put("attention.sliding_window", .u32(UInt32(int("sliding_window"))))
            }
            if a == "phi3" {
                let headSize = int("hidden_size") / int("num_attention_heads")
                put("rope.scaling.original_context_length", .u32(UInt32(int("original_max_position_embeddings"))))
                put("rope.dimension_count", .u32(UInt32(Int(Double((config["partial_rotary_factor"] as? NSNumber)?.doubleValue ?? 1) * Double(headSize)))))
                put("rope.freq_base", .f32(float("rope_theta")))
                put("attention.sliding_window", .u32(UInt32(int("sliding_window"))))
            }
        }
        var writer = GGUFWriter()
        writer.metadata = metadata + extra

        let file = try SafeTensorsFile(path: directory.appendingPathComponent("model.safetensors").path)
        for (name, entry) in file.entries.sorted(by: { $0.key < $1.key }) {
            var hfName = name.hasPrefix("transformer.") ? String(name.dropFirst("transformer.".count)) : name
            if a == "gpt2", hfName.hasSuffix(".attn.bias") || hfName.hasSuffix(".attn.masked_bias") { continue }
            if a.hasPrefix("gemma"), hfName == "lm_head.weight" { continue }
            if hfName == "lm_head.weight" || hfName == "embed_out.weight" { hfName = "output" }
            let ggufName = try #require(Self.ggufName(hfName, architecture: a), "no GGUF name for \(name)")
            var type: GGMLType = switch entry.dtype { case "F16": .f16; case "BF16": .bf16; default: .f32 }
            var bytes = Array(file.bytes(of: entry))
            var shape = entry.shape
            if a == "gpt2", shape.count == 2, ["attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"].contains(where: hfName.hasSuffix) {
                bytes = transposed(bytes, rows: shape[0], columns: shape[1], elementBytes: type == .f32 ? 4 : 2)
                shape = [shape[1], shape[0]]
            }
            if a == "gptneox", hfName.contains("attention.query_key_value") {
                bytes = regrouped(bytes, heads: int("num_attention_heads"), rows: shape[0])
            }
            if shape.count == 1 || ggufName.hasSuffix("_norm.weight") || ggufName == "position_embd.weight" {
                var values = floats(bytes, type)
                if a.hasPrefix("gemma"), hfName.hasSuffix("norm.weight") { values = values.map { $0 + 1 } }
                bytes = values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
                type = .f32
            }
            guard let stored = transform(ggufName, type) else { continue }
            writer.tensors.append((ggufName, Array(shape.reversed()), stored, bytes))
        }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lmscore-\(directory.lastPathComponent)-\(a)-\(UUID().uuidString).gguf")
        try writer.data().write(to: url)
        return url
    }

    /// gguf-py's names for the Hugging Face ones (without GPT-2's `transformer.`; "output" for the head).
    static func ggufName(_ name: String, architecture a: String) -> String? {
        let global: [String: String] = [
            "wte.weight": "token_embd.weight", "wpe.weight": "position_embd.weight", "ln_f.weight": "output_norm.weight",
            "ln_f.bias": "output_norm.bias", "gpt_neox.embed_in.weight": "token_embd.weight",
            "gpt_neox.final_layer_norm.weight": "output_norm.weight", "gpt_neox.final_layer_norm.bias": "output_norm.bias",
            "model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight", "output": "output.weight",
        ]
        if let g = global[name] { return g }
        let parts = name.split(separator: ".").map(String.init)
        let (layer, local): (String, String)
        switch parts.first {
        case "h": (layer, local) = (parts[1], parts[2...].joined(separator: "."))
        case "gpt_neox", "model": (layer, local) = (parts[2], parts[3...].joined(separator: "."))
        default: return nil
        }
        let suffix = local.hasSuffix(".bias") ? "bias" : "weight"
        let module = String(local.dropLast(suffix.count + 1))
        let postNorms = a == "gemma2" || a == "gemma3"
        let table: [String: String] = [
            "ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output", "ln_2": "ffn_norm",
            "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down",
            "input_layernorm": "attn_norm", "attention.query_key_value": "attn_qkv", "attention.dense": "attn_output",
            "post_attention_layernorm": postNorms ? "post_attention_norm" : "ffn_norm",
            "mlp.dense_h_to_4h": "ffn_up", "mlp.dense_4h_to_h": "ffn_down",
            "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
            "self_attn.qkv_proj": "attn_qkv", "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm",
            "pre_feedforward_layernorm": "ffn_norm", "post_feedforward_layernorm": "post_ffw_norm",
            "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.gate_up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
        ]
        return table[module].map { "blk.\(layer).\($0).\(suffix)" }
    }

    static func floats(_ bytes: [UInt8], _ type: GGMLType) -> [Float] {
        bytes.withUnsafeBytes { raw in
            switch type {
            case .f16: (0..<bytes.count / 2).map { Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) }
            case .bf16: (0..<bytes.count / 2).map { Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)) << 16) }
            default: (0..<bytes.count / 4).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
            }
        }
    }

    static func transposed(_ bytes: [UInt8], rows: Int, columns: Int, elementBytes: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: bytes.count)
        for r in 0..<rows {
            for c in 0..<columns {
                for b in 0..<elementBytes { out[(c * rows + r) * elementBytes + b] = bytes[(r * columns + c) * elementBytes + b] }
            }
        }
        return out
    }

    /// `GPTNeoXModel.modify_tensors`: rows (or bias entries) viewed as [heads, 3, head_dim] → [3, heads, head_dim].
    static func regrouped(_ bytes: [UInt8], heads: Int, rows: Int) -> [UInt8] {
        let rowBytes = bytes.count / rows, headSize = rows / 3 / heads
        var out = [UInt8](repeating: 0, count: bytes.count)
        for h in 0..<heads {
            for p in 0..<3 {
                for d in 0..<headSize {
                    let from = (h * 3 + p) * headSize + d, to = (p * heads + h) * headSize + d
                    out[to * rowBytes ..< (to + 1) * rowBytes] = bytes[from * rowBytes ..< (from + 1) * rowBytes]
                }
            }
        }
        return out
    }

    /// A copy of checkpoint `directory` (its weights linked) whose config.json has `edits` applied: the
    /// values a GGUF file cannot carry, set to what llama.cpp uses.
    static func editedCopy(_ directory: URL, _ edits: [String: Any]) throws -> URL {
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("lmscore-edited-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: copy.appendingPathComponent("model.safetensors"),
                                                   withDestinationURL: directory.appendingPathComponent("model.safetensors"))
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("config.json"))) as? [String: Any])
        config.merge(edits) { _, new in new }
        try JSONSerialization.data(withJSONObject: config).write(to: copy.appendingPathComponent("config.json"))
        return copy
    }
}
