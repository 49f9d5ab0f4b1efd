#!/bin/bash
# The AVX-512 kernel path run on a CPU without AVX-512: Sources/CKernels/gemm_avx512.c compiled with
# SIMDe (libsimde-dev) standing in for its AVX-512 intrinsics, then checked against the native AVX2
# path bit for bit and against a naive double loop (Scripts/avx512_emulated/check.c says what).
# On an AVX-512 CPU `swift test` runs the path natively (KernelTests); this runs it everywhere else, so
# the path's code is exercised on every machine CI gets. Needs AVX2 + FMA + F16C and clang.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f /usr/include/simde/x86/avx512.h ] || { echo "check_avx512_emulated: needs libsimde-dev (apt-get install libsimde-dev)" >&2; exit 1; }
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
cc=${CC:-clang}
flags=(-O2 -mavx2 -mfma -mf16c -ffp-contract=off -ISources/CKernels/include -ISources/CKernels)
"$cc" "${flags[@]}" -Wno-psabi -include Scripts/avx512_emulated/simde_avx512.h -c Sources/CKernels/gemm_avx512.c -o "$build/avx512.o"
"$cc" "${flags[@]}" -Wall -Werror -c Sources/CKernels/gemm_avx2.c -o "$build/avx2.o"
"$cc" "${flags[@]}" -Wall -Werror -c Sources/CKernels/panel.c -o "$build/panel.o"
"$cc" "${flags[@]}" -Wall -Werror -c Sources/CKernels/blocking.c -o "$build/blocking.o"
"$cc" "${flags[@]}" -Wall -Werror Scripts/avx512_emulated/check.c "$build/avx512.o" "$build/avx2.o" "$build/panel.o" "$build/blocking.o" -lm -o "$build/check"
"$build/check"
