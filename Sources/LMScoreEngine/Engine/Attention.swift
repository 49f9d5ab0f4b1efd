/// Causal multi-head self-attention over packed rows: each row attends only to its own earlier tokens.
///
/// For each row and head, queries are taken in blocks of `queryBlock`; a block's queries [q0, q1) see
/// keys [0, q1), so scores past the diagonal are computed for at most one block and masked.
///   scores[q1−q0, q1] = Q[q0..<q1] · K[0..<q1]ᵀ · scale     (matmul)
///   probs = causal softmax of each score row                 (softmaxCausal)
///   out[q0..<q1, head] = probs · V[0..<q1]                    (matmul)
func attention(
    qkv: UnsafePointer<Float>,          // [T, 3C]: q | k | v, head h at columns h·hs ..< (h+1)·hs of each
    out: UnsafeMutablePointer<Float>,   // [T, C]
    rows: [Range<Int>], channels C: Int, heads: Int, scale: Float,
    scratch: UnsafeMutablePointer<Float>, // [threads, queryBlock, longest row]
    scratchStride: Int                  // floats per thread in `scratch`
) {
    // (row, head) pairs are independent: deal them to the threads, each with its own scratch and
    // single-threaded products (no synchronisation per small product).
    let work = rows.flatMap { row in (0..<heads).map { (row, $0) } }
    let slices = split(work.count, parts: ComputeThreads.count)
    parallelFor(slices.count) { s in
        for (row, h) in work[slices[s]] {
            attendOneHead(qkv: qkv, out: out, row: row, head: h, channels: C, heads: heads, scale: scale,
                          scores: scratch + s * scratchStride)
        }
    }
}

private func attendOneHead(
    qkv: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, row: Range<Int>, head h: Int,
    channels C: Int, heads: Int, scale: Float, scores: UnsafeMutablePointer<Float>
) {
    let hs = C / heads
    let stride = 3 * C
    let base = qkv + row.lowerBound * stride
    let q = base + h * hs
    let k = base + C + h * hs
    let v = base + 2 * C + h * hs
    var q0 = 0
    while q0 < row.count {
        let q1 = min(q0 + attentionQueryBlock, row.count)
        let m = q1 - q0
        matmul(m: m, n: q1, k: hs, a: q + q0 * stride, lda: stride, b: k, ldb: stride, transposeB: true,
               c: scores, ldc: q1, alpha: scale, threads: 1)
        softmaxCausal(scores, rows: m, keys: q1, firstQuery: q0)
        matmul(m: m, n: hs, k: q1, a: scores, lda: q1, b: v, ldb: stride,
               c: out + (row.lowerBound + q0) * C + h * hs, ldc: C, threads: 1)
        q0 = q1
    }
}

let attentionQueryBlock = 128

/// Row i of `scores` belongs to query `firstQuery + i` and may see keys 0...firstQuery+i; the rest
/// become exactly 0. Max-subtracted, so no score overflows.
func softmaxCausal(_ scores: UnsafeMutablePointer<Float>, rows: Int, keys: Int, firstQuery: Int) {
    for i in 0..<rows {
        let row = scores + i * keys
        let visible = firstQuery + i + 1
        var maximum = -Float.infinity
        for j in 0..<visible { maximum = max(maximum, row[j]) }
        var sum: Float = 0
        var j = 0
        let shift = Floats(repeating: maximum)
        var lanes = Floats()
        while j + 8 <= visible {
            let e = exp(load(row + j) - shift)
            store(e, row + j)
            lanes += e
            j += 8
        }
        sum = lanes.sum()
        while j < visible {
            let e = exp(Floats(repeating: row[j] - maximum))[0]
            row[j] = e
            sum += e
            j += 1
        }
        let inverse = 1 / sum
        for j in 0..<visible { row[j] *= inverse }
        for j in visible..<keys { row[j] = 0 }
    }
}
