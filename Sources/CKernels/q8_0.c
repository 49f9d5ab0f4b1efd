// Q8_0: llama.cpp's 8-bit format (blocks of 32 int8 values with one FP16 scale) and W8A8 products on
// it. Weights stay Q8_0 as the GGUF file stores them; a product quantizes its activations the same way,
// row by row, then for each output sums every block's 32 products exactly in int32 and accumulates
// d_a · d_w · Σ in FP32, one FMA chain over the blocks in order — the same fixed sequence on every
// path, so every path gives the same bits, and a row's results do not depend on the other rows.
//
// Paths: portable C (the definition, loop for loop); AVX2 and AVX-512 VNNI, which copy the weights of
// 32 output columns at a time into a panel where each 32-bit lane holds 4 consecutive k of one column
// ("strip": [block][k group of 4][32 columns][4 bytes] + the 32 columns' scales as FP32, 1152 bytes a
// block). A broadcast of 4 activation bytes then meets 8 (AVX2) or 16 (AVX-512) columns at once, and
// every lane ends a block holding that column's exact block sum: no horizontal adds. The panel lives
// for one product (the file's blocks are never rewritten in place); it is a few KB per block, in L1/L2.
//   AVX2: `maddubs(|x|, sign(w, x))` + `madd` (as llama.cpp: |x| ≤ 127 and |w| ≤ 127, so the int16
//         pair sums never saturate — Q8_0 weights holding −128 are refused at load, see
//         `lmk_q8_0_find_minus_128`);
//   VNNI: `vpdpbusd(w + 128, x)` on the panel's weights stored offset by 128 (unsigned), then minus
//         128 · Σx per block (exact).
#include "CKernels.h"
#include "half.h"
#include "prefetch.h"
#include "row_cases.h"

#include <math.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

// MARK: - FP16 and quantization (one scalar version: the same bits for every path)

/// binary32 → binary16, rounded to nearest even (overflow to ±inf, subnormals kept, NaN stays NaN).
uint16_t lmk_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000u, exponent = (x >> 23) & 0xffu, mantissa = x & 0x7fffffu;
    if (exponent == 0xff) return (uint16_t)(sign | 0x7c00u | (mantissa ? 0x200u | (mantissa >> 13) : 0));
    int e = (int)exponent - 127 + 15;
    if (e >= 0x1f) return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {
        if (e < -10) return (uint16_t)sign;
        uint32_t full = mantissa | 0x800000u, shift = (uint32_t)(14 - e);
        uint32_t half = full >> shift, rest = full & ((1u << shift) - 1), midpoint = 1u << (shift - 1);
        if (rest > midpoint || (rest == midpoint && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)e << 10) | (mantissa >> 13), rest = mantissa & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (half & 1))) half++;   // a carry into the exponent is right
    return (uint16_t)half;
}

/// A block holding NaN or ±inf: scale NaN and zero values, so the product is NaN as an FP32 one would be
/// (llama.cpp leaves this undefined).
static const uint16_t nan_scale = 0x7e00;

void lmk_quantize_q8_0(const float *x, long k, lmk_block_q8_0 *y) {
    for (long b = 0; b < k / LMK_Q8_0_BLOCK; b++, x += LMK_Q8_0_BLOCK) {
        float amax = 0;
        int finite = 1;
        for (int t = 0; t < LMK_Q8_0_BLOCK; t++) {
            amax = fmaxf(amax, fabsf(x[t]));
            finite &= isfinite(x[t]) != 0;
        }
        if (!finite) {
            y[b].d = nan_scale;
            memset(y[b].qs, 0, sizeof y[b].qs);
            continue;
        }
        // As llama.cpp's x86 quantize_row_q8_0: d = max/127 stored as FP16, the values multiplied by
        // 127/max (not divided by d) and rounded to nearest even.
        y[b].d = lmk_f32_to_f16(amax / 127.0f);
        float id = amax != 0 ? 127.0f / amax : 0.0f;
        for (int t = 0; t < LMK_Q8_0_BLOCK; t++) y[b].qs[t] = (int8_t)nearbyintf(x[t] * id);
    }
}

// MARK: - Portable

