import COpenBLAS

/// The one place the engine multiplies matrices. Every product in the forward pass, including the
/// attention scores, goes through `matmul`, so a batch-invariant kernel (one whose reduction order per
/// output element does not depend on M or on the row's position) can replace OpenBLAS here alone.
///
/// Row-major: C[M, N] = alpha · A[M, K] · op(B) + beta · C, where op(B) is B[K, N], or B[N, K]
/// transposed when `transposeB` is set. `lda`, `ldb`, `ldc` are row strides in elements.
///
/// The product is split over `threads` threads (callers already running in parallel pass 1): by rows
/// when there are enough of them,
/// otherwise by columns (a 16-token request still uses both cores). Each slice is one single-threaded
/// `cblas_sgemm`.
func matmul(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int, transposeB: Bool = false,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    alpha: Float = 1, beta: Float = 0, threads: Int = ComputeThreads.count
) {
    if threads == 1 || m * n * k < 1 << 18 {
        sgemm(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, transposeB: transposeB, c: c, ldc: ldc, alpha: alpha, beta: beta)
    } else if m >= 64 * threads {
        let slices = split(m, parts: threads, granule: 16)
        parallelFor(slices.count) { i in
            let rows = slices[i]
            sgemm(m: rows.count, n: n, k: k, a: a + rows.lowerBound * lda, lda: lda, b: b, ldb: ldb, transposeB: transposeB,
                  c: c + rows.lowerBound * ldc, ldc: ldc, alpha: alpha, beta: beta)
        }
    } else {
        let slices = split(n, parts: threads, granule: 64)
        parallelFor(slices.count) { i in
            let columns = slices[i]
            let bSlice = transposeB ? b + columns.lowerBound * ldb : b + columns.lowerBound
            sgemm(m: m, n: columns.count, k: k, a: a, lda: lda, b: bSlice, ldb: ldb, transposeB: transposeB,
                  c: c + columns.lowerBound, ldc: ldc, alpha: alpha, beta: beta)
        }
    }
}

/// The same product with a weight matrix as B: B is `b` as stored ([K, N], or [N, K] with
/// `transposeB`), whatever its element type.
func matmul(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int,
    b: WeightMatrix, transposeB: Bool = false,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    alpha: Float = 1, beta: Float = 0, threads: Int = ComputeThreads.count
) {
    precondition(transposeB ? (b.rows >= n && b.columns == k) : (b.rows == k && b.columns >= n), "B's shape does not match the product")
    precondition(b.elementType == .f32, "16-bit weights are upcast at load")
    matmul(m: m, n: n, k: k, a: a, lda: lda, b: b.base.assumingMemoryBound(to: Float.self), ldb: b.columns,
           transposeB: transposeB, c: c, ldc: ldc, alpha: alpha, beta: beta, threads: threads)
}

@inline(__always)
private func sgemm(
    m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
    c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float
) {
    cblas_sgemm(
        CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
        blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
}

enum BLASThreads {
    /// OpenBLAS's own thread count; lmscore keeps it at 1 and threads above it (see ComputeThreads).
    static func setLibraryThreads(_ count: Int) { openblas_set_num_threads(Int32(max(1, count))) }
}
