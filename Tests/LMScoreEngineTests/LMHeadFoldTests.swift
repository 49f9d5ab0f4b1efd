import CKernels
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
        let ops = ComputeContext(path: KernelPath.supported[0], threads: 1).ops
        logits.withUnsafeBufferPointer { state.fold($0.baseAddress!, count: $0.count, firstIndex: 0, ops: ops) }
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

/// The fold's loops (elementwise_template.h) give the portable path's bits on every path: Σ exp(x −
/// shift) over tiles of every length up to a vocabulary tile, and the maximum and its first index.
@Suite("LM head fold: every path, the same bits")
struct LMHeadFoldPathTests {
    let portable = ComputeContext(path: .portable, threads: 1).ops

    /// Logits as a model gives them (±12 around 0), with the edge values a tile can hold.
    private func tile(count: Int, random: inout SplitMix64, edges: Bool) -> [Float] {
        var x = (0..<count).map { _ in Float(random.uniform() * 24 - 12) }
        guard edges else { return x }
        let specials: [Float] = [0, -0.0, -.infinity, 100, -100, 88.7, -87.4, .leastNonzeroMagnitude, 1e-30]
        for i in x.indices where random.uniform() < 0.08 { x[i] = specials[Int(random.uniform() * Double(specials.count))] }
        return x
    }

    @Test("Σ exp(x − shift): the portable bits on every path", arguments: KernelPath.supported)
    func sumOfExp(path: KernelPath) {
        var random = SplitMix64(seed: 17)
        var checked = 0
        for count in [1, 7, 8, 9, 63, 64, 511, 512, 513, 520, 1000, 1031, 4096, 50257 % 4096] {
            for trial in 0..<12 {
                let x = tile(count: count, random: &random, edges: trial % 3 == 2)
                let shift = trial % 4 == 0 ? x.filter(\.isFinite).max() ?? 0 : Float(random.uniform() * 8 - 4)
                let (expected, actual) = x.withUnsafeBufferPointer {
                    (portable.sum_exp($0.baseAddress!, count, shift),
                     ComputeContext(path: path, threads: 1).ops.sum_exp($0.baseAddress!, count, shift))
                }
                #expect(actual.bitPattern == expected.bitPattern, "count \(count) trial \(trial): \(actual) vs \(expected)")
                checked += 1
            }
        }
        #expect(checked == 14 * 12)
    }

    @Test("maximum and first index: the portable result on every path, with ±0, -inf and NaN", arguments: KernelPath.supported)
    func maxAndFirstIndex(path: KernelPath) {
        var random = SplitMix64(seed: 23)
        for count in [1, 2, 7, 8, 9, 16, 17, 100, 4096] {
            for trial in 0..<40 {
                // Few distinct values (ties common), signed zeros, -inf, and NaN in half the trials.
                var x = (0..<count).map { _ in Float(Int(random.uniform() * 3)) - 2 }
                for i in x.indices {
                    let r = random.uniform()
                    if r < 0.15 { x[i] = -0.0 } else if r < 0.3 { x[i] = 0 } else if r < 0.4 { x[i] = -.infinity }
                    else if r < 0.45 && trial % 2 == 0 { x[i] = .nan }
                }
                let ops = ComputeContext(path: path, threads: 1).ops
                var expected: (Float, Int) = (0, 0), actual: (Float, Int) = (0, 0)
                x.withUnsafeBufferPointer {
                    expected.1 = portable.max_first_index($0.baseAddress!, count, &expected.0)
                    actual.1 = ops.max_first_index($0.baseAddress!, count, &actual.0)
                }
                #expect(actual.0.bitPattern == expected.0.bitPattern && actual.1 == expected.1,
                        "count \(count) trial \(trial): \(actual) vs \(expected) for \(x.prefix(24))")
            }
        }
    }
}
