// Stands in for the AVX-512F intrinsics of Sources/CKernels/gemm_avx512.c on a CPU without AVX-512,
// so that path's code — 16-lane tiles, partial strips, in-place and packed blocks, 16-bit loads — runs
// and is checked on any AVX2 machine (Scripts/check_avx512_emulated.sh). Each _mm512_* the path uses
// becomes SIMDe's version (libsimde-dev), built from two native AVX2/FMA halves, so an FMA stays one
// rounding and the results are the bits an AVX-512 CPU gives. An intrinsic the path starts using and
// this list lacks fails the build (a native AVX-512 intrinsic in a function not compiled for AVX-512).
//
// Force-included before gemm_avx512.c, which then, seeing LMK_EMULATED_AVX512, does not compile its
// functions for AVX-512 (the compiler could otherwise emit AVX-512 instructions in them).
#ifndef LMSCORE_SIMDE_AVX512_H
#define LMSCORE_SIMDE_AVX512_H

#include <immintrin.h>
#include <simde/x86/avx512.h>

#define LMK_EMULATED_AVX512 1

// SIMDe 0.7.4 (Debian 12) has no _mm512_cvtph_ps: 16 halves → FP32 as two native F16C conversions.
static inline simde__m512 lmk_emulated_mm512_cvtph_ps(__m256i halves) {
    simde__m512_private r;
    r.m256[0] = _mm256_cvtph_ps(_mm256_castsi256_si128(halves));
    r.m256[1] = _mm256_cvtph_ps(_mm256_extracti128_si256(halves, 1));
    return simde__m512_from_private(r);
}

// Nor _mm512_cvtepu16_epi32: 16 unsigned 16-bit values → 32-bit lanes, two native AVX2 halves.
static inline simde__m512i lmk_emulated_mm512_cvtepu16_epi32(__m256i values) {
    simde__m512i_private r;
    r.m256i[0] = _mm256_cvtepu16_epi32(_mm256_castsi256_si128(values));
    r.m256i[1] = _mm256_cvtepu16_epi32(_mm256_extracti128_si256(values, 1));
    return simde__m512i_from_private(r);
}

#define __m512 simde__m512
#define __m512i simde__m512i
#define _mm512_setzero_ps simde_mm512_setzero_ps
#define _mm512_loadu_ps simde_mm512_loadu_ps
#define _mm512_storeu_ps simde_mm512_storeu_ps
#define _mm512_set1_ps simde_mm512_set1_ps
#define _mm512_add_ps simde_mm512_add_ps
#define _mm512_mul_ps simde_mm512_mul_ps
#define _mm512_fmadd_ps simde_mm512_fmadd_ps
#define _mm512_castsi512_ps simde_mm512_castsi512_ps
#define _mm512_slli_epi32 simde_mm512_slli_epi32
#define _mm512_cvtepu16_epi32 lmk_emulated_mm512_cvtepu16_epi32
#define _mm512_cvtph_ps lmk_emulated_mm512_cvtph_ps

#endif
