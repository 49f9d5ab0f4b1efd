import Foundation

/// Scores requests: plans each row into forward rows (segments), packs segments from any number of
/// requests into forward passes of at most `maxTokensPerForward` tokens, runs the model and the fused
/// LM-head/log-softmax, and gathers every target's score back into its request row.
///
/// One pass runs at a time (a lock guards the reusable buffers); the model itself is shared.
public final class Scorer: @unchecked Sendable {
    public let model: GPT2Model
    public let maxTokensPerForward: Int
    private let lock = NSLock()
    private let workspace: Workspace
    private let head: LMHead

    public init(model: GPT2Model, maxTokensPerForward: Int = 4096) {
        self.model = model
        self.maxTokensPerForward = max(maxTokensPerForward, model.config.nPositions)
        BLASThreads.setLibraryThreads(1)  // the engine threads above BLAS (see ComputeThreads)
        workspace = Workspace(config: model.config)
        head = LMHead(weight: model.weights.lmHead, vocabSize: model.config.vocabSize, channels: model.config.nEmbd)
    }

    public var config: ModelConfig { model.config }

    /// Validates and scores one request.
    public func score(_ request: ScoringRequest) throws(ValidationError) -> ScoringResult {
        try request.validate(for: model.config)
        return score(batch: [request])[0]
    }

    /// Scores already-validated requests together, sharing forward passes; results come back in order.
    /// A row's scores do not depend on what it is packed with, up to the BLAS library's rounding.
    public func score(batch requests: [ScoringRequest]) -> [ScoringResult] {
        lock.lock()
        defer { lock.unlock() }
        var segments: [Segment] = []
        var positions: [[[TokenScore?]]] = []   // [request][row][position]
        var windows: [[Int]] = []
        for (r, request) in requests.enumerated() {
            let plan = plan(request, requestIndex: r)
            segments += plan.segments
            positions.append(plan.rowLengths.map { [TokenScore?](repeating: nil, count: $0) })
            windows.append(plan.windows)
        }

        var passes = [Int](repeating: 0, count: requests.count)
        var next = 0
        while next < segments.count {
            var batch = ForwardBatch()
            var members: [Segment] = []
            while next < segments.count,
                  members.isEmpty || batch.tokens.count + segments[next].inputs.count <= maxTokensPerForward {
                batch.append(segments[next].inputs)
                members.append(segments[next])
                next += 1
            }
            for request in Set(members.map(\.request)) { passes[request] += 1 }
            let scores = run(batch, members)
            for (segment, targetIndex, score) in scores {
                positions[segment.request][segment.row][segment.firstPosition + targetIndex] = score
            }
        }

        return requests.indices.map { r in
            let rows = zip(positions[r], windows[r]).map { RowScore(positions: $0, windows: $1) }
            return ScoringResult(rows: rows, batch: BatchScore(rows: rows), forwardPasses: passes[r])
        }
    }

    /// One forward pass, then the LM head over the positions that have a target.
    private func run(_ batch: ForwardBatch, _ members: [Segment]) -> [(Segment, Int, TokenScore)] {
        let hidden = model.forward(batch, workspace: workspace)
        var wanted: [ScoredPosition] = []
        var owners: [(Segment, Int)] = []
        for (segment, rowRange) in zip(members, batch.rows) {
            for (j, target) in segment.targets.enumerated() where target != ScoringRequest.ignoredTarget {
                wanted.append(ScoredPosition(hiddenRow: rowRange.lowerBound + j, target: target, topK: segment.topK))
                owners.append((segment, j))
            }
        }
        let scores = head.score(hidden: hidden, positions: wanted)
        if workspace.capacity > 4 * maxTokensPerForward { workspace.shrink() }
        return zip(owners, scores).map { ($0.0, $0.1, $1) }
    }

    private struct Plan {
        var segments: [Segment] = []
        var rowLengths: [Int] = []
        var windows: [Int] = []
    }

    private func plan(_ request: ScoringRequest, requestIndex: Int) -> Plan {
        var plan = Plan()
        let context = model.config.nPositions
        switch request.rows {
        case .sequences(let sequences):
            let stride = request.stride ?? max(1, context / 2)
            for (r, sequence) in sequences.enumerated() {
                plan.rowLengths.append(sequence.count)
                let rowWindows = slidingWindows(length: sequence.count, context: context, stride: stride)
                plan.windows.append(rowWindows.count)
                for window in rowWindows where window.span.count > 1 {
                    // The window reads span[0 ..< n−1]; input j predicts token span[j+1].
                    let inputs = sequence[window.span.lowerBound ..< window.span.upperBound - 1]
                    let targets = (window.span.lowerBound + 1 ..< window.span.upperBound).map {
                        window.scored.contains($0) ? sequence[$0] : ScoringRequest.ignoredTarget
                    }
                    plan.segments.append(Segment(
                        request: requestIndex, row: r, inputs: inputs, targets: targets,
                        firstPosition: window.span.lowerBound + 1, topK: request.topK))
                }
            }
        case .inputsTargets(let inputs, let targets):
            for (r, (input, target)) in zip(inputs, targets).enumerated() {
                plan.rowLengths.append(input.count)
                plan.windows.append(1)
                plan.segments.append(Segment(
                    request: requestIndex, row: r, inputs: input[...], targets: target, firstPosition: 0, topK: request.topK))
            }
        }
        return plan
    }
}

/// One forward row: the tokens it reads and, per token, the target it is scored on (-100: none).
struct Segment {
    let request: Int
    let row: Int
    let inputs: ArraySlice<Int32>
    let targets: [Int32]
    /// Index in the request row's positions of targets[0].
    let firstPosition: Int
    let topK: Int
}
