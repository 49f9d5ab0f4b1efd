// Runs the AVX-512 path of Sources/CKernels (compiled with SIMDe standing in for the AVX-512
// intrinsics, simde_avx512.h) on a CPU without AVX-512 and checks it against the native AVX2 path and a
// naive double-precision loop. Built and run by Scripts/check_avx512_emulated.sh; exit 0 = every check
// held. What it checks, each for B [K, N] and [N, K], F32, F16 and BF16:
//   1. the same bits as the AVX2 path on odd shapes (M, N, K from 1 to 1000; with beta 0 and alpha ≠ 1,
//      plus a bias, and accumulating), since both compute each element as one FMA chain over k in order;
//   2. within K·2⁻²³ of Σ|a·b| of the double-precision sum, columns past N untouched;
//   3. a row alone = the same row at any position of M = 7, 24 (B read in place) and 25, 100 (packed);
//   4. a product over K = the product over K1 followed by the one over K2 accumulated;
//   5. every 16-bit pattern converts to the bits the AVX2 path gives.
#include "CKernels.h"

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long failures = 0;

#define CHECK(condition, ...)                   \
    do {                                        \
        if (!(condition)) {                     \
            if (failures < 20) {                \
                fprintf(stderr, "FAIL: ");      \
                fprintf(stderr, __VA_ARGS__);   \
                fprintf(stderr, "\n");          \
            }                                   \
            failures++;                         \
        }                                       \
    } while (0)

static uint64_t state = 11;
static float uniform(void) {   // splitmix64 → [-1, 1)
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (float)((double)(z >> 11) * 0x1p-53 * 2 - 1);
}

static const char *type_name[] = {"F32", "F16", "BF16"};

/// B's `count` values stored as `type` (`stored`, 4 or 2 bytes each) and their FP32 values (`values`).
static void make_b(lmk_element_type type, long count, void **stored, float **values) {
    *values = malloc((size_t)count * sizeof(float));
    if (type == LMK_F32) {
        float *b = malloc((size_t)count * sizeof(float));
        for (long i = 0; i < count; i++) b[i] = (*values)[i] = uniform();
        *stored = b;
        return;
    }
    uint16_t *b = malloc((size_t)count * sizeof(uint16_t));
    for (long i = 0; i < count; i++) {
        float x = uniform();
        if (type == LMK_F16) {
            b[i] = (uint16_t)_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT);
        } else {
            uint32_t bits;
            memcpy(&bits, &x, sizeof bits);
            b[i] = (uint16_t)(bits >> 16);
        }
    }
    lmk_convert_avx2(b, type, *values, count);   // checked against Float16 by KernelTests
    *stored = b;
}

