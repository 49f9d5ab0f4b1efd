#ifndef LMSCORE_CKERNELS_PANEL_H
#define LMSCORE_CKERNELS_PANEL_H

/// Floats in a packing panel: KC × NC of every path (gemm_template.h).
#define LMK_PANEL_FLOATS (256 * 256)

/// This thread's panel of LMK_PANEL_FLOATS floats, 64-byte aligned.
float *lmk_thread_panel(void);

#endif
