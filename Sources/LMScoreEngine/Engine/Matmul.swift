import CKernels

/// The one place the engine multiplies matrices. Every product in the forward pass, including the
/// attention scores, goes through `matmul`, which runs lmscore's own kernels (Sources/CKernels) on
/// the `ComputeContext`'s path.
///
/// Row-major: C[M, N] = alpha · A[M, K] · op(B) (beta 0), or C[M, N] += A[M, K] · op(B) (beta 1,
/// alpha 1), where op(B) is B[K, N], or B[N, K] transposed when `transposeB` is set. `lda`, `ldb`,
/// `ldc` are row strides in elements.
///
/// Bitwise batch invariance: each element of C is one FMA chain over k in order (gemm_template.h),
/// so a row's results do not depend on M, on its position, on the thread count or on the split.
/// Accumulating continues each element's chain from C's value: a product over keys [prefix; own]
/// split in two (attention over a shared prefix) gives the bits of one product over all keys.
///
/// The product is split over `compute.threads` threads (callers already running in parallel pass
/// `compute.singleThreaded`) by
/// output columns (`columnPieces`): each thread streams its pieces of B once for all M rows, so a
/// 16-token request reads every weight once, and no two threads pack the same block of B.
func matmul(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int, transposeB: Bool = false,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    alpha: Float = 1, beta: Float = 0, compute: ComputeContext
) {
    product(m: m, n: n, k: k, a: a, lda: lda, b: UnsafeRawPointer(b), ldb: ldb, elementType: .f32, transposeB: transposeB,
            c: c, ldc: ldc, alpha: alpha, beta: beta, compute: compute)
}

/// The same product with a weight matrix as B: B is `b` as stored ([K, N], or [N, K] with
/// `transposeB`), in its own element type: 16-bit weights are converted in registers. A layer's
/// `bias` (n values) is added to every row of C, then `activation` applied, as the last operations
/// on each element: the float kernels do both as they store C (the bits of passes over C afterwards,
/// without the passes); Q8_0 products make the passes.
func matmul(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int,
    b: WeightMatrix, transposeB: Bool = false,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    alpha: Float = 1, beta: Float = 0, bias: UnsafePointer<Float>? = nil, activation: Activation? = nil,
    compute: ComputeContext
) {
    precondition(transposeB ? (b.rows >= n && b.columns == k) : (b.rows == k && b.columns >= n), "B's shape does not match the product")
    compute.timingProduct(m: m, n: n, k: k, elementType: b.elementType, transposeB: transposeB) {
        if b.elementType == .q8_0 {
            precondition(alpha == 1, "Q8_0 weights multiply with alpha 1")
            let operand = ProductOperand(b: b.base, ldb: b.columns, elementType: .q8_0, transposeB: transposeB, n: n, c: c, bias: bias)
            productQ8(of: [operand], m: m, k: k, a: a, lda: lda, ldc: ldc, accumulate: beta == 1, activation: activation, compute: compute)
            return
        }
        product(m: m, n: n, k: k, a: a, lda: lda, b: b.base, ldb: b.columns, elementType: b.elementType, transposeB: transposeB,
                c: c, ldc: ldc, alpha: alpha, beta: beta, bias: bias, activation: activation, compute: compute)
    }
}