/// Checks 1 and 2 on one shape.
static void check_product(long m, long n, long k, int transpose_b, lmk_element_type type, int accumulate) {
    long lda = k + 3, ldc = n + 5;
    long b_rows = transpose_b ? n : k, b_columns = transpose_b ? k : n, ldb = b_columns + 2;
    float *a = malloc((size_t)(m * lda) * sizeof(float));
    for (long i = 0; i < m * lda; i++) a[i] = uniform();
    void *b;
    float *b_values;
    make_b(type, b_rows * ldb, &b, &b_values);
    float alpha = accumulate ? 1.0f : 0.375f, beta = accumulate ? 1.0f : 0.0f;
    float *bias = accumulate ? NULL : malloc((size_t)n * sizeof(float));   // a bias on the fresh products
    for (long j = 0; bias && j < n; j++) bias[j] = uniform();
    lmk_epilogue epilogue = {bias, NULL, LMK_GELU_TANH};
    float *start = malloc((size_t)(m * ldc) * sizeof(float));
    for (long i = 0; i < m * ldc; i++) start[i] = uniform();
    float *c512 = malloc((size_t)(m * ldc) * sizeof(float)), *c2 = malloc((size_t)(m * ldc) * sizeof(float));
    memcpy(c512, start, (size_t)(m * ldc) * sizeof(float));
    memcpy(c2, start, (size_t)(m * ldc) * sizeof(float));
    lmk_gemm_avx512(m, n, k, a, lda, b, ldb, type, transpose_b, c512, ldc, alpha, beta, &epilogue);
    lmk_gemm_avx2(m, n, k, a, lda, b, ldb, type, transpose_b, c2, ldc, alpha, beta, &epilogue);

    long differing = 0;
    double worst = 0;
    for (long i = 0; i < m; i++) {
        for (long j = 0; j < ldc; j++) {
            if (memcmp(&c512[i * ldc + j], &c2[i * ldc + j], sizeof(float)) != 0) differing++;
            if (j >= n) {
                CHECK(memcmp(&c512[i * ldc + j], &start[i * ldc + j], sizeof(float)) == 0,
                      "%ldx%ldx%ld: column %ld past N written", m, n, k, j);
                continue;
            }
            double sum = 0, magnitude = 0;
            for (long p = 0; p < k; p++) {
                double product = (double)a[i * lda + p] * b_values[transpose_b ? j * ldb + p : p * ldb + j];
                sum += product;
                magnitude += fabs(product);
            }
            double expected = accumulate ? start[i * ldc + j] + sum : alpha * sum + bias[j];
            double bound = (magnitude + (accumulate ? fabs(start[i * ldc + j]) : fabs(bias[j]))) * (double)(k + 2) * 0x1p-23 + 1e-30;
            double error = fabs(c512[i * ldc + j] - expected) / bound;
            if (error > worst) worst = error;
        }
    }
    CHECK(differing == 0, "%ldx%ldx%ld transpose_b %d %s accumulate %d: %ld elements differ from the AVX2 path",
          m, n, k, transpose_b, type_name[type], accumulate, differing);
    CHECK(worst <= 1, "%ldx%ldx%ld transpose_b %d %s accumulate %d: error %.3g of the bound",
          m, n, k, transpose_b, type_name[type], accumulate, worst);
    free(a); free(b); free(b_values); free(bias); free(start); free(c512); free(c2);
}

/// Check 3: row `r` of a random M × K, alone and at every position of M rows.
static void check_invariance(int transpose_b, lmk_element_type type) {
    const long n = 77, k = 300, ms[] = {7, 24, 25, 100};
    long ldb = transpose_b ? k : n;
    void *b;
    float *b_values;
    make_b(type, (transpose_b ? n : k) * ldb, &b, &b_values);
    float *row = malloc((size_t)k * sizeof(float)), *alone = malloc((size_t)n * sizeof(float));
    for (long p = 0; p < k; p++) row[p] = uniform();
    lmk_gemm_avx512(1, n, k, row, k, b, ldb, type, transpose_b, alone, n, 1, 0, NULL);
    for (size_t s = 0; s < sizeof ms / sizeof ms[0]; s++) {
        long m = ms[s];
        float *a = malloc((size_t)(m * k) * sizeof(float)), *c = malloc((size_t)(m * n) * sizeof(float));
        for (long position = 0; position < m; position += (m > 30 ? 13 : 1)) {
            for (long i = 0; i < m * k; i++) a[i] = uniform();
            memcpy(a + position * k, row, (size_t)k * sizeof(float));
            lmk_gemm_avx512(m, n, k, a, k, b, ldb, type, transpose_b, c, n, 1, 0, NULL);
            CHECK(memcmp(c + position * n, alone, (size_t)n * sizeof(float)) == 0,
                  "transpose_b %d %s: row at %ld of %ld differs from the row alone", transpose_b, type_name[type], position, m);
        }
        free(a); free(c);
    }
    free(b); free(b_values); free(row); free(alone);
}

