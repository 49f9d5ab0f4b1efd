// The GEMM and conversion code every path shares, written once over a vector type and included by
// gemm_avx512.c, gemm_avx2.c and gemm_portable.c, each of which first defines:
//   PATH(name)  the path's name suffix          V, VL        vector type and its FP32 lanes
//   V_ZERO() V_LOAD(p) V_STORE(p, v) V_SET1(x) V_ADD(a, b) V_MUL(a, b) V_FMA(a, b, c) = a·b + c
//   V_LOAD_F16(p) V_LOAD_BF16(p)                 VL 16-bit values → V
//
// GotoBLAS/BLIS-shaped: B is copied block by block (KC × NC, either layout, 16-bit converted in
// registers on the way) into a cache-resident FP32 panel of 2·VL-column strips; N_MR × 2·VL tiles of C
// keep their accumulators in registers while A's rows are broadcast from where they lie.
//
// Batch invariance by construction: every element of C is one FMA chain over k = 0, 1, …, K−1 in
// order, starting from +0 (beta 0) or from C's value (beta 1: accumulate). Between K blocks the
// running sum waits in C as the same FP32 value the register held, so blocking does not change it;
// at the end r = alpha·sum, rounded (skipped when alpha is 1). Nothing depends on M, on the tile or
// position an element falls in, on B's layout, or on how the caller splits the columns: a row's
// results are the same bits alone or in any batch. And accumulating is continuing the chain, so two
// products over K = K1 + K2 (the second with beta 1) give the bits of one product over K.
//
// Small M streams B: each block of B is read from memory once and used for every row of A, so a
// 16-token request reads each weight once (the panel it is converted into stays in L2).
#include "panel.h"

#include <stdlib.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

#define N_MR 6          // rows of a tile of C
#define N_NR (2 * VL)   // columns of a tile of C: two vectors
#define KC 256          // k per block: a strip of the panel (KC × N_NR) stays in L1
#define NC 256          // columns per block: the panel (KC × NC) stays in L2
#define MC 96           // rows of A per pass over the panel (MC × KC stays in L2)
#define INLINE static inline __attribute__((always_inline))

INLINE long PATH(min)(long x, long y) { return x < y ? x : y; }
INLINE long PATH(element_size)(lmk_element_type type) { return type == LMK_F32 ? 4 : 2; }

/// VL elements of B starting at element `index`, as FP32.
INLINE V PATH(load_b)(const void *b, long index, lmk_element_type type) {
    switch (type) {
    case LMK_F16: return V_LOAD_F16((const uint16_t *)b + index);
    case LMK_BF16: return V_LOAD_BF16((const uint16_t *)b + index);
    default: return V_LOAD((const float *)b + index);
    }
}

/// `count` < VL elements of B, the other lanes zero.
INLINE V PATH(load_b_partial)(const void *b, long index, lmk_element_type type, long count) {
    _Alignas(64) unsigned char staged[VL * 4] = {0};
    long size = PATH(element_size)(type);
    memcpy(staged, (const unsigned char *)b + index * size, (size_t)(count * size));
    return PATH(load_b)(staged, 0, type);
}

INLINE V PATH(load_partial)(const float *p, long count) { return PATH(load_b_partial)(p, 0, LMK_F32, count); }

INLINE void PATH(store_partial)(float *p, V v, long count) {
    _Alignas(64) float staged[VL];
    V_STORE(staged, v);
    memcpy(p, staged, (size_t)count * sizeof(float));
}

// MARK: packing

/// The panel for B's rows pc ..< pc + kc and columns jc ..< jc + nc (of op(B) = [K, N]), as strips
/// of N_NR columns: panel[strip][kk][0 ..< N_NR], zero past column nc.        // [⌈nc/N_NR⌉, kc, N_NR]
static void PATH(pack_panel)(float *panel, const void *b, long ldb, lmk_element_type type, int transpose_b,
                             long pc, long kc, long jc, long nc) {
    long strips = (nc + N_NR - 1) / N_NR;
    if (!transpose_b) {
        // B [K, N]: each of B's rows contributes nc contiguous values, read in order.
        for (long kk = 0; kk < kc; kk++) {
            long row = (pc + kk) * ldb + jc;
            for (long s = 0; s < strips; s++) {
                float *out = panel + (s * kc + kk) * N_NR;
                for (long h = 0; h < 2; h++) {
                    long count = nc - s * N_NR - h * VL;
                    V v = count >= VL ? PATH(load_b)(b, row + s * N_NR + h * VL, type)
                        : count > 0   ? PATH(load_b_partial)(b, row + s * N_NR + h * VL, type, count)
                                      : V_ZERO();
                    V_STORE(out + h * VL, v);
                }
            }
        }
        return;
    }
    // B [N, K]: each of B's rows is one column of the panel, read VL contiguous values at a time;
    // 8 × 8 blocks go through registers where the path has a transpose.
    for (long s = 0; s < strips; s++) {
        float *strip = panel + s * kc * N_NR;
        long columns = PATH(min)(N_NR, nc - s * N_NR);
        long kk0 = 0;
#ifdef PACK_TRANSPOSED_8X8
        for (; kk0 + 8 <= kc; kk0 += 8)
            for (long j = 0; j < N_NR; j += 8)
                PACK_TRANSPOSED_8X8(strip + kk0 * N_NR + j, N_NR, b, (jc + s * N_NR + j) * ldb + pc + kk0, ldb, type,
                                    columns - j);
#endif
        if (kk0 == kc) continue;
        for (long j = 0; j < N_NR; j++) {
            if (j >= columns) {
                for (long kk = kk0; kk < kc; kk++) strip[kk * N_NR + j] = 0;
                continue;
            }
            long row = (jc + s * N_NR + j) * ldb + pc;
            _Alignas(64) float values[VL];
            for (long kk = kk0; kk < kc; kk += VL) {
                long count = PATH(min)(VL, kc - kk);
                V_STORE(values, count == VL ? PATH(load_b)(b, row + kk, type) : PATH(load_b_partial)(b, row + kk, type, count));
                for (long l = 0; l < count; l++) strip[(kk + l) * N_NR + j] = values[l];
            }
        }
    }
}