/// out[m, Σ outputs] (+)= a[m, k] · each part's weight (+ its bias, then `activation`), the parts'
/// outputs side by side at `c` (q | k | v, gate | up). Parts of one kind (all float, or all Q8_0) are
/// one product (`product(of:)`, `productQ8(of:)`): with several threads, the threads take pieces of
/// every part (`operandPieces`), so they are woken once for all the parts instead of once per part (a
/// wake costs tens of microseconds, and a 16-token request's products take about a hundred), and Q8_0
/// parts quantize the input once for all of them. The same bits either way.
func matmul(parts: [Linear], m: Int, a: UnsafePointer<Float>, lda: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
            beta: Float = 0, activation: Activation? = nil, compute: ComputeContext) {
    let k = parts[0].inputs
    precondition(parts.allSatisfy { $0.inputs == k }, "the parts multiply the same input")
    let first = parts.reduce(into: [0]) { $0.append($0.last! + $1.outputs) }   // each part's first column, then the end
    let quantized = parts.map { $0.weight.elementType == .q8_0 }
    guard parts.count > 1, !quantized.contains(!quantized[0]) else {   // one part, or float and Q8_0 parts mixed
        for (i, part) in parts.enumerated() {
            matmul(m: m, n: part.outputs, k: k, a: a, lda: lda, b: part.weight, transposeB: part.storedOutIn, c: c + first[i], ldc: ldc,
                   beta: beta, bias: part.bias, activation: activation, compute: compute)
        }
        return
    }
    compute.timingProduct(m: m, n: first.last!, k: k, elementType: parts[0].weight.elementType, transposeB: parts[0].storedOutIn,
                          parts: parts.count) {
        let operands = parts.indices.map { ProductOperand(parts[$0], c: c + first[$0]) }
        if quantized[0] {
            productQ8(of: operands, m: m, k: k, a: a, lda: lda, ldc: ldc, accumulate: beta == 1, activation: activation, compute: compute)
        } else {
            product(of: operands, m: m, k: k, a: a, lda: lda, ldc: ldc, alpha: 1, beta: beta, activation: activation, compute: compute)
        }
    }
}

/// A's rows as Q8_0 blocks, k / 32 per row (each row on its own, so a row's bits do not depend on the
/// batch), the rows split over the threads when there are enough. The caller deallocates.
func quantizedActivations(_ a: UnsafePointer<Float>, m: Int, k: Int, lda: Int, compute: ComputeContext)
    -> UnsafeMutablePointer<lmk_block_q8_0> {
    let blocks = k / Int(LMK_Q8_0_BLOCK)
    precondition(blocks * Int(LMK_Q8_0_BLOCK) == k, "a Q8_0 product needs k a multiple of 32")
    let quantized = UnsafeMutablePointer<lmk_block_q8_0>.allocate(capacity: max(m * blocks, 1))
    if compute.threads == 1 || m * k < 1 << 16 {
        compute.quantizeQ8(a, rows: m, k: k, ld: lda, into: quantized)   // a few rows: not worth waking a thread
    } else {
        let rowSlices = split(m, parts: compute.threads, granule: 1)
        parallelFor(rowSlices.count) { i in
            let rows = rowSlices[i]
            compute.quantizeQ8(a + rows.lowerBound * lda, rows: rows.count, k: k, ld: lda, into: quantized + rows.lowerBound * blocks)
        }
    }
    return quantized
}

/// Below this many multiply-adds a product runs on one thread: waking the others and waiting for them
/// costs more than they save (SmolLM2's k and v projections for one 16-token request, 15×576×192 =
/// 1.66M: 24–25 GFLOP/s split over 2 threads, 34–35 on one; Zen 4, 2026-12-07).
let singleThreadedProductLimit = 1 << 21

/// One B of a product whose outputs sit side by side in C: B as stored ([K, N], or [N, K] with
/// `transposeB`; Q8_0 always [N, K]) in its element type, its n columns of C from `c` on, and their
/// bias (NULL: none).
struct ProductOperand {
    let b: UnsafeRawPointer
    let ldb: Int
    let elementType: ElementType
    let transposeB: Bool
    let n: Int
    let c: UnsafeMutablePointer<Float>
    let bias: UnsafePointer<Float>?
}

extension ProductOperand {
    /// A layer's weight as stored, its outputs at `c`.
    init(_ part: Linear, c: UnsafeMutablePointer<Float>) {
        self.init(b: part.weight.base, ldb: part.weight.columns, elementType: part.weight.elementType, transposeB: part.storedOutIn,
                  n: part.outputs, c: c, bias: part.bias)
    }
}

