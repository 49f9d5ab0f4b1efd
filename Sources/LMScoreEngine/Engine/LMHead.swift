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
}

/// A hidden-state row whose next-token distribution is to be read at `target`.
struct ScoredPosition {
    let hiddenRow: Int
    /// A token id, or `ScoredPosition.argmax`: score whichever token the model ranks first.
    let target: Int32
    /// How many most likely tokens to report.
    let topK: Int

    /// The target of a greedy next-token prediction: the argmax, found while folding the vocabulary.
    static let argmax: Int32 = -1
}

/// The LM head and the loss, fused: logits = h · Wᵀ are computed for a block of rows and a tile of
/// the vocabulary at a time and folded into a running log-sum-exp per row, so memory stays bounded
/// (rowBlock × vocabTile floats) whatever the request size, and each logits tile is reduced while
/// it is still in cache.
///   logprob(target) = logit[target] − max − log Σ_v exp(logit[v] − max)
final class LMHead {
    static let rowBlock = 256
    static let vocabTile = 4096

    private let weight: WeightMatrix   // [V, C]
    private let vocabSize: Int
    private let channels: Int
    private let gathered: UnsafeMutablePointer<Float>  // [rowBlock, C]
    private let logits: UnsafeMutablePointer<Float>    // [rowBlock, vocabTile]

    init(weight: WeightMatrix, vocabSize: Int, channels: Int) {
        self.weight = weight
        self.vocabSize = vocabSize
        self.channels = channels
        gathered = .allocate(capacity: Self.rowBlock * channels)
        logits = .allocate(capacity: Self.rowBlock * Self.vocabTile)
    }

    deinit {
        gathered.deallocate()
        logits.deallocate()
    }

    func score(hidden: UnsafePointer<Float>, positions: [ScoredPosition]) -> [TokenScore] {
        var results: [TokenScore] = []
        results.reserveCapacity(positions.count)
        var start = 0
        while start < positions.count {
            let block = positions[start..<min(start + Self.rowBlock, positions.count)]
            results.append(contentsOf: scoreBlock(hidden: hidden, block: block))
            start += block.count
        }
        return results
    }

    private func scoreBlock(hidden: UnsafePointer<Float>, block: ArraySlice<ScoredPosition>) -> [TokenScore] {
        let C = channels
        let rows = block.count
        for (i, position) in block.enumerated() {
            (gathered + i * C).update(from: hidden + position.hiddenRow * C, count: C)
        }
        var states = block.map { RunningLogSumExp(target: Int($0.target), topK: $0.topK) }
        let slices = split(block.count, parts: ComputeThreads.count)   // the rows each thread folds
        let path = KernelPath.current
        var v0 = 0
        while v0 < vocabSize {
            let width = min(Self.vocabTile, vocabSize - v0)
            // logits[rows, width] = gathered[rows, C] · W[v0 ..< v0+width, C]ᵀ
            matmul(m: rows, n: width, k: C, a: gathered, lda: C, b: weight.rowSlice(v0..<v0 + width), transposeB: true,
                   c: logits, ldc: width)
            states.withUnsafeMutableBufferPointer { states in
                parallelFor(slices.count) { s in
                    for i in slices[s] { states[i].fold(UnsafePointer(logits + i * width), count: width, firstIndex: v0, path: path) }
                }
            }
            v0 += width
        }
        return states.map { $0.result() }
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

    mutating func fold(_ logits: UnsafePointer<Float>, count: Int, firstIndex: Int, path: KernelPath = .current) {
        let (tileMax, tileArgmax) = path.maxAndFirstIndex(logits, count: count)
        if tileMax > maximum {
            sum *= Foundation.exp(Double(maximum) - Double(tileMax))
            maximum = tileMax
            argmax = firstIndex + tileArgmax
        }
        sum += path.sumOfExp(logits, count: count, shift: maximum)
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

// The fold's two loops in Swift: what the portable path runs; vocab_fold_avx2.c is the same operations
// in AVX2 registers (Swift compiles these for baseline x86-64, two SSE halves per 8 lanes).

/// The largest value and the first index holding it, in one pass: each lane keeps its largest value
/// and where it first saw it (a later equal value does not replace it); the first index overall is
/// the smallest of the lanes holding the maximum. NaNs are never the maximum.
func portableMaxAndFirstIndex(_ x: UnsafePointer<Float>, count: Int) -> (Float, Int) {
    var lanes = Floats(repeating: -.infinity)
    var laneIndex = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7)
    var index = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7)
    var j = 0
    while j + 8 <= count {
        let v = load(x + j)
        let larger = v .> lanes
        lanes.replace(with: v, where: larger)
        laneIndex.replace(with: index, where: larger)
        index &+= 8
        j += 8
    }
    var maximum = lanes.max()
    var first = count
    for lane in 0..<8 where lanes[lane] == maximum && Int(laneIndex[lane]) < count {
        first = min(first, Int(laneIndex[lane]))
    }
    while j < count {
        if x[j] > maximum {
            maximum = x[j]
            first = j
        }
        j += 1
    }
    if first < count && x[first] == maximum { return (maximum, first) }
    // A NaN where a lane of -inf values began: the first index holding the maximum (as a scan finds it).
    first = 0
    while x[first] != maximum && first < count - 1 { first += 1 }
    return (maximum, first)
}

/// Σ exp(x − shift), accumulated in Float lanes over 512-value stretches and in Double across them.
func portableSumOfExp(_ x: UnsafePointer<Float>, count: Int, shift: Float) -> Double {
    let s = Floats(repeating: shift)
    var total = 0.0
    var j = 0
    while j + 8 <= count {
        let end = min(count - (count - j) % 8, j + 512)
        var lanes = Floats()
        while j < end {
            lanes += exp(load(x + j) - s)
            j += 8
        }
        total += Double(lanes.sum())
    }
    while j < count {
        total += Foundation.exp(Double(x[j]) - Double(shift))
        j += 1
    }
    return total
}

extension KernelPath {
    /// The largest non-NaN value of a logits tile and the first index holding it.
    func maxAndFirstIndex(_ x: UnsafePointer<Float>, count: Int) -> (Float, Int) {
        switch self {
        #if arch(x86_64)
        case .avx512, .avx2:
            var maximum: Float = 0
            let first = lmk_max_first_index_avx2(x, count, &maximum)
            return (maximum, first)
        #else
        case .avx512, .avx2: preconditionFailure("\(rawValue) exists only on x86-64")
        #endif
        case .portable: return portableMaxAndFirstIndex(x, count: count)
        }
    }

    /// Σ exp(x[i] − shift) over a logits tile; the same bits on every path.
    func sumOfExp(_ x: UnsafePointer<Float>, count: Int, shift: Float) -> Double {
        switch self {
        #if arch(x86_64)
        case .avx512, .avx2: return lmk_sum_exp_avx2(x, count, shift)
        #else
        case .avx512, .avx2: preconditionFailure("\(rawValue) exists only on x86-64")
        #endif
        case .portable: return portableSumOfExp(x, count: count, shift: shift)
        }
    }
}
