// The GEMM and conversion code every path shares, written once over a vector type and included by
// gemm_avx512.c, gemm_avx2.c and gemm_portable.c, each of which first defines:
//   PATH(name)  the path's name suffix          V, VL        vector type and its FP32 lanes
//   V_ZERO() V_LOAD(p) V_STORE(p, v) V_SET1(x) V_ADD(a, b) V_MUL(a, b) V_FMA(a, b, c) = a·b + c
//   V_LOAD_F16(p) V_LOAD_BF16(p)                 VL 16-bit values → V
//
// GotoBLAS/BLIS-shaped: B is copied block by block (kc × nc, either layout, 16-bit converted in
// registers on the way) into an L2-resident FP32 panel of 2·VL-column strips; N_MR × 2·VL tiles of C
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
// 16-token request reads each weight once. Up to M_IN_PLACE rows multiply a [K, N] B where it lies
// (converted in registers, no packing pass); more rows, or B [N, K], go through the panel. With few
// rows, the tiles of one block fetch the next block (prefetch.h), so reading B overlaps the FMAs.
// Up to 2·VL rows against an F32 B [N, K] turn the product around instead (`transposed_product`).
#include "panel.h"
#include "prefetch.h"
#include "row_cases.h"

#include <stdlib.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

#define N_MR 6          // rows of a tile of C
#define N_NR (2 * VL)   // columns of a tile of C: two vectors
// k per block, columns per packed block (the panel kc × nc stays in L2) and rows of A per pass over
// it come from this CPU's L2 size and the product's K (lmk_gemm_blocking, blocking.c); B read in
// place keeps blocks of KC_IN_PLACE × 256 columns.
#define NC_IN_PLACE 256
#define FETCH_AHEAD_ROWS 96   // up to this many rows, the tiles of one block fetch the next (see below)
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
/// end in C as they are, or (last block) times alpha when alpha ≠ 1, then plus `bias` (the tile's nr
/// values; NULL: none) — what adding the bias to C afterwards would give, bit for bit — and each row,
/// once stored, through the epilogue's activation (`activate`: NULL for none). Row kk of the tile's 2·VL columns
/// of B is `strip` + kk · `stride` in element type `type`: a strip of the FP32 panel (stride N_NR),
/// or B itself (stride ldb; `partial` when fewer than 2·VL columns remain). `mr`, `type` and
/// `partial` are constants at every call, so each combination compiles to its own loop.
/// Each k step also fetches one line of the next block of B (`prefetch`).
INLINE void PATH(tile)(const int mr, long kc, const float *a, long lda, const void *strip, long stride,
                       const lmk_element_type type, const int partial, float *c, long ldc, long nr, int fresh,
                       int last, float alpha, const float *bias, const lmk_epilogue *activate, lmk_prefetch *prefetch) {
    V acc0[N_MR], acc1[N_MR];
    for (int i = 0; i < mr; i++) {
        acc0[i] = fresh ? V_ZERO() : PATH(load_columns)(c + i * ldc, nr);
        acc1[i] = fresh ? V_ZERO() : PATH(load_columns)(c + i * ldc + VL, nr - VL);
    }
    for (long kk = 0; kk < kc; kk++) {
        V b0, b1;
        if (!partial) {
            b0 = PATH(load_b)(strip, kk * stride, type);
            b1 = PATH(load_b)(strip, kk * stride + VL, type);
        } else {
            b0 = nr >= VL ? PATH(load_b)(strip, kk * stride, type) : PATH(load_b_partial)(strip, kk * stride, type, nr);
            b1 = nr > VL ? PATH(load_b_partial)(strip, kk * stride + VL, type, nr - VL) : V_ZERO();
        }
        lmk_prefetch_step(prefetch);
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
    if (last && bias) {
        V bias0 = PATH(load_columns)(bias, nr), bias1 = PATH(load_columns)(bias + VL, nr - VL);
        for (int i = 0; i < mr; i++) {
            acc0[i] = V_ADD(acc0[i], bias0);
            acc1[i] = V_ADD(acc1[i], bias1);
        }
    }
    for (int i = 0; i < mr; i++) {
        PATH(store_columns)(c + i * ldc, acc0[i], nr);
        PATH(store_columns)(c + i * ldc + VL, acc1[i], nr - VL);
    }
    if (last && activate)
        for (int i = 0; i < mr; i++) activate->activate(c + i * ldc, nr, activate->activation);   // while in L1
}

/// Rows i0 ..< i1 of C's 2·VL columns at `c` over one K block, in tiles of N_MR rows (the last one
/// shorter), B's rows and `bias` (these columns' values) as in `tile`.
INLINE void PATH(column_tiles)(long i0, long i1, long kc, const float *a, long lda, const void *strip, long stride,
                               const lmk_element_type type, const int partial, float *c, long ldc, long nr, int fresh,
                               int last, float alpha, const float *bias, const lmk_epilogue *activate,
                               lmk_prefetch *prefetch) {
    for (long i = i0; i < i1; i += N_MR) {
        const float *ai = a + i * lda;
        float *ci = c + i * ldc;
        // The next tile's rows of C (one 2·VL-column line pair per row): loaded (or written) when this
        // one ends, they would otherwise arrive from L3 or memory while its FMA chains wait.
        for (long r = i + N_MR; r < PATH(min)(i1, i + 2 * N_MR); r++) {
            __builtin_prefetch(c + r * ldc, 1, 3);
            __builtin_prefetch(c + r * ldc + N_NR - 1, 1, 3);
        }
#define TILE(rows) PATH(tile)(rows, kc, ai, lda, strip, stride, type, partial, ci, ldc, nr, fresh, last, alpha, bias, activate, prefetch)
        _Static_assert(N_MR == 6, "the cases below go up to 6 rows");
        switch (PATH(min)(N_MR, i1 - i)) { LMK_ROW_CASES_6(TILE) }
#undef TILE
    }
}

/// The same, B read in place ([K, N] layout) in its own element type.
static void PATH(column_tiles_in_place)(long m, long kc, const float *a, long lda, const void *strip, long ldb,
                                        lmk_element_type type, float *c, long ldc, long nr, int fresh, int last,
                                        float alpha, const float *bias, const lmk_epilogue *activate,
                                        lmk_prefetch *prefetch) {
#define TILES(type, partial) PATH(column_tiles)(0, m, kc, a, lda, strip, ldb, type, partial, c, ldc, nr, fresh, last, alpha, bias, activate, prefetch)
    int partial = nr < N_NR;
    switch (type) {
    case LMK_F16: if (partial) TILES(LMK_F16, 1); else TILES(LMK_F16, 0); break;
    case LMK_BF16: if (partial) TILES(LMK_BF16, 1); else TILES(LMK_BF16, 0); break;
    default: if (partial) TILES(LMK_F32, 1); else TILES(LMK_F32, 0); break;
    }
#undef TILES
}

// MARK: few rows against an F32 B [N, K]: C transposed, B's rows broadcast

// With at most 2·VL rows of A and an F32 B stored [N, K] (nn.Linear weights, the LM head), packing B
// into the panel costs more than multiplying it: each packed value serves m FMAs. Instead the roles
// turn around: A's rows, transposed once into at[k][0 ..< 2·VL], are the vector operand, and B's rows
// are read where they lie, one value broadcast per k, T_MR rows of B (= columns of C) at a time. Each
// element of C is still one FMA chain over k in order from +0 (or from C), times alpha at the end —
// the same operations as the panel path, so the same bits (a row alone == in any batch). A 16-bit B
// stays on the panel path, which converts it while packing (see lmk_gemm).

#define T_MR1 8   // rows of B per tile when A's rows fit one vector
#define T_MR2 6   // … when they take two

/// C[0 ..< m, j0 ..< j0 + rows] (+)= A · B[j0 ..< j0 + rows, :]ᵀ (+ bias[0 ..< rows] when not NULL), A's
/// rows transposed in `at` ([k][mv·VL], zero past m). `mv` and `rows` are constants at every call.
INLINE void PATH(transposed_tile)(const int mv, const int rows, long k, const float *at, const float *b, long ldb,
                                  float *c, long ldc, long m, int accumulate, float alpha, const float *bias) {
    V acc[T_MR1][2];
    _Alignas(64) float lanes[2 * VL];
    for (int r = 0; r < rows; r++) {
        for (int v = 0; v < mv; v++) {
            if (accumulate) {
                for (long l = 0; l < VL; l++) lanes[l] = v * VL + l < m ? c[(v * VL + l) * ldc + r] : 0.0f;
                acc[r][v] = V_LOAD(lanes);
            } else {
                acc[r][v] = V_ZERO();
            }
        }
    }
    for (long kk = 0; kk < k; kk++) {
        V a0 = V_LOAD(at + kk * mv * VL);
        V a1 = mv == 2 ? V_LOAD(at + kk * mv * VL + VL) : V_ZERO();
        for (int r = 0; r < rows; r++) {
            V br = V_SET1(b[r * ldb + kk]);
            acc[r][0] = V_FMA(br, a0, acc[r][0]);
            if (mv == 2) acc[r][1] = V_FMA(br, a1, acc[r][1]);
        }
    }
    for (int r = 0; r < rows; r++) {
        for (int v = 0; v < mv; v++) {
            V out = alpha != 1.0f ? V_MUL(V_SET1(alpha), acc[r][v]) : acc[r][v];
            if (bias) out = V_ADD(out, V_SET1(bias[r]));
            V_STORE(lanes, out);
            for (long l = 0; l < VL && v * VL + l < m; l++) c[(v * VL + l) * ldc + r] = lanes[l];
        }
    }
}

INLINE void PATH(transposed_columns)(const int mv, long m, long n, long k, const float *at, const float *b, long ldb,
                                     float *c, long ldc, int accumulate, float alpha, const float *bias) {
    const int mr = mv == 1 ? T_MR1 : T_MR2;
    for (long j = 0; j < n; j += mr) {
#define TILE(rows) PATH(transposed_tile)(mv, rows, k, at, b + j * ldb, ldb, c + j, ldc, m, accumulate, alpha, bias ? bias + j : 0)
        _Static_assert(T_MR1 == 8 && T_MR2 <= 8, "the cases below go up to 8 rows");
        switch (PATH(min)(mr, n - j)) { LMK_ROW_CASES_8(TILE) }
#undef TILE
    }
}

static void PATH(transposed_product)(long m, long n, long k, const float *a, long lda, const float *b, long ldb, float *c,
                                     long ldc, int accumulate, float alpha, const float *bias) {
    const int mv = m <= VL ? 1 : 2;
    float *at = aligned_alloc(64, (size_t)(k > 0 ? k : 1) * (size_t)mv * VL * sizeof(float));   // [k][mv·VL]
    if (!at) abort();
    for (long kk = 0; kk < k; kk++)
        for (long i = 0; i < mv * VL; i++) at[kk * mv * VL + i] = i < m ? a[i * lda + kk] : 0.0f;
    if (mv == 1) PATH(transposed_columns)(1, m, n, k, at, b, ldb, c, ldc, accumulate, alpha, bias);
    else PATH(transposed_columns)(2, m, n, k, at, b, ldb, c, ldc, accumulate, alpha, bias);
    free(at);
}

// MARK: entry points

/// At most this many rows of A multiply B where it lies ([K, N] layout): a strip of B (KC_IN_PLACE
/// × 2·VL) is read from memory by the first tile and from L1 by the others, with no packing pass.
/// More rows pack B into the panel, whose contiguous strips then serve many tiles.
#define M_IN_PLACE 24
/// k per block in place: each k of a strip is a row of B on its own page, so a block spans
/// KC_IN_PLACE pages, which must stay in the L1 TLB (64 entries on Zen 2, Skylake, Ice Lake).
#define KC_IN_PLACE 64

void PATH(lmk_gemm)(long m, long n, long k, const float *a, long lda, const void *b, long ldb, lmk_element_type b_type,
                    int transpose_b, float *c, long ldc, float alpha, float beta, const lmk_epilogue *epilogue) {
    if (m <= 0 || n <= 0) return;
    if (!(beta == 0.0f || (beta == 1.0f && alpha == 1.0f))) abort();   // the header's contract
    const float *bias = epilogue ? epilogue->bias : 0;
    const lmk_epilogue *activate = epilogue && epilogue->activate ? epilogue : 0;
    const lmk_blocking blocking = lmk_gemm_blocking(k);   // k per block, panel columns, rows per pass
    // F32 only: a 16-bit B would be converted into a buffer and broadcast back from it value by value,
    // and the panel path, converting while it packs, is faster there (GPT-2's LM head tile 15×768×4096
    // from F16 on Zen 4: 0.77–0.83 ms panel vs 0.99–1.03 ms turned around; F32 0.75–0.77 vs 0.86–0.89).
    if (transpose_b && m <= 2 * VL && b_type == LMK_F32) {
        PATH(transposed_product)(m, n, k, a, lda, (const float *)b, ldb, c, ldc, beta == 1.0f, alpha, bias);
        // C's rows are written a few columns at a time there: the activation goes over them after,
        // at most 2·VL rows, still in L2.
        for (long i = 0; activate && i < m; i++) activate->activate(c + i * ldc, n, activate->activation);
        return;
    }
    const long size = PATH(element_size)(b_type);
    const int in_place = !transpose_b && m <= M_IN_PLACE;
    // Few rows: the tiles of one block take about as long as reading the next from memory, so they
    // fetch it as they go. Many rows: the tiles run long enough that a fetched block would leave L2.
    const int fetch_ahead = m <= FETCH_AHEAD_ROWS;
    float *panel = in_place ? 0 : lmk_thread_panel();   // [nc_block / N_NR, kc_block, N_NR]
    const long kc_block = in_place ? KC_IN_PLACE : blocking.kc;
    const long nc_block = in_place ? NC_IN_PLACE : blocking.nc, mc_block = blocking.mc;
    for (long jc = 0; jc < n; jc += nc_block) {
        long nc = PATH(min)(nc_block, n - jc);
        long pc = 0;
        do {   // at least once: k == 0 still writes 0 (beta 0) or leaves C (beta 1)
            long kc = PATH(min)(kc_block, k - pc);
            int fresh = pc == 0 && beta == 0.0f, last = pc + kc >= k;
            // The next block: the next kc rows of these columns, or the first of the next columns.
            long next_pc = last ? 0 : pc + kc, next_jc = last ? jc + nc_block : jc;
            lmk_prefetch prefetch = lmk_prefetch_none();
            if (fetch_ahead && next_jc < n && k > 0) {
                long next_kc = PATH(min)(kc_block, k - next_pc), next_nc = PATH(min)(nc_block, n - next_jc);
                prefetch = transpose_b
                    ? lmk_prefetch_block((const char *)b + (next_jc * ldb + next_pc) * size, next_nc, next_kc * size, ldb * size)
                    : lmk_prefetch_block((const char *)b + (next_pc * ldb + next_jc) * size, next_kc, next_nc * size, ldb * size);
            }
            if (in_place) {
                for (long jr = 0; jr < nc; jr += N_NR) {
                    const void *strip = (const char *)b + (pc * ldb + jc + jr) * size;
                    PATH(column_tiles_in_place)(m, kc, a + pc, lda, strip, ldb, b_type, c + jc + jr, ldc,
                                                PATH(min)(N_NR, nc - jr), fresh, last, alpha, bias ? bias + jc + jr : 0,
                                                activate, &prefetch);
                }
            } else {
                PATH(pack_panel)(panel, b, ldb, b_type, transpose_b, pc, kc, jc, nc);
                for (long ic = 0; ic < m; ic += mc_block) {
                    long i1 = PATH(min)(m, ic + mc_block);
                    for (long jr = 0; jr < nc; jr += N_NR) {
                        const float *strip = panel + (jr / N_NR) * kc * N_NR;
                        PATH(column_tiles)(ic, i1, kc, a + pc, lda, strip, N_NR, LMK_F32, 0, c + jc + jr, ldc,
                                           PATH(min)(N_NR, nc - jr), fresh, last, alpha, bias ? bias + jc + jr : 0,
                                           activate, &prefetch);
                    }
                }
            }
            pc += kc;
        } while (pc < k);
    }
}

/// The FMA peak probe: `steps` × FMA_CHAINS independent FMAs on whole vectors, no memory traffic,
/// enough chains in flight to cover the FMA latency on every unit. Returns the accumulators' sum,
/// so the work cannot be optimized away (the value itself means nothing).
#define FMA_CHAINS 12
float PATH(lmk_fma_probe)(long steps) {
    V acc[FMA_CHAINS];
    for (int i = 0; i < FMA_CHAINS; i++) acc[i] = V_SET1(0.001f * (float)i);
    const V scale = V_SET1(0.999f), offset = V_SET1(0.001f);
    for (long s = 0; s < steps; s++)
        for (int i = 0; i < FMA_CHAINS; i++) acc[i] = V_FMA(acc[i], scale, offset);
    _Alignas(64) float lanes[VL];
    float sum = 0;
    for (int i = 0; i < FMA_CHAINS; i++) {
        V_STORE(lanes, acc[i]);
        for (int l = 0; l < VL; l++) sum += lanes[l];
    }
    return sum;
}

void PATH(lmk_convert)(const void *in, lmk_element_type type, float *out, long count) {
    long i = 0;
    for (; i + VL <= count; i += VL) V_STORE(out + i, PATH(load_b)(in, i, type));
    if (i < count) PATH(store_partial)(out + i, PATH(load_b_partial)(in, i, type, count - i), count - i);
}
