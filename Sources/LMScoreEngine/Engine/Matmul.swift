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
/// output columns: each thread streams its share of B once for all M rows, so a 16-token request
/// reads every weight once, and no two threads pack the same block of B.
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
/// `transposeB`), in its own element type: 16-bit weights are converted in registers.
func matmul(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int,
    b: WeightMatrix, transposeB: Bool = false,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    alpha: Float = 1, beta: Float = 0, compute: ComputeContext
) {
    precondition(transposeB ? (b.rows >= n && b.columns == k) : (b.rows == k && b.columns >= n), "B's shape does not match the product")
    product(m: m, n: n, k: k, a: a, lda: lda, b: b.base, ldb: b.columns, elementType: b.elementType, transposeB: transposeB,
            c: c, ldc: ldc, alpha: alpha, beta: beta, compute: compute)
}

/// Both `matmul`s: B of any element type, columns split over the context's threads, on its path.
func product(
    m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafeRawPointer, ldb: Int, elementType: ElementType,
    transposeB: Bool, c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float, compute: ComputeContext
) {
    precondition(beta == 0 || (beta == 1 && alpha == 1), "the kernels compute alpha·A·B, or C += A·B")
    if compute.threads == 1 || m * n * k < 1 << 18 {
        compute.gemm(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, elementType: elementType, transposeB: transposeB,
                  c: c, ldc: ldc, alpha: alpha, beta: beta)
        return
    }
    // Slices of whole 32-column strips (the widest tile), so no thread ends on a partial tile.
    let slices = split(n, parts: compute.threads, granule: 32)
    let size = elementType.byteCount
    parallelFor(slices.count) { i in
        let columns = slices[i]
        let bSlice = b + (transposeB ? columns.lowerBound * ldb : columns.lowerBound) * size
        compute.gemm(m: m, n: columns.count, k: k, a: a, lda: lda, b: bSlice, ldb: ldb, elementType: elementType,
                  transposeB: transposeB, c: c + columns.lowerBound, ldc: ldc, alpha: alpha, beta: beta)
    }
}
