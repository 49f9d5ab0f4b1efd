import Foundation
import LMScoreGGUF
import LMScoreTestSupport
@testable import LMScoreEngine
import Testing

/// GGUF checkpoints: a reference checkpoint written as llama.cpp's converter writes it (its key
/// names, dimensions fastest-first, `attn_q`/`attn_k` rows permuted for `llama`) scores with the same
/// bits as the safetensors checkpoint; what lmscore does not read is refused by name.
/// (`Scripts/check_gguf_models.sh` runs llama.cpp's own converter on the fixtures.)
@Suite("GGUF checkpoints", .enabled(if: Fixtures.hasSharedReference, "../shared/reference not found"))
struct GGUFCheckpointTests {
    /// llama.cpp's `LlamaModel.permute`: each head's rows viewed as [2, head_dim/2], transposed.
    static func permute(_ rows: [[UInt8]], heads: Int) -> [[UInt8]] {
        let headDim = rows.count / heads, half = headDim / 2
        var out = rows
        for h in 0..<heads {
            for i in 0..<2 {
                for j in 0..<half { out[h * headDim + 2 * j + i] = rows[h * headDim + i * half + j] }
            }
        }
        return out
    }

    /// The fixture's safetensors written as a GGUF file, the way convert_hf_to_gguf.py would.
    static func gguf(from fixture: String, architecture: String, extra: [(String, GGUFWriter.Typed)] = [],
                     transform: (String, GGMLType) -> GGMLType? = { $1 }) throws -> URL {
        let directory = Fixtures.sharedReference.appendingPathComponent(fixture)
        let config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("config.json"))) as? [String: Any])
        func int(_ key: String) -> Int { (config[key] as? NSNumber)?.intValue ?? 0 }
        let heads = int("num_attention_heads"), kvHeads = int("num_key_value_heads")
        var writer = GGUFWriter()
        let a = architecture
        writer.metadata = [
            ("general.architecture", .string(a)),
            ("\(a).embedding_length", .u32(UInt32(int("hidden_size")))),
            ("\(a).block_count", .u32(UInt32(int("num_hidden_layers")))),
            ("\(a).attention.head_count", .u32(UInt32(heads))),
            ("\(a).attention.head_count_kv", .u32(UInt32(kvHeads))),
            ("\(a).feed_forward_length", .u32(UInt32(int("intermediate_size")))),
            ("\(a).context_length", .u32(UInt32(int("max_position_embeddings")))),
            ("\(a).attention.layer_norm_rms_epsilon", .f32(Float((config["rms_norm_eps"] as? NSNumber)?.doubleValue ?? 1e-6))),
            ("\(a).rope.freq_base", .f32(Float((config["rope_theta"] as? NSNumber)?.doubleValue ?? 10000))),
        ] + (config["head_dim"] != nil ? [("\(a).attention.key_length", .u32(UInt32(int("head_dim"))))] : []) + extra
        let file = try SafeTensorsFile(path: directory.appendingPathComponent("model.safetensors").path)
        let names: [(String, String)] = [
            ("input_layernorm.weight", "attn_norm.weight"), ("self_attn.q_proj.weight", "attn_q.weight"),
            ("self_attn.q_proj.bias", "attn_q.bias"), ("self_attn.k_proj.weight", "attn_k.weight"),
            ("self_attn.k_proj.bias", "attn_k.bias"), ("self_attn.v_proj.weight", "attn_v.weight"),
            ("self_attn.v_proj.bias", "attn_v.bias"), ("self_attn.o_proj.weight", "attn_output.weight"),
            ("post_attention_layernorm.weight", "ffn_norm.weight"), ("mlp.gate_proj.weight", "ffn_gate.weight"),
            ("mlp.up_proj.weight", "ffn_up.weight"), ("mlp.down_proj.weight", "ffn_down.weight"),
        ]
        for (name, entry) in file.entries.sorted(by: { $0.key < $1.key }) {
            let ggufName: String
            switch name {
            case "model.embed_tokens.weight": ggufName = "token_embd.weight"
            case "model.norm.weight": ggufName = "output_norm.weight"
            case "lm_head.weight": ggufName = "output.weight"
            default:
                let parts = name.split(separator: ".", maxSplits: 3).map(String.init)
                let local = try #require(names.first { $0.0 == parts[3] }?.1, "no GGUF name for \(name)")
                ggufName = "blk.\(parts[2]).\(local)"
            }
            let type: GGMLType = switch entry.dtype { case "F16": .f16; case "BF16": .bf16; default: .f32 }
            var bytes = Array(file.bytes(of: entry))
            if architecture == "llama", let heads = ggufName.hasSuffix("attn_q.weight") ? heads : ggufName.hasSuffix("attn_k.weight") ? kvHeads : nil {
                let rowBytes = bytes.count / entry.shape[0]
                bytes = permute((0..<entry.shape[0]).map { Array(bytes[$0 * rowBytes ..< ($0 + 1) * rowBytes]) }, heads: heads).flatMap { $0 }
            }
            guard let stored = transform(ggufName, type) else { continue }
            writer.tensors.append((ggufName, Array(entry.shape.reversed()), stored, bytes))
        }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lmscore-\(fixture)-\(UUID().uuidString).gguf")
        try writer.data().write(to: url)
        return url
    }

    func scores(_ model: DecoderModel, _ fixture: String) throws -> [[TokenScore?]] {
        let reference = try Fixtures.loadReference(Fixtures.sharedReference.appendingPathComponent(fixture))
        let rows = reference.cases.compactMap(\.sequences).flatMap { $0 }
        return try Scorer(model: model).score(ScoringRequest(rows: .sequences(rows), topK: 5)).rows.map(\.positions)
    }

    @Test("llama (rows of q and k permuted by the converter) and qwen2 (BF16, q/k/v biases): the same bits as the safetensors checkpoint",
          arguments: [("llama-gqa", "llama"), ("qwen2-bias-bf16", "qwen2")])
    func sameBitsAsSafetensors(fixture: String, architecture: String) throws {
        let url = try Self.gguf(from: fixture, architecture: architecture)
        defer { try? FileManager.default.removeItem(at: url) }
        let gguf = try Checkpoint.load(directory: url)
        let safetensors = try Checkpoint.load(directory: Fixtures.sharedReference.appendingPathComponent(fixture))
        #expect(gguf.config.layers == safetensors.config.layers && gguf.config.tieWordEmbeddings == safetensors.config.tieWordEmbeddings)
        let (a, b) = (try scores(gguf, fixture), try scores(safetensors, fixture))
        #expect(!a.isEmpty && a == b, "\(fixture): GGUF and safetensors scores differ")
        // The same tensors, of the same stored type (`lmscore inspect`'s "tensors"): "F32 21 tensors".
        #expect(gguf.summary.tensorTypes == safetensors.summary.tensorTypes && !gguf.summary.tensorTypes.isEmpty)
        // Only the permuted q/k matrices are copied; everything else is used in place.
        #expect(gguf.summary.mappedBytes > 0)
        if architecture == "qwen2" { #expect(gguf.summary.copiedBytes < gguf.summary.mappedBytes) }
    }

    @Test("A directory holding one .gguf (and no config.json) loads it; what lmscore does not read is refused by name")
    func refusals() throws {
        let url = try Self.gguf(from: "llama-gqa", architecture: "llama")
        defer { try? FileManager.default.removeItem(at: url) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lmscore-gguf-dir-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.copyItem(at: url, to: directory.appendingPathComponent("model.gguf"))
        #expect(try Checkpoint.load(directory: directory).config.nLayer == 2)

        func refusal(_ make: () throws -> URL) -> String {
            do {
                let bad = try make()
                defer { try? FileManager.default.removeItem(at: bad) }
                _ = try Checkpoint.load(directory: bad)
                return "loaded"
            } catch { return "\(error)" }
        }
        #expect(refusal { try Self.gguf(from: "llama-gqa", architecture: "falcon") }.contains("general.architecture \"falcon\""))
        #expect(refusal { try Self.gguf(from: "llama-gqa", architecture: "llama", transform: { $0.hasSuffix("ffn_up.weight") ? GGMLType(code: 14) : $1 }) }
            .contains("Q6_K (lmscore reads F32, F16, BF16 and Q8_0"))
        #expect(refusal { try Self.gguf(from: "llama-gqa", architecture: "llama", transform: { $0 == "blk.1.ffn_down.weight" ? nil : $1 }) }
            .contains("blk.1.ffn_down.weight"))
        #expect(refusal { try Self.gguf(from: "llama-gqa", architecture: "llama", extra: [("llama.rope.scaling.type", .string("yarn"))]) }
            .contains("llama.rope.scaling.type \"yarn\""))
    }
}