/// Whether a product of this many multiply-adds runs on the calling thread alone.
private func runsOnOneThread(multiplyAdds: Int, _ compute: ComputeContext) -> Bool {
    compute.threads == 1 || multiplyAdds < singleThreadedProductLimit
}

/// Both `matmul`s: one B of any float element type, its columns split over the context's threads, on
/// its path. A product on one thread goes straight to the kernel (attention's small products: no
/// operand list to build).
func product(
    m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafeRawPointer, ldb: Int, elementType: ElementType,
    transposeB: Bool, c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float, bias: UnsafePointer<Float>? = nil,
    activation: Activation? = nil, compute: ComputeContext
) {
    let operand = ProductOperand(b: b, ldb: ldb, elementType: elementType, transposeB: transposeB, n: n, c: c, bias: bias)
    if runsOnOneThread(multiplyAdds: m * n * k, compute) {
        compute.gemm(operand, columns: 0..<n, m: m, k: k, a: a, lda: lda, ldc: ldc, alpha: alpha, beta: beta, activation: activation)
        return
    }
    product(of: [operand], m: m, k: k, a: a, lda: lda, ldc: ldc, alpha: alpha, beta: beta, activation: activation, compute: compute)
}

/// C (+)= alpha · A[m, k] · each operand's B, every operand's columns at its place in C (rows `ldc`
/// apart), + its bias, then `activation`: one product on one thread when it is small or the context
/// has one, else the operands' columns in pieces (`columnPieces`, whole strips of one operand each)
/// that the threads take as they come free. Every split gives the same bits.
func product(of operands: [ProductOperand], m: Int, k: Int, a: UnsafePointer<Float>, lda: Int, ldc: Int, alpha: Float, beta: Float,
             activation: Activation? = nil, compute: ComputeContext) {
    precondition(beta == 0 || (beta == 1 && alpha == 1), "the kernels compute alpha·A·B, or C += A·B")
    if runsOnOneThread(multiplyAdds: operands.reduce(0) { $0 + m * $1.n * k }, compute) {
        for o in operands {
            compute.gemm(o, columns: 0..<o.n, m: m, k: k, a: a, lda: lda, ldc: ldc, alpha: alpha, beta: beta, activation: activation)
        }
        return
    }
    let pieces = operandPieces(operands.map(\.n), m: m, k: k, threads: compute.threads)
    parallelFor(pieces.count, threads: compute.threads) { _, p in
        let (i, columns) = pieces[p]
        compute.gemm(operands[i], columns: columns, m: m, k: k, a: a, lda: lda, ldc: ldc, alpha: alpha, beta: beta, activation: activation)
    }
}

/// The pieces a product's n output columns are split into for the threads, whole 32-column strips
/// each (the widest float tile, the Q8_0 kernels' panel width), so no thread ends on a partial tile or
/// packs a partial strip it need not: one share per thread for a short product (each thread woken once,
/// its share of B streamed once), `piecesPerThread` per thread from `piecewiseProductLimit`
/// multiply-adds, taken by the threads as they come free (`parallelFor(_:threads:_:)`). Every split
/// gives the same bits.
func columnPieces(_ n: Int, m: Int, k: Int, threads: Int) -> [Range<Int>] {
    split(n, parts: m * n * k >= piecewiseProductLimit ? threads * piecesPerThread : threads, granule: 32)
}

/// From this many multiply-adds (GPT-2's qkv product for 24 rows, 24×768×2304 = 42M: about 0.3 ms on
/// two Zen 4 cores) a product is split into more pieces than threads.
let piecewiseProductLimit = 1 << 25
let piecesPerThread = 4

