import Testing
@testable import LMScoreEngine

/// The LM head's fold over a vocabulary tile: the greedy token is the first index of the largest logit
/// (as `torch.argmax` picks on ties), whatever the tile's length, ties, -inf or NaN values (a tile
/// with no finite logit, impossible with finite weights, is not a case).
@Suite("LM head fold: arg-max")
struct LMHeadFoldTests {
    /// The first index of the largest non-NaN value, by a plain scan.
    private func firstIndexOfMaximum(_ x: [Float]) -> Int {
        var best = -Float.infinity, index = -1
        for (i, v) in x.enumerated() where v > best || (index < 0 && v == best) {
            best = v
            index = i
        }
        return index < 0 ? x.count - 1 : index
    }

    private func greedyToken(_ logits: [Float]) -> Int {
        var state = RunningLogSumExp(target: Int(ScoredPosition.argmax), topK: 0)
        logits.withUnsafeBufferPointer { state.fold($0.baseAddress!, count: $0.count, firstIndex: 0) }
        return Int(state.result().token)
    }

    @Test("random tiles with ties, -inf and NaN: the first index of the maximum")
    func firstIndexOfTheMaximum() {
        var random = SplitMix64(seed: 5)
        for count in [1, 2, 7, 8, 9, 15, 16, 17, 31, 64, 100, 4096] {
            for trial in 0..<40 {
                // Few distinct values, so that ties are common; some -inf and NaN.
                var logits = (0..<count).map { _ in Float(Int(random.uniform() * 5)) }
                for i in logits.indices {
                    let r = random.uniform()
                    if r < 0.1 { logits[i] = -.infinity } else if r < 0.15 && trial % 2 == 0 { logits[i] = .nan }
                }
                if !logits.contains(where: \.isFinite) { logits[count / 2] = 1 }   // a tile of the vocabulary has a finite logit
                #expect(greedyToken(logits) == firstIndexOfMaximum(logits), "count \(count) trial \(trial): \(logits.prefix(40))")
            }
        }
    }

    @Test("NaN and -inf before the maximum, ties after it: the first index of the maximum")
    func edgeTiles() {
        for count in [2, 8, 9, 17, 24] {
            var logits = [Float](repeating: -.infinity, count: count)
            logits[0] = .nan
            logits[count - 1] = 3
            #expect(greedyToken(logits) == count - 1)
            logits[count / 2] = 3
            #expect(greedyToken(logits) == min(count / 2, count - 1))
        }
    }
}
