// Every element-wise op of the forward pass and of the LM head's fold, written once and included by
// elementwise_avx512.c, elementwise_avx2.c and elementwise_portable.c, each of which first defines
// PATH(name) and sets its target (per-function attributes, as the GEMM paths do).
//
// The same vector shapes on every path (clang/gcc vector extensions): maps — exp, the activations, the
// soft-cap — on 16 FP32 lanes (`f32x16`: one zmm register on AVX-512, two ymm on AVX2, four SSE or
// NEON registers on the portable path), reductions in 8 lanes (`f8`: a map's 16 lanes go into the sums
// as two 8-lane vectors, low half first). A map's lanes are independent and a reduction's order is
// fixed, each operation the same on every path, multiply and add rounded separately (FP contraction
// off), so the three paths give the same bits: the choice of path changes the products' rounding only,
// never these ops'. A count that is not a multiple of the lanes ends with one partial vector
// (zero-padded load, partial store) computed by the same formula as the rest: an element's result
// never depends on where it sits in the buffer.
//
// Norm statistics are sums in double, element by element in order (as the Swift loops they replace).
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "half.h"

#pragma STDC FP_CONTRACT OFF
// The vector helpers are always inlined, so no vector crosses a call boundary (no ABI to change).
#pragma clang diagnostic ignored "-Wpsabi"

typedef float f8 __attribute__((vector_size(32)));
typedef int32_t i8v __attribute__((vector_size(32)));
typedef float f32x16 __attribute__((vector_size(64)));
typedef int32_t i32x16 __attribute__((vector_size(64)));

#define INLINE static inline __attribute__((always_inline))

INLINE f8 load8(const float *p) { f8 v; memcpy(&v, p, sizeof v); return v; }
INLINE void store8(float *p, f8 v) { memcpy(p, &v, sizeof v); }
INLINE f8 set8(float x) { return (f8){x, x, x, x, x, x, x, x}; }
INLINE f32x16 load16(const float *p) { f32x16 v; memcpy(&v, p, sizeof v); return v; }
INLINE void store16(float *p, f32x16 v) { memcpy(p, &v, sizeof v); }
INLINE f32x16 load16_partial(const float *p, long count) { f32x16 v = {0}; memcpy(&v, p, (size_t)count * sizeof(float)); return v; }
INLINE void store16_partial(float *p, f32x16 v, long count) { memcpy(p, &v, (size_t)count * sizeof(float)); }
INLINE f32x16 set16(float x) { return (f32x16){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }
INLINE f8 low8(f32x16 v) { return __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7); }
INLINE f8 high8(f32x16 v) { return __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15); }
/// mask ? a : b per lane (mask lanes all ones or zero, as comparisons give them).
INLINE f8 select8(i8v mask, f8 a, f8 b) { return (f8)((mask & (i8v)a) | (~mask & (i8v)b)); }
INLINE f32x16 select16(i32x16 mask, f32x16 a, f32x16 b) { return (f32x16)((mask & (i32x16)a) | (~mask & (i32x16)b)); }

/// exp(v) per lane: Cephes' expf (range reduction by ln 2, degree-6 polynomial, ≈ 2 ulp). Clamped to
/// the range where the result is finite and normal; NaN passes through (a comparison with NaN is false).
INLINE f32x16 exp16(f32x16 v) {
    f32x16 x = select16(v < set16(-87.33654f), set16(-87.33654f), v);
    x = select16(x > set16(88.72283f), set16(88.72283f), x);
    // n = round(x / ln 2) by the 1.5·2^23 trick: adding the magic constant leaves n in the low
    // mantissa bits, so its integer value is a bit-pattern difference (no float → int conversion).
    const f32x16 magic = set16(12582912.0f);
    f32x16 shifted = x * set16(1.44269504f) + magic;
    f32x16 n = shifted - magic;
    f32x16 r = (x - n * set16(0.693359375f)) + n * set16(2.1219444e-4f);
    f32x16 p = set16(1.98756915e-4f);
    p = p * r + set16(1.3981999507e-3f);
    p = p * r + set16(8.3334519073e-3f);
    p = p * r + set16(4.1665795894e-2f);
    p = p * r + set16(1.6666665459e-1f);
    p = p * r + set16(5.0000001201e-1f);
    f32x16 y = ((p * r) * r + r) + set16(1.0f);
    i32x16 exponent = (((i32x16)shifted - (i32x16)magic) + 127) << 23;
    return y * (f32x16)exponent;
}

/// exp(x) of one value, as a lane of exp16 computes it.
INLINE float exp1(float x) { return exp16(set16(x))[0]; }

