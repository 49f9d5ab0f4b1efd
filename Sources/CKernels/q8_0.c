// Q8_0: llama.cpp's 8-bit format (blocks of 32 int8 values with one FP16 scale) and W8A8 products on
// it. Weights stay Q8_0 as the GGUF file stores them; a product quantizes its activations the same way,
// row by row, then for each output sums every block's 32 products exactly in int32 and accumulates
// d_a · d_w · Σ in FP32, one FMA chain over the blocks in order — the same fixed sequence on every
// path, so every path gives the same bits, and a row's results do not depend on the other rows.
//
// Paths: portable C; AVX2 (`maddubs` + `madd` on |a| and sign(w, a), as llama.cpp does); AVX-512 with
// VNNI (`vpdpbusd` on the same operands). Each computes the block sums exactly, so they differ only in
// speed. Columns are the outer loop: a tile of 8 weight rows (a few KB) stays in L1 while every
// activation row passes over it, so a weight matrix is read from memory once per product.
#include "CKernels.h"
#include "half.h"

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

void lmk_quantize_q8_0(const float *x, long k, lmk_block_q8_0 *y) {
    for (long b = 0; b < k / LMK_Q8_0_BLOCK; b++, x += LMK_Q8_0_BLOCK) {
        float amax = 0;
        for (int t = 0; t < LMK_Q8_0_BLOCK; t++) amax = fmaxf(amax, fabsf(x[t]));
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

#if defined(__x86_64__)
#include <immintrin.h>

// MARK: - AVX2 and AVX-512 VNNI: 8 columns at a time

/// The 8 lanes of each of s[0..7] summed: lane c of the result is Σ s[c] (exact int32 adds).
#define LMK_REDUCE8(s, out)                                                                                   \
    do {                                                                                                     \
        __m256i h01 = _mm256_hadd_epi32(s[0], s[1]), h23 = _mm256_hadd_epi32(s[2], s[3]);                    \
        __m256i h45 = _mm256_hadd_epi32(s[4], s[5]), h67 = _mm256_hadd_epi32(s[6], s[7]);                    \
        __m256i h0123 = _mm256_hadd_epi32(h01, h23), h4567 = _mm256_hadd_epi32(h45, h67);                    \
        out = _mm256_add_epi32(_mm256_permute2x128_si256(h0123, h4567, 0x20),                                \
                               _mm256_permute2x128_si256(h0123, h4567, 0x31));                               \
    } while (0)

/// One tile: outputs (i, j0 … j0+7) for every row i, the per-block sums from `block_sums`.
#define LMK_Q8_TILE(BLOCK_SUMS)                                                                              \
    for (long j0 = 0; j0 < n; j0 += 8) {                                                                     \
        long cols = n - j0 < 8 ? n - j0 : 8;                                                                 \
        const lmk_block_q8_0 *wj[8];                                                                         \
        for (int t = 0; t < 8; t++) wj[t] = w + (j0 + (t < cols ? t : 0)) * blocks;                          \
        for (long i = 0; i < m; i++) {                                                                       \
            const lmk_block_q8_0 *ai = a + i * blocks;                                                       \
            _Alignas(32) float start[8] = {0};                                                               \
            if (accumulate) for (int t = 0; t < cols; t++) start[t] = c[i * ldc + j0 + t];                  \
            __m256 acc = _mm256_load_ps(start);                                                              \
            for (long b = 0; b < blocks; b++) {                                                              \
                __m256i x = _mm256_loadu_si256((const __m256i *)ai[b].qs);                                   \
                __m256i ax = _mm256_sign_epi8(x, x);                                                         \
                __m256i s[8];                                                                                \
                for (int t = 0; t < 8; t++) {                                                                \
                    __m256i sy = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)wj[t][b].qs), x);     \
                    s[t] = BLOCK_SUMS(ax, sy);                                                               \
                }                                                                                            \
                __m256i sums;                                                                                \
                LMK_REDUCE8(s, sums);                                                                        \
                __m256 dw = _mm256_cvtph_ps(_mm_setr_epi16(                                                  \
                    (short)wj[0][b].d, (short)wj[1][b].d, (short)wj[2][b].d, (short)wj[3][b].d,             \
                    (short)wj[4][b].d, (short)wj[5][b].d, (short)wj[6][b].d, (short)wj[7][b].d));           \
                __m256 d = _mm256_mul_ps(_mm256_set1_ps(lmk_f16_to_f32(ai[b].d)), dw);                       \
                acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sums), acc);                                     \
            }                                                                                                \
            _Alignas(32) float out[8];                                                                       \
            _mm256_store_ps(out, acc);                                                                       \
            for (int t = 0; t < cols; t++) c[i * ldc + j0 + t] = out[t];                                     \
        }                                                                                                    \
    }

/// |a| · sign(w, a), 32 products summed in pairs (int16, no overflow: |a|, |w| ≤ 128) then in fours (int32).
#define LMK_SUMS_AVX2(ax, sy) _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1))
/// The same sums in one instruction.
#define LMK_SUMS_VNNI(ax, sy) _mm256_dpbusd_epi32(_mm256_setzero_si256(), ax, sy)

__attribute__((target("avx2,fma,f16c")))
void lmk_gemm_q8_0_avx2(long m, long n, long blocks, const lmk_block_q8_0 *a, const lmk_block_q8_0 *w, float *c,
                        long ldc, int accumulate) {
    LMK_Q8_TILE(LMK_SUMS_AVX2)
}

__attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni")))
static void gemm_q8_0_vnni(long m, long n, long blocks, const lmk_block_q8_0 *a, const lmk_block_q8_0 *w, float *c,
                           long ldc, int accumulate) {
    LMK_Q8_TILE(LMK_SUMS_VNNI)
}

/// The AVX-512 path: VNNI where the CPU has it, else the AVX2 code (every AVX-512 CPU has AVX2).
void lmk_gemm_q8_0_avx512(long m, long n, long blocks, const lmk_block_q8_0 *a, const lmk_block_q8_0 *w, float *c,
                          long ldc, int accumulate) {
    static int vnni = -1;   // read once; a race only writes the same value twice
    if (vnni < 0) vnni = (lmk_cpu_features() & LMK_CPU_AVX512VNNI) != 0;
    if (vnni) gemm_q8_0_vnni(m, n, blocks, a, w, c, ldc, accumulate);
    else lmk_gemm_q8_0_avx2(m, n, blocks, a, w, c, ldc, accumulate);
}
#endif
