// The element-wise ops on the portable path (elementwise_template.h). Baseline code: SSE or NEON registers, four per 16-lane map vector, two per 8-lane sum.
#include "CKernels.h"

#define PATH(name) name##_portable
#include "elementwise_template.h"
