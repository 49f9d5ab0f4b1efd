// The portable path: plain C over 4-lane vectors (clang/gcc vector extensions: SSE2 on any x86-64,
// NEON on arm64), multiply and add rounded separately. For CPUs without AVX2/FMA and for non-x86.
#include "CKernels.h"
#include "half.h"

typedef float v4f __attribute__((vector_size(16)));

static inline v4f v4_load(const float *p) { v4f v; memcpy(&v, p, sizeof v); return v; }
static inline void v4_store(float *p, v4f v) { memcpy(p, &v, sizeof v); }
static inline v4f v4_set1(float x) { return (v4f){x, x, x, x}; }
static inline v4f v4_load_f16(const uint16_t *p) {
    uint16_t h[4];
    memcpy(h, p, sizeof h);
    return (v4f){lmk_f16_to_f32(h[0]), lmk_f16_to_f32(h[1]), lmk_f16_to_f32(h[2]), lmk_f16_to_f32(h[3])};
}
static inline v4f v4_load_bf16(const uint16_t *p) {
    uint16_t h[4];
    memcpy(h, p, sizeof h);
    return (v4f){lmk_bf16_to_f32(h[0]), lmk_bf16_to_f32(h[1]), lmk_bf16_to_f32(h[2]), lmk_bf16_to_f32(h[3])};
}

#define PATH(name) name##_portable
#define V v4f
#define VL 4
#define V_ZERO() v4_set1(0.0f)
#define V_LOAD(p) v4_load(p)
#define V_STORE(p, v) v4_store(p, v)
#define V_SET1(x) v4_set1(x)
#define V_ADD(a, b) ((a) + (b))
#define V_MUL(a, b) ((a) * (b))
#define V_FMA(a, b, c) ((a) * (b) + (c))
#define V_LOAD_F16(p) v4_load_f16(p)
#define V_LOAD_BF16(p) v4_load_bf16(p)

#include "gemm_template.h"
