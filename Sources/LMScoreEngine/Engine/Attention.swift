/// Causal multi-head self-attention over packed rows: each row attends to its own earlier tokens and,
/// when it continues a prefix row (`ForwardBatch`), to all of the prefix's tokens before them.
///
/// For each row and head, queries are taken in blocks of `queryBlock`; a block's queries [q0, q1) see
/// the P prefix keys and the row's keys [0, q1), so scores past the diagonal are computed for at most
/// one block and masked.
///   scores[q1−q0, P+q1] = Q[q0..<q1] · [Kprefix; K[0..<q1]]ᵀ · scale   (two matmuls)
///   probs = causal softmax of each score row (soft-capped first)        (lmk softmax_causal)
///   out[q0..<q1, head] = probs · [Vprefix; V[0..<q1]]                   (two matmuls)
func causalAttention(
    qkv: UnsafePointer<Float>,          // [T, heads.rowWidth]: each head's q, k, v where `heads` says
    heads: AttentionHeads,
    out: UnsafeMutablePointer<Float>,   // [T, heads.outputWidth]
    rows: [Range<Int>], prefixes: [Range<Int>?],
    spec: AttentionSpec,                // scale, soft-cap, sliding window (a query sees only keys less than it back)
    scratch: UnsafeMutablePointer<Float>, // [threads, queryBlock, longest prefix + row]
    scratchStride: Int,                 // floats per thread in `scratch`
    compute: ComputeContext             // its threads: what `scratch` has room for
) {
    // (row, head) pairs are independent: deal them to the threads, each with its own scratch and
    // single-threaded products (no synchronisation per small product).
    let work = rows.indices.flatMap { r in (0..<heads.count).map { (r, $0) } }
    let slices = split(work.count, parts: compute.threads)
    let one = compute.singleThreaded
    parallelFor(slices.count) { s in
        for (r, h) in work[slices[s]] {
            attendOneHead(qkv: qkv, heads: heads, out: out, row: rows[r], prefix: prefixes[r] ?? 0..<0, head: h,
                          spec: spec, scores: scratch + s * scratchStride, compute: one)
        }
    }
}

private func attendOneHead(
    qkv: UnsafePointer<Float>, heads: AttentionHeads, out: UnsafeMutablePointer<Float>, row: Range<Int>, prefix: Range<Int>,
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
    let P = prefix.count
    let prefixK = qkv + prefix.lowerBound * stride + heads.keyColumn(kvHead: kv)
    let prefixV = qkv + prefix.lowerBound * stride + heads.valueColumn(kvHead: kv)
    var q0 = 0
    while q0 < row.count {
        let q1 = min(q0 + attentionQueryBlock, row.count)
        let m = q1 - q0
        let keys = P + q1   // scores[m, keys]: prefix columns first, then the row's own
        let output = out + (row.lowerBound + q0) * C + h * hs
        if P > 0 {
            matmul(m: m, n: P, k: hs, a: q + q0 * stride, lda: stride, b: prefixK, ldb: stride, transposeB: true,
                   c: scores, ldc: keys, alpha: spec.scale, compute: compute)
        }
        matmul(m: m, n: q1, k: hs, a: q + q0 * stride, lda: stride, b: k, ldb: stride, transposeB: true,
               c: scores + P, ldc: keys, alpha: spec.scale, compute: compute)
        compute.ops.softmax_causal(scores, m, keys, P + q0, spec.slidingWindow ?? 0, spec.logitSoftcap ?? 0)
        if P > 0 {
            matmul(m: m, n: hs, k: P, a: scores, lda: keys, b: prefixV, ldb: stride, c: output, ldc: C, compute: compute)
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
