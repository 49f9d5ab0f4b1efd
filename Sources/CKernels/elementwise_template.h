// Every element-wise op of the forward pass and of the LM head's fold, written once and included by
// elementwise_avx512.c, elementwise_avx2.c and elementwise_portable.c, each of which first defines
// PATH(name) and sets its target (per-function attributes, as the GEMM paths do).
//
// One vector shape for every path: 8 FP32 lanes (`f8`, clang/gcc vector extensions; AVX2 and AVX-512
// CPUs run it as one ymm register, the portable path as two SSE halves or NEON pairs). The lanes, the
// order of every reduction and each operation are the same on every path, multiply and add rounded
// separately (FP contraction off), so the three paths give the same bits: the choice of path changes
// the products' rounding only, never these ops'. A count that is not a multiple of 8 ends with one
// partial vector (zero-padded load, partial store) computed by the same formula as the rest: an
// element's result never depends on where it sits in the buffer.
//
// Norm statistics are sums in double, element by element in order (as the Swift loops they replace).
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "half.h"

#pragma STDC FP_CONTRACT OFF
// The 8-lane helpers are always inlined, so no vector crosses a call boundary (no ABI to change).
#pragma clang diagnostic ignored "-Wpsabi"

typedef float f8 __attribute__((vector_size(32)));
typedef int32_t i8v __attribute__((vector_size(32)));

#define INLINE static inline __attribute__((always_inline))

INLINE f8 load8(const float *p) { f8 v; memcpy(&v, p, sizeof v); return v; }
INLINE void store8(float *p, f8 v) { memcpy(p, &v, sizeof v); }
INLINE f8 load8_partial(const float *p, long count) { f8 v = {0}; memcpy(&v, p, (size_t)count * sizeof(float)); return v; }
INLINE void store8_partial(float *p, f8 v, long count) { memcpy(p, &v, (size_t)count * sizeof(float)); }
INLINE f8 set8(float x) { return (f8){x, x, x, x, x, x, x, x}; }
/// mask ? a : b per lane (mask lanes all ones or zero, as comparisons give them).
INLINE f8 select8(i8v mask, f8 a, f8 b) { return (f8)((mask & (i8v)a) | (~mask & (i8v)b)); }

/// exp(v) per lane: Cephes' expf (range reduction by ln 2, degree-6 polynomial, ≈ 2 ulp). Clamped to
/// the range where the result is finite and normal; NaN passes through (a comparison with NaN is false).
INLINE f8 exp8(f8 v) {
    f8 x = select8(v < set8(-87.33654f), set8(-87.33654f), v);
    x = select8(x > set8(88.72283f), set8(88.72283f), x);
    // n = round(x / ln 2) by the 1.5·2^23 trick: adding the magic constant leaves n in the low
    // mantissa bits, so its integer value is a bit-pattern difference (no float → int conversion).
    const f8 magic = set8(12582912.0f);
    f8 shifted = x * set8(1.44269504f) + magic;
    f8 n = shifted - magic;
    f8 r = (x - n * set8(0.693359375f)) + n * set8(2.1219444e-4f);
    f8 p = set8(1.98756915e-4f);
    p = p * r + set8(1.3981999507e-3f);
    p = p * r + set8(8.3334519073e-3f);
    p = p * r + set8(4.1665795894e-2f);
    p = p * r + set8(1.6666665459e-1f);
    p = p * r + set8(5.0000001201e-1f);
    f8 y = ((p * r) * r + r) + set8(1.0f);
    i8v exponent = (((i8v)shifted - (i8v)magic) + 127) << 23;
    return y * (f8)exponent;
}

/// The lanes' sum, lane 0 + lane 1 + … + lane 7, left to right.
INLINE float sum8(f8 v) {
    float sum = v[0];
    for (int i = 1; i < 8; i++) sum += v[i];
    return sum;
}

/// cap · tanh(v / cap), tanh(y) = sign(y) · (1 − e)/(1 + e) with e = exp(−2|y|): absolute error a few
/// ulp of 1, times cap (HF's soft-cap of Gemma 2's attention scores and final logits).
INLINE f8 softcap8(f8 v, float cap) {
    f8 y = v / set8(cap);
    i8v sign = (i8v)y & (i8v)set8(-0.0f);
    f8 a = (f8)((i8v)y & ~(i8v)set8(-0.0f));
    f8 e = exp8(set8(-2.0f) * a);
    f8 t = (set8(1.0f) - e) / (set8(1.0f) + e);
    return (f8)((i8v)t | sign) * set8(cap);
}

/// gelu_new / gelu_pytorch_tanh: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), computed as the same
/// function x·σ(2u) = x / (1 + e^(−2u)), which needs only exp.
INLINE f8 gelu_tanh8(f8 v) {
    f8 u = v + ((set8(0.044715f) * v) * v) * v;
    return v / (set8(1.0f) + exp8(set8(-2.0f * 0.7978845608028654f) * u));
}

