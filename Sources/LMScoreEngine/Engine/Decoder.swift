import Foundation

/// A loaded decoder-only language model: its description (`ModelConfig`, one `LayerSpec` per layer)
/// and weights. Immutable and shareable; the mutable buffers a forward pass needs live in a
/// `Workspace`, the kernels and threads come with the pass's `ComputeContext`.
public final class DecoderModel: Sendable {
    public let config: ModelConfig
    public let summary: Checkpoint.Summary
    let weights: DecoderWeights
    let heads: AttentionHeads
    /// cos/sin per position of each layer's RoPE (nil: no rotary); layers with the same RoPE share one.
    let rotary: [RotaryTable?]
    /// The embeddings' scale as HF applies it: `embed_scale.to(weight.dtype)`, the FP32 value rounded
    /// to the embedding's stored type (Gemma 3 270M with BF16 weights: √640 = 25.298 becomes 25.25).
    let embeddingScale: Float?

    /// The model directory's name, as responses report it.
    public var name: String { URL(fileURLWithPath: summary.directory).lastPathComponent }

    init(config: ModelConfig, weights: DecoderWeights, summary: Checkpoint.Summary) {
        precondition(config.layers.count == weights.layers.count, "one LayerWeights per LayerSpec")
        for (spec, layer) in zip(config.layers, weights.layers) {
            precondition(spec.postAttentionNorm == (layer.postAttentionNorm != nil) && spec.postMLPNorm == (layer.postMLPNorm != nil)
                         && spec.attention.queryKeyNorm == (layer.queryNorm != nil), "the weights match the layer's spec")
        }
        self.config = config
        self.weights = weights
        self.summary = summary
        heads = AttentionHeads(count: config.nHead, keyValueCount: config.nKVHead, size: config.headSize, layout: weights.qkvLayout)
        embeddingScale = config.embeddingScale.map { weights.tokenEmbedding.elementType.rounded($0) }
        var tables: [Rotary: RotaryTable] = [:]
        rotary = config.layers.map { layer in
            layer.attention.rotary.map { description in
                if let table = tables[description] { return table }
                let table = RotaryTable(description, positions: config.nPositions)
                tables[description] = table
                return table
            }
        }
    }

    /// Runs the transformer over packed rows and returns the final hidden states, after the final
    /// norm: a pointer into `workspace` holding [T, C], valid until the workspace is next used.
    func forward(_ batch: ForwardBatch, workspace ws: Workspace, compute: ComputeContext) -> UnsafeMutablePointer<Float> {
        let T = batch.tokens.count
        ws.reserve(tokens: T, longestRow: batch.longestAttentionSpan, threads: compute.threads)
        let x = ws.residual      // [T, C]  the residual stream
        let ln = ws.normed       // [T, C]  norm output, input of each sub-layer
        let positions = batch.positions()

        embed(batch, positions: positions, into: x, compute: compute)
        for (l, (spec, layer)) in zip(config.layers, weights.layers).enumerated() {
            switch spec.residual {
            case .parallel:
                // x += attn(norm_1 x) + mlp(norm_2 x): both norms read x before either sub-layer adds to it.
                let ln2 = ws.normedForMLP  // [T, C]
                norm(x, layer.attentionNorm, into: ln, rows: T, compute)
                norm(x, layer.mlpNorm, into: ln2, rows: T, compute)
                attention(ln, spec.attention, layer, index: l, batch: batch, positions: positions, workspace: ws, compute, addingTo: x)
                mlp(ln2, spec.mlp, layer, rows: T, workspace: ws, compute, addingTo: x)
            case .sequential:
                // x += attn(norm_1 x); x += mlp(norm_2 x)   (a sub-layer's output normed first when it has a post-norm)
                norm(x, layer.attentionNorm, into: ln, rows: T, compute)
                attention(ln, spec.attention, layer, index: l, batch: batch, positions: positions, workspace: ws, compute, addingTo: x)
                norm(x, layer.mlpNorm, into: ln, rows: T, compute)
                mlp(ln, spec.mlp, layer, rows: T, workspace: ws, compute, addingTo: x)
            }
        }
        norm(x, weights.finalNorm, into: ln, rows: T, compute)
        for (row, block) in batch.stores {
            block.hidden.update(from: ln + batch.rows[row].lowerBound * config.nEmbd, count: batch.rows[row].count * config.nEmbd)
        }
        return ln
    }

