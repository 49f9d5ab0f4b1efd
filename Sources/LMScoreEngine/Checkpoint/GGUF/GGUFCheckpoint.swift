import CKernels
import Foundation
import LMScoreGGUF

/// A GGUF file (llama.cpp's format) as a checkpoint. Its metadata is turned into the `config.json` the
/// same model's Hugging Face checkpoint carries (`{arch}.embedding_length` → `hidden_size`, …) and its
/// tensors are served under the names that checkpoint uses (`blk.0.attn_q.weight` →
/// `model.layers.0.self_attn.q_proj.weight`), so the family file that reads the Hugging Face checkpoint
/// describes the GGUF one too: the same `ModelConfig`, the same layer specs, the same bits for F32
/// weights. F32, F16, BF16 and Q8_0 matrices are used in place in the mapped file (Q8_0 ones multiply
/// through the integer kernels, `productQ8`).
///
/// Architectures: `llama` (Llama, SmolLM, Mistral files), `qwen2`, `qwen3`. llama.cpp's converter
/// permutes the rows of `attn_q`/`attn_k` for `llama` (it rotates adjacent pairs); they are put back
/// in Hugging Face's order here (the two matrices are copied). What lmscore does not read — another
/// architecture, a quantized type other than Q8_0, Llama 3.1's `rope_freqs` — is refused naming the key
/// or tensor.
enum GGUFCheckpoint {
    /// The GGUF file `url` names: the file itself, or the only `.gguf` in a directory without a
    /// config.json. nil when `url` is not a GGUF checkpoint.
    static func file(at url: URL) -> URL? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else { return nil }
        if !isDirectory.boolValue { return url.pathExtension.lowercased() == "gguf" ? url : nil }
        guard !FileManager.default.fileExists(atPath: url.appendingPathComponent("config.json").path) else { return nil }
        let ggufs = ((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []).filter { $0.lowercased().hasSuffix(".gguf") }
        return ggufs.count == 1 ? url.appendingPathComponent(ggufs[0]) : nil
    }

    static func load(_ url: URL, context: Int?) throws -> DecoderModel {
        let file: GGUFFile
        do { file = try GGUFFile(path: url.path) } catch { throw CheckpointError.badHeader(path: url.path, reason: "\(error)") }
        let mapping = try GGUFArchitecture(file)
        var config = try ModelConfig(json: try mapping.configJSON(), path: url.path)
        try config.setContext(context, path: url.path)
        let storage = WeightStorage()
        storage.keep(file)
        let weights = try DecoderWeights(config: config, source: GGUFTensors(file: file, mapping: mapping, config: config, storage: storage))
        let summary = Checkpoint.Summary(
            directory: url.path, dtypes: file.typeMix.map(\.type).sorted(), files: [url.lastPathComponent],
            mappedBytes: storage.mappedBytes, copiedBytes: storage.copiedBytes,
            tensorTypes: Checkpoint.Summary.tensorTypes(Dictionary(file.typeMix.map { ($0.type, $0.tensors) }, uniquingKeysWith: +)))
        return DecoderModel(config: config, weights: weights, summary: summary)
    }
}

/// One GGUF architecture's metadata keys and tensor names, read as the Hugging Face checkpoint's.
struct GGUFArchitecture {
    let file: GGUFFile
    /// `general.architecture`: the prefix of the model's keys.
    let name: String
    /// The Hugging Face `model_type` its family reads.
    let modelType: String
    /// llama.cpp's converter permuted `attn_q`/`attn_k`'s rows (it does for `llama`).
    let permutedQueryKey: Bool

    init(_ file: GGUFFile) throws {
        self.file = file
        guard let name = file["general.architecture"]?.string else {
            throw CheckpointError.badConfig(path: file.path, reason: "general.architecture: missing (not a model file?)")
        }
        self.name = name
        switch name {
        case "llama": (modelType, permutedQueryKey) = ("llama", true)
        case "qwen2": (modelType, permutedQueryKey) = ("qwen2", false)
        case "qwen3": (modelType, permutedQueryKey) = ("qwen3", false)
        default:
            throw CheckpointError.unsupportedModel(path: file.path, reason: "general.architecture \"\(name)\"; lmscore reads GGUF llama, qwen2, qwen3")
        }
        if file.tensor(named: "rope_freqs.weight") != nil {
            throw CheckpointError.unsupportedModel(path: file.path, reason: "tensor rope_freqs.weight (per-frequency RoPE factors, Llama 3.1's scaling in GGUF)")
        }
    }

    func bad(_ key: String, _ reason: String) -> CheckpointError { .badConfig(path: file.path, reason: "\(key): \(reason)") }

