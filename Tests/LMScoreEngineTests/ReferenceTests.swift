import Foundation
import LMScoreTestSupport
import LMScoreEngine
import Testing

/// The engine against Hugging Face transformers (float64 truth). Tolerances, from the issue:
/// max |Δ logprob| ≤ 2e-4, loss relative error ≤ 1e-5, identical top-5 ids and greedy flags.
@Suite("Reference vectors")
struct ReferenceTests {
    static let logprobTolerance = 2e-4
    static let lossTolerance = 1e-5

    func check(_ directory: URL) throws {
        let model = try Checkpoint.load(directory: directory)
        let reference = try Fixtures.loadReference(directory)
        let report = try ReferenceComparison.compare(scorer: Scorer(model: model), reference: reference)
        print("reference \(reference.model): \(report)")
        #expect(report.countMismatches.isEmpty, "\(report.countMismatches)")
        #expect(report.maxLogprobError <= Self.logprobTolerance, "\(report)")
        #expect(report.maxLossRelativeError <= Self.lossTolerance, "\(report)")
        #expect(report.topMismatches.isEmpty, "\(report.topMismatches)")
        #expect(report.greedyMismatches.isEmpty, "\(report.greedyMismatches)")
    }

    /// Every folder: GPT-2 (tiny, gpt2vocab-f16, sharded) and the other families (llama-gqa,
    /// qwen2-bias-bf16, neox-pythia-f16, qwen3-qknorm-sharded). A `text` case is scored from its
    /// `sequences` (the ids its text tokenizes to); its tokenization is the tokenizer's test.
    @Test("shared/reference checkpoints (skipped when ../shared is absent)",
          .enabled(if: Fixtures.hasSharedReference, "../shared/reference not found"),
          arguments: Fixtures.sharedFixtureNames())
    func sharedReference(name: String) throws {
        try check(Fixtures.sharedReference.appendingPathComponent(name))
    }

    @Test("the shared folders include every family", .enabled(if: Fixtures.hasSharedReference, "../shared/reference not found"))
    func sharedFamilies() throws {
        let types = try Set(Fixtures.sharedFixtureNames().map {
            try Checkpoint.load(directory: Fixtures.sharedReference.appendingPathComponent($0)).config.modelType
        })
        #expect(types.isSuperset(of: ["gpt2", "llama", "qwen2", "qwen3", "gpt_neox"]), "\(types)")
    }

    @Test("committed Tests/Fixtures/reference checkpoints")
    func committedReference() throws {
        let names = Fixtures.committedFixtureNames()
        #expect(!names.isEmpty, "no committed fixtures under \(Fixtures.committedReference.path)")
        for name in names {
            try check(Fixtures.committedReference.appendingPathComponent(name))
        }
    }
}