    /// x[t] = embedding[token t] (+ learned position[t]) (· embedding scale).
    private func embed(_ batch: ForwardBatch, positions: [Int], into x: UnsafeMutablePointer<Float>, compute: ComputeContext) {
        let C = config.nEmbd
        let ops = compute.ops
        for (t, token) in batch.tokens.enumerated() {
            let out = x + t * C
            weights.tokenEmbedding.copyRow(Int(token), into: out, compute: compute)
            if let table = weights.positionEmbedding { ops.add(out, table + positions[t] * C, C) }
            if let scale = embeddingScale { ops.scale(out, C, scale) }
        }
    }

    /// The model's norm (`config.norm`) of every row.
    private func norm(_ x: UnsafePointer<Float>, _ weights: NormWeights, into out: UnsafeMutablePointer<Float>, rows: Int,
                      _ compute: ComputeContext) {
        normalize(x, weights, into: out, rows: rows, width: config.nEmbd, config.norm, compute: compute)
    }

    /// Attention sub-layer: x += [post-norm] out_proj(attention(rotate(qk_norm(qkv(input))))).
    private func attention(
        _ input: UnsafePointer<Float>, _ spec: AttentionSpec, _ layer: LayerWeights, index l: Int, batch: ForwardBatch,
        positions: [Int], workspace ws: Workspace, _ compute: ComputeContext, addingTo x: UnsafeMutablePointer<Float>
    ) {
        let T = batch.tokens.count
        let qkv = ws.qkv         // [T, heads.rowWidth]
        let att = ws.attended    // [T, heads.outputWidth]
        project(input, layer.qkv, into: qkv, rows: T, compute: compute)
        if let queryNorm = layer.queryNorm, let keyNorm = layer.keyNorm {
            normalizeHeads(qkv, heads: heads, rows: T, queryGain: queryNorm, keyGain: keyNorm, config.norm, compute: compute)
        }
        rotary[l]?.rotate(qkv, heads: heads, positions: positions, compute: compute)
        for (row, block) in batch.stores { block.store(layer: l, qkv: qkv, tokens: batch.rows[row], heads: heads) }
        causalAttention(qkv: qkv, heads: heads, out: att, rows: batch.rows, contexts: batch.contexts, layer: l, spec: spec,
                        scratch: ws.scores, scratchStride: ws.scoresPerThread, compute: compute)
        addOutput(att, layer.attentionOutput, postNorm: layer.postAttentionNorm, rows: T, workspace: ws, compute, to: x)
    }

    /// MLP sub-layer: x += [post-norm] down(act(up input)), or down(act(gate input) · up input) when gated.
    private func mlp(
        _ input: UnsafePointer<Float>, _ spec: MLPSpec, _ layer: LayerWeights, rows T: Int, workspace ws: Workspace,
        _ compute: ComputeContext, addingTo x: UnsafeMutablePointer<Float>
    ) {
        let I = config.nInner
        let hidden = ws.hidden   // [T, I] plain, or [T, 2I]: gate | up
        if spec.gated {
            project(input, layer.mlpIn, into: hidden, rows: T, compute: compute)
            gated(hidden, rows: T, width: I, spec.activation, compute: compute)   // act(gate) · up into the gate half
            addOutput(hidden, layer.mlpOut, inputStride: 2 * I, postNorm: layer.postMLPNorm, rows: T, workspace: ws, compute, to: x)
        } else {
            project(input, layer.mlpIn, into: hidden, rows: T, activation: spec.activation, compute: compute)   // act(up input + bias)
            addOutput(hidden, layer.mlpOut, postNorm: layer.postMLPNorm, rows: T, workspace: ws, compute, to: x)
        }
    }