    func int(_ key: String) throws -> Int {
        guard let value = file["\(name).\(key)"] else { throw bad("\(name).\(key)", "missing") }
        guard let int = value.integer else { throw bad("\(name).\(key)", "\(value) is not an integer") }
        return int
    }

    func double(_ key: String) throws -> Double? {
        guard let value = file["\(name).\(key)"] else { return nil }
        guard let double = value.double else { throw bad("\(name).\(key)", "\(value) is not a number") }
        return double
    }

    /// The config.json of the Hugging Face checkpoint this file was converted from.
    func configJSON() throws -> [String: Any] {
        guard let embedding = file.tensor(named: "token_embd.weight"), embedding.dimensions.count == 2 else {
            throw CheckpointError.missingTensor(name: "token_embd.weight", searched: [(file.path as NSString).lastPathComponent])
        }
        let heads = try int("attention.head_count")
        let hidden = try int("embedding_length")
        var json: [String: Any] = [
            "model_type": modelType,
            "vocab_size": embedding.dimensions[1],
            "hidden_size": hidden,
            "num_hidden_layers": try int("block_count"),
            "num_attention_heads": heads,
            "num_key_value_heads": file["\(name).attention.head_count_kv"] == nil ? heads : try int("attention.head_count_kv"),
            "intermediate_size": try int("feed_forward_length"),
            "max_position_embeddings": try int("context_length"),
            "rms_norm_eps": try double("attention.layer_norm_rms_epsilon") ?? 1e-6,
            "rope_theta": try double("rope.freq_base") ?? 10000,
            "tie_word_embeddings": file.tensor(named: "output.weight") == nil,
            "hidden_act": "silu",
        ]
        let headSize = file["\(name).attention.key_length"] == nil ? hidden / heads : try int("attention.key_length")
        json["head_dim"] = headSize
        if file["\(name).rope.dimension_count"] != nil {
            let rotary = try int("rope.dimension_count")
            if rotary != headSize { json["partial_rotary_factor"] = Double(rotary) / Double(headSize) }
        }
        if let scaling = file["\(name).rope.scaling.type"]?.string, scaling != "none" {
            guard scaling == "linear", let factor = try double("rope.scaling.factor") else {
                throw CheckpointError.unsupportedModel(path: file.path, reason: "\(name).rope.scaling.type \"\(scaling)\"; supported: none, linear")
            }
            json["rope_scaling"] = ["type": "linear", "factor": factor]
        }
        if modelType != "qwen2" { json["attention_bias"] = file.tensor(named: "blk.0.attn_q.bias") != nil }
        return json
    }

    /// The GGUF name of the tensor the Hugging Face checkpoint calls `name`, nil for a name with none.
    func ggufName(_ name: String) -> String? {
        switch name {
        case "model.embed_tokens.weight": return "token_embd.weight"
        case "model.norm.weight": return "output_norm.weight"
        case "lm_head.weight": return "output.weight"
        default: break
        }
        let parts = name.split(separator: ".", maxSplits: 3).map(String.init)
        guard parts.count == 4, parts[0] == "model", parts[1] == "layers", let layer = Int(parts[2]) else { return nil }
        let local: [String: String] = [
            "input_layernorm.weight": "attn_norm.weight",
            "self_attn.q_proj.weight": "attn_q.weight", "self_attn.q_proj.bias": "attn_q.bias",
            "self_attn.k_proj.weight": "attn_k.weight", "self_attn.k_proj.bias": "attn_k.bias",
            "self_attn.v_proj.weight": "attn_v.weight", "self_attn.v_proj.bias": "attn_v.bias",
            "self_attn.o_proj.weight": "attn_output.weight", "self_attn.o_proj.bias": "attn_output.bias",
            "self_attn.q_norm.weight": "attn_q_norm.weight", "self_attn.k_norm.weight": "attn_k_norm.weight",
            "post_attention_layernorm.weight": "ffn_norm.weight",
            "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight", "mlp.down_proj.weight": "ffn_down.weight",
        ]
        return local[parts[3]].map { "blk.\(layer).\($0)" }
    }

    /// How many heads the rows of `name` were permuted in (q: the query heads, k: the key/value
    /// heads), nil when its rows are in Hugging Face's order.
    func permutedHeads(_ name: String, config: ModelConfig) -> Int? {
        guard permutedQueryKey else { return nil }
        if name.hasSuffix("self_attn.q_proj.weight") || name.hasSuffix("self_attn.q_proj.bias") { return config.nHead }
        if name.hasSuffix("self_attn.k_proj.weight") || name.hasSuffix("self_attn.k_proj.bias") { return config.nKVHead }
        return nil
    }
}