// MARK: the tile

INLINE V PATH(load_columns)(const float *p, long count) {
    return count >= VL ? V_LOAD(p) : count > 0 ? PATH(load_partial)(p, count) : V_ZERO();
}

INLINE void PATH(store_columns)(float *p, V v, long count) {
    if (count >= VL) V_STORE(p, v); else if (count > 0) PATH(store_partial)(p, v, count);
}

/// C[0 ..< mr, 0 ..< nr] over one K block: the sums start at +0 (`fresh`) or at what C holds, and
/// end in C as they are, or (last block, alpha ≠ 1) times alpha.
INLINE void PATH(tile)(const int mr, long kc, const float *a, long lda, const float *strip, float *c, long ldc, long nr,
                       int fresh, int last, float alpha) {
    V acc0[N_MR], acc1[N_MR];
    for (int i = 0; i < mr; i++) {
        acc0[i] = fresh ? V_ZERO() : PATH(load_columns)(c + i * ldc, nr);
        acc1[i] = fresh ? V_ZERO() : PATH(load_columns)(c + i * ldc + VL, nr - VL);
    }
    for (long kk = 0; kk < kc; kk++) {
        V b0 = V_LOAD(strip + kk * N_NR), b1 = V_LOAD(strip + kk * N_NR + VL);
        for (int i = 0; i < mr; i++) {
            V ai = V_SET1(a[i * lda + kk]);
            acc0[i] = V_FMA(ai, b0, acc0[i]);
            acc1[i] = V_FMA(ai, b1, acc1[i]);
        }
    }
    if (last && alpha != 1.0f) {
        for (int i = 0; i < mr; i++) {
            acc0[i] = V_MUL(V_SET1(alpha), acc0[i]);
            acc1[i] = V_MUL(V_SET1(alpha), acc1[i]);
        }
    }
    for (int i = 0; i < mr; i++) {
        PATH(store_columns)(c + i * ldc, acc0[i], nr);
        PATH(store_columns)(c + i * ldc + VL, acc1[i], nr - VL);
    }
}

// MARK: entry points

void PATH(lmk_gemm)(long m, long n, long k, const float *a, long lda, const void *b, long ldb, lmk_element_type b_type,
                    int transpose_b, float *c, long ldc, float alpha, float beta) {
    if (m <= 0 || n <= 0) return;
    if (!(beta == 0.0f || (beta == 1.0f && alpha == 1.0f))) abort();   // the header's contract
    _Static_assert(KC * NC <= LMK_PANEL_FLOATS, "the panel holds a KC × NC block");
    float *panel = lmk_thread_panel();   // [NC / N_NR, KC, N_NR]
    for (long jc = 0; jc < n; jc += NC) {
        long nc = PATH(min)(NC, n - jc);
        long pc = 0;
        do {   // at least once: k == 0 still writes 0 (beta 0) or leaves C (beta 1)
            long kc = PATH(min)(KC, k - pc);
            int fresh = pc == 0 && beta == 0.0f, last = pc + kc >= k;
            PATH(pack_panel)(panel, b, ldb, b_type, transpose_b, pc, kc, jc, nc);
            for (long ic = 0; ic < m; ic += MC) {
                long i1 = PATH(min)(m, ic + MC);
                for (long jr = 0; jr < nc; jr += N_NR) {
                    const float *strip = panel + (jr / N_NR) * kc * N_NR;
                    long nr = PATH(min)(N_NR, nc - jr);
                    for (long i = ic; i < i1; i += N_MR) {
                        const float *ai = a + i * lda + pc;
                        float *ci = c + i * ldc + jc + jr;
                        switch (PATH(min)(N_MR, i1 - i)) {
                        case 6: PATH(tile)(6, kc, ai, lda, strip, ci, ldc, nr, fresh, last, alpha); break;
                        case 5: PATH(tile)(5, kc, ai, lda, strip, ci, ldc, nr, fresh, last, alpha); break;
                        case 4: PATH(tile)(4, kc, ai, lda, strip, ci, ldc, nr, fresh, last, alpha); break;
                        case 3: PATH(tile)(3, kc, ai, lda, strip, ci, ldc, nr, fresh, last, alpha); break;
                        case 2: PATH(tile)(2, kc, ai, lda, strip, ci, ldc, nr, fresh, last, alpha); break;
                        default: PATH(tile)(1, kc, ai, lda, strip, ci, ldc, nr, fresh, last, alpha); break;
                        }
                    }
                }
            }
            pc += kc;
        } while (pc < k);
    }
}

void PATH(lmk_convert)(const void *in, lmk_element_type type, float *out, long count) {
    long i = 0;
    for (; i + VL <= count; i += VL) V_STORE(out + i, PATH(load_b)(in, i, type));
    if (i < count) PATH(store_partial)(out + i, PATH(load_b_partial)(in, i, type, count - i), count - i);
}
