// The element-wise ops on the portable path (elementwise_template.h). Baseline code: two SSE halves per 8 lanes on x86-64, NEON pairs on arm64.
#include "CKernels.h"

#define PATH(name) name##_portable
#include "elementwise_template.h"
