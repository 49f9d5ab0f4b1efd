#!/usr/bin/env bash
# Compares lmscore's tokenizer.json reader with llama.cpp's vocabulary tests and with HF `tokenizers`
# (Scripts/check_hf_tokenizers.py does the converting and comparing).
#
#   Scripts/check_hf_tokenizers.sh [CHECKER OPTIONS]   e.g. --vocabularies qwen2 --corpus-files all
#
# 1. builds lmscore (debug; the tokenizer library is optimized even there) unless LMSCORE_BIN names a
#    binary; LMSCORE_SCRATCH_PATH picks the build directory (default .build);
# 2. makes or reuses a venv outside the repository (LMSCORE_HF_TOKENIZERS_VENV, default
#    ~/.cache/lmscore-hf-tokenizers-venv) with tokenizers pinned, from PyPI (the GGUF files are read by
#    the checker itself: the `gguf` package's reader took 45 s for one vocabulary);
# 3. downloads the llama-cpp-python source distribution from PyPI (pip download; cached in
#    LMSCORE_LLAMA_CPP_SDIST, default ~/.cache/lmscore-llama-cpp-sdist) and extracts llama.cpp's
#    vocabulary test files (models/ggml-vocab-*.gguf, .inp, .out) to a temporary directory. They are
#    Meta's, Qwen's, OpenAI's and BigCode's vocabularies: never copied into the repository.
#    (`--no-binary llama-cpp-python` rather than `:all:`: the latter also builds pip's build
#    dependencies, cmake included, from source, which took more than 10 minutes.)
# 4. runs the checker on llama-bpe, qwen2, llama-spm, gpt-2 and starcoder: the .inp/.out tests, and the
#    corpus from ../shared/corpus beside the repository (LMSCORE_SHARED_CORPUS=DIR to override; skipped
#    with a notice when absent; by default two of its files, `--corpus-files all` for every file).
# Ends with `check_hf_tokenizers: N mismatches`; exit status 0 only when N is 0.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
started=$(date +%s)
say() { echo "check_hf_tokenizers.sh: $*" >&2; }

source Scripts/check_support.sh
lmscore_binary
python_venv "${LMSCORE_HF_TOKENIZERS_VENV:-$HOME/.cache/lmscore-hf-tokenizers-venv}" "tokenizers==0.23.3"

# ---- llama.cpp's vocabulary tests, from the llama-cpp-python sdist
version=0.3.16
llama_cpp_sdist "$python" "$version"
work=$(mktemp -d "${TMPDIR:-/tmp}/lmscore-hf-tokenizers.XXXXXX")
trap 'rm -rf "$work"' EXIT
tar -xzf "$sdist" -C "$work" --wildcards "llama_cpp_python-$version/vendor/llama.cpp/models/ggml-vocab-*"
models=$work/llama_cpp_python-$version/vendor/llama.cpp/models

corpus=${LMSCORE_SHARED_CORPUS:-$repo/../shared/corpus}
corpus_args=()
if [ -d "$corpus" ]; then
  corpus_args=(--corpus "$corpus" --corpus-files "devils_dictionary.txt,the-verdict.txt")
else
  say "no corpus at $corpus: llama.cpp's tests only"
fi

set +e
"$python" "$repo/Scripts/check_hf_tokenizers.py" --lmscore "$bin" --models "$models" --work "$work/tokenizers" \
  "${corpus_args[@]}" "$@"
status=$?
set -e
say "$(( $(date +%s) - started )) s"
exit $status
