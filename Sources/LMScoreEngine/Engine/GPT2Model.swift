import Foundation

/// A loaded GPT-2 language model: its configuration and FP32 weights. Immutable and shareable;
/// the mutable buffers a forward pass needs live in a `Workspace`.
public final class GPT2Model: Sendable {
    public let config: ModelConfig
    public let summary: Checkpoint.Summary
    let weights: GPT2Weights

    /// The model directory's name, as responses report it.
    public var name: String { URL(fileURLWithPath: summary.directory).lastPathComponent }

    init(config: ModelConfig, weights: GPT2Weights, summary: Checkpoint.Summary) {
        self.config = config
        self.weights = weights
        self.summary = summary
    }

    /// Runs the transformer over packed rows and returns the final hidden states, after `ln_f`:
    /// a pointer into `workspace` holding [T, C], valid until the workspace is next used.
    func forward(_ batch: ForwardBatch, workspace ws: Workspace) -> UnsafeMutablePointer<Float> {
        let T = batch.tokens.count
        let C = config.nEmbd, I = config.nInner
        ws.reserve(tokens: T, longestRow: batch.longestAttentionSpan)
        let x = ws.residual      // [T, C]  the residual stream
        let ln = ws.normed       // [T, C]  layer-norm output, input of each sub-layer
        let qkv = ws.qkv         // [T, 3C]
        let att = ws.attended    // [T, C]
        let fc = ws.hidden       // [T, I]

        embed(batch, into: x)
        let headScale = config.scaleAttnWeights ? 1 / Float(config.headSize).squareRoot() : 1
        for (l, layer) in weights.layers.enumerated() {
            let scale = config.scaleAttnByInverseLayerIdx ? headScale / Float(l + 1) : headScale
            // Attention sub-layer: x += c_proj(attention(c_attn(ln_1(x))))
            layerNorm(x, into: ln, rows: T, width: C, gain: layer.ln1Gain, bias: layer.ln1Bias, epsilon: Float(config.layerNormEpsilon))
            linear(ln, layer.qkvWeight, layer.qkvBias, into: qkv, rows: T, in: C, out: 3 * C)
            attention(qkv: qkv, out: att, rows: batch.rows, prefixes: batch.prefixes, channels: C, heads: config.nHead,
                      scale: scale, scratch: ws.scores, scratchStride: ws.scoresPerThread, threads: ws.scoreThreads)
            linear(att, layer.attnProjWeight, layer.attnProjBias, into: x, rows: T, in: C, out: C, accumulate: true)
            // MLP sub-layer: x += c_proj(gelu(c_fc(ln_2(x))))
            layerNorm(x, into: ln, rows: T, width: C, gain: layer.ln2Gain, bias: layer.ln2Bias, epsilon: Float(config.layerNormEpsilon))
            linear(ln, layer.fcWeight, layer.fcBias, into: fc, rows: T, in: C, out: I)
            gelu(fc, count: T * I, activation: config.activation)
            linear(fc, layer.mlpProjWeight, layer.mlpProjBias, into: x, rows: T, in: I, out: C, accumulate: true)
        }
        layerNorm(x, into: ln, rows: T, width: C, gain: weights.lnFGain, bias: weights.lnFBias, epsilon: Float(config.layerNormEpsilon))
        return ln
    }

    /// x[t] = wte[token t] + wpe[position of t]; a row's positions start after its prefix, if any.
    private func embed(_ batch: ForwardBatch, into x: UnsafeMutablePointer<Float>) {
        let C = config.nEmbd
        for (row, prefix) in zip(batch.rows, batch.prefixes) {
            let first = prefix?.count ?? 0
            for t in row {
                let position = weights.positionEmbedding + (first + t - row.lowerBound) * C
                let out = x + t * C
                weights.tokenEmbedding.copyRow(Int(batch.tokens[t]), into: out)
                for i in 0..<C { out[i] += position[i] }
            }
        }
    }

    /// GPT-2's Conv1D: out[T, n] (+)= x[T, k] · W[k, n] + b
    private func linear(
        _ x: UnsafePointer<Float>, _ weight: WeightMatrix, _ bias: UnsafePointer<Float>,
        into out: UnsafeMutablePointer<Float>, rows: Int, in k: Int, out n: Int, accumulate: Bool = false
    ) {
        matmul(m: rows, n: n, k: k, a: x, lda: k, b: weight, c: out, ldc: n, beta: accumulate ? 1 : 0)
        addBias(out, rows: rows, width: n, bias: bias)
    }
}

