#ifndef LMSCORE_CKERNELS_PANEL_H
#define LMSCORE_CKERNELS_PANEL_H

/// Floats in a packing panel (kc × nc of B, lmk_gemm_blocking): 1 MB, half of a 2 MB L2. CPUs with a
/// smaller L2 use part of it.
#define LMK_PANEL_FLOATS (256 * 1024)

/// This thread's panel of LMK_PANEL_FLOATS floats, 64-byte aligned.
float *lmk_thread_panel(void);

#endif
