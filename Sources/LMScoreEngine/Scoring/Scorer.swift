import Foundation

/// Scores requests: plans each request into forward rows (segments), packs segments from any number
/// of requests into forward passes of at most `maxTokensPerForward` tokens, runs the model and the
/// fused LM-head/log-softmax, and gathers every target's score back into its request row.
///
/// One pass runs at a time (a lock guards the reusable buffers); the model itself is shared.
public final class Scorer: @unchecked Sendable {
    public let model: DecoderModel
    public let maxTokensPerForward: Int
    /// The kernels and threads every pass runs on.
    public let compute: ComputeContext
    /// Keys/values and answers of token prefixes, kept across calls (`prefixCacheBytes`; 0: nothing kept).
    public let prefixCache: PrefixCache
    let lock = NSLock()
    let workspace: Workspace
    let head: LMHead

    /// `compute`: the kernels and threads (default: the process's path and `ComputeThreads.count` now),
    /// in the variant of the model's `numerics`.
    /// `prefixCacheBytes`: the prefix cache's budget (0: off; the scores are the same bits either way).
    public init(model: DecoderModel, maxTokensPerForward: Int = 4096, compute: ComputeContext = .process(), prefixCacheBytes: Int = 0) {
        self.model = model
        self.maxTokensPerForward = max(maxTokensPerForward, model.config.nPositions)
        self.compute = compute.with(numerics: model.config.numerics)
        prefixCache = PrefixCache(budgetBytes: prefixCacheBytes, config: model.config)
        workspace = Workspace(config: model.config)
        head = LMHead(weight: model.weights.lmHead, vocabSize: model.config.vocabSize, channels: model.config.nEmbd,
                      softcap: model.config.finalLogitSoftcap)
    }

    public var config: ModelConfig { model.config }

    /// Validates and scores one request.
    public func score(_ request: ScoringRequest) throws(ValidationError) -> ScoringResult {
        try request.validate(for: model.config)
        return score(batch: [request])[0]
    }

    /// Scores already-validated requests together, sharing forward passes; results come back in order.
    /// A row's scores do not depend on what it is packed with: the same bits alone or in any batch.
    /// `progress`, if given, is called after each forward pass with the tokens read so far and in all
    /// (a long text scored in many windows: `lmscore perplexity`'s progress line).
    public func score(batch requests: [ScoringRequest], progress: ((_ tokensRead: Int, _ tokensTotal: Int) -> Void)? = nil) -> [ScoringResult] {
        lock.lock()
        defer { lock.unlock() }
        let statistics = requests.map(\.statistics)
        // One forward pass over the units' segments, then the LM head over the positions that have a
        // target (`runPass`, Scorer+PrefixCache.swift): tokens several segments share — a context, a
        // shared prefix, the same prompt twice — are computed once, tokens the prefix cache holds not at
        // all, and a (position, target, k, statistics) wanted by several result rows goes through the
        // LM head once.
        let passes = runPasses(requests, progress: progress) { units in runPass(units, statistics: statistics) }
        return requests.indices.map { r in passes.result(r, requests[r], scores: passes.slots[r]) }
    }

    /// What `runPasses` gathers per request: each row's slots (a last extra slot for `next`), and the
    /// windows, passes and tokens read.
    struct Passes<Score> {
        var slots: [[[Score?]]]   // [request][row][position]
        var windows: [[Int]]
        var passes: [Int]
        var tokensRead: [Int]

        /// Request r's `ScoringResult` from its token scores.
        func result(_ r: Int, _ request: ScoringRequest, scores: [[TokenScore?]]) -> ScoringResult {
            let rows = zip(scores, windows[r]).map { slots, windows in
                request.nextToken
                    ? RowScore(positions: Array(slots.dropLast()), windows: windows, next: slots.last!)
                    : RowScore(positions: slots, windows: windows)
            }
            return ScoringResult(rows: rows, batch: BatchScore(rows: rows), forwardPasses: passes[r], tokensRead: tokensRead[r])
        }
    }