/// The lanes' sum, lane 0 + lane 1 + … + lane 7, left to right.
INLINE float sum8(f8 v) {
    float sum = v[0];
    for (int i = 1; i < 8; i++) sum += v[i];
    return sum;
}

/// cap · tanh(v / cap), tanh(y) = sign(y) · (1 − e)/(1 + e) with e = exp(−2|y|): absolute error a few
/// ulp of 1, times cap (HF's soft-cap of Gemma 2's attention scores and final logits).
INLINE f32x16 softcap16(f32x16 v, float cap) {
    f32x16 y = v / set16(cap);
    i32x16 sign = (i32x16)y & (i32x16)set16(-0.0f);
    f32x16 a = (f32x16)((i32x16)y & ~(i32x16)set16(-0.0f));
    f32x16 e = exp16(set16(-2.0f) * a);
    f32x16 t = (set16(1.0f) - e) / (set16(1.0f) + e);
    return (f32x16)((i32x16)t | sign) * set16(cap);
}

/// gelu_new / gelu_pytorch_tanh: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), computed as the same
/// function x·σ(2u) = x / (1 + e^(−2u)), which needs only exp.
INLINE f32x16 gelu_tanh16(f32x16 v) {
    f32x16 u = v + ((set16(0.044715f) * v) * v) * v;
    return v / (set16(1.0f) + exp16(set16(-2.0f * 0.7978845608028654f) * u));
}

/// silu(g) = g · σ(g) = g / (1 + e^(−g)).
INLINE f32x16 silu16(f32x16 g) { return g / (set16(1.0f) + exp16(-g)); }

/// gelu (exact): 0.5·x·(1 + erf(x/√2)), erf from libm per lane.
INLINE f32x16 gelu_erf16(f32x16 v) {
    f32x16 out;
    for (int i = 0; i < 16; i++) out[i] = 0.5f * v[i] * (1 + erff(v[i] * 0.70710678118654752f));
    return out;
}

/// llama.cpp's GELU (gelu_table.c): 0 for x ≤ −10, x for x ≥ 10, else its table's value at FP16(x).
/// The table's entries, read directly here: the ops that take an activation make sure it is built
/// (`ensure_activation`) once per call, not once per 16 values.
extern uint16_t lmk_gelu_f16_values[1 << 16];

INLINE f32x16 gelu_f16_table16(f32x16 v) {
    f32x16 out;
    for (int i = 0; i < 16; i++)
        out[i] = v[i] <= -10.0f ? 0.0f : v[i] >= 10.0f ? v[i] : lmk_f16_to_f32(lmk_gelu_f16_values[lmk_f32_to_f16(v[i])]);
    return out;
}

/// What `activation` needs before its first value: llama.cpp's GELU table built (gelu_table.c).
INLINE void ensure_activation(lmk_activation activation) {
    if (activation == LMK_GELU_F16_TABLE) (void)lmk_gelu_f16_table();
}

INLINE f32x16 activate16(f32x16 v, lmk_activation activation) {
    switch (activation) {
    case LMK_GELU_TANH: return gelu_tanh16(v);
    case LMK_GELU_ERF: return gelu_erf16(v);
    case LMK_GELU_F16_TABLE: return gelu_f16_table16(v);
    default: return silu16(v);
    }
}

// MARK: norms

// A row's statistics are sums in double, element by element in order: one chain of dependent adds
// per row. The norms take ROW_GROUP rows at a time so that many chains overlap in the pipeline, each
// still in its own order — the bits of the row alone.
#define ROW_GROUP 4

/// Rows x[r · stride] for r < n (n ≤ ROW_GROUP, a constant at every call): layer norm into out.
INLINE void layer_norm_rows(const int n, const float *x, float *out, long stride, long width, const float *gain,
                            const float *bias, double epsilon) {
    double sum[ROW_GROUP] = {0}, squares[ROW_GROUP] = {0}, mean[ROW_GROUP];
    for (long i = 0; i < width; i++)
        for (int r = 0; r < n; r++) sum[r] += (double)x[r * stride + i];
    for (int r = 0; r < n; r++) mean[r] = sum[r] / (double)width;
    for (long i = 0; i < width; i++)
        for (int r = 0; r < n; r++) {
            double d = (double)x[r * stride + i] - mean[r];
            squares[r] += d * d;
        }
    for (int r = 0; r < n; r++) {
        const float *row = x + r * stride;
        float *o = out + r * stride;
        float inverse_std = (float)(1 / sqrt(squares[r] / (double)width + epsilon));
        float m = (float)mean[r];
        for (long i = 0; i < width; i++) o[i] = (row[i] - m) * inverse_std * gain[i] + bias[i];
    }
}

