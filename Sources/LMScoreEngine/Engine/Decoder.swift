import Foundation

/// A loaded decoder-only language model: its description (`ModelConfig`) and weights. Immutable and
/// shareable; the mutable buffers a forward pass needs live in a `Workspace`.
public final class DecoderModel: Sendable {
    public let config: ModelConfig
    public let summary: Checkpoint.Summary
    let weights: DecoderWeights
    let heads: AttentionHeads
    /// cos/sin per position for rotary models (nil: learned positions).
    let rotary: RotaryTable?

    /// The model directory's name, as responses report it.
    public var name: String { URL(fileURLWithPath: summary.directory).lastPathComponent }

    init(config: ModelConfig, weights: DecoderWeights, summary: Checkpoint.Summary) {
        self.config = config
        self.weights = weights
        self.summary = summary
        heads = AttentionHeads(count: config.nHead, keyValueCount: config.nKVHead, size: config.headSize, layout: weights.qkvLayout)
        rotary = if case .rotary(let description) = config.positions { RotaryTable(description, positions: config.nPositions) } else { nil }
    }

    /// Runs the transformer over packed rows and returns the final hidden states, after the final
    /// norm: a pointer into `workspace` holding [T, C], valid until the workspace is next used.
    func forward(_ batch: ForwardBatch, workspace ws: Workspace) -> UnsafeMutablePointer<Float> {
        let T = batch.tokens.count
        ws.reserve(tokens: T, longestRow: batch.longestAttentionSpan)
        let x = ws.residual      // [T, C]  the residual stream
        let ln = ws.normed       // [T, C]  norm output, input of each sub-layer
        let positions = batch.positions()

        embed(batch, positions: positions, into: x)
        for (l, layer) in weights.layers.enumerated() {
            if config.parallelResidual {
                // x += attn(ln_1 x) + mlp(ln_2 x): both norms read x before either sub-layer adds to it.
                let ln2 = ws.normedForMLP  // [T, C]
                norm(x, layer.attentionNorm, into: ln, rows: T)
                norm(x, layer.mlpNorm, into: ln2, rows: T)
                attention(ln, layer, index: l, batch: batch, positions: positions, workspace: ws, addingTo: x)
                mlp(ln2, layer, rows: T, workspace: ws, addingTo: x)
            } else {
                // x += attn(ln_1 x); x += mlp(ln_2 x)
                norm(x, layer.attentionNorm, into: ln, rows: T)
                attention(ln, layer, index: l, batch: batch, positions: positions, workspace: ws, addingTo: x)
                norm(x, layer.mlpNorm, into: ln, rows: T)
                mlp(ln, layer, rows: T, workspace: ws, addingTo: x)
            }
        }
        norm(x, weights.finalNorm, into: ln, rows: T)
        return ln
    }

    /// x[t] = embedding[token t] (+ learned position[t]).
    private func embed(_ batch: ForwardBatch, positions: [Int], into x: UnsafeMutablePointer<Float>) {
        let C = config.nEmbd
        for (t, token) in batch.tokens.enumerated() {
            let out = x + t * C
            weights.tokenEmbedding.copyRow(Int(token), into: out)
            if let table = weights.positionEmbedding {
                let position = table + positions[t] * C
                for i in 0..<C { out[i] += position[i] }
            }
        }
    }

    /// The configured norm (LayerNorm or RMSNorm) of every row.
    private func norm(_ x: UnsafePointer<Float>, _ weights: NormWeights, into out: UnsafeMutablePointer<Float>, rows: Int) {
        switch config.norm {
        case .layerNorm: layerNorm(x, into: out, rows: rows, width: config.nEmbd, gain: weights.gain, bias: weights.bias!, epsilon: config.normEpsilon)
        case .rmsNorm: rmsNorm(x, into: out, rows: rows, width: config.nEmbd, stride: config.nEmbd, gain: weights.gain, epsilon: config.normEpsilon)
        }
    }

    /// Attention sub-layer: x += out_proj(attention(rotate(qk_norm(qkv(input))))).
    private func attention(
        _ input: UnsafePointer<Float>, _ layer: LayerWeights, index l: Int, batch: ForwardBatch, positions: [Int],
        workspace ws: Workspace, addingTo x: UnsafeMutablePointer<Float>
    ) {
        let T = batch.tokens.count
        let qkv = ws.qkv         // [T, heads.rowWidth]
        let att = ws.attended    // [T, heads.outputWidth]
        project(input, layer.qkv, into: qkv, rows: T)
        if let queryNorm = layer.queryNorm, let keyNorm = layer.keyNorm {
            normalizeHeads(qkv, heads: heads, rows: batch.tokens.count, queryGain: queryNorm, keyGain: keyNorm, epsilon: config.normEpsilon)
        }
        rotary?.rotate(qkv, heads: heads, positions: positions)
        var scale = config.scaleAttnWeights ? 1 / Float(config.headSize).squareRoot() : 1
        if config.scaleAttnByInverseLayerIdx { scale /= Float(l + 1) }
        causalAttention(qkv: qkv, heads: heads, out: att, rows: batch.rows, prefixes: batch.prefixes, scale: scale,
                        window: config.slidingWindow, scratch: ws.scores, scratchStride: ws.scoresPerThread, threads: ws.scoreThreads)
        project(att, [layer.attentionOutput], into: x, rows: T, accumulate: true)
    }

    /// MLP sub-layer: x += down(act(up input)), or x += down(silu(gate input) · up input).
    private func mlp(
        _ input: UnsafePointer<Float>, _ layer: LayerWeights, rows T: Int, workspace ws: Workspace, addingTo x: UnsafeMutablePointer<Float>
    ) {
        let I = config.nInner
        let hidden = ws.hidden   // [T, I] (GELU) or [T, 2I]: gate | up (SwiGLU)
        project(input, layer.mlpIn, into: hidden, rows: T)
        switch config.mlp {
        case .gelu(let activation):
            gelu(hidden, count: T * I, activation: activation)
            project(hidden, [layer.mlpOut], into: x, rows: T, accumulate: true)
        case .swiGLU:
            swiGLU(hidden, rows: T, width: I)   // silu(gate) · up into the gate half
            project(hidden, [layer.mlpOut], into: x, rows: T, inputStride: 2 * I, accumulate: true)
        }
    }
}

/// out[T, Σ outputs] (+)= x[T, in] through each linear part, the parts' outputs side by side.
/// `inputStride` is x's row stride (default: the parts' input width).
func project(
    _ x: UnsafePointer<Float>, _ parts: [Linear], into out: UnsafeMutablePointer<Float>, rows: Int,
    inputStride: Int? = nil, accumulate: Bool = false
) {
    let width = parts.reduce(0) { $0 + $1.outputs }
    var column = 0
    for part in parts {
        matmul(m: rows, n: part.outputs, k: part.inputs, a: x, lda: inputStride ?? part.inputs, b: part.weight,
               transposeB: part.storedOutIn, c: out + column, ldc: width, beta: accumulate ? 1 : 0)
        if let bias = part.bias { addBias(out + column, rows: rows, width: part.outputs, stride: width, bias: bias) }
        column += part.outputs
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

    /// Each token's position: a row's positions start after its prefix, if any.
    func positions() -> [Int] {
        var positions = [Int](repeating: 0, count: tokens.count)
        for (row, prefix) in zip(rows, prefixes) {
            let first = prefix?.count ?? 0
            for t in row { positions[t] = first + t - row.lowerBound }
        }
        return positions
    }

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

