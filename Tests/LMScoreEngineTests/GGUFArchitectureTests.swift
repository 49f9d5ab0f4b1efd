import Foundation
import LMScoreGGUF
import LMScoreTestSupport
@testable import LMScoreEngine
import Testing

/// GGUF `gpt2`, `gptneox`, `gemma`, `gemma2`, `gemma3`, `phi3`: a reference checkpoint written as
/// llama.cpp's converter writes it (`ConverterLikeGGUF`) scores with the same bits as the safetensors
/// checkpoint — whose config.json, where the GGUF file cannot carry a value, is first set to what
/// llama.cpp uses (`edits`); what lmscore does not read is refused by name.
@Suite("GGUF architectures", .enabled(if: Fixtures.hasSharedReference, "../shared/reference not found"))
struct GGUFArchitectureTests {
    struct Case: CustomStringConvertible, Sendable {
        let fixture: String
        let shared: Bool
        let architecture: String
        /// config.json values the file cannot carry, as llama.cpp reads the file.
        let edits: [String: String]
        var extra: [(String, GGUFWriter.Typed)] = []

        var directory: URL { (shared ? Fixtures.sharedReference : Fixtures.committedReference).appendingPathComponent(fixture) }
        var description: String { "\(fixture) as \(architecture)" }
    }

    static let cases: [Case] = [
        Case(fixture: "tiny", shared: true, architecture: "gpt2", edits: [:]),
        Case(fixture: "gpt2vocab-f16", shared: true, architecture: "gpt2", edits: [:]),
        Case(fixture: "neox-pythia-f16", shared: true, architecture: "gptneox", edits: [:]),
        // Linear RoPE scaling, sequential residual; GELU: the file does not say, Hugging Face's GPT-NeoX default is read.
        Case(fixture: "neox-sequential", shared: false, architecture: "gptneox", edits: ["hidden_act": "gelu"],
             extra: [("gptneox.rope.scaling.type", .string("linear")), ("gptneox.rope.scaling.factor", .f32(2))]),
        Case(fixture: "phi3-fused", shared: true, architecture: "phi3", edits: [:]),
        Case(fixture: "gemma-legacy-act", shared: false, architecture: "gemma", edits: [:]),
        // llama.cpp scales q·k by head_dim^-1/2 (16): the converter writes no query_pre_attn_scalar (24 here).
        Case(fixture: "gemma2-softcap-bf16", shared: true, architecture: "gemma2", edits: ["query_pre_attn_scalar": "16"]),
        // Every third layer global, local θ 10³, global θ 5·10⁴ with linear scaling 2 (global layers only).
        Case(fixture: "gemma3-local-global", shared: false, architecture: "gemma3", edits: ["query_pre_attn_scalar": "16"],
             extra: [("gemma3.attention.sliding_window_pattern", .u32(3)), ("gemma3.rope.freq_base_swa", .f32(1000)),
                     ("gemma3.rope.scaling.type", .string("linear")), ("gemma3.rope.scaling.factor", .f32(2))]),
    ]

    func scores(_ model: DecoderModel, _ directory: URL) throws -> [[TokenScore?]] {
        let reference = try Fixtures.loadReference(directory)
        let rows = reference.cases.compactMap(\.sequences).flatMap { $0 }
        return try Scorer(model: model).score(ScoringRequest(rows: .sequences(rows), topK: 5)).rows.map(\.positions)
    }

