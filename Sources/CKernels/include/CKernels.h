// lmscore's kernels: FP32 GEMM with an FP32, F16 or BF16 right-hand side, per CPU path
// (AVX-512F, AVX2+FMA+F16C, portable C), 16-bit → FP32 conversion, and every element-wise op of the
// forward pass (norms, activations, RoPE, softmax, residual adds, the LM head's fold). One binary carries every
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
    LMK_CPU_AVX512VNNI = 1 << 4,  // AVX-512 VNNI and VL (vpdpbusd on 256-bit registers) with OS ZMM state
};
int lmk_cpu_features(void);

/// A spin-wait hint (x86 `pause`, arm64 `yield`): for threads waiting for work a few microseconds away.
static inline void lmk_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

typedef struct lmk_epilogue lmk_epilogue;

/// C[m, n] = alpha · A[m, k] · op(B) (beta 0, C not read), or C[m, n] += A[m, k] · op(B) (beta 1,
/// alpha 1: each element's FMA chain continues from C's value, so splitting K over two products gives
/// the bits of one). Other alpha/beta pairs abort. Row-major: op(B) is B [k, n] (row stride ldb), or
/// with transpose_b B [n, k] transposed (row stride ldb); A, C are FP32 with row strides lda, ldc.
/// `epilogue` (or NULL) finishes each element where the product leaves it: see struct lmk_epilogue.
/// Single-threaded: callers split the columns (any split gives the same bits).
typedef void lmk_gemm_fn(long m, long n, long k, const float *a, long lda, const void *b, long ldb,
                         lmk_element_type b_type, int transpose_b, float *c, long ldc, float alpha, float beta,
                         const lmk_epilogue *epilogue);
lmk_gemm_fn lmk_gemm_avx512;
lmk_gemm_fn lmk_gemm_avx2;
lmk_gemm_fn lmk_gemm_portable;

/// How the GEMM blocks a product on this CPU (blocking.c): K goes in blocks of kc, B is packed nc
/// columns at a time (a panel of kc × nc floats, about half of L2) and mc rows of A run over each panel
/// per pass. Chosen from the L2 size the CPU reports and the product's K; the blocking never changes a
/// bit of the results.
typedef struct {
    long l2_bytes;   // the L2 size it was chosen for
    long kc;         // k per block
    long nc;         // columns per packed panel
    long mc;         // rows of A per pass over a panel
} lmk_blocking;
/// This CPU's blocking for a product over `k` (or the override's).
lmk_blocking lmk_gemm_blocking(long k);
/// The blocking a CPU with this L2 size gets for a product over `k`.
lmk_blocking lmk_gemm_blocking_for(long l2_bytes, long k);
/// The L2 size per core the CPU reports (sysconf), 512 KB when it reports none.
long lmk_l2_cache_bytes(void);
/// Products from now on block as for an L2 of `l2_bytes` (0: the CPU's own again). For tests and
/// benchmarks: a product's bits must not depend on it, so other threads' products may run meanwhile.
void lmk_gemm_blocking_override(long l2_bytes);

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

/// The activations of an MLP (`lmk_elementwise.activate`, `.gated`).
typedef enum {
    LMK_GELU_TANH = 0,  // gelu_new / gelu_pytorch_tanh
    LMK_GELU_ERF = 1,   // gelu (exact)
    LMK_SILU = 2,       // silu (SwiGLU's gate)
    LMK_GELU_F16_TABLE = 3,  // llama.cpp's GELU: its table of FP16 values at FP16(x) (gelu_table.c)
} lmk_activation;

/// What a product does to each element of C after its sum (lmk_gemm's last argument): first `bias`
/// (n values, or NULL) is added, in registers — the bits of adding it to C afterwards (`add_rows`),
/// without that pass over C — then, when `activate` is not NULL, each finished span of a row of C goes
/// through activate(span, count, activation) while still in cache: the path's element-wise `activate`
/// (the numerics' own), element by element, so the bits of running it over C afterwards.
struct lmk_epilogue {
    const float *bias;
    void (*activate)(float *x, long count, lmk_activation activation);
    lmk_activation activation;
};

