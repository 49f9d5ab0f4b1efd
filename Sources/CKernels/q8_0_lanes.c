// Q8_0 products in llama.cpp's order (`--numerics llama.cpp`): what its x86 CPU backend runs for a Q8_0
// weight times Q8_0-quantized activations (llamafile's tinyBLAS_Q0_AVX, ggml-cpu/llamafile/sgemm.cpp).
// Each output keeps 8 FP32 lanes; for block b, lane L adds (d_a · d_w) · (Σ of the 4 int8 products at
// bytes 4L … 4L+3) as one FMA; after the last block the lanes are summed ((l0+l4) + (l2+l6)) + ((l1+l5) +
// (l3+l7)) (its hsum). lmscore's own order (q8_0.c) sums a block's 32 products in one int32 and keeps
// one FMA chain: the two differ in the last bits, enough to move later 8-bit roundings.
//
// The portable version is the definition; the AVX2 one (the AVX-512 path uses it too) gives the same
// bits: the lane sums are exact integers either way and the FMAs and the final sum are the same
// operations in the same order. Each output is one fixed sequence over the blocks, whatever m, n or the
// caller's column split: batch-invariant as every other kernel. Not tiled: fidelity first.
#include "CKernels.h"
#include "half.h"

#include <math.h>

#pragma STDC FP_CONTRACT OFF

static inline float lanes_sum(const float lane[8]) {
    return ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
}

void lmk_gemm_q8_0_llama_cpp_portable(long m, long n, long blocks, const lmk_block_q8_0 *a, const lmk_block_q8_0 *w,
                                      float *c, long ldc, int accumulate) {
    for (long j = 0; j < n; j++) {
        const lmk_block_q8_0 *wj = w + j * blocks;
        for (long i = 0; i < m; i++) {
            const lmk_block_q8_0 *ai = a + i * blocks;
            float lane[8] = {0};
            for (long b = 0; b < blocks; b++) {
                float d = lmk_f16_to_f32(ai[b].d) * lmk_f16_to_f32(wj[b].d);
                for (int l = 0; l < 8; l++) {
                    int32_t sum = 0;
                    for (int t = 4 * l; t < 4 * l + 4; t++) sum += (int32_t)ai[b].qs[t] * wj[b].qs[t];
                    lane[l] = fmaf(d, (float)sum, lane[l]);
                }
            }
            float total = lanes_sum(lane);
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + total : total;
        }
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2,fma,f16c")))
void lmk_gemm_q8_0_llama_cpp_avx2(long m, long n, long blocks, const lmk_block_q8_0 *a, const lmk_block_q8_0 *w,
                                  float *c, long ldc, int accumulate) {
    const __m256i ones = _mm256_set1_epi16(1);
    for (long j = 0; j < n; j++) {
        const lmk_block_q8_0 *wj = w + j * blocks;
        for (long i = 0; i < m; i++) {
            const lmk_block_q8_0 *ai = a + i * blocks;
            __m256 lanes = _mm256_setzero_ps();
            for (long b = 0; b < blocks; b++) {
                __m256i qa = _mm256_loadu_si256((const __m256i *)ai[b].qs);
                __m256i qw = _mm256_loadu_si256((const __m256i *)wj[b].qs);
                // |a| · (w · sign a) as unsigned × signed byte pairs (no −128: the quantizers never
                // write it and weights holding it are refused at load), then pairs of pairs: per
                // 32-bit lane the exact sum of its 4 products.
                __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(qa, qa), _mm256_sign_epi8(qw, qa));
                __m256 sums = _mm256_cvtepi32_ps(_mm256_madd_epi16(ones, pairs));
                float d = _cvtsh_ss(ai[b].d) * _cvtsh_ss(wj[b].d);
                lanes = _mm256_fmadd_ps(_mm256_set1_ps(d), sums, lanes);
            }
            float lane[8];
            _mm256_storeu_ps(lane, lanes);
            float total = lanes_sum(lane);
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + total : total;
        }
    }
}
#endif
