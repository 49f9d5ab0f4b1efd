import Foundation

/// A request scored by a model p and a reference q at once (`Scorer.compare`): per position
/// `PositionComparison`, per row the reference's own scores and two detection scores, per request
/// llama.cpp's KL-divergence summary.
public struct Comparison: Sendable, Equatable {
    public var rows: [RowComparison]
    /// nil when no position is scored.
    public var summary: KLDSummary?
}

public struct RowComparison: Sendable, Equatable {
    /// Aligned with the model's `RowScore.positions`: nil where that is nil.
    public let positions: [PositionComparison?]
    /// The reference's scores of the row (the bits scoring it with the reference alone gives).
    public let reference: RowScore
    /// Binoculars (Hans et al. 2024; observer q, performer p): log-ppl_p / mean cross-entropy
    ///   = (−Σ_t log p(x_t) / N) / (Σ_t −Σ_v q_v log p_v / N); nil when nothing is scored.
    public let binoculars: Double?
    /// Fast-DetectGPT's analytic criterion (Bao et al. 2024; sampling model q, scoring model p):
    ///   (Σ_t log p(x_t) − Σ_t μ_t) / √(Σ_t σ²_t),  μ_t = Σ_v q_v log p_v,  σ²_t = Σ_v q_v (log p_v)² − μ_t²;
    /// nil when nothing is scored or the variances sum to 0.
    public let fastDetectGPT: Double?

    init(positions: [PositionComparison?], model: RowScore, reference: RowScore) {
        self.positions = positions
        self.reference = reference
        var crossEntropy = 0.0, expected = 0.0, variance = 0.0, n = 0
        for case let position? in positions {
            crossEntropy += position.crossEntropy
            expected += position.expectedLogprob
            variance += position.logprobVariance
            n += 1
        }
        binoculars = n > 0 ? model.loss.map { $0 / (crossEntropy / Double(n)) } : nil
        fastDetectGPT = n > 0 && variance > 0 ? (model.sumLogprob - expected) / variance.squareRoot() : nil
    }
}
