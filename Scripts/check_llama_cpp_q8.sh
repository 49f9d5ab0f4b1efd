#!/usr/bin/env bash
# lmscore against llama.cpp itself, on the same GGUF files made by llama.cpp's convert_hf_to_gguf.py
# (Scripts/check_llama_cpp_q8.py; its header says what is required and why):
#  - the bundled model in F32 and Q8_0, 16 held-out rows, and the reference fixtures in Q8_0: per-position
#    log-probs from llama.cpp (the llama-cpp-python package of the same source distribution, logits_all)
#    and from `lmscore score` with each --numerics (transformers, llama.cpp), |Δ logprob| and top-1 agreement
#    printed, a table at the end; required: F32 within 1e-2 at every position, Q8_0 top-1 the same on
#    >= 99 % (--strict: also |Δ| <= 1e-2 on >= 99 % with --numerics llama.cpp, issue 22's wording);
#  - the bundled model's Q8_0 held-out perplexity (`lmscore perplexity`) within 0.5 % of its F32 one.
#
#   Scripts/check_llama_cpp_q8.sh [--strict] [--kv-cache f16] [--only FIXTURE ... | bundled]
#   Scripts/check_llama_cpp_q8.sh --if-built    # Scripts/test.sh: runs only when the llama.cpp build cache exists
#
# llama.cpp is built from the llama-cpp-python 0.3.36 source distribution (cmake, -DGGML_NATIVE=ON) once per
# CPU into ~/.cache/lmscore-llama-cpp-build/0.3.36-CPUKEY (check_support.sh: llama_cpp_build; 12-15 min on 2
# cores, nice 19; cmake from apt-get install cmake). Scripts/test.sh runs this check only when that cache
# exists (--if-built), so CI stays under its 30 minutes; the check itself takes about 2 min. The venv is
# Scripts/setup_venv.sh's (LMSCORE_VENV: torch, transformers for the converter) plus diskcache,
# sentencepiece and pyyaml. LMSCORE_BIN: the lmscore binary (default: a debug build). Nothing downloaded,
# built or converted is kept in the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
say() { echo "check_llama_cpp_q8.sh: $*" >&2; }
source Scripts/check_support.sh
version=0.3.36

if [ "${1:-}" = "--if-built" ]; then
  shift
  llama_cpp_build_dir "$version"
  if [ ! -f "$llama_build/.complete" ]; then
    say "skipped: no llama.cpp build at $llama_build (run Scripts/check_llama_cpp_q8.sh once to make it)"
    exit 0
  fi
fi

lmscore_binary
venv=$(Scripts/setup_venv.sh)
"$venv/bin/python" -m pip install -q --disable-pip-version-check pyyaml sentencepiece diskcache >&2
llama_cpp_build "$venv/bin/python" "$version"
work=$(mktemp -d "${TMPDIR:-/tmp}/lmscore-llama-cpp-q8.XXXXXX")
trap 'rm -rf "$work"' EXIT

PYTHONPATH="$llama_sdist_root" LLAMA_CPP_LIB_PATH="$llama_bin" "$venv/bin/python" Scripts/check_llama_cpp_q8.py \
  --lmscore "$bin" --llama-cpp "$llama_sdist_root/vendor/llama.cpp" \
  --reference "${LMSCORE_SHARED_REFERENCE:-$repo/../shared/reference}" --corpus "${LMSCORE_CORPUS:-$repo/../shared/corpus}" \
  --work "$work" "$@"
