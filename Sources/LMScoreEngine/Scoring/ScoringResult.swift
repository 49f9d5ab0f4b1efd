import Foundation

/// The scores of one request row.
public struct RowScore: Sendable, Equatable {
    /// One entry per position of the row, aligned like the request: for `sequences` entry 0 is nil
    /// (nothing predicts the first token); for inputs/targets, nil where the target is -100.
    public let positions: [TokenScore?]
    /// Forward windows used (more than one for sequences longer than n_positions).
    public let windows: Int
    public let scoredTokens: Int
    /// Σ log p over the scored targets, summed in Double in position order.
    public let sumLogprob: Double

    /// The greedy token after the row and its log-probability, when the request asked for it.
    public let next: TokenScore?

    public init(positions: [TokenScore?], windows: Int, next: TokenScore? = nil) {
        self.positions = positions
        self.windows = windows
        self.next = next
        var tokens = 0, sum = 0.0
        for case let score? in positions {
            tokens += 1
            sum += score.logprob
        }
        scoredTokens = tokens
        sumLogprob = sum
    }

    /// Mean negative log-probability of the scored targets; nil when nothing is scored.
    public var loss: Double? { crossEntropy(sumLogprob: sumLogprob, scoredTokens: scoredTokens) }
    public var perplexity: Double? { loss.map(Foundation.exp) }
    /// Every scored target is the model's argmax (lm-eval's `is_greedy`; true when nothing is scored).
    public var isGreedy: Bool { positions.allSatisfy { $0?.isGreedy ?? true } }
}

/// Token-weighted totals over a whole request — what `torch.nn.functional.cross_entropy`
/// returns on the flattened batch — plus HF evaluate's unweighted mean of the rows' perplexities.
public struct BatchScore: Sendable, Equatable {
    public var scoredTokens: Int
    public var sumLogprob: Double
    public var loss: Double? { crossEntropy(sumLogprob: sumLogprob, scoredTokens: scoredTokens) }
    public var perplexity: Double? { loss.map(Foundation.exp) }
    /// Mean of the perplexities of the rows that score at least one token.
    public var meanPerplexity: Double?

    public init(rows: [RowScore]) {
        var tokens = 0, sum = 0.0, perplexities: [Double] = []
        for row in rows {
            let rowTokens = row.scoredTokens
            tokens += rowTokens
            sum += row.sumLogprob
            if let p = row.perplexity { perplexities.append(p) }
        }
        scoredTokens = tokens
        sumLogprob = sum
        meanPerplexity = perplexities.isEmpty ? nil : perplexities.reduce(0, +) / Double(perplexities.count)
    }
}

public struct ScoringResult: Sendable, Equatable {
    public var rows: [RowScore]
    public var batch: BatchScore
    /// Forward passes this request took.
    public var forwardPasses: Int
    /// Tokens the plan gives this request's forward rows (a shared context or prefix counts once per
    /// pass), before the pass shares tokens across requests and takes cached ones from the prefix cache.
    public var tokensRead: Int
    /// With a reference model (`Scorer.compare`): the two distributions compared (Comparison.swift).
    public var comparison: Comparison? = nil
}

/// loss = −(Σ log p) / N; undefined (nil) for N = 0, where PyTorch returns NaN.
public func crossEntropy(sumLogprob: Double, scoredTokens: Int) -> Double? {
    scoredTokens > 0 ? -sumLogprob / Double(scoredTokens) : nil
}
