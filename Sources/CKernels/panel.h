#ifndef LMSCORE_CKERNELS_PANEL_H
#define LMSCORE_CKERNELS_PANEL_H

/// k per packed block of B (gemm_template.h's KC), the same on every CPU and path: where a K block
/// ends is the one blocking choice that could change bits (it does not: the running sum waits in C
/// as the register held it), and it is kept fixed anyway so every CPU runs the same loop.
#define LMK_PANEL_KC 256
/// The most columns a packed panel holds (lmk_gemm_blocking's nc is at most this).
#define LMK_PANEL_MAX_NC 512
/// Floats in a packing panel: LMK_PANEL_KC × LMK_PANEL_MAX_NC.
#define LMK_PANEL_FLOATS (LMK_PANEL_KC * LMK_PANEL_MAX_NC)

/// This thread's panel of LMK_PANEL_FLOATS floats, 64-byte aligned.
float *lmk_thread_panel(void);

#endif