/// A GGUF file's tensors under Hugging Face names, each checked against the shape the family expects
/// (GGUF lists dimensions fastest-first: [in, out] for an [out, in] matrix).
struct GGUFTensors: TensorSource {
    let file: GGUFFile
    let mapping: GGUFArchitecture
    let config: ModelConfig
    let storage: WeightStorage

    var owner: AnyObject { storage }

    func contains(_ name: String) -> Bool { mapping.ggufName(name).flatMap { file.tensor(named: $0) } != nil }

    private func tensor(_ name: String, _ shape: [Int]) throws -> GGUFTensor {
        guard let ggufName = mapping.ggufName(name), let tensor = file.tensor(named: ggufName) else {
            throw CheckpointError.missingTensor(name: mapping.ggufName(name) ?? name, searched: [(file.path as NSString).lastPathComponent])
        }
        guard Array(tensor.dimensions.reversed()) == shape else {
            throw CheckpointError.wrongShape(path: file.path, tensor: tensor.name, expected: shape, found: Array(tensor.dimensions.reversed()))
        }
        return tensor
    }

    private func unsupported(_ tensor: GGUFTensor, _ what: String) -> CheckpointError {
        .unsupportedDType(path: file.path, tensor: tensor.name, dtype: "\(tensor.type.name) (lmscore reads \(what) GGUF tensors)")
    }

    func matrix(_ name: String, _ shape: [Int], _ role: TensorRole) throws -> WeightMatrix {
        let tensor = try tensor(name, shape)
        let elementType: ElementType
        if tensor.type == .q8_0 {
            elementType = .q8_0   // rows of whole blocks: GGUFFile checked the size
        } else if let dtype = tensor.type.tensorDType {
            elementType = ElementType(dtype)
        } else {
            throw unsupported(tensor, "F32, F16, BF16 and Q8_0")
        }
        let bytes = file.bytes(of: tensor)
        if elementType == .q8_0, lmk_q8_0_find_minus_128(bytes.baseAddress!.assumingMemoryBound(to: lmk_block_q8_0.self),
                                                         bytes.count / MemoryLayout<lmk_block_q8_0>.size) != 0 {
            throw CheckpointError.unsupportedDType(path: file.path, tensor: tensor.name, dtype: """
                Q8_0 holding the value -128 (llama.cpp's quantizers never write it; lmscore's AVX2 kernel \
                cannot multiply it exactly)
                """)
        }
        guard let heads = mapping.permutedHeads(name, config: config) else {
            return storage.mapped(bytes, elementType: elementType, rows: shape[0], columns: shape[1])
        }
        let rowBytes = elementType.rowBytes(shape[1])
        let copy = storage.copy(byteCount: bytes.count)
        for (to, from) in Self.unpermutedRows(rows: shape[0], heads: heads).enumerated() {
            (copy.baseAddress! + to * rowBytes).copyMemory(from: bytes.baseAddress! + from * rowBytes, byteCount: rowBytes)
        }
        return WeightMatrix(base: UnsafeRawPointer(copy.baseAddress!), elementType: elementType, rows: shape[0], columns: shape[1])
    }

    func vector(_ name: String, _ shape: [Int], _ role: TensorRole) throws -> UnsafePointer<Float> {
        let tensor = try tensor(name, shape)
        guard let dtype = tensor.type.tensorDType else { throw unsupported(tensor, "F32, F16 and BF16 vector") }
        let values = storage.floats(file.bytes(of: tensor), dtype: dtype, count: shape.reduce(1, *))
        guard let heads = mapping.permutedHeads(name, config: config) else { return values }
        let copy = storage.copy(byteCount: shape[0] * 4).bindMemory(to: Float.self)
        for (to, from) in Self.unpermutedRows(rows: shape[0], heads: heads).enumerated() { copy[to] = values[from] }
        return UnsafePointer(copy.baseAddress!)
    }

    /// For each row of the Hugging Face matrix, the row llama.cpp's converter stored it at. Its
    /// `permute` views each head's rows as [2, head_dim/2] and transposes them, so the row (h, i, j) —
    /// head h, half i, index j — went to h·head_dim + 2j + i.
    static func unpermutedRows(rows: Int, heads: Int) -> [Int] {
        let headDim = rows / heads, half = headDim / 2
        return (0..<rows).map { row in
            let h = row / headDim, i = (row % headDim) / half, j = row % half
            return h * headDim + 2 * j + i
        }
    }
}

extension GGMLType {
    /// The safetensors dtype of the same storage, for the types lmscore reads in place.
    var tensorDType: TensorDType? {
        switch self {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        default: nil
        }
    }
}
