// The element-wise ops on the avx512 path (elementwise_template.h). One zmm register per 16-lane map vector (exp, activations, soft-cap), one ymm per 8-lane sum: the same operations per lane as the other paths, so the same bits.
#include "CKernels.h"

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx512f,avx2,fma,f16c"))), apply_to = function)

#define PATH(name) name##_avx512
#include "elementwise_template.h"

#pragma clang attribute pop
#endif
