import Foundation
import LMScoreTestSupport
import Testing
@testable import LMScoreEngine

/// On GPT-2 124M, a sequence's scores alone and packed with others, at any position, are the same
/// bits: the kernels fix every element's reduction order (Sources/CKernels/gemm_template.h).
@Suite("Batch invariance on GPT-2 124M")
struct BatchInvarianceTests {
    @Test func aloneAndPackedAtAnyPositionAreTheSameBits() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try makeCheckpoint(RandomCheckpoint.Preset.gpt2.config, seed: 0, into: dir.url)
        let model = try Checkpoint.load(directory: dir.url)
        let scorer = Scorer(model: model)

        // Different lengths, so rows land at different offsets and the products have odd M.
        var rows = randomRows(count: 6, length: 40, vocab: 50257, seed: 5)
        rows[1] = Array(rows[1].prefix(7))
        rows[4] += randomRows(count: 1, length: 90, vocab: 50257, seed: 6)[0]
        let packed = try scorer.score(ScoringRequest(rows: .sequences(rows), topK: 5))
        #expect(packed.forwardPasses == 1)

        for (r, row) in rows.enumerated() {
            let alone = try scorer.score(ScoringRequest(rows: .sequences([row]), topK: 5)).rows[0]
            #expect(alone == packed.rows[r], "row \(r) alone vs packed")
        }
        // The same rows in another order and with others around them: every row at a new position.
        let reordered = try scorer.score(ScoringRequest(rows: .sequences([rows[5]] + rows.reversed()), topK: 5))
        for (r, row) in reordered.rows.dropFirst().reversed().enumerated() {
            #expect(row == packed.rows[r], "row \(r) packed at position \(rows.count - r)")
        }
    }
}
