import Foundation
import Testing
@testable import LMScoreEngine

/// The whole model on the two vector paths: avx512 and avx2 products are one FMA chain per element on
/// both (the per-product check is KernelTests' avx512-vs-avx2 test), and the element-wise ops are one
/// 8-lane code on every path (ElementwiseTests), so a model's scores must be the same bits. Runs where
/// the CPU has AVX-512.
@Suite("avx512 = avx2, whole model")
struct PathEquivalenceTests {
    @Test("the bundled model's scores, top-5 and greedy flags: the same bits on avx512 and avx2",
          .enabled(if: KernelPath.avx512.isSupported, "no AVX-512 on this CPU"))
    func bundledModel() throws {
        let model = try Checkpoint.load(directory: ChoicesTests.bundledModel)
        let rows = randomRows(count: 3, length: 40, vocab: model.config.vocabSize, seed: 15)
        let request = ScoringRequest(rows: .sequences(rows), topK: 5, nextToken: true)
        let results = try [KernelPath.avx512, .avx2].map { path in
            try Scorer(model: model, compute: ComputeContext(path: path, threads: 2)).score(request)
        }
        #expect(results[0].rows == results[1].rows)
    }
}
