// The LM head's fold over a tile of logits (LMHead.swift) on AVX2: Σ exp(x − shift) and the first
// index of the maximum. Why C: the Swift versions are compiled for baseline x86-64, so each 8-lane
// step runs as two SSE halves; for a small model the fold is a third of the scoring time.
//
// Same bits as the Swift versions (which the portable path keeps): the same single-precision exp
// (Cephes, FastMath.swift) with multiply and add rounded separately (no FMA), the same 8 lanes, the
// same 512-value stretches summed in the same order. LMHeadFoldTests.swift compares them bit for bit.
// The AVX-512 path uses these too (every CPU it runs on has AVX2), so both give the same bits.
#include "CKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#pragma STDC FP_CONTRACT OFF
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)

/// exp(v) per lane: FastMath.swift's `exp`, operation for operation.
static inline __m256 exp8(__m256 v) {
    // Clamp to the range where the result is finite and normal; NaN passes through (max/min return
    // their second operand when either is NaN, as Swift's `replace(where: x .< lo)` keeps it).
    __m256 x = _mm256_max_ps(_mm256_set1_ps(-87.33654f), v);
    x = _mm256_min_ps(_mm256_set1_ps(88.72283f), x);
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    __m256 shifted = _mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)), magic);
    __m256 n = _mm256_sub_ps(shifted, magic);
    __m256 r = _mm256_add_ps(_mm256_sub_ps(x, _mm256_mul_ps(n, _mm256_set1_ps(0.693359375f))),
                             _mm256_mul_ps(n, _mm256_set1_ps(2.1219444e-4f)));
    __m256 p = _mm256_set1_ps(1.98756915e-4f);
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(5.0000001201e-1f));
    __m256 y = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(p, r), r), r), _mm256_set1_ps(1.0f));
    __m256i n_bits = _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_castps_si256(magic));
    __m256i exponent = _mm256_slli_epi32(_mm256_add_epi32(n_bits, _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(exponent));
}

/// The lanes' sum in Swift's `SIMD8.sum()` order: lane 0 + lane 1 + … + lane 7, left to right.
static inline float sum8(__m256 v) {
    _Alignas(32) float lanes[8];
    _mm256_store_ps(lanes, v);
    float sum = lanes[0];
    for (int i = 1; i < 8; i++) sum += lanes[i];
    return sum;
}

double lmk_sum_exp_avx2(const float *x, long count, float shift) {
    const __m256 s = _mm256_set1_ps(shift);
    double total = 0;
    long j = 0;
    while (j + 8 <= count) {
        long end = count - (count - j) % 8;
        if (end > j + 512) end = j + 512;
        __m256 lanes = _mm256_setzero_ps();
        for (; j < end; j += 8) lanes = _mm256_add_ps(lanes, exp8(_mm256_sub_ps(_mm256_loadu_ps(x + j), s)));
        total += (double)sum8(lanes);
    }
    for (; j < count; j++) total += exp((double)x[j] - (double)shift);
    return total;
}

long lmk_max_first_index_avx2(const float *x, long count, float *maximum) {
    __m256 lanes = _mm256_set1_ps(-INFINITY);
    __m256i lane_index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), index = lane_index;
    long j = 0;
    for (; j + 8 <= count; j += 8) {
        __m256 v = _mm256_loadu_ps(x + j);
        __m256 larger = _mm256_cmp_ps(v, lanes, _CMP_GT_OQ);   // false for NaN: a NaN never replaces
        lanes = _mm256_blendv_ps(lanes, v, larger);
        lane_index = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(lane_index), _mm256_castsi256_ps(index), larger));
        index = _mm256_add_epi32(index, _mm256_set1_epi32(8));
    }
    _Alignas(32) float values[8];
    _Alignas(32) int32_t indices[8];
    _mm256_store_ps(values, lanes);
    _mm256_store_si256((__m256i *)indices, lane_index);
    float best = values[0];   // as Swift's SIMD8.max(): on equal values (+0, -0) the later lane's
    for (int lane = 1; lane < 8; lane++) best = values[lane] >= best ? values[lane] : best;
    long first = count;
    for (int lane = 0; lane < 8; lane++)
        if (values[lane] == best && indices[lane] < count && indices[lane] < first) first = indices[lane];
    for (; j < count; j++)
        if (x[j] > best) {
            best = x[j];
            first = j;
        }
    *maximum = best;
    if (first < count && x[first] == best) return first;
    // A NaN where a lane of -inf values began: the first index holding the maximum, as a scan finds it.
    first = 0;
    while (x[first] != best && first < count - 1) first++;
    return first;
}

#pragma clang attribute pop

#endif
