// The element-wise ops on the avx2 path (elementwise_template.h). Two ymm registers per 16-lane map vector, one per 8-lane sum.
#include "CKernels.h"

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)

#define PATH(name) name##_avx2
#include "elementwise_template.h"

#pragma clang attribute pop
#endif