/// llama.cpp's GELU table, built on first use: entry h is FP16(gelu_tanh(x)) for x = FP32(binary16 h),
/// evaluated as ggml's CPU backend does (gelu_table.c). 65,536 entries.
const uint16_t *lmk_gelu_f16_table(void);

/// The element-wise ops of the forward pass and the LM head's fold (elementwise_template.h), one set
/// per path, the same bits on every path (the same vector shapes — 16 lanes for maps, 8 for sums — and the
/// same operations in the same order).
/// Single-threaded; the caller splits rows over its threads.
typedef struct {
    /// out[t] = (x[t] − mean) / √(var + ε) · gain + bias per row of `width` (statistics in double).
    void (*layer_norm)(const float *x, float *out, long rows, long width, const float *gain, const float *bias, double epsilon);
    /// out[t] = x[t] / √(mean(x[t]²) + ε) · (gain_offset + gain), rows `stride` apart (in place when
    /// out == x); gain_offset 1 is Gemma's (1 + w), 0 the plain gain.
    void (*rms_norm)(const float *x, float *out, long rows, long width, long stride, const float *gain, float gain_offset,
                     double epsilon);
    /// x[i] = act(x[i]), in place.
    void (*activate)(float *x, long count, lmk_activation activation);
    /// Each row holds gate[width] | up[width]: gate = act(gate) · up, in place (up left as it was).
    void (*gated)(float *x, long rows, long width, lmk_activation activation);
    /// x[i] = cap · tanh(x[i] / cap), in place.
    void (*softcap)(float *x, long count, float cap);
    /// x[i] += y[i]
    void (*add)(float *x, const float *y, long count);
    /// x[t][j] += y[j] for every row t (rows `stride` apart): a bias.
    void (*add_rows)(float *x, long rows, long width, long stride, const float *y);
    /// x[i] *= factor
    void (*scale)(float *x, long count, float factor);
    /// RoPE, rotate-half: the first 2·half values of each of `heads` heads (`head_stride` apart) are
    /// x1 | x2, rotated by (cos[i], sin[i]): x1·cos − x2·sin, x2·cos + x1·sin.
    void (*rotate_heads)(float *x, long heads, long head_stride, const float *cos, const float *sin, long half);
    /// Row i of scores[rows, keys] belongs to query first_query + i and sees keys 0 … query (with a
    /// window > 0 only the last `window` of them; the others become 0), soft-capped first when
    /// softcap > 0; max-subtracted softmax over the visible keys, the rest exactly 0.
    void (*softmax_causal)(float *scores, long rows, long keys, long first_query, long window, float softcap);
    /// Σ exp(x[i] − shift): exp in 16 lanes, sums in 8, 512-value stretches summed in double.
    double (*sum_exp)(const float *x, long count, float shift);
    /// The first index of the largest non-NaN value (stored in *maximum).
    long (*max_first_index)(const float *x, long count, float *maximum);
} lmk_elementwise;
extern const lmk_elementwise lmk_elementwise_avx512;
extern const lmk_elementwise lmk_elementwise_avx2;
extern const lmk_elementwise lmk_elementwise_portable;
/// The same ops with llama.cpp's numerics: `activate` and `gated` take either GELU through its table.
extern const lmk_elementwise lmk_elementwise_llama_cpp_avx512;
extern const lmk_elementwise lmk_elementwise_llama_cpp_avx2;
extern const lmk_elementwise lmk_elementwise_llama_cpp_portable;

/// Q8_0, llama.cpp's 8-bit format: 32 values as int8 with one FP16 scale d (value = d · q), 34 bytes.
#define LMK_Q8_0_BLOCK 32
typedef struct {
    uint16_t d;
    int8_t qs[LMK_Q8_0_BLOCK];
} lmk_block_q8_0;

/// binary32 → binary16, rounded to nearest even.
uint16_t lmk_f32_to_f16(float f);

