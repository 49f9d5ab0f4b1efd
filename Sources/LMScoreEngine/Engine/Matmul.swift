import COpenBLAS

/// The one place the engine multiplies matrices. Every product in the forward pass, including the
/// attention scores, goes through `matmul`, so a batch-invariant kernel (one whose reduction order per
/// output element does not depend on M or on the row's position) can replace OpenBLAS here alone.
///
/// Row-major: C[M, N] = alpha · A[M, K] · op(B) + beta · C, where op(B) is B[K, N], or B[N, K]
/// transposed when `transposeB` is set. `lda`, `ldb`, `ldc` are row strides in elements.
@inline(__always)
func matmul(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int, transposeB: Bool = false,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    alpha: Float = 1, beta: Float = 0
) {
    cblas_sgemm(
        CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
        blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
}

/// The number of threads OpenBLAS uses for each product.
public enum BLASThreads {
    public static func set(_ count: Int) { openblas_set_num_threads(Int32(max(1, count))) }
    public static var current: Int { Int(openblas_get_num_threads()) }
}