/// Check 4.
static void check_accumulation(long m) {
    const long n = 50, k = 600, k1 = 250;
    float *a = malloc((size_t)(m * k) * sizeof(float)), *b = malloc((size_t)(k * n) * sizeof(float));
    for (long i = 0; i < m * k; i++) a[i] = uniform();
    for (long i = 0; i < k * n; i++) b[i] = uniform();
    float *whole = malloc((size_t)(m * n) * sizeof(float)), *split = malloc((size_t)(m * n) * sizeof(float));
    lmk_gemm_avx512(m, n, k, a, k, b, n, LMK_F32, 0, whole, n, 1, 0, NULL);
    lmk_gemm_avx512(m, n, k1, a, k, b, n, LMK_F32, 0, split, n, 1, 0, NULL);
    lmk_gemm_avx512(m, n, k - k1, a + k1, k, b + k1 * n, n, LMK_F32, 0, split, n, 1, 1, NULL);
    CHECK(memcmp(whole, split, (size_t)(m * n) * sizeof(float)) == 0, "m %ld: K split in two differs from one product", m);
    free(a); free(b); free(whole); free(split);
}

/// Check 5.
static void check_conversion(lmk_element_type type) {
    uint16_t *patterns = malloc(65536 * sizeof(uint16_t));
    for (long i = 0; i < 65536; i++) patterns[i] = (uint16_t)i;
    float *out512 = malloc(65536 * sizeof(float)), *out2 = malloc(65536 * sizeof(float));
    lmk_convert_avx512(patterns, type, out512, 65536);
    lmk_convert_avx2(patterns, type, out2, 65536);
    long differing = 0;
    for (long i = 0; i < 65536; i++) differing += memcmp(&out512[i], &out2[i], sizeof(float)) != 0;
    CHECK(differing == 0, "%s: %ld of 65536 bit patterns convert differently from the AVX2 path", type_name[type], differing);
    // A count that is not a multiple of 16: the tail lanes.
    lmk_convert_avx512(patterns + 1000, type, out512, 37);
    CHECK(memcmp(out512, out2 + 1000, 37 * sizeof(float)) == 0, "%s: a 37-value conversion differs", type_name[type]);
    free(patterns); free(out512); free(out2);
}

int main(void) {
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma") || !__builtin_cpu_supports("f16c")) {
        fprintf(stderr, "this check compares with the AVX2 path: the CPU needs AVX2, FMA and F16C\n");
        return 2;
    }
    // KernelTests' shapes, and in-place (M ≤ 24, B [K, N]) ones across several 64-k and 256-column blocks.
    static const long shapes[][3] = {
        {1, 1, 1}, {1, 1000, 3}, {1000, 1, 5}, {3, 7, 1000}, {7, 33, 257}, {13, 70, 300}, {97, 41, 19},
        {6, 32, 256}, {5, 17, 513}, {250, 9, 2}, {2, 300, 64}, {31, 129, 40},
        {16, 600, 200}, {24, 65, 130}, {25, 65, 130}, {1, 33, 65}, {96, 64, 300}, {97, 290, 70},
    };
    long products = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int transpose_b = 0; transpose_b <= 1; transpose_b++)
            for (int type = LMK_F32; type <= LMK_BF16; type++)
                for (int accumulate = 0; accumulate <= 1; accumulate++, products++)
                    check_product(shapes[s][0], shapes[s][1], shapes[s][2], transpose_b, (lmk_element_type)type, accumulate);
    for (int transpose_b = 0; transpose_b <= 1; transpose_b++)
        for (int type = LMK_F32; type <= LMK_BF16; type++) check_invariance(transpose_b, (lmk_element_type)type);
    check_accumulation(3);
    check_accumulation(30);
    check_conversion(LMK_F16);
    check_conversion(LMK_BF16);
    if (failures) {
        fprintf(stderr, "avx512 path (emulated): %ld checks failed\n", failures);
        return 1;
    }
    printf("avx512 path (emulated with SIMDe): %ld products = the AVX2 path's bits and within bound of the double "
           "loop; rows alone = packed at any position; K split = one product; 2 x 65536 conversions; all passed\n", products);
    return 0;
}