    /// Plans every request into units, packs them into forward passes of at most `maxTokensPerForward`
    /// tokens, runs `pass` on each (the forward pass and LM head, returning each target's score) and
    /// puts the scores into their requests' slots. The caller holds the lock.
    func runPasses<Score>(_ requests: [ScoringRequest], progress: ((_ tokensRead: Int, _ tokensTotal: Int) -> Void)?,
                          pass: ([Unit]) -> [(Target, Score)]) -> Passes<Score> {
        var units: [Unit] = []
        var result = Passes<Score>(slots: [], windows: [], passes: [Int](repeating: 0, count: requests.count),
                                   tokensRead: [Int](repeating: 0, count: requests.count))
        for (r, request) in requests.enumerated() {
            let plan = plan(request, requestIndex: r)
            units += plan.units
            result.slots.append(plan.rowSlots.map { [Score?](repeating: nil, count: $0) })
            result.windows.append(plan.windows)
        }

        for unit in units { result.tokensRead[unit.request] += unit.tokenCount }
        let tokensTotal = result.tokensRead.reduce(0, +)
        var tokensDone = 0
        var next = 0
        while next < units.count {
            var members: [Unit] = []
            var tokens = 0
            while next < units.count, members.isEmpty || tokens + units[next].tokenCount <= maxTokensPerForward {
                members.append(units[next])
                tokens += units[next].tokenCount
                next += 1
            }
            for request in Set(members.map(\.request)) { result.passes[request] += 1 }
            for (target, score) in pass(members) {
                result.slots[target.request][target.row][target.position] = score
            }
            tokensDone += tokens
            progress?(tokensDone, tokensTotal)
        }
        return result
    }

    /// One forward pass's rows and the positions the LM head scores: a (hidden state, target) pair
    /// wanted by several result rows — a shared prefix's tokens, a context's prediction of the same
    /// first token — goes through the LM head once. `statistics`: what each request asks for.
    func headPositions(_ units: [Unit], statistics: [PositionStatistics]) -> (ForwardBatch, [ScoredPosition], [(Target, Int)]) {
        var batch = ForwardBatch()
        var wanted: [ScoredPosition] = []
        var index: [HeadKey: Int] = [:]
        var targets: [(Target, Int)] = []   // each target and its entry in `wanted`
        for unit in units {
            var unitRows: [Int] = []
            for segment in unit.segments {
                let row = batch.append(segment.inputs, continuing: segment.prefix.map { unitRows[$0] })
                unitRows.append(row)
                for target in segment.targets {
                    let key = HeadKey(hiddenRow: batch.rows[row].lowerBound + target.input, token: target.token, topK: unit.topK,
                                      statistics: statistics[unit.request])
                    let slot = index[key] ?? {
                        wanted.append(ScoredPosition(hiddenRow: key.hiddenRow, target: key.token, topK: key.topK, statistics: key.statistics))
                        index[key] = wanted.count - 1
                        return wanted.count - 1
                    }()
                    targets.append((target, slot))
                }
            }
        }
        return (batch, wanted, targets)
    }

