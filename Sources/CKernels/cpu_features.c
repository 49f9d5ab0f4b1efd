// Which vector paths this CPU and OS support: cpuid feature bits plus XCR0, never model numbers
// (a table of models is how a BLAS falls back to SSE3 kernels on a CPU newer than itself).
#include "CKernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

__attribute__((target("xsave")))
static uint64_t read_xcr0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

int lmk_cpu_features(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    int osxsave = (ecx >> 27) & 1, avx = (ecx >> 28) & 1;
    int fma = (ecx >> 12) & 1, f16c = (ecx >> 29) & 1;
    if (!osxsave || !avx) return 0;
    uint64_t xcr0 = read_xcr0();
    int ymm_state = (xcr0 & 0x6) == 0x6;     // XMM + YMM
    int zmm_state = (xcr0 & 0xE6) == 0xE6;   // + opmask, ZMM0-15 high halves, ZMM16-31
    if (!ymm_state) return 0;
    if (__get_cpuid_max(0, 0) < 7) return 0;
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    int avx2 = (ebx >> 5) & 1, avx512f = (ebx >> 16) & 1, avx512vl = (ebx >> 31) & 1, avx512vnni = (ecx >> 11) & 1;
    int features = 0;
    if (avx2) features |= LMK_CPU_AVX2;
    if (fma) features |= LMK_CPU_FMA;
    if (f16c) features |= LMK_CPU_F16C;
    if (avx512f && zmm_state) features |= LMK_CPU_AVX512F;
    if (avx512f && avx512vl && avx512vnni && zmm_state) features |= LMK_CPU_AVX512VNNI;
    return features;
}
#else
int lmk_cpu_features(void) { return 0; }
#endif