/// silu(g) = g · σ(g) = g / (1 + e^(−g)).
INLINE f8 silu8(f8 g) { return g / (set8(1.0f) + exp8(-g)); }

/// gelu (exact): 0.5·x·(1 + erf(x/√2)), erf from libm per lane.
INLINE f8 gelu_erf8(f8 v) {
    f8 out;
    for (int i = 0; i < 8; i++) out[i] = 0.5f * v[i] * (1 + erff(v[i] * 0.70710678118654752f));
    return out;
}

/// llama.cpp's GELU (gelu_table.c): 0 for x ≤ −10, x for x ≥ 10, else its table's value at FP16(x).
/// The table's entries, read directly here: the ops that take an activation make sure it is built
/// (`ensure_activation`) once per call, not once per 8 values.
extern uint16_t lmk_gelu_f16_values[1 << 16];

INLINE f8 gelu_f16_table8(f8 v) {
    f8 out;
    for (int i = 0; i < 8; i++)
        out[i] = v[i] <= -10.0f ? 0.0f : v[i] >= 10.0f ? v[i] : lmk_f16_to_f32(lmk_gelu_f16_values[lmk_f32_to_f16(v[i])]);
    return out;
}

/// What `activation` needs before its first value: llama.cpp's GELU table built (gelu_table.c).
INLINE void ensure_activation(lmk_activation activation) {
    if (activation == LMK_GELU_F16_TABLE) (void)lmk_gelu_f16_table();
}

INLINE f8 activate8(f8 v, lmk_activation activation) {
    switch (activation) {
    case LMK_GELU_TANH: return gelu_tanh8(v);
    case LMK_GELU_ERF: return gelu_erf8(v);
    case LMK_GELU_F16_TABLE: return gelu_f16_table8(v);
    default: return silu8(v);
    }
}

// MARK: norms

static void PATH(layer_norm)(const float *x, float *out, long rows, long width, const float *gain, const float *bias,
                             double epsilon) {
    for (long t = 0; t < rows; t++) {
        const float *row = x + t * width;
        float *o = out + t * width;
        double sum = 0;
        for (long i = 0; i < width; i++) sum += (double)row[i];
        double mean = sum / (double)width;
        double squares = 0;
        for (long i = 0; i < width; i++) {
            double d = (double)row[i] - mean;
            squares += d * d;
        }
        float inverse_std = (float)(1 / sqrt(squares / (double)width + epsilon));
        float m = (float)mean;
        for (long i = 0; i < width; i++) o[i] = (row[i] - m) * inverse_std * gain[i] + bias[i];
    }
}

static void PATH(rms_norm)(const float *x, float *out, long rows, long width, long stride, const float *gain,
                           float gain_offset, double epsilon) {
    for (long t = 0; t < rows; t++) {
        const float *row = x + t * stride;
        float *o = out + t * stride;
        double squares = 0;
        for (long i = 0; i < width; i++) squares += (double)row[i] * (double)row[i];
        double inverse_rms = 1 / sqrt(squares / (double)width + epsilon);
        if (gain_offset == 0) {
            for (long i = 0; i < width; i++) o[i] = (float)((double)row[i] * inverse_rms) * gain[i];
        } else {
            for (long i = 0; i < width; i++) o[i] = (float)((double)row[i] * inverse_rms) * (gain_offset + gain[i]);
        }
    }
}

// MARK: maps

static void PATH(activate)(float *x, long count, lmk_activation activation) {
    ensure_activation(activation);
    long i = 0;
    for (; i + 8 <= count; i += 8) store8(x + i, activate8(load8(x + i), activation));
    if (i < count) store8_partial(x + i, activate8(load8_partial(x + i, count - i), activation), count - i);
}

static void PATH(gated)(float *x, long rows, long width, lmk_activation activation) {
    ensure_activation(activation);
    for (long t = 0; t < rows; t++) {
        float *gate = x + t * 2 * width, *up = gate + width;
        long i = 0;
        for (; i + 8 <= width; i += 8) store8(gate + i, activate8(load8(gate + i), activation) * load8(up + i));
        if (i < width) {
            long n = width - i;
            store8_partial(gate + i, activate8(load8_partial(gate + i, n), activation) * load8_partial(up + i, n), n);
        }
    }
}

static void PATH(softcap)(float *x, long count, float cap) {
    long i = 0;
    for (; i + 8 <= count; i += 8) store8(x + i, softcap8(load8(x + i), cap));
    if (i < count) store8_partial(x + i, softcap8(load8_partial(x + i, count - i), cap), count - i);
}

static void PATH(add)(float *x, const float *y, long count) {
    for (long i = 0; i < count; i++) x[i] += y[i];
}

static void PATH(add_rows)(float *x, long rows, long width, long stride, const float *y) {
    for (long t = 0; t < rows; t++)
        for (long j = 0; j < width; j++) x[t * stride + j] += y[j];
}

static void PATH(scale)(float *x, long count, float factor) {
    for (long i = 0; i < count; i++) x[i] *= factor;
}