    struct HeadKey: Hashable {
        let hiddenRow: Int
        let token: Int32
        let topK: Int
        let statistics: PositionStatistics
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
            plan.rowSlots = sequences.map { $0.count + (request.nextToken ? 1 : 0) }
            plan.windows = sequences.map { _ in 1 }
            var groups = sequences.indices.map { PrefixGroup(rows: [$0], length: sequences[$0].count) }
            if let minimum = request.sharedPrefixMinimum, sequences.allSatisfy({ $0.count <= context }) {
                groups = prefixGroups(sequences, minimum: minimum)
            }
            for group in groups {
                if group.rows.count == 1 {
                    let r = group.rows[0]
                    let (units, windows) = sequenceUnits(sequences[r], row: r, request: request, requestIndex: requestIndex, stride: stride)
                    plan.units += units
                    plan.windows[r] = windows
                } else {
                    plan.units += sharedPrefixUnits(group, sequences, request: request, requestIndex: requestIndex)
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

    /// One sequence in sliding windows: the units and how many windows.
    private func sequenceUnits(_ sequence: [Int32], row r: Int, request: ScoringRequest, requestIndex: Int, stride: Int) -> ([Unit], Int) {
        let context = model.config.nPositions
        func unit(_ segment: Segment) -> Unit { Unit(request: requestIndex, topK: request.topK, segments: [segment]) }
        var units: [Unit] = []
        let rowWindows = slidingWindows(length: sequence.count, context: context, stride: stride)
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
            units.append(unit(Segment(inputs: inputs, prefix: nil, targets: targets)))
        }
        if request.nextToken && !nextInLastWindow {
            // Longer than the context: one more window, the last n_positions tokens, for the prediction.
            let inputs = sequence[(sequence.count - context)...]
            units.append(unit(Segment(inputs: inputs, prefix: nil, targets: [
                Target(request: requestIndex, row: r, position: sequence.count, input: inputs.count - 1, token: ScoredPosition.argmax),
            ])))
        }
        return (units, rowWindows.count)
    }

    /// Rows sharing their first `length` tokens (at least `minimum`), gathered greedily in row order:
    /// a row joins the group it shares the most tokens with, shortening the group's prefix to what they
    /// all share — unless that would cut the prefix by more than a quarter (a row sharing only a
    /// template's first words must not undo a long shared context); then it starts a group of its own.
    private func prefixGroups(_ sequences: [[Int32]], minimum: Int) -> [PrefixGroup] {
        var groups: [PrefixGroup] = []
        for (r, sequence) in sequences.enumerated() {
            let candidates = groups.indices.map { g in
                (g, commonPrefixLength(sequences[groups[g].rows[0]], sequence, upTo: groups[g].length))
            }.filter { g, shared in
                shared >= minimum && (groups[g].rows.count == 1 || 4 * shared >= 3 * groups[g].length)
            }
            if let (g, shared) = candidates.max(by: { $0.1 < $1.1 }) {
                groups[g].length = shared
                groups[g].rows.append(r)
            } else {
                groups.append(PrefixGroup(rows: [r], length: sequence.count))
            }
        }
        return groups
    }

    private func commonPrefixLength(_ a: [Int32], _ b: [Int32], upTo limit: Int) -> Int {
        var n = 0
        let end = min(limit, a.count, b.count)
        while n < end && a[n] == b[n] { n += 1 }
        return n
    }

    /// Rows that start with the same tokens: the prefix is read once (its positions scored once for all
    /// rows), and each row's remainder attends to it, as a multiple-choice continuation does.
    private func sharedPrefixUnits(_ group: PrefixGroup, _ sequences: [[Int32]], request: ScoringRequest, requestIndex: Int) -> [Unit] {
        let shared = sequences[group.rows[0]][..<group.length]
        let P = shared.count
        var prefixTargets: [Target] = []
        for r in group.rows {
            let sequence = sequences[r]
            for p in 1..<P { prefixTargets.append(Target(request: requestIndex, row: r, position: p, input: p - 1, token: sequence[p])) }
            if sequence.count > P {
                prefixTargets.append(Target(request: requestIndex, row: r, position: P, input: P - 1, token: sequence[P]))
            } else if request.nextToken {
                prefixTargets.append(Target(request: requestIndex, row: r, position: P, input: P - 1, token: ScoredPosition.argmax))
            }
        }
        var units: [Unit] = []
        var current = Unit(request: requestIndex, topK: request.topK, segments: [Segment(inputs: shared, prefix: nil, targets: prefixTargets)])
        for r in group.rows where sequences[r].count > P {
            let sequence = sequences[r]
            let end = request.nextToken ? sequence.count : sequence.count - 1
            guard end > P else { continue }   // one token past the prefix, no prediction after it
            var targets = (P + 1 ..< sequence.count).map {
                Target(request: requestIndex, row: r, position: $0, input: $0 - 1 - P, token: sequence[$0])
            }
            if request.nextToken {
                targets.append(Target(request: requestIndex, row: r, position: sequence.count, input: end - 1 - P, token: ScoredPosition.argmax))
            }
            if current.segments.count > 1, current.tokenCount + (end - P) > maxTokensPerForward {
                units.append(current)
                current.segments = [Segment(inputs: shared, prefix: nil, targets: [])]
            }
            current.segments.append(Segment(inputs: sequence[P ..< end], prefix: 0, targets: targets))
        }
        units.append(current)
        return units
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

/// Request rows whose first `length` tokens are the same.
struct PrefixGroup {
    var rows: [Int]
    var length: Int
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