void lmk_gemm_q8_0_portable(long m, long n, long blocks, const lmk_block_q8_0 *a, const lmk_block_q8_0 *w, float *c,
                            long ldc, int accumulate) {
    for (long j = 0; j < n; j++) {
        const lmk_block_q8_0 *wj = w + j * blocks;
        for (long i = 0; i < m; i++) {
            const lmk_block_q8_0 *ai = a + i * blocks;
            float acc = accumulate ? c[i * ldc + j] : 0.0f;
            for (long b = 0; b < blocks; b++) {
                int32_t sum = 0;
                for (int t = 0; t < LMK_Q8_0_BLOCK; t++) sum += (int32_t)ai[b].qs[t] * wj[b].qs[t];
                float d = lmk_f16_to_f32(ai[b].d) * lmk_f16_to_f32(wj[b].d);
                acc = fmaf(d, (float)sum, acc);
            }
            c[i * ldc + j] = acc;
        }
    }
}

void lmk_quantize_q8_0_reference(const float *x, long k, lmk_block_q8_0 *y) {
    for (long b = 0; b < k / LMK_Q8_0_BLOCK; b++, x += LMK_Q8_0_BLOCK) {
        float amax = 0;
        for (int t = 0; t < LMK_Q8_0_BLOCK; t++) amax = fmaxf(amax, fabsf(x[t]));
        float d = amax / 127.0f;
        float id = d != 0 ? 1.0f / d : 0.0f;
        y[b].d = lmk_f32_to_f16(d);
        for (int t = 0; t < LMK_Q8_0_BLOCK; t++) y[b].qs[t] = (int8_t)roundf(x[t] * id);
    }
}

int lmk_q8_0_find_minus_128(const lmk_block_q8_0 *w, long count) {
    for (long b = 0; b < count; b++)
        for (int t = 0; t < LMK_Q8_0_BLOCK; t++)
            if (w[b].qs[t] == -128) return 1;
    return 0;
}

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdlib.h>

// MARK: - Quantizing activations in AVX2 registers (the AVX-512 path uses it too)

/// `lmk_quantize_q8_0` with the same operations on 8 lanes: the maximum of |x| (exact in any order),
/// the same scalar scale, x · (127/max) rounded to nearest even — the same bits.
__attribute__((target("avx2,fma,f16c")))
void lmk_quantize_q8_0_avx2(const float *x, long k, lmk_block_q8_0 *y) {
    const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 infinity = _mm256_set1_ps(INFINITY);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (long b = 0; b < k / LMK_Q8_0_BLOCK; b++, x += LMK_Q8_0_BLOCK) {
        __m256 v[4], top = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
        for (int q = 0; q < 4; q++) {
            v[q] = _mm256_loadu_ps(x + 8 * q);
            __m256 size = _mm256_and_ps(v[q], magnitude);
            top = _mm256_max_ps(top, size);
            bad = _mm256_or_ps(bad, _mm256_cmp_ps(size, infinity, _CMP_NLT_UQ));   // NaN or ±inf
        }
        if (!_mm256_testz_ps(bad, bad)) {
            y[b].d = nan_scale;
            memset(y[b].qs, 0, sizeof y[b].qs);
            continue;
        }
        __m128 half = _mm_max_ps(_mm256_castps256_ps128(top), _mm256_extractf128_ps(top, 1));
        half = _mm_max_ps(half, _mm_movehl_ps(half, half));
        half = _mm_max_ss(half, _mm_movehdup_ps(half));
        float amax = _mm_cvtss_f32(half);
        y[b].d = lmk_f32_to_f16(amax / 127.0f);
        __m256 id = _mm256_set1_ps(amax != 0 ? 127.0f / amax : 0.0f);
        __m256i i[4];
        for (int q = 0; q < 4; q++)
            i[q] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[q], id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(i[0], i[1]), _mm256_packs_epi32(i[2], i[3]));
        _mm256_storeu_si256((__m256i *)y[b].qs, _mm256_permutevar8x32_epi32(packed, order));
    }
}

// MARK: - The panel (shared by AVX2 and VNNI)

#define STRIP 32                                        // columns per panel
#define STRIP_QS_BYTES (8 * STRIP * 4)                  // 8 groups of 4 k × 32 columns × 4 bytes
#define STRIP_BLOCK_BYTES (STRIP_QS_BYTES + STRIP * 4)  // + 32 FP32 scales

