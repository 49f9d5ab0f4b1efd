/// Causal multi-head self-attention over packed rows: each row attends to its own earlier tokens and,
/// when it continues earlier positions (`ForwardBatch.contexts`: rows of this batch, cached blocks),
/// to all of theirs before them.
///
/// For each row and head, queries are taken in blocks of `queryBlock`; a block's queries [q0, q1) see
/// the P context keys and the row's keys [0, q1), so scores past the diagonal are computed for at most
/// one block and masked. Score columns are absolute positions, whichever span holds them:
///   scores[q1−q0, P+q1] = Q[q0..<q1] · [K span 1; …; K[0..<q1]]ᵀ · scale   (one matmul per span)
///   probs = causal softmax of each score row (soft-capped first)           (lmk softmax_causal)
///   out[q0..<q1, head] = probs · [V span 1; …; V[0..<q1]]                  (one matmul per span, accumulating)
/// Each output element is one FMA chain over the positions in order (accumulating continues the
/// chain), so a row gives the same bits however its context is split into spans — or not split.
func causalAttention(
    qkv: UnsafePointer<Float>,          // [T, heads.rowWidth]: each head's q, k, v where `heads` says
    heads: AttentionHeads,
    out: UnsafeMutablePointer<Float>,   // [T, heads.outputWidth]
    rows: [Range<Int>], contexts: [[AttendedSpan]],
    layer l: Int,                       // which layer's keys/values a cached span gives
    spec: AttentionSpec,                // scale, soft-cap, sliding window (a query sees only keys less than it back)
    scratch: UnsafeMutablePointer<Float>, // [threads, queryBlock, longest context + row]
    scratchStride: Int,                 // floats per thread in `scratch`
    compute: ComputeContext             // its threads: what `scratch` has room for
) {
    let spans = contexts.map { $0.map { KeyValueSource($0, layer: l, qkv: qkv, heads: heads) } }
    // (row, head) pairs are independent: the threads take them in turn (item w is row w / heads,
    // head w % heads), each with its own scratch and single-threaded products (no synchronisation per
    // small product).
    let one = compute.singleThreaded
    parallelFor(rows.count * heads.count, threads: compute.threads) { worker, w in
        let (r, h) = w.quotientAndRemainder(dividingBy: heads.count)
        attendOneHead(qkv: qkv, heads: heads, out: out, row: rows[r], context: spans[r], head: h,
                      spec: spec, scores: scratch + worker * scratchStride, compute: one)
    }
}

/// Where a span's keys and values sit for one layer: kv head h's key of position i at
/// `keys + i · stride + h · head_dim` (`keyColumn`/`valueColumn` already added for a batch row).
private struct KeyValueSource {
    let keys: UnsafePointer<Float>
    let values: UnsafePointer<Float>
    let stride: Int
    let count: Int
    /// A cached block holds only keys (values) [count, kvWidth]; a batch row is a whole qkv row.
    let cached: Bool

    init(_ span: AttendedSpan, layer l: Int, qkv: UnsafePointer<Float>, heads: AttentionHeads) {
        switch span {
        case .batch(let tokens):
            keys = qkv + tokens.lowerBound * heads.rowWidth
            values = keys
            stride = heads.rowWidth
            count = tokens.count
            cached = false
        case .cached(let block, let n):
            keys = UnsafePointer(block.keys(layer: l))
            values = UnsafePointer(block.values(layer: l))
            stride = block.keyValueWidth
            count = n
            cached = true
        }
    }

    func keys(kvHead h: Int, _ heads: AttentionHeads) -> UnsafePointer<Float> { keys + (cached ? h * heads.size : heads.keyColumn(kvHead: h)) }
    func values(kvHead h: Int, _ heads: AttentionHeads) -> UnsafePointer<Float> { values + (cached ? h * heads.size : heads.valueColumn(kvHead: h)) }
}

private func attendOneHead(
    qkv: UnsafePointer<Float>, heads: AttentionHeads, out: UnsafeMutablePointer<Float>, row: Range<Int>, context: [KeyValueSource],
    head h: Int, spec: AttentionSpec, scores: UnsafeMutablePointer<Float>, compute: ComputeContext
) {
    let hs = heads.size
    let stride = heads.rowWidth
    let C = heads.outputWidth
    let kv = heads.keyValueHead(forQuery: h)
    let base = qkv + row.lowerBound * stride
    let q = base + heads.queryColumn(h)
    let k = base + heads.keyColumn(kvHead: kv)
    let v = base + heads.valueColumn(kvHead: kv)
    let P = context.reduce(0) { $0 + $1.count }
    var q0 = 0
    while q0 < row.count {
        let q1 = min(q0 + attentionQueryBlock, row.count)
        let m = q1 - q0
        let keys = P + q1   // scores[m, keys]: the context's columns first, span after span, then the row's own
        let output = out + (row.lowerBound + q0) * C + h * hs
        var column = 0
        for span in context where span.count > 0 {
            matmul(m: m, n: span.count, k: hs, a: q + q0 * stride, lda: stride, b: span.keys(kvHead: kv, heads), ldb: span.stride,
                   transposeB: true, c: scores + column, ldc: keys, alpha: spec.scale, compute: compute)
            column += span.count
        }
        matmul(m: m, n: q1, k: hs, a: q + q0 * stride, lda: stride, b: k, ldb: stride, transposeB: true,
               c: scores + P, ldc: keys, alpha: spec.scale, compute: compute)
        compute.ops.softmax_causal(scores, m, keys, P + q0, spec.slidingWindow ?? 0, spec.logitSoftcap ?? 0)
        column = 0
        for span in context where span.count > 0 {
            matmul(m: m, n: hs, k: span.count, a: scores + column, lda: keys, b: span.values(kvHead: kv, heads), ldb: span.stride,
                   c: output, ldc: C, beta: column > 0 ? 1 : 0, compute: compute)
            column += span.count
        }
        matmul(m: m, n: hs, k: q1, a: scores + P, lda: keys, b: v, ldb: stride, c: output, ldc: C,
               beta: P > 0 ? 1 : 0, compute: compute)
        q0 = q1
    }
}

let attentionQueryBlock = 128

/// Where each head's q, k and v sit in a qkv row, for MHA (kv heads = heads), GQA and MQA (fewer kv
/// heads, each shared by heads / kv heads query heads), in either `QKVLayout`.
struct AttentionHeads: Sendable {
    let count: Int
    let keyValueCount: Int
    let size: Int
    let layout: QKVLayout

    /// Values per qkv row.
    var rowWidth: Int { (count + 2 * keyValueCount) * size }
    /// Values per attention output row.
    var outputWidth: Int { count * size }

    func keyValueHead(forQuery h: Int) -> Int { h / (count / keyValueCount) }

    func queryColumn(_ h: Int) -> Int {
        switch layout {
        case .grouped: h * size
        case .interleavedPerHead: h * 3 * size
        }
    }

    func keyColumn(kvHead h: Int) -> Int {
        switch layout {
        case .grouped: (count + h) * size
        case .interleavedPerHead: h * 3 * size + size
        }
    }

    func valueColumn(kvHead h: Int) -> Int {
        switch layout {
        case .grouped: (count + keyValueCount + h) * size
        case .interleavedPerHead: h * 3 * size + 2 * size
        }
    }
}
