// The one table of kernels per path: the engine asks for its path's table once (ComputeContext) and
// calls through it; no other code chooses between paths.
#include "CKernels.h"

#include <stddef.h>

#if defined(__x86_64__)
static const lmk_kernels avx512 = {lmk_gemm_avx512, lmk_convert_avx512, lmk_fma_probe_avx512, &lmk_elementwise_avx512,
                                   lmk_gemm_q8_0_avx512, lmk_quantize_q8_0_avx2};
static const lmk_kernels avx2 = {lmk_gemm_avx2, lmk_convert_avx2, lmk_fma_probe_avx2, &lmk_elementwise_avx2, lmk_gemm_q8_0_avx2,
                                 lmk_quantize_q8_0_avx2};
// llama.cpp's numerics: its GELU and its Q8_0 product order, everything else the same.
static const lmk_kernels avx512_llama_cpp = {lmk_gemm_avx512, lmk_convert_avx512, lmk_fma_probe_avx512,
                                             &lmk_elementwise_llama_cpp_avx512, lmk_gemm_q8_0_llama_cpp_avx2, lmk_quantize_q8_0_avx2};
static const lmk_kernels avx2_llama_cpp = {lmk_gemm_avx2, lmk_convert_avx2, lmk_fma_probe_avx2, &lmk_elementwise_llama_cpp_avx2,
                                           lmk_gemm_q8_0_llama_cpp_avx2, lmk_quantize_q8_0_avx2};
#endif
static const lmk_kernels portable = {lmk_gemm_portable, lmk_convert_portable, lmk_fma_probe_portable, &lmk_elementwise_portable,
                                     lmk_gemm_q8_0_portable, lmk_quantize_q8_0};
static const lmk_kernels portable_llama_cpp = {lmk_gemm_portable, lmk_convert_portable, lmk_fma_probe_portable,
                                               &lmk_elementwise_llama_cpp_portable, lmk_gemm_q8_0_llama_cpp_portable,
                                               lmk_quantize_q8_0};

const lmk_kernels *lmk_kernels_for(lmk_path path) {
    switch (path) {
#if defined(__x86_64__)
    case LMK_PATH_AVX512: return &avx512;
    case LMK_PATH_AVX2: return &avx2;
#endif
    case LMK_PATH_PORTABLE: return &portable;
    default: return NULL;
    }
}

const lmk_kernels *lmk_kernels_with_numerics(lmk_path path, lmk_numerics numerics) {
    if (numerics != LMK_NUMERICS_LLAMA_CPP) return lmk_kernels_for(path);
    switch (path) {
#if defined(__x86_64__)
    case LMK_PATH_AVX512: return &avx512_llama_cpp;
    case LMK_PATH_AVX2: return &avx2_llama_cpp;
#endif
    case LMK_PATH_PORTABLE: return &portable_llama_cpp;
    default: return NULL;
    }
}
