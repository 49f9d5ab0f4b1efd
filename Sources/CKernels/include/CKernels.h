// lmscore's matrix kernels: FP32 GEMM with an FP32, F16 or BF16 right-hand side, per CPU path
// (AVX-512F, AVX2+FMA+F16C, portable C), and 16-bit → FP32 conversion. One binary carries every
// path (per-function target attributes); the engine picks one at start from lmk_cpu_features().
//
// Batch invariance by construction: every output element is one fixed sequence of operations over
// k = 0 … K−1 (see gemm_template.h), whatever M, the row's position, the tile it falls in or how the
// caller splits the columns. No allocation policy beyond a per-call packing panel; no threads.
#ifndef LMSCORE_CKERNELS_H
#define LMSCORE_CKERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// How B's elements are stored.
typedef enum {
    LMK_F32 = 0,
    LMK_F16 = 1,   // IEEE binary16
    LMK_BF16 = 2,  // bfloat16: the high half of an FP32
} lmk_element_type;

/// CPU feature bits, from cpuid and XCR0 (the OS must save the vector registers too).
enum {
    LMK_CPU_AVX2 = 1 << 0,     // AVX2 with OS YMM state
    LMK_CPU_FMA = 1 << 1,
    LMK_CPU_F16C = 1 << 2,
    LMK_CPU_AVX512F = 1 << 3,  // AVX-512F with OS ZMM/opmask state
};
int lmk_cpu_features(void);

/// C[m, n] = alpha · A[m, k] · op(B) (beta 0, C not read), or C[m, n] += A[m, k] · op(B) (beta 1,
/// alpha 1: each element's FMA chain continues from C's value, so splitting K over two products gives
/// the bits of one). Other alpha/beta pairs abort. Row-major: op(B) is B [k, n] (row stride ldb), or
/// with transpose_b B [n, k] transposed (row stride ldb); A, C are FP32 with row strides lda, ldc.
/// Single-threaded: callers split the columns (any split gives the same bits).
typedef void lmk_gemm_fn(long m, long n, long k, const float *a, long lda, const void *b, long ldb,
                         lmk_element_type b_type, int transpose_b, float *c, long ldc, float alpha, float beta);
lmk_gemm_fn lmk_gemm_avx512;
lmk_gemm_fn lmk_gemm_avx2;
lmk_gemm_fn lmk_gemm_portable;

/// out[i] = FP32 value of the 16-bit in[i] (exact; subnormals, ±inf kept, NaN stays NaN with its sign).
typedef void lmk_convert_fn(const void *in, lmk_element_type type, float *out, long count);
lmk_convert_fn lmk_convert_avx512;
lmk_convert_fn lmk_convert_avx2;
lmk_convert_fn lmk_convert_portable;

/// The peak probe `lmscore bench` divides by: `steps` × 12 independent FMAs on the path's whole
/// vectors (the portable path: multiply then add), in registers; 2 · 12 · lanes · steps FLOP.
/// Returns a sum of the results, only so the work is not optimized away.
typedef float lmk_fma_probe_fn(long steps);
lmk_fma_probe_fn lmk_fma_probe_avx512;
lmk_fma_probe_fn lmk_fma_probe_avx2;
lmk_fma_probe_fn lmk_fma_probe_portable;

/// The LM head's fold over a tile of logits on AVX2 (vocab_fold_avx2.c), the same bits as the Swift
/// versions in LMHead.swift: Σ exp(x[i] − shift) (FP32 exp in 8 lanes, multiply and add rounded
/// separately, 512-value stretches summed in double), and the first index of the largest non-NaN
/// value (stored in *maximum).
double lmk_sum_exp_avx2(const float *x, long count, float shift);
long lmk_max_first_index_avx2(const float *x, long count, float *maximum);

#ifdef __cplusplus
}
#endif

#endif