    /// x += out(input): the product accumulates into x directly; with a post-norm (Gemma 2/3) it goes
    /// to a buffer first, is normed there, and the norm's output is added to x.
    private func addOutput(
        _ input: UnsafePointer<Float>, _ linear: Linear, inputStride: Int? = nil, postNorm: NormWeights?, rows T: Int,
        workspace ws: Workspace, _ compute: ComputeContext, to x: UnsafeMutablePointer<Float>
    ) {
        guard let postNorm else {
            project(input, [linear], into: x, rows: T, inputStride: inputStride, accumulate: true, compute: compute)
            return
        }
        let out = ws.sublayerOutput   // [T, C]
        project(input, [linear], into: out, rows: T, inputStride: inputStride, compute: compute)
        norm(out, postNorm, into: out, rows: T, compute)
        addResidual(out, to: x, rows: T, width: config.nEmbd, compute: compute)
    }
}

/// out[T, Σ outputs] (+)= x[T, in] through each linear part (+ its bias), the parts' outputs side by side,
/// each output then through `activation` when given. `inputStride` is x's row stride (default: the
/// parts' input width).
func project(
    _ x: UnsafePointer<Float>, _ parts: [Linear], into out: UnsafeMutablePointer<Float>, rows: Int,
    inputStride: Int? = nil, accumulate: Bool = false, activation: Activation? = nil, compute: ComputeContext
) {
    let width = parts.reduce(0) { $0 + $1.outputs }
    matmul(parts: parts, m: rows, a: x, lda: inputStride ?? parts[0].inputs, c: out, ldc: width, beta: accumulate ? 1 : 0,
           activation: activation, compute: compute)
}

/// Rows packed into one token matrix, no padding: row r occupies tokens[rows[r]].
///
/// A row may continue earlier positions (`contexts[r]`, in position order): rows of the same batch
/// (a multiple-choice context shared by several continuations, a prefix several prompts share) and
/// blocks of the prefix cache. Its tokens then sit at the positions after them and attend to their
/// keys and values before their own, so a prefix is computed once for all rows continuing it.
/// Otherwise a row's tokens sit at positions 0, 1, … and see only each other.
struct ForwardBatch {
    var tokens: [Int32] = []
    var rows: [Range<Int>] = []
    /// Per row: the positions it continues, in order.
    var contexts: [[AttendedSpan]] = []
    /// Rows whose keys and values (every layer) and final hidden states are kept in a block.
    var stores: [(row: Int, block: KeyValueBlock)] = []

    /// Each token's position: a row's positions start after its context.
    func positions() -> [Int] {
        var positions = [Int](repeating: 0, count: tokens.count)
        for (row, context) in zip(rows, contexts) {
            let first = context.reduce(0) { $0 + $1.count }
            for t in row { positions[t] = first + t - row.lowerBound }
        }
        return positions
    }

    /// The most keys any query attends to: a context plus its own row.
    var longestAttentionSpan: Int {
        zip(rows, contexts).map { row, context in context.reduce(row.count) { $0 + $1.count } }.max() ?? 0
    }

    /// Appends a row and returns its index. `prefix` is the index of an earlier row without a context.
    @discardableResult
    mutating func append(_ row: ArraySlice<Int32>, continuing prefix: Int? = nil) -> Int {
        precondition(prefix.map { $0 < rows.count && contexts[$0].isEmpty } ?? true, "a prefix must be an earlier plain row")
        return append(row, after: prefix.map { [.batch(rows[$0])] } ?? [])
    }

    /// Appends a row that continues `context` and returns its index.
    @discardableResult
    mutating func append(_ row: ArraySlice<Int32>, after context: [AttendedSpan]) -> Int {
        let start = tokens.count
        tokens.append(contentsOf: row)
        rows.append(start..<tokens.count)
        contexts.append(context)
        return rows.count - 1
    }
}
