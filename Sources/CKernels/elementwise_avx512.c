// The element-wise ops on the avx512 path (elementwise_template.h). AVX-512 CPUs run the 8 lanes as ymm registers, as AVX2 ones do (same instructions, same bits).
#include "CKernels.h"

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx512f,avx2,fma,f16c"))), apply_to = function)

#define PATH(name) name##_avx512
#include "elementwise_template.h"

#pragma clang attribute pop
#endif
