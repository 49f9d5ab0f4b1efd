#!/usr/bin/env bash
# GGUF files made by llama.cpp's own converter from the reference checkpoints, scored by lmscore against
# HF transformers' float64 truth and against the safetensors checkpoints (Scripts/check_gguf_models.py).
#
#   Scripts/check_gguf_models.sh [--only FIXTURE ...]
#
# Fixtures: llama-gqa, qwen2-bias-bf16, qwen3-qknorm-sharded, tiny and gpt2vocab-f16 (GPT-2), neox-pythia-f16,
# phi3-fused, gemma2-softcap-bf16 from ../shared/reference; gemma-legacy-act, neox-sequential and
# gemma3-local-global from Tests/Fixtures/reference. F32, F16 and the stored 16-bit type of each.
#
# By hand (not in Scripts/test.sh: the converter needs torch): the venv of Scripts/setup_venv.sh
# (LMSCORE_VENV; torch, transformers, safetensors, numpy) plus the `gguf` package's own dependencies;
# llama.cpp's convert_hf_to_gguf.py, conversion/ and gguf-py from the llama-cpp-python source distribution, cached in
# LMSCORE_LLAMA_CPP_SDIST (default ~/.cache/lmscore-llama-cpp-sdist, beside check_hf_tokenizers.sh's 0.3.16).
# Nothing downloaded or converted is kept in the repository. LMSCORE_BIN: the lmscore binary (default:
# a debug build).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
say() { echo "check_gguf_models.sh: $*" >&2; }

source Scripts/check_support.sh
lmscore_binary
venv=$(Scripts/setup_venv.sh)
"$venv/bin/python" -m pip install -q --disable-pip-version-check pyyaml sentencepiece >&2

version=0.3.36   # its convert_hf_to_gguf.py runs without mistral_common (0.3.16's imports it)
llama_cpp_sdist "$venv/bin/python" "$version"
work=$(mktemp -d "${TMPDIR:-/tmp}/lmscore-gguf-models.XXXXXX")
trap 'rm -rf "$work"' EXIT
tar -xzf "$sdist" -C "$work" --wildcards "llama_cpp_python-$version/vendor/llama.cpp/convert_hf_to_gguf.py" \
  "llama_cpp_python-$version/vendor/llama.cpp/gguf-py/*" "llama_cpp_python-$version/vendor/llama.cpp/conversion/*" \
  "llama_cpp_python-$version/vendor/llama.cpp/models/ggml-vocab-gpt-2.gguf"

"$venv/bin/python" Scripts/check_gguf_models.py --lmscore "$bin" --llama-cpp "$work/llama_cpp_python-$version/vendor/llama.cpp" \
  --reference "${LMSCORE_SHARED_REFERENCE:-$repo/../shared/reference}" --work "$work" "$@"
