// The GEMM's cache blocking for the CPU it runs on and the product's K, from the CPU's own report of
// its L2 size (glibc's sysconf reads cpuid leaf 4 / 0x8000001D), never from a table of models.
// gemm_template.h packs kc × nc blocks of B and runs mc rows of A over each:
// - K goes in as few equal blocks as the panel allows (kc ≤ L2 / 1024, at most 1,024): C's running
//   sums then go out to L3 and back between blocks as rarely as possible. Each block boundary is a
//   store and a reload of all of C — with K = 768 in blocks of 256, a C of 1024 × 512 columns (2 MB) went
//   out of L2 and came back twice, 3–5 % of a product (Zen 4, `lmscore bench --product`).
// - The panel (kc × nc) takes about half of L2, so it and the rows of A being multiplied stay there.
// - mc rows of A (mc × kc) take about 3/16 of L2.
#include "CKernels.h"
#include "panel.h"

#include <stdatomic.h>
#include <unistd.h>

#define PANEL_COLUMNS_AT_LEAST 128   // kc is kept low enough for the panel to hold this many columns
#define KC_AT_MOST 1024              // the largest kc measured (Zen 4, 1 MB L2)
#define COLUMN_STEP 32               // nc is a multiple of the widest tile (AVX-512: 2 × 16 columns)
#define ROW_STEP 6                   // mc is a multiple of a tile's rows
#define UNKNOWN_L2 (512L * 1024)

static _Atomic long l2_override = 0;

static long at_least(long x, long least) { return x > least ? x : least; }

lmk_blocking lmk_gemm_blocking_for(long l2_bytes, long k) {
    long panel_bytes = l2_bytes / 2;
    if (panel_bytes > LMK_PANEL_FLOATS * (long)sizeof(float)) panel_bytes = LMK_PANEL_FLOATS * (long)sizeof(float);
    long kc_max = panel_bytes / (PANEL_COLUMNS_AT_LEAST * (long)sizeof(float));
    if (kc_max > KC_AT_MOST) kc_max = KC_AT_MOST;
    kc_max = at_least(kc_max, 16);
    long blocks = k > 0 ? (k + kc_max - 1) / kc_max : 1;
    long kc = at_least(k > 0 ? (k + blocks - 1) / blocks : 1, 1);
    long nc = at_least(panel_bytes / (kc * (long)sizeof(float)) / COLUMN_STEP * COLUMN_STEP, COLUMN_STEP);
    long mc = at_least(l2_bytes * 3 / 16 / (kc * (long)sizeof(float)) / ROW_STEP * ROW_STEP, ROW_STEP);
    lmk_blocking blocking = {l2_bytes, kc, nc, mc};
    return blocking;
}

long lmk_l2_cache_bytes(void) {
    static _Atomic long detected = 0;
    long bytes = atomic_load_explicit(&detected, memory_order_relaxed);
    if (bytes == 0) {
#ifdef _SC_LEVEL2_CACHE_SIZE
        bytes = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
        if (bytes <= 0) bytes = UNKNOWN_L2;
        atomic_store_explicit(&detected, bytes, memory_order_relaxed);
    }
    return bytes;
}

lmk_blocking lmk_gemm_blocking(long k) {
    long override = atomic_load_explicit(&l2_override, memory_order_relaxed);
    return lmk_gemm_blocking_for(override > 0 ? override : lmk_l2_cache_bytes(), k);
}

void lmk_gemm_blocking_override(long l2_bytes) {
    atomic_store_explicit(&l2_override, l2_bytes > 0 ? l2_bytes : 0, memory_order_relaxed);
}
