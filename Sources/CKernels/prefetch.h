// Software prefetch of the next block of B while the tiles of the current one run (gemm_template.h):
// a small product is otherwise a chain of waits on memory, since B's rows lie a whole row of B apart
// and the hardware prefetchers stop at page boundaries. Path-independent (compiler builtin).
#ifndef LMSCORE_CKERNELS_PREFETCH_H
#define LMSCORE_CKERNELS_PREFETCH_H

/// A block of B as `rows` runs of `row_bytes` contiguous bytes, `stride` bytes apart (either layout
/// of B), fetched one 64-byte line per step.
typedef struct {
    const char *line;      // the next line to fetch
    const char *row_end;   // the end of its run
    long row_bytes, stride, rows_left;
    long lines_per_step;   // for callers that fetch several lines per step (q8_0.c); 1 here
} lmk_prefetch;

static inline lmk_prefetch lmk_prefetch_block(const void *first, long rows, long row_bytes, long stride) {
    const char *start = (const char *)first;
    lmk_prefetch p = {(const char *)((unsigned long)start & ~63UL), start + row_bytes, row_bytes, stride, rows, 1};
    return p;
}

/// Nothing to fetch.
static inline lmk_prefetch lmk_prefetch_none(void) {
    lmk_prefetch p = {0, 0, 0, 0, 0, 0};
    return p;
}

/// Past the line just fetched: the next one of its run, or the first of the next run.
static inline __attribute__((always_inline)) void lmk_prefetch_advance(lmk_prefetch *p) {
    p->line += 64;
    if (p->line >= p->row_end) {
        p->rows_left--;
        p->row_end += p->stride;
        p->line = (const char *)((unsigned long)(p->row_end - p->row_bytes) & ~63UL);
    }
}

/// One line into L2, not L1: the next block is larger than L1 (in place 64 k × 256 columns = 64 KB
/// against a 32 KB L1 on Zen 2-4), and fetched into L1 it evicts the strip the tiles are still reading
/// (GPT-2 1×16 on Zen 4: 45.5 → 38.4 ms when this stopped fetching into L1), and a Q8_0 strip must not
/// push the panel being multiplied out of L1 either.
static inline __attribute__((always_inline)) void lmk_prefetch_step(lmk_prefetch *p) {
    if (p->rows_left <= 0) return;
    __builtin_prefetch(p->line, 0, 2);
    lmk_prefetch_advance(p);
}

#endif
