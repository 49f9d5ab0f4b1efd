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
/// Architectures: `llama` (Llama, SmolLM, Mistral files), `qwen2`, `qwen3`, `gemma`, `gemma2`, `gemma3`,
/// `phi3`, `gpt2`, `gptneox` (`GGUFArchitecture`). Where llama.cpp's converter reordered rows (`llama`'s
/// `attn_q`/`attn_k`, GPT-NeoX's fused qkv) they are put back in Hugging Face's order here (those
/// matrices are copied); GPT-2's Conv1D matrices, which the converter transposed to [out, in], are read
/// as [out, in] in place; Gemma's norm gains, stored as 1 + w, are used as such. What lmscore does not
/// read — another architecture, a quantized type other than Q8_0, per-frequency RoPE factors
/// (`rope_freqs`, `rope_factors_long`), a RoPE scaling other than linear — is refused naming the key
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
        if mapping.normGainsIncludeOffset { config.norm.gainOffset = 0 }
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
        guard let order = mapping.storedRows(name, rows: shape[0], config: config) else {
            return storage.mapped(bytes, elementType: elementType, rows: shape[0], columns: shape[1])
        }
        let rowBytes = elementType.rowBytes(shape[1])
        let copy = storage.copy(byteCount: bytes.count)
        for (to, from) in order.enumerated() {
            (copy.baseAddress! + to * rowBytes).copyMemory(from: bytes.baseAddress! + from * rowBytes, byteCount: rowBytes)
        }
        return WeightMatrix(base: UnsafeRawPointer(copy.baseAddress!), elementType: elementType, rows: shape[0], columns: shape[1])
    }

    func vector(_ name: String, _ shape: [Int], _ role: TensorRole) throws -> UnsafePointer<Float> {
        let tensor = try tensor(name, shape)
        guard let dtype = tensor.type.tensorDType else { throw unsupported(tensor, "F32, F16 and BF16 vector") }
        let values = storage.floats(file.bytes(of: tensor), dtype: dtype, count: shape.reduce(1, *))
        guard let order = mapping.storedRows(name, rows: shape[0], config: config) else { return values }
        let copy = storage.copy(byteCount: shape[0] * 4).bindMemory(to: Float.self)
        for (to, from) in order.enumerated() { copy[to] = values[from] }
        return UnsafePointer(copy.baseAddress!)
    }

    /// GPT-2's Conv1D: llama.cpp's converter transposed the weight to [out, in] (`nn.Linear`'s layout),
    /// which the products read in place.
    func conv1D(_ prefix: String, in: Int, out: Int, role: TensorRole) throws -> Linear {
        Linear(weight: try matrix(prefix + ".weight", [out, `in`], role), bias: try vector(prefix + ".bias", [out], .bias), storedOutIn: true)
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
