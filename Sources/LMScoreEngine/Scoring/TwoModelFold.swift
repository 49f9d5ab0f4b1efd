import CKernels
import Foundation

/// What two models' next-token distributions say at one position: the model p and the reference q
/// (llama.cpp's `--kl-divergence` base), both full distributions over the shared vocabulary.
public struct PositionComparison: Sendable, Equatable {
    /// The reference's own score of the target (its `logprob` has the bits scoring the reference alone gives).
    public let reference: TokenScore
    /// KL(q‖p) = Σ_v q_v (log q_v − log p_v), nats.
    public let kl: Double
    /// p(target) − q(target).
    public let deltaP: Double
    /// Both models' greedy tokens (first arg-max) are the same.
    public let sameTop: Bool
    /// −Σ_v q_v log p_v (Binoculars' cross-perplexity term, observer q, performer p).
    public let crossEntropy: Double
    /// Σ_v q_v log p_v (Fast-DetectGPT's expected log-likelihood under the reference, = −crossEntropy).
    public var expectedLogprob: Double { -crossEntropy }
    /// Σ_v q_v (log p_v)² − (Σ_v q_v log p_v)² (Fast-DetectGPT's variance).
    public let logprobVariance: Double
}

/// The Double sums one row needs for `PositionComparison`, folded over both models' logits tiles
/// together (the same vocabulary range of p's and q's logits at once). With a = p's logits, b = q's,
/// m_a, m_b their running maxima (shifts of the exponentials) and c_a, c_b fixed centres (the first
/// tile's maxima, so the moments never meet the size of the logits):
///   S_a = Σ e^(a−m_a)        S_b = Σ e^(b−m_b)        (LSE_a = m_a + log S_a, LSE_b likewise)
///   A1 = Σ e^(b−m_b)(a−c_a)  A2 = Σ e^(b−m_b)(a−c_a)²  D = Σ e^(b−m_b)((b−c_b) − (a−c_a))
/// When a maximum rises by δ the sums weighted by that model's exponentials are scaled by e^(−δ); the
/// centres never move, so nothing else changes. Then, with E_q[·] = ·/S_b:
///   Σ q log p = E_q[a − c_a] − (LSE_a − c_a)
///   Var_q(log p) = E_q[(a−c_a)²] − E_q[a−c_a]²
///   KL(q‖p) = E_q[(b−c_b) − (a−c_a)] − (LSE_b − c_b) + (LSE_a − c_a)
struct PairFold {
    private var centreA = 0.0, centreB = 0.0
    private var shiftA = -Double.infinity, shiftB = -Double.infinity
    private var sumA = 0.0, sumB = 0.0
    private var a1 = 0.0, a2 = 0.0, d = 0.0

    /// Folds a tile: p's logits `a` and q's logits `b` over the same vocabulary range; `maximumA`,
    /// `maximumB`: each model's running maximum including this tile.
    mutating func fold(a: UnsafePointer<Float>, b: UnsafePointer<Float>, count: Int, maximumA: Float, maximumB: Float) {
        let mA = Double(maximumA), mB = Double(maximumB)
        if shiftA == -.infinity { centreA = mA; centreB = mB }
        if mA > shiftA {
            sumA *= Foundation.exp(shiftA - mA)
            shiftA = mA
        }
        if mB > shiftB {
            let scale = Foundation.exp(shiftB - mB)
            sumB *= scale; a1 *= scale; a2 *= scale; d *= scale
            shiftB = mB
        }
        var sA = 0.0, sB = 0.0, s1 = 0.0, s2 = 0.0, sd = 0.0
        for j in 0..<count {
            let x = Double(a[j]), y = Double(b[j])
            sA += Foundation.exp(x - shiftA)
            let w = Foundation.exp(y - shiftB)
            let u = x - centreA
            sB += w
            s1 += w * u
            s2 += w * u * u
            sd += w * ((y - centreB) - u)
        }
        sumA += sA; sumB += sB; a1 += s1; a2 += s2; d += sd
    }

    /// The comparison, given both models' folds of the same row.
    func result(model: RunningLogSumExp, reference: RunningLogSumExp) -> PositionComparison {
        let lseA = (shiftA - centreA) + Foundation.log(sumA)   // LSE_a − c_a
        let lseB = (shiftB - centreB) + Foundation.log(sumB)   // LSE_b − c_b
        let meanA = a1 / sumB                                  // E_q[a − c_a]
        let expected = meanA - lseA                            // Σ q log p
        let variance = max(0, a2 / sumB - meanA * meanA)
        let kl = max(0, d / sumB - lseB + lseA)
        // Δp from the Double sums, so that it is exact where p ≈ q.
        let targetA = Double(model.targetLogit) - centreA, targetB = Double(reference.targetLogit) - centreB
        let deltaP = Foundation.exp(targetA - lseA) - Foundation.exp(targetB - lseB)
        return PositionComparison(reference: reference.result(), kl: kl, deltaP: deltaP, sameTop: model.argmax == reference.argmax,
                                  crossEntropy: -expected, logprobVariance: variance)
    }
}

