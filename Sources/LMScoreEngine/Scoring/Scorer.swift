import Foundation

/// Scores requests: plans each request into forward rows (segments), packs segments from any number
/// of requests into forward passes of at most `maxTokensPerForward` tokens, runs the model and the
/// fused LM-head/log-softmax, and gathers every target's score back into its request row.
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
        var units: [Unit] = []
        var positions: [[[TokenScore?]]] = []   // [request][row][position]; a last extra slot for `next`
        var windows: [[Int]] = []
        for (r, request) in requests.enumerated() {
            let plan = plan(request, requestIndex: r)
            units += plan.units
            positions.append(plan.rowSlots.map { [TokenScore?](repeating: nil, count: $0) })
            windows.append(plan.windows)
        }

        var passes = [Int](repeating: 0, count: requests.count)
        var next = 0
        while next < units.count {
            var members: [Unit] = []
            var tokens = 0
            while next < units.count, members.isEmpty || tokens + units[next].tokenCount <= maxTokensPerForward {
                members.append(units[next])
                tokens += units[next].tokenCount
                next += 1
            }
            for request in Set(members.map(\.request)) { passes[request] += 1 }
            for (target, score) in run(members) {
                positions[target.request][target.row][target.position] = score
            }
        }

        return requests.enumerated().map { r, request in
            let rows = zip(positions[r], windows[r]).map { slots, windows in
                request.nextToken
                    ? RowScore(positions: Array(slots.dropLast()), windows: windows, next: slots.last!)
                    : RowScore(positions: slots, windows: windows)
            }
            return ScoringResult(rows: rows, batch: BatchScore(rows: rows), forwardPasses: passes[r])
        }
    }

    /// One forward pass over the units' segments, then the LM head over the positions that have a target.
    private func run(_ units: [Unit]) -> [(Target, TokenScore)] {
        var batch = ForwardBatch()
        var wanted: [ScoredPosition] = []
        var targets: [Target] = []
        for unit in units {
            var unitRows: [Int] = []
            for segment in unit.segments {
                let row = batch.append(segment.inputs, continuing: segment.prefix.map { unitRows[$0] })
                unitRows.append(row)
                for target in segment.targets {
                    wanted.append(ScoredPosition(hiddenRow: batch.rows[row].lowerBound + target.input,
                                                 target: target.token, topK: unit.topK))
                    targets.append(target)
                }
            }
        }
        let hidden = model.forward(batch, workspace: workspace)
        let scores = head.score(hidden: hidden, positions: wanted)
        if workspace.capacity > 4 * maxTokensPerForward { workspace.shrink() }
        return Array(zip(targets, scores))
    }

    private struct Plan {
        var units: [Unit] = []
        /// Per result row: the number of score slots (its positions, plus one for `next`).
        var rowSlots: [Int] = []
        var windows: [Int] = []
    }

    private func plan(_ request: ScoringRequest, requestIndex: Int) -> Plan {
        var plan = Plan()
        let context = model.config.nPositions
        func unit(_ segments: [Segment]) -> Unit { Unit(request: requestIndex, topK: request.topK, segments: segments) }
        switch request.rows {
        case .sequences(let sequences):
            let stride = request.stride ?? max(1, context / 2)
            for (r, sequence) in sequences.enumerated() {
                plan.rowSlots.append(sequence.count + (request.nextToken ? 1 : 0))
                let rowWindows = slidingWindows(length: sequence.count, context: context, stride: stride)
                plan.windows.append(rowWindows.count)
                // With a next-token prediction, the last window reads its last token too, when it fits.
                let nextInLastWindow = request.nextToken && sequence.count <= context
                for (w, window) in rowWindows.enumerated() {
                    let readsAll = nextInLastWindow && w == rowWindows.count - 1
                    // Input j (token span[j]) predicts token span[j+1].
                    let inputs = sequence[window.span.lowerBound ..< window.span.upperBound - (readsAll ? 0 : 1)]
                    guard !inputs.isEmpty else { continue }
                    var targets = (window.span.lowerBound + 1 ..< window.span.upperBound)
                        .filter { window.scored.contains($0) }
                        .map { Target(request: requestIndex, row: r, position: $0, input: $0 - 1 - window.span.lowerBound, token: sequence[$0]) }
                    if readsAll {
                        targets.append(Target(request: requestIndex, row: r, position: sequence.count,
                                              input: inputs.count - 1, token: ScoredPosition.argmax))
                    }
                    plan.units.append(unit([Segment(inputs: inputs, prefix: nil, targets: targets)]))
                }
                if request.nextToken && !nextInLastWindow {
                    // Longer than the context: one more window, the last n_positions tokens, for the prediction.
                    let inputs = sequence[(sequence.count - context)...]
                    plan.units.append(unit([Segment(inputs: inputs, prefix: nil, targets: [
                        Target(request: requestIndex, row: r, position: sequence.count, input: inputs.count - 1, token: ScoredPosition.argmax),
                    ])]))
                }
            }
        case .inputsTargets(let inputs, let targets):
            for (r, (input, target)) in zip(inputs, targets).enumerated() {
                plan.rowSlots.append(input.count)
                plan.windows.append(1)
                let scored = target.enumerated().filter { $0.element != ScoringRequest.ignoredTarget }
                    .map { Target(request: requestIndex, row: r, position: $0.offset, input: $0.offset, token: $0.element) }
                plan.units.append(unit([Segment(inputs: input[...], prefix: nil, targets: scored)]))
            }
        case .choices(let groups):
            var row = 0
            for group in groups {
                let firstRow = row
                for continuation in group.continuations {
                    plan.rowSlots.append(continuation.count)
                    plan.windows.append(1)
                    row += 1
                }
                plan.units += choiceUnits(group, firstRow: firstRow, request: requestIndex, topK: request.topK)
            }
        }
        return plan
    }

    /// A context read once and its continuations attending to it, in as few units as fit a pass.
    /// Continuation c's first token is predicted by the context's last position, and its token j+1 by
    /// its own input j; its last token is never read.
    private func choiceUnits(_ group: ChoiceGroup, firstRow: Int, request: Int, topK: Int) -> [Unit] {
        var units: [Unit] = []
        var current = Unit(request: request, topK: topK, segments: [Segment(inputs: group.context[...], prefix: nil, targets: [])])
        for (c, continuation) in group.continuations.enumerated() {
            let row = firstRow + c
            if current.segments.count > 1, current.tokenCount + continuation.count - 1 > maxTokensPerForward {
                units.append(current)
                current.segments = [Segment(inputs: group.context[...], prefix: nil, targets: [])]
            }
            current.segments[0].targets.append(
                Target(request: request, row: row, position: 0, input: group.context.count - 1, token: continuation[0]))
            if continuation.count > 1 {
                let targets = (1..<continuation.count).map {
                    Target(request: request, row: row, position: $0, input: $0 - 1, token: continuation[$0])
                }
                current.segments.append(Segment(inputs: continuation.dropLast(), prefix: 0, targets: targets))
            }
        }
        units.append(current)
        return units
    }
}

/// Segments that must share one forward pass: a row and the rows that continue it as their prefix.
struct Unit {
    let request: Int
    let topK: Int
    var segments: [Segment]

    var tokenCount: Int { segments.reduce(0) { $0 + $1.inputs.count } }
}

/// One forward row: the tokens it reads, the unit segment it continues (nil: none), and the targets
/// its hidden states are scored on.
struct Segment {
    let inputs: ArraySlice<Int32>
    let prefix: Int?
    var targets: [Target]
}

/// "The hidden state of input `input` predicts `token`; store the score at row `row`, `position`."
struct Target {
    let request: Int
    let row: Int
    let position: Int
    let input: Int
    /// A token id, or `ScoredPosition.argmax` for a greedy next-token prediction.
    let token: Int32
}