/// Rows packed into one token matrix, no padding: row r occupies tokens[rows[r]].
///
/// A row may continue another row of the same batch, its prefix (a multiple-choice context shared by
/// several continuations): its tokens then sit at positions prefix.count, prefix.count + 1, … and attend
/// to the prefix's keys and values before their own, so the prefix is computed once for all of them.
/// Otherwise a row's tokens sit at positions 0, 1, … and see only each other.
struct ForwardBatch {
    var tokens: [Int32] = []
    var rows: [Range<Int>] = []
    /// Per row: the tokens of the row it continues, or nil.
    var prefixes: [Range<Int>?] = []

    /// The most keys any query attends to: a prefix plus its own row.
    var longestAttentionSpan: Int {
        zip(rows, prefixes).map { $0.count + ($1?.count ?? 0) }.max() ?? 0
    }

    /// Appends a row and returns its index. `prefix` is the index of an earlier row without a prefix.
    @discardableResult
    mutating func append(_ row: ArraySlice<Int32>, continuing prefix: Int? = nil) -> Int {
        precondition(prefix.map { $0 < rows.count && prefixes[$0] == nil } ?? true, "a prefix must be an earlier plain row")
        let start = tokens.count
        tokens.append(contentsOf: row)
        rows.append(start..<tokens.count)
        prefixes.append(prefix.map { rows[$0] })
        return rows.count - 1
    }
}

/// The forward pass's buffers, grown on demand and reused between calls, so a busy server does not
/// fault in fresh pages for every batch. Not shared between concurrent passes.
final class Workspace {
    private let config: ModelConfig
    private(set) var capacity = 0
    private(set) var scoresCapacity = 0
    private(set) var residual: UnsafeMutablePointer<Float>
    private(set) var normed: UnsafeMutablePointer<Float>
    private(set) var qkv: UnsafeMutablePointer<Float>
    private(set) var attended: UnsafeMutablePointer<Float>
    private(set) var hidden: UnsafeMutablePointer<Float>
    private(set) var scores: UnsafeMutablePointer<Float>    // [threads, queryBlock, longest row]
    private(set) var scoresPerThread = 0
    /// The thread count `scores` was sized for (ComputeThreads.count when reserved).
    private(set) var scoreThreads = 1

    init(config: ModelConfig) {
        self.config = config
        residual = .allocate(capacity: 1); normed = .allocate(capacity: 1); qkv = .allocate(capacity: 1)
        attended = .allocate(capacity: 1); hidden = .allocate(capacity: 1); scores = .allocate(capacity: 1)
    }

    func reserve(tokens: Int, longestRow: Int) {
        if tokens > capacity {
            let C = config.nEmbd
            for buffer in [residual, normed, qkv, attended, hidden] { buffer.deallocate() }
            residual = .allocate(capacity: tokens * C)
            normed = .allocate(capacity: tokens * C)
            qkv = .allocate(capacity: tokens * 3 * C)
            attended = .allocate(capacity: tokens * C)
            hidden = .allocate(capacity: tokens * config.nInner)
            capacity = tokens
        }
        let perThread = min(attentionQueryBlock, longestRow) * longestRow
        scoreThreads = ComputeThreads.count
        let needed = perThread * scoreThreads
        if needed > scoresCapacity {
            scores.deallocate()
            scores = .allocate(capacity: needed)
            scoresCapacity = needed
        }
        scoresPerThread = perThread
    }

    /// Returns memory to the system (after an unusually large request).
    func shrink() {
        for buffer in [residual, normed, qkv, attended, hidden, scores] { buffer.deallocate() }
        residual = .allocate(capacity: 1); normed = .allocate(capacity: 1); qkv = .allocate(capacity: 1)
        attended = .allocate(capacity: 1); hidden = .allocate(capacity: 1); scores = .allocate(capacity: 1)
        capacity = 0
        scoresCapacity = 0
    }

    deinit { for buffer in [residual, normed, qkv, attended, hidden, scores] { buffer.deallocate() } }
}
