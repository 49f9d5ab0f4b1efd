import CKernels
import Foundation

/// Per-position statistics of one model's next-token distribution, opt-in per request (they cost a
/// pass of Double exp over every logit tile the LM head folds anyway — never a second pass over logits).
public struct PositionStatistics: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// H = −Σ_v p_v log p_v, in nats.
    public static let entropy = PositionStatistics(rawValue: 1)
    /// 1 + the number of tokens ranked above the target: larger logits, or equal ones at lower ids
    /// (the first arg-max is the greedy token, as `torch.argmax` picks), so rank 1 ⇔ greedy.
    public static let rank = PositionStatistics(rawValue: 2)
}

extension LMHead {
    /// One `StatisticsFold` per row of the block (already gathered), or none when no row asks for
    /// statistics. A rank needs the target's logit before the tiles that precede the target's: it is
    /// computed here with the same product (one FMA chain over k per element, whatever M and N: the
    /// same bits as in its tile, see `matmul`) and soft-cap.
    func statisticsFolds(_ block: ArraySlice<ScoredPosition>, compute: ComputeContext) -> [StatisticsFold] {
        guard block.contains(where: { !$0.statistics.isEmpty }) else { return [] }
        let single = compute.singleThreaded
        return block.enumerated().map { i, position in
            var targetLogit: Float? = nil
            if position.statistics.contains(.rank) && position.target != ScoredPosition.argmax {
                var logit: Float = 0   // [1, 1] = gathered[i, C] · W[target, C]ᵀ
                let t = Int(position.target)
                matmul(m: 1, n: 1, k: channels, a: gathered + i * channels, lda: channels, b: weight.rowSlice(t..<t + 1),
                       transposeB: true, c: &logit, ldc: 1, compute: single)
                if let softcap { single.ops.softcap(&logit, 1, softcap) }
                targetLogit = logit
            }
            return StatisticsFold(wanted: position.statistics, target: Int(position.target), targetLogit: targetLogit)
        }
    }
}

/// Entropy and rank of one row, folded tile by tile beside its `RunningLogSumExp` (whose running
/// maximum shifts the exponentials): bounded memory, Double sums.
///   H = log S − C / S,  S = Σ_v exp(x_v − m),  C = Σ_v exp(x_v − m)·(x_v − m)
/// (H = LSE − E_p[x] with both terms taken relative to the running maximum m, so nothing cancels at
/// the size of the logits). When m rises by δ, S and C are rescaled by exp(−δ) and C also shifted.
struct StatisticsFold {
    let wanted: PositionStatistics
    let target: Int
    /// The target's logit (for the rank; nil for a greedy target, whose rank is 1).
    let targetLogit: Float?
    private var shift = -Double.infinity
    private var sum = 0.0
    private var centred = 0.0
    /// Tokens ranked above the target so far.
    private var above = 0

    init(wanted: PositionStatistics, target: Int, targetLogit: Float?) {
        self.wanted = wanted
        self.target = target
        self.targetLogit = targetLogit
    }

    /// Folds logits[firstIndex ..< firstIndex + count]; `maximum`: the running maximum including this tile.
    mutating func fold(_ logits: UnsafePointer<Float>, count: Int, firstIndex: Int, maximum: Float) {
        if wanted.contains(.entropy) { foldEntropy(logits, count: count, maximum: Double(maximum)) }
        if wanted.contains(.rank), let threshold = targetLogit {
            above += countAbove(logits, count: count, firstIndex: firstIndex, threshold: threshold)
        }
    }

    private mutating func foldEntropy(_ logits: UnsafePointer<Float>, count: Int, maximum: Double) {
        if maximum > shift {
            if sum > 0 {
                let delta = shift - maximum   // < 0
                let scale = Foundation.exp(delta)
                centred = scale * (centred + delta * sum)
                sum *= scale
            }
            shift = maximum
        }
        var s = 0.0, c = 0.0
        for j in 0..<count {
            let x = Double(logits[j]) - shift
            let w = Foundation.exp(x)
            s += w
            c += w * x
        }
        sum += s
        centred += c
    }

    /// Logits above the threshold, and equal ones at ids below the target's.
    private func countAbove(_ logits: UnsafePointer<Float>, count: Int, firstIndex: Int, threshold: Float) -> Int {
        var n = 0
        for j in 0..<count where logits[j] >= threshold {
            if logits[j] > threshold || firstIndex + j < target { n += 1 }
        }
        return n
    }

    func entropy() -> Double { Foundation.log(sum) - centred / sum }

    func attach(to score: TokenScore) -> TokenScore {
        var score = score
        if wanted.contains(.entropy) { score.entropy = entropy() }
        if wanted.contains(.rank) { score.rank = targetLogit == nil ? 1 : above + 1 }
        return score
    }
}
