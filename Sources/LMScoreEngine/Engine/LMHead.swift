import CKernels
import Foundation

/// One candidate token and its log-probability.
public struct TopToken: Sendable, Equatable {
    public let id: Int32
    public let logprob: Double
}

/// What the model says about one target token.
public struct TokenScore: Sendable, Equatable {
    /// The target token scored (for a greedy next-token prediction, the model's argmax).
    public let token: Int32
    /// log_softmax(logits)[target]
    public let logprob: Double
    /// The target is the argmax (the first one, as `torch.argmax` picks on ties).
    public let isGreedy: Bool
    /// The `topK` most likely tokens, best first (empty when none were asked for).
    public let top: [TopToken]
    /// The next-token distribution's entropy in nats, when asked for (`PositionStatistics.entropy`).
    public var entropy: Double? = nil
    /// The target's rank (1 = the greedy token), when asked for (`PositionStatistics.rank`).
    public var rank: Int? = nil
}

/// A hidden-state row whose next-token distribution is to be read at `target`.
struct ScoredPosition {
    let hiddenRow: Int
    /// A token id, or `ScoredPosition.argmax`: score whichever token the model ranks first.
    let target: Int32
    /// How many most likely tokens to report.
    let topK: Int
    /// Entropy and rank, folded beside the log-sum-exp when asked for (LMHead+Statistics.swift).
    var statistics: PositionStatistics = []

    /// The target of a greedy next-token prediction: the argmax, found while folding the vocabulary.
    static let argmax: Int32 = -1
}

/// The LM head and the loss, fused: logits = h · Wᵀ are computed for a block of rows and a tile of
/// the vocabulary at a time (soft-capped when the model says) and folded into a running log-sum-exp
/// per row, the fold's loops on the context's kernels (`sum_exp`, `max_first_index`), so memory stays bounded
/// (rowBlock × vocabTile floats) whatever the request size, and each logits tile is reduced while
/// it is still in cache.
///   logprob(target) = logit[target] − max − log Σ_v exp(logit[v] − max)
final class LMHead {
    static let rowBlock = 256
    static let vocabTile = 4096

    let weight: WeightMatrix   // [V, C]
    let vocabSize: Int
    let channels: Int
    /// Logits are soft-capped to cap · tanh(logit / cap) before the fold (Gemma 2).
    let softcap: Float?
    let gathered: UnsafeMutablePointer<Float>  // [rowBlock, C]
    let logits: UnsafeMutablePointer<Float>    // [rowBlock, vocabTile]

    init(weight: WeightMatrix, vocabSize: Int, channels: Int, softcap: Float?) {
        self.weight = weight
        self.softcap = softcap
        self.vocabSize = vocabSize
        self.channels = channels
        gathered = .allocate(capacity: Self.rowBlock * channels)
        logits = .allocate(capacity: Self.rowBlock * Self.vocabTile)
    }

    deinit {
        gathered.deallocate()
        logits.deallocate()
    }

    func score(hidden: UnsafePointer<Float>, positions: [ScoredPosition], compute: ComputeContext) -> [TokenScore] {
        var results: [TokenScore] = []
        results.reserveCapacity(positions.count)
        var start = 0
        while start < positions.count {
            let block = positions[start..<min(start + Self.rowBlock, positions.count)]
            results.append(contentsOf: scoreBlock(hidden: hidden, block: block, compute: compute))
            start += block.count
        }
        return results
    }

