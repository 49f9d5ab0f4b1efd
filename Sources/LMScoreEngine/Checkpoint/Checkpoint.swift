import Foundation

/// Reads a Hugging Face decoder directory (GPT-2, Llama, Mistral, Qwen2/3, GPT-NeoX): `config.json`
/// plus `model.safetensors`, or `model.safetensors.index.json` and the shards it names.
public enum Checkpoint {
    /// What a loaded checkpoint was stored as, for `inspect` and `/v1/model`.
    public struct Summary: Sendable, Equatable {
        public var directory: String
        public var dtypes: [String]
        public var files: [String]
        public var mappedBytes: Int
        public var copiedBytes: Int
        /// How many tensors of each stored type, most first: `["Q8_0 145 tensors", "F32 50 tensors"]`.
        public var tensorTypes: [String]
        /// What was quantized at load (`--quantize`), e.g. "q8_0: 72 matrices, LM head included"; nil: none.
        public var quantization: String? = nil

        /// `counts` as `tensorTypes` lists them.
        static func tensorTypes(_ counts: [String: Int]) -> [String] {
            counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "\($0.key) \($0.value) tensor\($0.value == 1 ? "" : "s")" }
        }
    }

    /// `context`: the scorer's context in tokens (nil: the checkpoint's, at most 4096; see `ModelConfig`).
    /// `directory` may also name a GGUF file, or a directory holding one and no config.json (`GGUFCheckpoint`).
    /// `quantization`: quantize the weights as they load (`Quantization`); nil: use them as stored.
    public static func load(directory: URL, context: Int? = nil, quantization: Quantization? = nil) throws -> DecoderModel {
        let model = try loadAsStored(directory: directory, context: context)
        guard let quantization else { return model }
        return try model.quantized(quantization)
    }

    static func loadAsStored(directory: URL, context: Int?) throws -> DecoderModel {
        if let gguf = GGUFCheckpoint.file(at: directory) { return try GGUFCheckpoint.load(gguf, context: context) }
        let config = try ModelConfig.load(contentsOf: directory.appendingPathComponent("config.json"), context: context)
        let storage = WeightStorage()
        let tensors = try openTensors(directory: directory, storage: storage)
        let weights = try DecoderWeights(config: config, source: CheckpointTensors(tensors: tensors, storage: storage))
        let dtypes = Set(tensors.values.compactMap { TensorDType(rawValue: $0.entry.dtype)?.rawValue }).sorted()
        let summary = Summary(
            directory: directory.path, dtypes: dtypes, files: storage.files.map { ($0.path as NSString).lastPathComponent },
            mappedBytes: storage.mappedBytes, copiedBytes: storage.copiedBytes,
            tensorTypes: Summary.tensorTypes(Dictionary(tensors.values.map { ($0.entry.dtype, 1) }, uniquingKeysWith: +)))
        return DecoderModel(config: config, weights: weights, summary: summary)
    }

    /// The GGUF file a model path names (the file, or the only one in a directory without a config.json),
    /// nil for a Hugging Face directory.
    public static func ggufFile(at url: URL) -> URL? { GGUFCheckpoint.file(at: url) }

    /// A tensor as found on disk, keyed by its name without the optional `transformer.` prefix.
    struct Located {
        let entry: TensorEntry
        let file: SafeTensorsFile
    }

    static func openTensors(directory: URL, storage: WeightStorage) throws -> [String: Located] {
        let fm = FileManager.default
        let single = directory.appendingPathComponent("model.safetensors")
        let index = directory.appendingPathComponent("model.safetensors.index.json")
        var shardNames: [String]
        if fm.fileExists(atPath: single.path) {
            shardNames = ["model.safetensors"]
        } else if fm.fileExists(atPath: index.path) {
            shardNames = try readIndex(index)
        } else {
            throw CheckpointError.missingFile("\(single.path) (nor \(index.lastPathComponent))")
        }
        var located: [String: Located] = [:]
        for shard in shardNames {
            let file = try SafeTensorsFile(path: directory.appendingPathComponent(shard).path)
            storage.keep(file)
            for (name, entry) in file.entries {
                let key = name.hasPrefix("transformer.") ? String(name.dropFirst("transformer.".count)) : name
                if isCausalMaskBuffer(key) { continue }
                located[key] = Located(entry: entry, file: file)
            }
        }
        return located
    }

    /// Older checkpoints carry `h.N.attn.bias` (the causal mask) and `h.N.attn.masked_bias`
    /// as buffers. They are not parameters (unlike `h.N.attn.c_attn.bias`); the mask is implicit here.
    static func isCausalMaskBuffer(_ name: String) -> Bool {
        let parts = name.split(separator: ".")
        return parts.count == 4 && parts[0] == "h" && Int(parts[1]) != nil && parts[2] == "attn"
            && (parts[3] == "bias" || parts[3] == "masked_bias")
    }

    private static func readIndex(_ url: URL) throws -> [String] {
        guard let data = try? Data(contentsOf: url) else {
            throw CheckpointError.unreadableFile(path: url.path, reason: "cannot read index")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data), let json = object as? [String: Any],
              let map = json["weight_map"] as? [String: String], !map.isEmpty
        else { throw CheckpointError.badHeader(path: url.path, reason: "no \"weight_map\" object of tensor → shard file") }
        for shard in map.values where shard.contains("/") || shard.hasPrefix(".") {
            throw CheckpointError.badHeader(path: url.path, reason: "shard name \"\(shard)\" is not a plain file name")
        }
        return Set(map.values).sorted()
    }
}

/// The tensors of a checkpoint's files, by name, each checked against the shape the family expects.
struct CheckpointTensors: TensorSource {
    let tensors: [String: Checkpoint.Located]
    let storage: WeightStorage

    var owner: AnyObject { storage }

    func contains(_ name: String) -> Bool { tensors[name] != nil }

    private func located(_ name: String, _ shape: [Int]) throws -> Checkpoint.Located {
        guard let found = tensors[name] else {
            let searched = Array(Set(tensors.values.map { ($0.file.path as NSString).lastPathComponent })).sorted()
            throw CheckpointError.missingTensor(name: name, searched: searched)
        }
        guard found.entry.shape == shape else {
            throw CheckpointError.wrongShape(path: found.file.path, tensor: found.entry.name, expected: shape, found: found.entry.shape)
        }
        return found
    }

    func matrix(_ name: String, _ shape: [Int], _ role: TensorRole) throws -> WeightMatrix {
        let found = try located(name, shape)
        return try storage.matrix(of: found.entry, in: found.file)
    }

    func vector(_ name: String, _ shape: [Int], _ role: TensorRole) throws -> UnsafePointer<Float> {
        let found = try located(name, shape)
        return try storage.floats(of: found.entry, in: found.file)
    }
}
