// Each thread's packing panel, allocated on its first product and freed when the thread ends: a
// product must not page in a fresh 512 KB on every call (attention makes thousands of small ones).
#include "panel.h"

#include <pthread.h>
#include <stdlib.h>

static pthread_key_t panel_key;
static pthread_once_t panel_once = PTHREAD_ONCE_INIT;

static void make_panel_key(void) {
    if (pthread_key_create(&panel_key, free) != 0) abort();
}

float *lmk_thread_panel(void) {
    pthread_once(&panel_once, make_panel_key);
    float *panel = pthread_getspecific(panel_key);
    if (!panel) {
        panel = aligned_alloc(64, LMK_PANEL_FLOATS * sizeof(float));
        if (!panel || pthread_setspecific(panel_key, panel) != 0) abort();
    }
    return panel;
}