/// One step of fetching the next strip: its `lines_per_step` lines.
static inline __attribute__((always_inline)) void fetch_ahead(lmk_prefetch *next) {
    for (long l = 0; l < next->lines_per_step; l++) lmk_prefetch_step(next);
}

/// Columns j0 … j0+cols−1 of W (cols ≤ 32; missing columns are zeros with scale 0) into `panel`: for
/// each block b, 8 groups of 4 k, each 32 columns × 4 bytes, then the 32 scales as FP32 (exact). With
/// `offset` the weights are stored + 128 as unsigned bytes (VNNI). 8 × 8 transposes of int32 in registers.
__attribute__((target("avx2,fma,f16c")))
static void pack_strip(const lmk_block_q8_0 *w, long blocks, long cols, int offset, uint8_t *panel,
                       lmk_prefetch *next) {
    const __m256i flip = _mm256_set1_epi8(offset ? (char)0x80 : 0);
    for (int g = 0; g < STRIP / 8; g++) {
        for (long b = 0; b < blocks; b++) {
            uint8_t *out = panel + b * STRIP_BLOCK_BYTES;
            fetch_ahead(next);
            __m256i r[8];
            _Alignas(16) uint16_t d[8];
            for (int t = 0; t < 8; t++) {
                long j = g * 8 + t;
                if (j < cols) {
                    r[t] = _mm256_loadu_si256((const __m256i *)w[j * blocks + b].qs);
                    d[t] = w[j * blocks + b].d;
                } else {
                    r[t] = _mm256_setzero_si256();
                    d[t] = 0;
                }
            }
            // r[t] = column t's 8 groups; out group q = (r[0][q], …, r[7][q]).
            __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
            __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
            __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);
            __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);
            __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
            __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
            __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
            __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
            __m256i q[8] = {
                _mm256_permute2x128_si256(u0, u4, 0x20), _mm256_permute2x128_si256(u1, u5, 0x20),
                _mm256_permute2x128_si256(u2, u6, 0x20), _mm256_permute2x128_si256(u3, u7, 0x20),
                _mm256_permute2x128_si256(u0, u4, 0x31), _mm256_permute2x128_si256(u1, u5, 0x31),
                _mm256_permute2x128_si256(u2, u6, 0x31), _mm256_permute2x128_si256(u3, u7, 0x31),
            };
            for (int k4 = 0; k4 < 8; k4++)
                _mm256_storeu_si256((__m256i *)(out + k4 * STRIP * 4 + g * 32), _mm256_xor_si256(q[k4], flip));
            _mm256_storeu_ps((float *)(out + STRIP_QS_BYTES) + g * 8, _mm256_cvtph_ps(_mm_load_si128((const __m128i *)d)));
        }
    }
}

/// Each activation block's scale as FP32 (`scales`) and 128 · Σq (`offsets`, for the VNNI path).
static void block_terms(const lmk_block_q8_0 *a, long count, float *scales, int32_t *offsets) {
    for (long b = 0; b < count; b++) {
        scales[b] = lmk_f16_to_f32(a[b].d);
        int32_t sum = 0;
        for (int t = 0; t < LMK_Q8_0_BLOCK; t++) sum += a[b].qs[t];
        offsets[b] = 128 * sum;
    }
}

static inline int32_t load_group(const lmk_block_q8_0 *block, int k4) {
    int32_t x;
    memcpy(&x, block->qs + 4 * k4, sizeof x);
    return x;
}

typedef void strip_tile_fn(int rows, long blocks, const lmk_block_q8_0 *a, const float *scales, const int32_t *offsets,
                           const uint8_t *panel, float *c, long ldc, long cols, int accumulate, lmk_prefetch *next);