/// The pieces of side-by-side products of `widths` columns each (q | k | v, gate | up), one after the
/// other: (which product, its columns).
func operandPieces(_ widths: [Int], m: Int, k: Int, threads: Int) -> [(operand: Int, columns: Range<Int>)] {
    widths.indices.flatMap { i in columnPieces(widths[i], m: m, k: k, threads: threads).map { (i, $0) } }
}

extension ComputeContext {
    /// Columns `columns` of the operand's C[m, ·] (+)= alpha · A · op(B) (+ bias, then activation), on
    /// this thread: the slices of B (as stored, [K, N] or [N, K]), of C and of the bias those columns
    /// read and write.
    func gemm(_ o: ProductOperand, columns: Range<Int>, m: Int, k: Int, a: UnsafePointer<Float>, lda: Int, ldc: Int, alpha: Float,
              beta: Float, activation: Activation?) {
        let bSlice = o.b + (o.transposeB ? columns.lowerBound * o.ldb : columns.lowerBound) * o.elementType.byteCount
        gemm(m: m, n: columns.count, k: k, a: a, lda: lda, b: bSlice, ldb: o.ldb, elementType: o.elementType, transposeB: o.transposeB,
             c: o.c + columns.lowerBound, ldc: ldc, alpha: alpha, beta: beta, bias: o.bias.map { $0 + columns.lowerBound },
             activation: activation)
    }

    /// Columns `columns` of the operand's C[m, ·] (+)= quantized A · Wᵀ, W [n, blocks] Q8_0 as stored,
    /// on this thread (its bias and activation are the caller's passes).
    func gemmQ8(_ o: ProductOperand, columns: Range<Int>, m: Int, blocks: Int, a: UnsafePointer<lmk_block_q8_0>, ldc: Int,
                accumulate: Bool) {
        gemmQ8(m: m, n: columns.count, blocks: blocks, a: a,
               w: o.b.assumingMemoryBound(to: lmk_block_q8_0.self) + columns.lowerBound * blocks,
               c: o.c + columns.lowerBound, ldc: ldc, accumulate: accumulate)
    }
}

/// C[m, n] (+)= A[m, k] · Wᵀ (+ bias, then `activation`) for Q8_0 weights W [n, k] (W8A8, as
/// llama.cpp), one or several whose outputs sit side by side in C: A's rows quantized to Q8_0 blocks
/// once for all of them (each row on its own, so a row's bits do not depend on the batch), then the
/// integer kernel, the operands' columns split over the threads together in whole 32-column strips;
/// bias and activation as passes over C after.
func productQ8(of operands: [ProductOperand], m: Int, k: Int, a: UnsafePointer<Float>, lda: Int, ldc: Int, accumulate: Bool,
               activation: Activation? = nil, compute: ComputeContext) {
    precondition(operands.allSatisfy { $0.elementType == .q8_0 && $0.transposeB }, "Q8_0 weights are stored [out, in]")
    let quantized = quantizedActivations(a, m: m, k: k, lda: lda, compute: compute)
    defer { quantized.deallocate() }
    let blocks = k / Int(LMK_Q8_0_BLOCK)
    if runsOnOneThread(multiplyAdds: operands.reduce(0) { $0 + m * $1.n * k }, compute) {
        for o in operands {
            compute.gemmQ8(o, columns: 0..<o.n, m: m, blocks: blocks, a: quantized, ldc: ldc, accumulate: accumulate)
        }
    } else {
        let pieces = operandPieces(operands.map(\.n), m: m, k: k, threads: compute.threads)
        parallelFor(pieces.count, threads: compute.threads) { _, p in
            let (i, columns) = pieces[p]
            compute.gemmQ8(operands[i], columns: columns, m: m, blocks: blocks, a: quantized, ldc: ldc, accumulate: accumulate)
        }
    }
    for o in operands {
        if let bias = o.bias { addBias(o.c, rows: m, width: o.n, stride: ldc, bias: bias, compute: compute) }
        if let activation { activate(o.c, rows: m, width: o.n, stride: ldc, activation, compute: compute) }
    }
}