    @Test("The same bits as the safetensors checkpoint", arguments: cases)
    func sameBitsAsSafetensors(_ c: Case) throws {
        let url = try ConverterLikeGGUF.write(c.directory, architecture: c.architecture, extra: c.extra)
        defer { try? FileManager.default.removeItem(at: url) }
        let edited = c.edits.isEmpty ? c.directory : try ConverterLikeGGUF.editedCopy(c.directory, c.edits.mapValues { value -> Any in Int(value).map { $0 as Any } ?? value })
        defer { if edited != c.directory { try? FileManager.default.removeItem(at: edited) } }
        let gguf = try Checkpoint.load(directory: url)
        let safetensors = try Checkpoint.load(directory: edited)
        #expect(gguf.config.modelType == safetensors.config.modelType)
        #expect(gguf.config.layers == safetensors.config.layers, "\(c): \(gguf.config.layers) vs \(safetensors.config.layers)")
        #expect(gguf.config.tieWordEmbeddings == safetensors.config.tieWordEmbeddings)
        #expect(gguf.config.vocabSize == safetensors.config.vocabSize && gguf.config.maxPositions == safetensors.config.maxPositions)
        #expect(gguf.config.finalLogitSoftcap == safetensors.config.finalLogitSoftcap && gguf.config.embeddingScale == safetensors.config.embeddingScale)
        // Gemma: the file's gains are 1 + w, used as they are.
        #expect(gguf.config.norm.gainOffset == 0 && gguf.config.norm.epsilon == safetensors.config.norm.epsilon)
        let (a, b) = (try scores(gguf, c.directory), try scores(safetensors, c.directory))
        #expect(!a.isEmpty && a == b, "\(c): GGUF and safetensors scores differ")
        // GPT-2's transposed Conv1D matrices are read in place; only NeoX's regrouped qkv is copied.
        if c.architecture == "gptneox" { #expect(gguf.summary.copiedBytes > 0) }
        if c.architecture == "gpt2" { #expect(gguf.summary.copiedBytes <= safetensors.summary.copiedBytes) }
    }

    @Test("The rows the converter moved: NeoX's regrouping and Llama's pair permutation, put back")
    func rowOrders() {
        // 2 heads of 2: HF rows (h, q|k|v, d) → stored (q|k|v, h, d).
        #expect(GGUFArchitecture.ungroupedRows(heads: 2, headSize: 2) == [0, 1, 4, 5, 8, 9, 2, 3, 6, 7, 10, 11])
        // 1 head of 4: HF rows (half i, j) → stored 2j + i.
        #expect(GGUFArchitecture.unpermutedRows(rows: 4, heads: 1) == [0, 2, 1, 3])
    }

    func refusal(_ fixture: String, shared: Bool = true, _ architecture: String, extra: [(String, GGUFWriter.Typed)] = [],
                 transform: (String, GGMLType) -> GGMLType? = { $1 }, tensors: [(String, [Int], GGMLType, [UInt8])] = []) -> String {
        do {
            let directory = (shared ? Fixtures.sharedReference : Fixtures.committedReference).appendingPathComponent(fixture)
            var url = try ConverterLikeGGUF.write(directory, architecture: architecture, extra: extra, transform: transform)
            if !tensors.isEmpty {
                // Re-write with the extra tensors appended.
                let file = try GGUFFile(path: url.path)
                var writer = GGUFWriter()
                writer.metadata = file.metadata.map { ($0.key, Self.typed($0.value)) }
                writer.tensors = file.tensors.map { ($0.name, $0.dimensions, $0.type, Array(file.bytes(of: $0))) } + tensors.map { ($0.0, $0.1, $0.2, $0.3) }
                try? FileManager.default.removeItem(at: url)
                url = url.deletingLastPathComponent().appendingPathComponent("lmscore-extra-\(UUID().uuidString).gguf")
                try writer.data().write(to: url)
            }
            defer { try? FileManager.default.removeItem(at: url) }
            _ = try Checkpoint.load(directory: url)
            return "loaded"
        } catch { return "\(error)" }
    }

    static func typed(_ value: GGUFValue) -> GGUFWriter.Typed {
        switch value {
        case .uint(let v): .u64(v)
        case .int(let v): .i64(v)
        case .float(let v): .f64(v)
        case .bool(let v): .bool(v)
        case .string(let v): .string(v)
        case .array(let items): .array(items.map(typed))
        }
    }

    @Test("What lmscore does not read is refused naming the key or tensor")
    func refusals() {
        #expect(refusal("tiny", "bert").contains("general.architecture \"bert\"; lmscore reads GGUF llama, qwen2, qwen3, gemma, gemma2, gemma3, phi3, gpt2, gptneox"))
        #expect(refusal("tiny", "gpt2", transform: { $0 == "blk.0.attn_qkv.weight" ? GGMLType(code: 2) : $1 }).contains("Q4_0 (lmscore reads F32, F16, BF16 and Q8_0"))
        #expect(refusal("tiny", "gpt2", transform: { $0 == "position_embd.weight" ? nil : $1 }).contains("position_embd.weight"))
        #expect(refusal("tiny", "gpt2", transform: { $0 == "blk.1.ffn_down.bias" ? nil : $1 }).contains("blk.1.ffn_down.bias"))
        #expect(refusal("neox-pythia-f16", "gptneox", extra: [("gptneox.rope.scaling.type", .string("yarn"))])
            .contains("gptneox.rope.scaling.type \"yarn\"; supported: none, linear"))
        #expect(refusal("phi3-fused", "phi3", tensors: [("rope_factors_long.weight", [8], .f32, [UInt8](repeating: 0, count: 32))])
            .contains("tensor rope_factors_long.weight"))
        #expect(refusal("gemma2-softcap-bf16", "gemma2", extra: [("gemma2.rope.freq_base_swa", .f32(500))])
            .contains("gemma2.rope.freq_base_swa 500.0"))
        #expect(refusal("gemma3-local-global", shared: false, "gemma3", extra: [("gemma3.attention.sliding_window_pattern", .array([.bool(true)]))])
            .contains("gemma3.attention.sliding_window_pattern: not one bool per layer (4)"))
        #expect(refusal("phi3-fused", "phi3", extra: [("phi3.rope.scaling.type", .string("longrope"))])
            .contains("phi3.rope.scaling.type \"longrope\""))
    }
}