static void PATH(layer_norm)(const float *x, float *out, long rows, long width, const float *gain, const float *bias,
                             double epsilon) {
    long t = 0;
    for (; t + ROW_GROUP <= rows; t += ROW_GROUP)
        layer_norm_rows(ROW_GROUP, x + t * width, out + t * width, width, width, gain, bias, epsilon);
    for (; t < rows; t++) layer_norm_rows(1, x + t * width, out + t * width, width, width, gain, bias, epsilon);
}

/// Rows x[r · stride] for r < n (n ≤ ROW_GROUP, a constant at every call): RMS norm into out.
INLINE void rms_norm_rows(const int n, const float *x, float *out, long stride, long width, const float *gain,
                          float gain_offset, double epsilon) {
    double squares[ROW_GROUP] = {0};
    for (long i = 0; i < width; i++)
        for (int r = 0; r < n; r++) squares[r] += (double)x[r * stride + i] * (double)x[r * stride + i];
    for (int r = 0; r < n; r++) {
        const float *row = x + r * stride;
        float *o = out + r * stride;
        double inverse_rms = 1 / sqrt(squares[r] / (double)width + epsilon);
        if (gain_offset == 0) {
            for (long i = 0; i < width; i++) o[i] = (float)((double)row[i] * inverse_rms) * gain[i];
        } else {
            for (long i = 0; i < width; i++) o[i] = (float)((double)row[i] * inverse_rms) * (gain_offset + gain[i]);
        }
    }
}

static void PATH(rms_norm)(const float *x, float *out, long rows, long width, long stride, const float *gain,
                           float gain_offset, double epsilon) {
    long t = 0;
    for (; t + ROW_GROUP <= rows; t += ROW_GROUP)
        rms_norm_rows(ROW_GROUP, x + t * stride, out + t * stride, stride, width, gain, gain_offset, epsilon);
    for (; t < rows; t++) rms_norm_rows(1, x + t * stride, out + t * stride, stride, width, gain, gain_offset, epsilon);
}

// MARK: maps

static void PATH(activate)(float *x, long count, lmk_activation activation) {
    ensure_activation(activation);
    long i = 0;
    for (; i + 16 <= count; i += 16) store16(x + i, activate16(load16(x + i), activation));
    if (i < count) store16_partial(x + i, activate16(load16_partial(x + i, count - i), activation), count - i);
}

static void PATH(gated)(float *x, long rows, long width, lmk_activation activation) {
    ensure_activation(activation);
    for (long t = 0; t < rows; t++) {
        float *gate = x + t * 2 * width, *up = gate + width;
        long i = 0;
        for (; i + 16 <= width; i += 16) store16(gate + i, activate16(load16(gate + i), activation) * load16(up + i));
        if (i < width) {
            long n = width - i;
            store16_partial(gate + i, activate16(load16_partial(gate + i, n), activation) * load16_partial(up + i, n), n);
        }
    }
}

static void PATH(softcap)(float *x, long count, float cap) {
    long i = 0;
    for (; i + 16 <= count; i += 16) store16(x + i, softcap16(load16(x + i), cap));
    if (i < count) store16_partial(x + i, softcap16(load16_partial(x + i, count - i), cap), count - i);
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
        const f32x16 shift = set16(maximum);
        f8 lanes = set8(0);   // the sum in 8 lanes, vector after vector in order
        long j = 0;
        for (; j + 16 <= visible; j += 16) {
            f32x16 e = exp16(load16(row + j) - shift);
            store16(row + j, e);
            lanes += low8(e);
            lanes += high8(e);
        }
        if (j + 8 <= visible) {
            f8 e = low8(exp16(load16_partial(row + j, 8) - shift));
            store8(row + j, e);
            lanes += e;
            j += 8;
        }
        float sum = sum8(lanes);
        for (; j < visible; j++) {
            float e = exp1(row[j] - maximum);
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
    const f32x16 s = set16(shift);
    double total = 0;
    long j = 0;
    while (j + 8 <= count) {
        long end = count - (count - j) % 8;
        if (end > j + 512) end = j + 512;
        f8 lanes = set8(0);   // 8-lane vectors added in order, then their sum
        for (; j + 16 <= end; j += 16) {
            f32x16 e = exp16(load16(x + j) - s);
            lanes += low8(e);
            lanes += high8(e);
        }
        if (j < end) {
            lanes += low8(exp16(load16_partial(x + j, 8) - s));
            j += 8;
        }
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
