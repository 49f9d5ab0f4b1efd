// The GEMM's cache blocking for the CPU it runs on, from the CPU's own report of its L2 size (glibc's
// sysconf reads cpuid leaf 4 / 0x8000001D), never from a table of models. gemm_template.h packs
// KC × nc blocks of B and runs mc rows of A over each: the panel should take about half of L2, so
// it and the rows of A being multiplied stay there. A bigger panel means fewer passes over A (each
// panel's columns read every row of A once more).
#include "CKernels.h"
#include "panel.h"

#include <stdatomic.h>
#include <unistd.h>

/// Measured on Zen 2 (512 KB L2: 256 columns, 96 rows) and Zen 4 (1 MB: 512 columns, 192 rows; the
/// GPT-2 LM head 1024×768×50257 at about +4–8 % against 256/96). Larger L2s get the largest measured
/// panel.
#define MIN_NC 256
#define ROWS_PER_256_COLUMNS 96
#define UNKNOWN_L2 (512L * 1024)

static _Atomic long l2_override = 0;

lmk_blocking lmk_gemm_blocking_for_l2(long l2_bytes) {
    long nc = l2_bytes / 2 / (LMK_PANEL_KC * (long)sizeof(float));   // half of L2
    nc = nc / MIN_NC * MIN_NC;
    if (nc < MIN_NC) nc = MIN_NC;
    if (nc > LMK_PANEL_MAX_NC) nc = LMK_PANEL_MAX_NC;
    lmk_blocking blocking = {l2_bytes, nc, ROWS_PER_256_COLUMNS * nc / MIN_NC};
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

lmk_blocking lmk_gemm_blocking(void) {
    long override = atomic_load_explicit(&l2_override, memory_order_relaxed);
    return lmk_gemm_blocking_for_l2(override > 0 ? override : lmk_l2_cache_bytes());
}

void lmk_gemm_blocking_override(long l2_bytes) {
    atomic_store_explicit(&l2_override, l2_bytes > 0 ? l2_bytes : 0, memory_order_relaxed);
}
