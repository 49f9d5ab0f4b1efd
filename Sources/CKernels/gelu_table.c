// llama.cpp's GELU (`--numerics llama.cpp`): ggml's CPU backend (GGML_GELU_FP16) rounds x to FP16 and
// looks its GELU up in a table of 65,536 FP16 values; this file builds the same table once.
//
// ggml_cpu_init fills ggml_table_gelu_f16[h] = FP16(0.5f·x·(1 + tanhf(√(2/π)·x·(1 + 0.044715f·x·x))))
// for x = FP32(h), compiled by gcc with -ffp-contract=fast, which turns 1 + (0.044715f·x)·x into one
// fused multiply-add: written so below, every entry equals the table read from llama.cpp 0.3.36's
// libggml-cpu.so (KernelTests: a recorded sample and a checksum of all entries). tanhf is the C library's.
#include "CKernels.h"
#include "half.h"

#include <math.h>
#include <pthread.h>

#pragma STDC FP_CONTRACT OFF

uint16_t lmk_gelu_f16_values[1 << 16];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void fill(void) {
    const float coefficient = 0.044715f, sqrt_2_over_pi = 0.79788456080286535587989211986876f;
    for (uint32_t h = 0; h < (1u << 16); h++) {
        float x = lmk_f16_to_f32((uint16_t)h);
        float gelu = 0.5f * x * (1.0f + tanhf(sqrt_2_over_pi * x * fmaf(coefficient * x, x, 1.0f)));
        // A NaN (x NaN, or −∞ · 0 at x = −∞) as ggml's table holds it: quiet, x's sign, no payload.
        lmk_gelu_f16_values[h] = isnan(gelu) ? (signbit(x) ? 0xfe00 : 0x7e00) : lmk_f32_to_f16(gelu);
    }
}

const uint16_t *lmk_gelu_f16_table(void) {
    pthread_once(&once, fill);
    return lmk_gelu_f16_values;
}