/// x[0 ..< k] (k a multiple of 32) as k/32 Q8_0 blocks, as llama.cpp's x86 quantize_row_q8_0 does:
/// d = max|x|/127 rounded to FP16, q = x · (127/max|x|) rounded to nearest even; a block holding NaN or
/// ±inf gets scale NaN and values 0. The portable version is the definition; the AVX2 one (used by the
/// AVX2 and AVX-512 paths) gives the same bits.
typedef void lmk_quantize_q8_0_fn(const float *x, long k, lmk_block_q8_0 *y);
lmk_quantize_q8_0_fn lmk_quantize_q8_0;
lmk_quantize_q8_0_fn lmk_quantize_q8_0_avx2;

/// x[0 ..< k] as Q8_0 blocks with llama.cpp's reference rounding for weights (quantize_row_q8_0_ref):
/// d = max|x|/127, q = roundf(x · (1/d)) (halves away from zero), d stored as FP16. Finite x only.
void lmk_quantize_q8_0_reference(const float *x, long k, lmk_block_q8_0 *y);

/// 1 when any of `count` blocks holds the value −128 (llama.cpp's quantizers never write it; the AVX2
/// kernel's sign trick cannot multiply it exactly, so weights holding it are refused at load).
int lmk_q8_0_find_minus_128(const lmk_block_q8_0 *w, long count);

/// C[i, j] = Σ_b (d(A[i, b]) · d(W[j, b])) · Σ_t A[i, b].q[t] · W[j, b].q[t] (accumulate 0), or C[i, j] +=
/// the same (accumulate 1): per element one FMA chain over the blocks b = 0 … blocks−1 in order, each
/// block's 32 products summed exactly in int32. A is [m, blocks] quantized activations, W [n, blocks]
/// (a weight [out, in] as GGUF stores it), both rows of `blocks` consecutive blocks; C row stride ldc.
/// Single-threaded: callers split the columns (any split gives the same bits).
typedef void lmk_gemm_q8_0_fn(long m, long n, long blocks, const lmk_block_q8_0 *a, const lmk_block_q8_0 *w, float *c,
                              long ldc, int accumulate);
lmk_gemm_q8_0_fn lmk_gemm_q8_0_avx512;  // VNNI when the CPU has it, else the AVX2 code
lmk_gemm_q8_0_fn lmk_gemm_q8_0_avx2;
lmk_gemm_q8_0_fn lmk_gemm_q8_0_portable;

/// The same product in llama.cpp's order (q8_0_lanes.c: 8 lanes of 4-product sums per output, its
/// final lane sum); accumulate 1 adds the result to C. The AVX2 version (used by the AVX-512 path too)
/// gives the portable one's bits.
lmk_gemm_q8_0_fn lmk_gemm_q8_0_llama_cpp_avx2;
lmk_gemm_q8_0_fn lmk_gemm_q8_0_llama_cpp_portable;

/// Whose arithmetic the kernels follow where transformers' and llama.cpp's differ (`--numerics`).
typedef enum {
    LMK_NUMERICS_TRANSFORMERS = 0,  // lmscore's default: transformers' functions, FP32 as exact as it goes
    LMK_NUMERICS_LLAMA_CPP = 1,     // llama.cpp's GELU table and Q8_0 product order
} lmk_numerics;

/// A path's whole set of kernels, chosen once (kernels.c).
typedef enum {
    LMK_PATH_AVX512 = 0,
    LMK_PATH_AVX2 = 1,
    LMK_PATH_PORTABLE = 2,
} lmk_path;

typedef struct {
    lmk_gemm_fn *gemm;
    lmk_convert_fn *convert;
    lmk_fma_probe_fn *fma_probe;
    const lmk_elementwise *elementwise;
    lmk_gemm_q8_0_fn *gemm_q8_0;
    lmk_quantize_q8_0_fn *quantize_q8_0;
} lmk_kernels;

/// The kernels of `path`; NULL for a path this build does not have (the x86 paths elsewhere).
const lmk_kernels *lmk_kernels_for(lmk_path path);
/// The kernels of `path` with `numerics` (LMK_NUMERICS_TRANSFORMERS: lmk_kernels_for's).
const lmk_kernels *lmk_kernels_with_numerics(lmk_path path, lmk_numerics numerics);

#ifdef __cplusplus
}
#endif

#endif