/// Both models' LM heads over the same positions, tile by tile: for each block of rows and each
/// vocabulary tile, p's and q's logits are computed (one product each, into each head's own tile
/// buffer) and folded together — p's and q's `RunningLogSumExp` exactly as each head alone folds them
/// (so the log-probs have the bits scoring each model alone gives), and the `PairFold` over both.
/// Memory: two heads' rowBlock × vocabTile tiles, whatever the request.
enum TwoModelFold {
    static func score(model: LMHead, modelHidden: UnsafePointer<Float>, reference: LMHead, referenceHidden: UnsafePointer<Float>,
                      positions: [ScoredPosition], compute: ComputeContext) -> [(TokenScore, PositionComparison)] {
        precondition(model.vocabSize == reference.vocabSize, "compared models share one vocabulary")
        var results: [(TokenScore, PositionComparison)] = []
        results.reserveCapacity(positions.count)
        var start = 0
        while start < positions.count {
            let block = positions[start..<min(start + LMHead.rowBlock, positions.count)]
            results += scoreBlock(model: model, modelHidden: modelHidden, reference: reference, referenceHidden: referenceHidden,
                                  block: block, compute: compute)
            start += block.count
        }
        return results
    }

    private static func scoreBlock(model p: LMHead, modelHidden: UnsafePointer<Float>, reference q: LMHead,
                                   referenceHidden: UnsafePointer<Float>, block: ArraySlice<ScoredPosition>,
                                   compute: ComputeContext) -> [(TokenScore, PositionComparison)] {
        let rows = block.count
        p.gather(hidden: modelHidden, block: block)
        q.gather(hidden: referenceHidden, block: block)
        var statesP = block.map { RunningLogSumExp(target: Int($0.target), topK: $0.topK) }
        var statesQ = block.map { RunningLogSumExp(target: Int($0.target), topK: $0.topK) }
        var statistics = p.statisticsFolds(block, compute: compute)
        var pairs = [PairFold](repeating: PairFold(), count: rows)
        let slices = split(rows, parts: compute.threads)
        let ops = compute.ops
        var v0 = 0
        while v0 < p.vocabSize {
            let width = min(LMHead.vocabTile, p.vocabSize - v0)
            // p.logits[rows, width] = p.gathered[rows, C_p] · W_p[v0 ..< v0+width, C_p]ᵀ; q's likewise
            matmul(m: rows, n: width, k: p.channels, a: p.gathered, lda: p.channels, b: p.weight.rowSlice(v0..<v0 + width),
                   transposeB: true, c: p.logits, ldc: width, compute: compute)
            matmul(m: rows, n: width, k: q.channels, a: q.gathered, lda: q.channels, b: q.weight.rowSlice(v0..<v0 + width),
                   transposeB: true, c: q.logits, ldc: width, compute: compute)
            statesP.withUnsafeMutableBufferPointer { statesP in
                statesQ.withUnsafeMutableBufferPointer { statesQ in
                    pairs.withUnsafeMutableBufferPointer { pairs in
                        statistics.withUnsafeMutableBufferPointer { statistics in
                            parallelFor(slices.count) { s in
                                for i in slices[s] {
                                    let a = p.logits + i * width, b = q.logits + i * width
                                    if let cap = p.softcap { ops.softcap(a, width, cap) }
                                    if let cap = q.softcap { ops.softcap(b, width, cap) }
                                    statesP[i].fold(UnsafePointer(a), count: width, firstIndex: v0, ops: ops)
                                    statesQ[i].fold(UnsafePointer(b), count: width, firstIndex: v0, ops: ops)
                                    if !statistics.isEmpty {
                                        statistics[i].fold(UnsafePointer(a), count: width, firstIndex: v0, maximum: statesP[i].maximum)
                                    }
                                    pairs[i].fold(a: a, b: b, count: width, maximumA: statesP[i].maximum, maximumB: statesQ[i].maximum)
                                }
                            }
                        }
                    }
                }
            }
            v0 += width
        }
        return (0..<rows).map { i in
            let score = statistics.isEmpty ? statesP[i].result() : statistics[i].attach(to: statesP[i].result())
            return (score, pairs[i].result(model: statesP[i], reference: statesQ[i]))
        }
    }
}