/// The driver both SIMD paths share: per 32-column strip, pack it, then every row tile against it.
static void gemm_strips(long m, long n, long blocks, const lmk_block_q8_0 *a, const lmk_block_q8_0 *w, float *c, long ldc,
                        int accumulate, int offset, int tile_rows, strip_tile_fn *tile) {
    if (m <= 0 || n <= 0) return;
    uint8_t *panel = aligned_alloc(64, (size_t)blocks * STRIP_BLOCK_BYTES + 64);
    float *scales = malloc((size_t)(m * blocks) * sizeof(float) + 1);
    int32_t *offsets = malloc((size_t)(m * blocks) * sizeof(int32_t) + 1);
    if (!panel || !scales || !offsets) abort();
    block_terms(a, m * blocks, scales, offsets);
    for (long j0 = 0; j0 < n; j0 += STRIP) {
        long cols = n - j0 < STRIP ? n - j0 : STRIP;
        // The next strip's weights (32 contiguous rows of W) are fetched into L2 a few lines at a time
        // while this one is packed (a step per block of 8 columns) and multiplied (a step per block of
        // a tile), spread evenly so that all of it has arrived before it is packed. With few rows a
        // product is bound by reading W: one burst of prefetches per strip stalls the core on full miss
        // buffers, and the packing's 8 short streams alone train no hardware prefetcher.
        lmk_prefetch next = lmk_prefetch_none();
        if (j0 + STRIP < n) {
            long next_cols = n - j0 - STRIP < STRIP ? n - j0 - STRIP : STRIP;
            long bytes = next_cols * blocks * (long)sizeof(lmk_block_q8_0);
            long steps = (STRIP / 8 + (m + tile_rows - 1) / tile_rows) * blocks, lines = (bytes + 63) / 64 + 1;
            next = lmk_prefetch_block(w + (j0 + STRIP) * blocks, 1, bytes, bytes);
            next.lines_per_step = (lines + steps - 1) / steps;
        }
        pack_strip(w + j0 * blocks, blocks, cols, offset, panel, &next);
        for (long i = 0; i < m; i += tile_rows) {
            int rows = (int)(m - i < tile_rows ? m - i : tile_rows);
            tile(rows, blocks, a + i * blocks, scales + i * blocks, offsets + i * blocks, panel, c + i * ldc + j0, ldc, cols,
                 accumulate, &next);
        }
    }
    free(panel);
    free(scales);
    free(offsets);
}

// MARK: - AVX2: one row × 32 columns

__attribute__((target("avx2,fma,f16c")))
static void tile_avx2(int rows, long blocks, const lmk_block_q8_0 *a, const float *scales, const int32_t *offsets,
                      const uint8_t *panel, float *c, long ldc, long cols, int accumulate, lmk_prefetch *next) {
    (void)rows; (void)offsets;
    const __m256i ones = _mm256_set1_epi16(1);
    _Alignas(32) float start[STRIP] = {0};
    if (accumulate) for (long t = 0; t < cols; t++) start[t] = c[t];
    __m256 acc[4];
    for (int g = 0; g < 4; g++) acc[g] = _mm256_load_ps(start + 8 * g);
    for (long b = 0; b < blocks; b++) {
        const uint8_t *p = panel + b * STRIP_BLOCK_BYTES;
        fetch_ahead(next);
        __m256i sum[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
        for (int k4 = 0; k4 < 8; k4++) {
            __m256i x = _mm256_set1_epi32(load_group(a + b, k4));
            __m256i ax = _mm256_sign_epi8(x, x);
            for (int g = 0; g < 4; g++) {
                __m256i wq = _mm256_load_si256((const __m256i *)(p + k4 * STRIP * 4 + 32 * g));
                __m256i pairs = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(wq, x));
                sum[g] = _mm256_add_epi32(sum[g], _mm256_madd_epi16(pairs, ones));
            }
        }
        __m256 da = _mm256_set1_ps(scales[b]);
        for (int g = 0; g < 4; g++) {
            __m256 d = _mm256_mul_ps(da, _mm256_load_ps((const float *)(p + STRIP_QS_BYTES) + 8 * g));
            acc[g] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sum[g]), acc[g]);
        }
    }
    _Alignas(32) float out[STRIP];
    for (int g = 0; g < 4; g++) _mm256_store_ps(out + 8 * g, acc[g]);
    for (long t = 0; t < cols; t++) c[t] = out[t];
}

__attribute__((target("avx2,fma,f16c")))
void lmk_gemm_q8_0_avx2(long m, long n, long blocks, const lmk_block_q8_0 *a, const lmk_block_q8_0 *w, float *c,
                        long ldc, int accumulate) {
    gemm_strips(m, n, blocks, a, w, c, ldc, accumulate, 0, 1, tile_avx2);
}

// MARK: - AVX-512 VNNI: up to 6 rows × 32 columns

#define VNNI_TARGET "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni"

