import Foundation
import LMScoreGGUF

/// One GGUF architecture's metadata keys and tensor names, read as the Hugging Face checkpoint's
/// (`GGUFArchitecture+Config.swift`: the keys → config.json; `GGUFArchitecture+Tensors.swift`: the
/// tensor names and the row orders llama.cpp's converter changed). Where the file says nothing (GGUF
/// has no key for it), the value is the one llama.cpp itself uses for the architecture, so lmscore
/// scores a file as llama.cpp reads it.
struct GGUFArchitecture {
    /// The architectures lmscore reads, by `general.architecture`.
    enum Layout: String, CaseIterable {
        case llama, qwen2, qwen3, gemma, gemma2, gemma3, phi3, gpt2, gptneox
    }

    let file: GGUFFile
    /// `general.architecture`: the prefix of the model's keys.
    let name: String
    let layout: Layout

    init(_ file: GGUFFile) throws {
        self.file = file
        guard let name = file["general.architecture"]?.string else {
            throw CheckpointError.badConfig(path: file.path, reason: "general.architecture: missing (not a model file?)")
        }
        guard let layout = Layout(rawValue: name) else {
            throw CheckpointError.unsupportedModel(
                path: file.path,
                reason: "general.architecture \"\(name)\"; lmscore reads GGUF \(Layout.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self.name = name
        self.layout = layout
        // Per-frequency RoPE factors: Llama 3.1's scaling (`rope_freqs`), Phi-3's longrope (long/short).
        for tensor in ["rope_freqs.weight", "rope_factors_long.weight", "rope_factors_short.weight"] where file.tensor(named: tensor) != nil {
            throw CheckpointError.unsupportedModel(path: file.path, reason: "tensor \(tensor) (per-frequency RoPE factors; lmscore reads none)")
        }
    }

    /// The Hugging Face `model_type` whose family describes the file.
    var modelType: String {
        switch layout {
        case .gemma3: "gemma3_text"
        case .gptneox: "gpt_neox"
        default: layout.rawValue
        }
    }

    /// llama.cpp's converter stores Gemma's RMSNorm gains as 1 + w (it adds 1, in FP32 for FP32 and
    /// BF16 checkpoints, as Hugging Face's forward pass does before multiplying); they are used as the
    /// gains themselves (`NormSpec.gainOffset` 0), which multiplies by the same FP32 values: the
    /// safetensors checkpoint's bits, with nothing to undo.
    var normGainsIncludeOffset: Bool { [.gemma, .gemma2, .gemma3].contains(layout) }

    func bad(_ key: String, _ reason: String) -> CheckpointError { .badConfig(path: file.path, reason: "\(key): \(reason)") }

    func unsupported(_ key: String, _ reason: String) -> CheckpointError {
        .unsupportedModel(path: file.path, reason: "\(key) \(reason)")
    }

    func has(_ key: String) -> Bool { file["\(name).\(key)"] != nil }

    func int(_ key: String) throws -> Int {
        guard let value = file["\(name).\(key)"] else { throw bad("\(name).\(key)", "missing") }
        guard let int = value.integer else { throw bad("\(name).\(key)", "\(value) is not an integer") }
        return int
    }

    func optionalInt(_ key: String) throws -> Int? { has(key) ? try int(key) : nil }

    func double(_ key: String) throws -> Double? {
        guard let value = file["\(name).\(key)"] else { return nil }
        guard let double = value.double else { throw bad("\(name).\(key)", "\(value) is not a number") }
        return double
    }

    func bool(_ key: String) throws -> Bool? {
        guard let value = file["\(name).\(key)"] else { return nil }
        guard let bool = value.bool else { throw bad("\(name).\(key)", "\(value) is not true or false") }
        return bool
    }
}