    private func scoreBlock(hidden: UnsafePointer<Float>, block: ArraySlice<ScoredPosition>, compute: ComputeContext) -> [TokenScore] {
        let C = channels
        let rows = block.count
        gather(hidden: hidden, block: block)
        var states = block.map { RunningLogSumExp(target: Int($0.target), topK: $0.topK) }
        var statistics = statisticsFolds(block, compute: compute)   // empty when none is asked for
        let slices = split(block.count, parts: compute.threads * piecesPerThread)   // rows the threads take in turn to fold
        let ops = compute.ops
        var v0 = 0
        while v0 < vocabSize {
            let width = min(Self.vocabTile, vocabSize - v0)
            // logits[rows, width] = gathered[rows, C] · W[v0 ..< v0+width, C]ᵀ
            matmul(m: rows, n: width, k: C, a: gathered, lda: C, b: weight.rowSlice(v0..<v0 + width), transposeB: true,
                   c: logits, ldc: width, compute: compute)
            states.withUnsafeMutableBufferPointer { states in
                statistics.withUnsafeMutableBufferPointer { statistics in
                    parallelFor(slices.count, threads: compute.threads) { _, s in
                        for i in slices[s] {
                            if let softcap { ops.softcap(logits + i * width, width, softcap) }
                            states[i].fold(UnsafePointer(logits + i * width), count: width, firstIndex: v0, ops: ops)
                            if !statistics.isEmpty {
                                statistics[i].fold(UnsafePointer(logits + i * width), count: width, firstIndex: v0, maximum: states[i].maximum)
                            }
                        }
                    }
                }
            }
            v0 += width
        }
        return zip(states.indices, states).map { i, state in
            statistics.isEmpty ? state.result() : statistics[i].attach(to: state.result())
        }
    }

    /// gathered[i] = hidden[block[i].hiddenRow]   // [rows, C]
    func gather(hidden: UnsafePointer<Float>, block: ArraySlice<ScoredPosition>) {
        for (i, position) in block.enumerated() {
            (gathered + i * channels).update(from: hidden + position.hiddenRow * channels, count: channels)
        }
    }
}

/// Online log-sum-exp over vocabulary tiles: when a tile raises the maximum, the sum so far is
/// rescaled by exp(old max − new max). Sums are kept in Double.
struct RunningLogSumExp {
    let target: Int
    let topK: Int
    private(set) var maximum = -Float.infinity
    private(set) var argmax = -1
    private(set) var sum = 0.0
    private(set) var targetLogit = Float.nan
    /// The best `topK` (logit, id) so far, best first.
    private var best: [(logit: Float, id: Int)] = []

    init(target: Int, topK: Int) {
        self.target = target
        self.topK = topK
        best.reserveCapacity(topK + 1)
    }

    mutating func fold(_ logits: UnsafePointer<Float>, count: Int, firstIndex: Int, ops: lmk_elementwise) {
        var tileMax: Float = 0
        let tileArgmax = ops.max_first_index(logits, count, &tileMax)
        if tileMax > maximum {
            sum *= Foundation.exp(Double(maximum) - Double(tileMax))
            maximum = tileMax
            argmax = firstIndex + tileArgmax
        }
        sum += ops.sum_exp(logits, count, maximum)
        if target >= firstIndex && target < firstIndex + count { targetLogit = logits[target - firstIndex] }
        if topK > 0 { keepBest(logits, count: count, firstIndex: firstIndex) }
    }

    func result() -> TokenScore {
        let logSum = Double(maximum) + Foundation.log(sum)
        let greedyPrediction = target == Int(ScoredPosition.argmax)
        return TokenScore(
            token: Int32(greedyPrediction ? argmax : target),
            logprob: Double(greedyPrediction ? maximum : targetLogit) - logSum,
            isGreedy: greedyPrediction || argmax == target,
            top: best.map { TopToken(id: Int32($0.id), logprob: Double($0.logit) - logSum) })
    }

    private mutating func keepBest(_ logits: UnsafePointer<Float>, count: Int, firstIndex: Int) {
        var threshold = best.count == topK ? best[topK - 1].logit : -Float.infinity
        for j in 0..<count where logits[j] > threshold {
            let entry = (logit: logits[j], id: firstIndex + j)
            // Insert after equal logits, so ties keep the lower id first.
            var slot = best.count
            while slot > 0 && best[slot - 1].logit < entry.logit { slot -= 1 }
            best.insert(entry, at: slot)
            if best.count > topK { best.removeLast() }
            if best.count == topK { threshold = best[topK - 1].logit }
        }
    }
}