__attribute__((target(VNNI_TARGET), always_inline))
static inline void tile_vnni_rows(const int R, long blocks, const lmk_block_q8_0 *a, const float *scales, const int32_t *offsets,
                                  const uint8_t *panel, float *c, long ldc, long cols, int accumulate,
                                  lmk_prefetch *next) {
    __mmask16 mask0 = cols >= 16 ? 0xffff : (__mmask16)((1u << cols) - 1);
    __mmask16 mask1 = cols >= 32 ? 0xffff : cols <= 16 ? 0 : (__mmask16)((1u << (cols - 16)) - 1);
    __m512 acc[6][2];
#pragma clang loop unroll(full)
    for (int r = 0; r < R; r++) {
        acc[r][0] = accumulate ? _mm512_maskz_loadu_ps(mask0, c + r * ldc) : _mm512_setzero_ps();
        acc[r][1] = accumulate ? _mm512_maskz_loadu_ps(mask1, c + r * ldc + 16) : _mm512_setzero_ps();
    }
    for (long b = 0; b < blocks; b++) {
        const uint8_t *p = panel + b * STRIP_BLOCK_BYTES;
        fetch_ahead(next);
        __m512i sum[6][2];
#pragma clang loop unroll(full)
        for (int r = 0; r < R; r++) sum[r][0] = sum[r][1] = _mm512_setzero_si512();
#pragma clang loop unroll(full)
        for (int k4 = 0; k4 < 8; k4++) {
            __m512i w0 = _mm512_load_si512(p + k4 * STRIP * 4), w1 = _mm512_load_si512(p + k4 * STRIP * 4 + 64);
#pragma clang loop unroll(full)
            for (int r = 0; r < R; r++) {
                __m512i x = _mm512_set1_epi32(load_group(a + r * blocks + b, k4));
                sum[r][0] = _mm512_dpbusd_epi32(sum[r][0], w0, x);
                sum[r][1] = _mm512_dpbusd_epi32(sum[r][1], w1, x);
            }
        }
        __m512 dw0 = _mm512_load_ps(p + STRIP_QS_BYTES), dw1 = _mm512_load_ps(p + STRIP_QS_BYTES + 64);
#pragma clang loop unroll(full)
        for (int r = 0; r < R; r++) {
            __m512i offset = _mm512_set1_epi32(offsets[r * blocks + b]);
            __m512 da = _mm512_set1_ps(scales[r * blocks + b]);
            acc[r][0] = _mm512_fmadd_ps(_mm512_mul_ps(da, dw0), _mm512_cvtepi32_ps(_mm512_sub_epi32(sum[r][0], offset)), acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(_mm512_mul_ps(da, dw1), _mm512_cvtepi32_ps(_mm512_sub_epi32(sum[r][1], offset)), acc[r][1]);
        }
    }
#pragma clang loop unroll(full)
    for (int r = 0; r < R; r++) {
        _mm512_mask_storeu_ps(c + r * ldc, mask0, acc[r][0]);
        _mm512_mask_storeu_ps(c + r * ldc + 16, mask1, acc[r][1]);
    }
}

__attribute__((target(VNNI_TARGET)))
static void tile_vnni(int rows, long blocks, const lmk_block_q8_0 *a, const float *scales, const int32_t *offsets,
                      const uint8_t *panel, float *c, long ldc, long cols, int accumulate, lmk_prefetch *next) {
#define TILE(r) tile_vnni_rows(r, blocks, a, scales, offsets, panel, c, ldc, cols, accumulate, next)
    switch (rows) { LMK_ROW_CASES_6(TILE) }
#undef TILE
}

/// The AVX-512 path: VNNI where the CPU has it, else the AVX2 code (every AVX-512 CPU has AVX2).
void lmk_gemm_q8_0_avx512(long m, long n, long blocks, const lmk_block_q8_0 *a, const lmk_block_q8_0 *w, float *c,
                          long ldc, int accumulate) {
    static int vnni = -1;   // read once; a race only writes the same value twice
    if (vnni < 0) vnni = (lmk_cpu_features() & LMK_CPU_AVX512VNNI) != 0;
    if (vnni) gemm_strips(m, n, blocks, a, w, c, ldc, accumulate, 1, 6, tile_vnni);
    else lmk_gemm_q8_0_avx2(m, n, blocks, a, w, c, ldc, accumulate);
}
#endif
