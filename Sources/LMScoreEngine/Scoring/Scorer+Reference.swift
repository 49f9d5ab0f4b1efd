import Foundation

extension Scorer {
    /// Whether `reference` can be compared with this model: the same vocabulary size (the tokenizers'
    /// sameness is the API's check) and a context at least this model's, whose windows plan the rows.
    public func checkComparable(with reference: Scorer) throws(ValidationError) {
        guard reference !== self else {
            throw ValidationError(parameter: "reference", message: "the reference must be another model than `model`")
        }
        try Self.checkComparable(config, reference: reference.config)
    }

    /// The shapes' part of `checkComparable`, for callers that hold only the configurations.
    public static func checkComparable(_ model: ModelConfig, reference: ModelConfig) throws(ValidationError) {
        guard reference.vocabSize == model.vocabSize else {
            throw ValidationError(parameter: "reference", message: "the models' vocabularies differ in size: "
                + "\(model.vocabSize) (model) and \(reference.vocabSize) (reference)")
        }
        guard reference.numerics == model.numerics else {   // the pass computes both on one context's kernels
            throw ValidationError(parameter: "reference", message: "the models compute with different numerics: "
                + "\(model.numerics.rawValue) (model) and \(reference.numerics.rawValue) (reference)")
        }
        guard reference.nPositions >= model.nPositions else {
            throw ValidationError(parameter: "reference", message: "the reference's context (\(reference.nPositions) tokens) "
                + "is shorter than the model's (\(model.nPositions)); cap both with --context")
        }
    }

    /// Scores already-validated requests with this model p and `reference` q over the same forward rows
    /// (the windows this model's context gives): each pass runs both models' forward and folds both
    /// LM heads' logits tiles together (`TwoModelFold`). Each result's rows are p's scores (the bits
    /// `score(batch:)` gives), its `comparison` q's scores, the per-position comparisons and the
    /// request's KL-divergence summary. Requests must not ask for a next-token prediction.
    public func compare(batch requests: [ScoringRequest], reference: Scorer,
                        progress: ((_ tokensRead: Int, _ tokensTotal: Int) -> Void)? = nil) -> [ScoringResult] {
        precondition(reference !== self && reference.config.vocabSize == config.vocabSize, "checkComparable first")
        precondition(requests.allSatisfy { !$0.nextToken }, "a comparison scores given tokens only")
        // Both scorers' buffers are used: lock them in one global order, so two opposite comparisons cannot deadlock.
        let (first, second) = ObjectIdentifier(self) < ObjectIdentifier(reference) ? (self, reference) : (reference, self)
        first.lock.lock()
        second.lock.lock()
        defer {
            second.lock.unlock()
            first.lock.unlock()
        }
        let statistics = requests.map(\.statistics)
        let passes = runPasses(requests, progress: progress) { units in
            let (batch, wanted, targets) = headPositions(units, statistics: statistics)
            let modelHidden = model.forward(batch, workspace: workspace, compute: compute)
            let referenceHidden = reference.model.forward(batch, workspace: reference.workspace, compute: compute)
            let scores = TwoModelFold.score(model: head, modelHidden: modelHidden, reference: reference.head,
                                            referenceHidden: referenceHidden, positions: wanted, compute: compute)
            for scorer in [self, reference] where scorer.workspace.capacity > 4 * maxTokensPerForward { scorer.workspace.shrink() }
            return targets.map { ($0, scores[$1]) }
        }
        return requests.indices.map { r in
            let slots = passes.slots[r]
            var result = passes.result(r, requests[r], scores: slots.map { $0.map { $0?.0 } })
            let referenceRows = passes.result(r, requests[r], scores: slots.map { $0.map { $0?.1.reference } }).rows
            var summaryPositions: [KLDSummary.Position] = []
            let rows = zip(zip(slots, result.rows), referenceRows).map { pair, referenceRow in
                let (rowSlots, modelRow) = pair
                for case let (score, comparison)? in rowSlots {
                    summaryPositions.append(KLDSummary.Position(kl: comparison.kl, deltaP: comparison.deltaP, sameTop: comparison.sameTop,
                                                                logprob: score.logprob, referenceLogprob: comparison.reference.logprob))
                }
                return RowComparison(positions: rowSlots.map { $0?.1 }, model: modelRow, reference: referenceRow)
            }
            result.comparison = Comparison(rows: rows, summary: KLDSummary(summaryPositions))
            return result
        }
    }
}
