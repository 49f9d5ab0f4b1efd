import Foundation
import LMScoreTestSupport
@testable import LMScoreEngine
import Testing

/// The family mappings: both config forms, refusals by name, presets, the context setting, and the
/// scoring features (choices, shared prefixes, windows, batching) on rotary models.
@Suite("Model families")
struct FamilyTests {
    static let reference = Fixtures.sharedReference

    func describe(_ json: [String: Any]) throws -> ModelConfig { try ModelConfig(json: json, path: "config.json") }

    func sharedConfig(_ name: String) throws -> [String: Any] {
        let url = Self.reference.appendingPathComponent("\(name)/config.json")
        return try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    func refusal(_ json: [String: Any]) -> String? {
        do { _ = try describe(json); return nil } catch { return "\(error)" }
    }

    @Test("transformers 5's rope_parameters and the Hub's legacy keys describe the same model",
          .enabled(if: Fixtures.hasSharedReference, "../shared/reference not found"))
    func bothConfigForms() throws {
        var llama = try sharedConfig("llama-gqa")
        let legacy = try describe(llama)
        llama["rope_parameters"] = ["rope_type": "default", "rope_theta": llama.removeValue(forKey: "rope_theta")!]
        #expect(try describe(llama) == legacy)

        var neox = try sharedConfig("neox-pythia-f16")
        let neoxLegacy = try describe(neox)
        neox["rope_parameters"] = ["rope_type": "default", "rope_theta": neox.removeValue(forKey: "rotary_emb_base")!,
                                   "partial_rotary_factor": neox.removeValue(forKey: "rotary_pct")!]
        #expect(try describe(neox) == neoxLegacy)
        let rotary = try #require(neoxLegacy.layers[0].attention.rotary)
        #expect(rotary.dimensions == 4)   // rotary_pct 0.25 of 16
    }

    @Test("what the families read", .enabled(if: Fixtures.hasSharedReference, "../shared/reference not found"))
    func descriptions() throws {
        let qwen2 = try describe(sharedConfig("qwen2-bias-bf16"))
        #expect(qwen2.layers.allSatisfy { $0.attention.qkvBias && !$0.attention.outputBias } && qwen2.nKVHead == 1 && qwen2.tieWordEmbeddings)
        let qwen3 = try describe(sharedConfig("qwen3-qknorm-sharded"))
        #expect(qwen3.layers.allSatisfy(\.attention.queryKeyNorm) && qwen3.headSize == 32 && qwen3.queryWidth == 128 && qwen3.nEmbd == 64)
        let neox = try describe(sharedConfig("neox-pythia-f16"))
        #expect(neox.layers.allSatisfy { $0.residual == .parallel && $0.mlp == MLPSpec(gated: false, activation: .geluErf, bias: true) })
        #expect(neox.norm.kind == .layerNorm && !neox.tieWordEmbeddings)
        var mistral = try sharedConfig("llama-gqa")
        mistral["model_type"] = "mistral"
        mistral["sliding_window"] = 16
        #expect(try describe(mistral).layers.allSatisfy { $0.attention.slidingWindow == 16 })
        mistral["sliding_window"] = NSNull()
        #expect(try describe(mistral).layers.allSatisfy { $0.attention.slidingWindow == nil })
    }

    @Test("Gemma 2 and 3: the layer pattern, each layer kind's RoPE, soft-caps, (1 + w) norms, the embedding scale",
          .enabled(if: Fixtures.hasSharedReference, "../shared/reference not found"))
    func gemmaDescriptions() throws {
        var gemma2 = try sharedConfig("gemma2-softcap-bf16")
        let described = try describe(gemma2)
        // No layer_types: layers 0, 2 slide (window 8), layer 1 is global, as transformers derives it.
        #expect(described.layers.map(\.attention.slidingWindow) == [8, nil, 8])
        #expect(described.layers.allSatisfy { $0.attention.logitSoftcap == 5 && $0.postAttentionNorm && $0.postMLPNorm && $0.mlp.gated })
        #expect(described.finalLogitSoftcap == 3 && described.norm.gainOffset == 1 && described.embeddingScale == 8)
        #expect(described.layers[0].attention.scale == Float(Foundation.pow(24.0, -0.5)))
        gemma2["layer_types"] = ["full_attention", "sliding_attention", "full_attention"]
        gemma2["attn_logit_softcapping"] = NSNull()   // null is None (no cap), not the default 50
        gemma2.removeValue(forKey: "final_logit_softcapping")   // absent is the default 30
        let edited = try describe(gemma2)
        #expect(edited.layers.map(\.attention.slidingWindow) == [nil, 8, nil])
        #expect(edited.layers.allSatisfy { $0.attention.logitSoftcap == nil } && edited.finalLogitSoftcap == 30)

        let gemma3 = try describe([
            "model_type": "gemma3_text", "vocab_size": 100, "hidden_size": 32, "intermediate_size": 60, "num_hidden_layers": 7,
            "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 16, "max_position_embeddings": 64,
            "sliding_window": 4, "rope_scaling": ["rope_type": "linear", "factor": 8.0],
        ])
        // sliding_window_pattern 6 by default: layer 5 is global.
        #expect(gemma3.layers.map { $0.attention.slidingWindow == nil } == [false, false, false, false, false, true, false])
        #expect(gemma3.layers[0].attention.rotary == Rotary(theta: 10_000, dimensions: 16, scaling: .none))
        #expect(gemma3.layers[5].attention.rotary == Rotary(theta: 1_000_000, dimensions: 16, scaling: .linear(factor: 8)))
        #expect(gemma3.layers.allSatisfy { $0.attention.queryKeyNorm && $0.attention.logitSoftcap == nil } && gemma3.finalLogitSoftcap == nil)
        // transformers 5's form: rope_parameters per layer type.
        let perType = try describe([
            "model_type": "gemma3_text", "vocab_size": 100, "hidden_size": 32, "intermediate_size": 60, "num_hidden_layers": 2,
            "num_attention_heads": 4, "head_dim": 16, "max_position_embeddings": 64, "sliding_window": 4,
            "layer_types": ["sliding_attention", "full_attention"],
            "rope_parameters": ["sliding_attention": ["rope_type": "default", "rope_theta": 500.0],
                                "full_attention": ["rope_type": "default", "rope_theta": 7000.0]],
        ])
        #expect(perType.layers.map { $0.attention.rotary!.theta } == [500, 7000])
        #expect(refusal(["model_type": "gemma3_text", "vocab_size": 100, "hidden_size": 32, "intermediate_size": 60,
                         "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 64,
                         "use_bidirectional_attention": true])?.contains("use_bidirectional_attention") == true)
    }

    @Test("Phi-3: fused projections in the Llama block, partial rotary, the window, longrope refused by name",
          .enabled(if: Fixtures.hasSharedReference, "../shared/reference not found"))
    func phi3Description() throws {
        var phi3 = try sharedConfig("phi3-fused")
        #expect(try describe(phi3).layers.allSatisfy { $0.attention.slidingWindow == nil && $0.mlp == MLPSpec(gated: true, activation: .silu, bias: false) })
        phi3["partial_rotary_factor"] = 0.75
        phi3["sliding_window"] = 10
        let partial = try describe(phi3)
        #expect(partial.layers.allSatisfy { $0.attention.rotary?.dimensions == 12 && $0.attention.slidingWindow == 10 })
        phi3["rope_scaling"] = ["type": "longrope", "short_factor": [1.0], "long_factor": [1.0]]
        #expect(refusal(phi3)?.contains("\"longrope\"") == true)
    }

    @Test("the full-size presets have the published parameter counts")
    func publishedShapes() {
        #expect(RandomCheckpoint.Preset.gemma3_270m.config.parameterCount == 268_098_176)   // google/gemma-3-270m
        #expect(RandomCheckpoint.Preset.gemma2_2b.config.parameterCount == 2_614_341_888)   // google/gemma-2-2b
        #expect(RandomCheckpoint.Preset.phi3Mini.config.parameterCount == 3_821_079_552)    // Phi-3-mini-4k
    }

    @Test("unsupported options are load errors naming the key", .enabled(if: Fixtures.hasSharedReference, "../shared/reference not found"))
    func refusals() throws {
        let llama = try sharedConfig("llama-gqa")
        func with(_ edit: (inout [String: Any]) -> Void) -> String? {
            var json = llama
            edit(&json)
            return refusal(json)
        }
        #expect(with { $0["rope_scaling"] = ["rope_type": "yarn", "factor": 4.0] }?
            .contains("rope_scaling.rope_type \"yarn\"; supported: default, linear, llama3") == true)
        #expect(with { $0["rope_parameters"] = ["rope_type": "dynamic", "factor": 2.0, "rope_theta": 10000.0] }?
            .contains("rope_parameters.rope_type \"dynamic\"") == true)
        #expect(with { $0["rope_scaling"] = ["type": "linear"] }?.contains("rope_scaling.factor is required") == true)
        #expect(with { $0["rope_scaling"] = ["rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0] }?
            .contains("rope_scaling.high_freq_factor is required") == true)
        #expect(with { $0["hidden_act"] = "gelu" }?.contains("hidden_act \"gelu\"; supported: silu") == true)
        #expect(with { $0["num_key_value_heads"] = 3 }?.contains("not a multiple of num_key_value_heads 3") == true)
        #expect(with { $0["layer_types"] = ["full_attention", "sliding_attention"] }?.contains("layer_types \"sliding_attention\"") == true)
        #expect(with { $0["model_type"] = "qwen2"; $0["use_sliding_window"] = true }?.contains("use_sliding_window true") == true)
        #expect(with { $0["model_type"] = "falcon" }?.contains("model_type \"falcon\"; lmscore runs gpt2, llama") == true)
        #expect(with { $0.removeValue(forKey: "hidden_size") }?.contains("missing key \"hidden_size\"") == true)
        var neox = try sharedConfig("neox-pythia-f16")
        neox["rotary_pct"] = 0.1   // 1.6 of 16 dimensions
        #expect(refusal(neox)?.contains("rotary_pct") == true)
    }

    @Test("every preset's config.json reads back as the same description")
    func presetsRoundTrip() throws {
        for preset in RandomCheckpoint.Preset.allCases {
            let config = preset.config
            #expect(try describe(config.jsonObject()) == config, "\(preset.rawValue)")
        }
        #expect(RandomCheckpoint.Preset.smolLM2.config.parameterCount == 134_515_008)   // SmolLM2-135M's count
        #expect(RandomCheckpoint.Preset.qwen25.config.parameterCount == 494_032_768)    // Qwen2.5-0.5B's count
        #expect(RandomCheckpoint.Preset.pythia160m.config.parameterCount == 162_322_944) // pythia-160m's count
    }

    @Test("context: min(checkpoint, 4096) by default, settable up to the checkpoint's positions")
    func contextSetting() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var config = RandomCheckpoint.Preset.llamaTiny.config
        config.maxPositions = 8192
        try makeCheckpoint(config, into: dir.url)
        #expect(try Checkpoint.load(directory: dir.url).config.nPositions == 4096)
        #expect(try Checkpoint.load(directory: dir.url, context: 100).config.nPositions == 100)
        #expect(throws: CheckpointError.self) { try Checkpoint.load(directory: dir.url, context: 8193) }
        #expect(RandomCheckpoint.Preset.gpt2.config.nPositions == 1024)
    }

    /// A tiny checkpoint of each family, scored three ways that must agree: choices (the
    /// continuation's rotary positions continue after the shared context), a batch of plain
    /// sequences, and the same sequences packed with other requests.
    @Test("choices, shared prefixes and batching agree with plain sequences", arguments: [
        RandomCheckpoint.Preset.llamaTiny.config, RandomCheckpoint.Preset.qwen2Tiny.config, RandomCheckpoint.Preset.neoxTiny.config,
        Self.gemma3Tiny,
    ])
    func scoringFeatures(config: ModelConfig) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try makeCheckpoint(config, dtype: .bf16, into: dir.url)
        let scorer = Scorer(model: try Checkpoint.load(directory: dir.url))
        let vocab = config.vocabSize
        let context = randomRows(count: 1, length: 20, vocab: vocab, seed: 3)[0]
        let continuations = randomRows(count: 3, length: 6, vocab: vocab, seed: 4)
        let choices = try scorer.score(ScoringRequest(rows: .choices([ChoiceGroup(context: context, continuations: continuations)])))
        let full = continuations.map { context + $0 }
        let plain = try scorer.score(ScoringRequest(rows: .sequences(full)))
        let shared = try scorer.score(ScoringRequest(rows: .sequences(full), sharedPrefixMinimum: 8))
        for (c, row) in choices.rows.enumerated() {
            for (j, score) in row.positions.enumerated() {
                let expected = try #require(plain.rows[c].positions[context.count + j])
                #expect(abs(try #require(score).logprob - expected.logprob) <= 1e-5)
            }
            #expect(try #require(maxLogprobDifference(plain.rows[c], shared.rows[c])) <= 1e-5)
        }
        let other = randomRows(count: 2, length: 30, vocab: vocab, seed: 5)
        let batched = scorer.score(batch: [ScoringRequest(rows: .sequences(other)), ScoringRequest(rows: .sequences(full))])
        for (a, b) in zip(plain.rows, batched[1].rows) { #expect(try #require(maxLogprobDifference(a, b)) <= 1e-5) }
    }

    /// Local (window 5) and global layers, q/k norms, soft-caps: a Gemma 3 block with every option on.
    static let gemma3Tiny = try! ModelConfig(json: [
        "model_type": "gemma3_text", "vocab_size": 500, "hidden_size": 32, "intermediate_size": 44, "num_hidden_layers": 3,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "max_position_embeddings": 64, "sliding_window": 5,
        "sliding_window_pattern": 2, "attn_logit_softcapping": 20.0, "final_logit_softcapping": 15.0,
    ], path: "gemma3-tiny")

    /// Longer than the context: windows, each starting again at position 0, as HF's perplexity
    /// guide runs them; the first window's scores equal the plain sequence's.
    @Test("sliding windows over a rotary model")
    func rotaryWindows() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try makeCheckpoint(RandomCheckpoint.Preset.qwen2Tiny.config, into: dir.url)
        let scorer = Scorer(model: try Checkpoint.load(directory: dir.url, context: 32))
        let sequence = randomRows(count: 1, length: 100, vocab: 1200, seed: 6)[0]
        let windowed = try scorer.score(ScoringRequest(rows: .sequences([sequence]), stride: 16))
        #expect(windowed.rows[0].windows == slidingWindows(length: 100, context: 32, stride: 16).count)
        #expect(windowed.rows[0].scoredTokens == 99)
        let first = try scorer.score(ScoringRequest(rows: .sequences([Array(sequence.prefix(32))])))
        for p in 1..<32 {
            let a = try #require(windowed.rows[0].positions[p]), b = try #require(first.rows[0].positions[p])
            #expect(abs(a.logprob - b.logprob) <= 1e-6)
        }
    }
}
