// The AVX-512F path: 16 FP32 lanes, tiles of C 6 × 32. Only AVX-512F
// instructions (no BW/DQ/VL), so every AVX-512 CPU runs it. Same code as the AVX2 path
// (gemm_template.h) over wider vectors.
#include "CKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

// Scripts/check_avx512_emulated.sh compiles this file with SIMDe standing in for the AVX-512
// intrinsics (LMK_EMULATED_AVX512), to run it on a CPU without them: then nothing is built for AVX-512.
#ifndef LMK_EMULATED_AVX512
#pragma clang attribute push(__attribute__((target("avx512f,avx2,fma,f16c"))), apply_to = function)
#endif

#define PATH(name) name##_avx512
#define V __m512
#define VL 16
#define V_ZERO() _mm512_setzero_ps()
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_STORE(p, v) _mm512_storeu_ps(p, v)
#define V_SET1(x) _mm512_set1_ps(x)
#define V_ADD(a, b) _mm512_add_ps(a, b)
#define V_MUL(a, b) _mm512_mul_ps(a, b)
#define V_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define V_LOAD_F16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define V_LOAD_BF16(p) _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p))), 16))

#include "transpose8.h"
#include "gemm_template.h"

#ifndef LMK_EMULATED_AVX512
#pragma clang attribute pop
#endif

#endif
