// A tile's row count is a compile-time constant in every kernel (its accumulators are arrays the
// compiler keeps in registers), so a runtime count is turned into one by a `switch`: these macros
// write its cases, calling TILE(r) for r = the count, at most 6 or 8 (a kernel whose arrays hold 6
// rows must not instantiate 7 or 8). Counts below 1 never reach them.
//   switch (rows) { LMK_ROW_CASES_6(TILE) }
#ifndef LMSCORE_CKERNELS_ROW_CASES_H
#define LMSCORE_CKERNELS_ROW_CASES_H

#define LMK_ROW_CASES_6(TILE)                                                                                     \
    case 6: TILE(6); break;                                                                                       \
    case 5: TILE(5); break;                                                                                       \
    case 4: TILE(4); break;                                                                                       \
    case 3: TILE(3); break;                                                                                       \
    case 2: TILE(2); break;                                                                                       \
    default: TILE(1); break;

#define LMK_ROW_CASES_8(TILE)                                                                                     \
    case 8: TILE(8); break;                                                                                       \
    case 7: TILE(7); break;                                                                                       \
    LMK_ROW_CASES_6(TILE)

#endif
