// Scalar 16-bit → FP32, exact. The portable path's conversion; the vector paths use F16C / AVX-512.
#ifndef LMSCORE_CKERNELS_HALF_H
#define LMSCORE_CKERNELS_HALF_H

#include <stdint.h>
#include <string.h>

static inline float lmk_bits_to_f32(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/// IEEE binary16 → binary32: subnormals normalised, ±inf kept, NaN kept with its sign and payload
/// and made quiet (as F16C's vcvtph2ps does).
static inline float lmk_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    if (exponent == 0x1f) return lmk_bits_to_f32(sign | 0x7f800000u | (mantissa << 13) | (mantissa ? 0x400000u : 0));
    if (exponent != 0) return lmk_bits_to_f32(sign | ((exponent + 112) << 23) | (mantissa << 13));
    if (mantissa == 0) return lmk_bits_to_f32(sign);
    // Subnormal: mantissa · 2⁻²⁴. Shift its leading 1 up to the implicit bit, one exponent step each.
    uint32_t shifts = 0;
    while (!(mantissa & 0x400u)) { mantissa <<= 1; shifts++; }
    return lmk_bits_to_f32(sign | ((113 - shifts) << 23) | ((mantissa & 0x3ffu) << 13));
}

/// bfloat16 is the high half of a binary32: exact, NaN payloads included.
static inline float lmk_bf16_to_f32(uint16_t h) { return lmk_bits_to_f32((uint32_t)h << 16); }

#endif