static void PATH(rotate_heads)(float *x, long heads, long head_stride, const float *cos, const float *sin, long half) {
    for (long h = 0; h < heads; h++) {
        float *head = x + h * head_stride;
        for (long i = 0; i < half; i++) {
            float x1 = head[i], x2 = head[i + half];
            head[i] = x1 * cos[i] - x2 * sin[i];
            head[i + half] = x2 * cos[i] + x1 * sin[i];
        }
    }
}

// MARK: softmax

static void PATH(softmax_causal)(float *scores, long rows, long keys, long first_query, long window, float softcap) {
    for (long i = 0; i < rows; i++) {
        long query = first_query + i;
        long hidden = window > 0 && query - window + 1 > 0 ? query - window + 1 : 0;
        memset(scores + i * keys, 0, (size_t)hidden * sizeof(float));
        float *row = scores + i * keys + hidden;
        long visible = query + 1 - hidden;
        if (softcap > 0) PATH(softcap)(row, visible, softcap);
        float maximum = -INFINITY;
        for (long j = 0; j < visible; j++) maximum = row[j] >= maximum ? row[j] : maximum;
        const f8 shift = set8(maximum);
        f8 lanes = set8(0);
        long j = 0;
        for (; j + 8 <= visible; j += 8) {
            f8 e = exp8(load8(row + j) - shift);
            store8(row + j, e);
            lanes += e;
        }
        float sum = sum8(lanes);
        for (; j < visible; j++) {
            float e = exp8(set8(row[j] - maximum))[0];
            row[j] = e;
            sum += e;
        }
        float inverse = 1 / sum;
        for (j = 0; j < visible; j++) row[j] *= inverse;
        memset(row + visible, 0, (size_t)(keys - hidden - visible) * sizeof(float));
    }
}

// MARK: the LM head's fold

static double PATH(sum_exp)(const float *x, long count, float shift) {
    const f8 s = set8(shift);
    double total = 0;
    long j = 0;
    while (j + 8 <= count) {
        long end = count - (count - j) % 8;
        if (end > j + 512) end = j + 512;
        f8 lanes = set8(0);
        for (; j < end; j += 8) lanes += exp8(load8(x + j) - s);
        total += (double)sum8(lanes);
    }
    for (; j < count; j++) total += exp((double)x[j] - (double)shift);
    return total;
}

static long PATH(max_first_index)(const float *x, long count, float *maximum) {
    f8 lanes = set8(-INFINITY);
    i8v lane_index = {0, 1, 2, 3, 4, 5, 6, 7}, index = lane_index;
    long j = 0;
    for (; j + 8 <= count; j += 8) {
        f8 v = load8(x + j);
        i8v larger = v > lanes;   // false for NaN: a NaN never replaces
        lanes = select8(larger, v, lanes);
        lane_index = (larger & index) | (~larger & lane_index);
        index += 8;
    }
    float best = lanes[0];   // on equal values (+0, -0) the later lane's
    for (int lane = 1; lane < 8; lane++) best = lanes[lane] >= best ? lanes[lane] : best;
    long first = count;
    for (int lane = 0; lane < 8; lane++)
        if (lanes[lane] == best && lane_index[lane] < count && lane_index[lane] < first) first = lane_index[lane];
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

// llama.cpp's numerics (`--numerics llama.cpp`, kernels.c): both GELUs (llama.cpp has only the tanh
// one, for GPT-NeoX's erf GELU too) through its F16 table; every other op as above.
static lmk_activation PATH(llama_cpp_activation)(lmk_activation activation) {
    return activation == LMK_SILU ? activation : LMK_GELU_F16_TABLE;
}

static void PATH(activate_llama_cpp)(float *x, long count, lmk_activation activation) {
    PATH(activate)(x, count, PATH(llama_cpp_activation)(activation));
}

static void PATH(gated_llama_cpp)(float *x, long rows, long width, lmk_activation activation) {
    PATH(gated)(x, rows, width, PATH(llama_cpp_activation)(activation));
}

// The path's tables: the default one and llama.cpp's, which differ only in the activations.
#define ELEMENTWISE_TABLE(ACTIVATE, GATED) {                                                              \
    .layer_norm = PATH(layer_norm), .rms_norm = PATH(rms_norm), .activate = ACTIVATE, .gated = GATED,        \
    .softcap = PATH(softcap), .add = PATH(add), .add_rows = PATH(add_rows), .scale = PATH(scale),             \
    .rotate_heads = PATH(rotate_heads), .softmax_causal = PATH(softmax_causal), .sum_exp = PATH(sum_exp),   \
    .max_first_index = PATH(max_first_index),                                                              \
}
const lmk_elementwise PATH(lmk_elementwise) = ELEMENTWISE_TABLE(PATH(activate), PATH(gated));
const lmk_elementwise PATH(lmk_elementwise_llama_cpp) = ELEMENTWISE_TABLE(PATH(activate_llama_cpp), PATH(gated_llama_cpp));
#undef ELEMENTWISE_TABLE
