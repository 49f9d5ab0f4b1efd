#!/usr/bin/env bash
# lmscore vs PyTorch and CTranslate2 on the same checkpoint, same shapes, same thread count, one after the other.
#
#   Scripts/compare_bench.sh [MODEL_DIR] [SECONDS] [SHAPES]
#
# MODEL_DIR defaults to a random GPT-2 124M checkpoint made (once) by `lmscore make-checkpoint` under
# /tmp/lmscore-bench/gpt2-random. A MODEL_DIR without config.json is made from PRESET (default gpt2)
# stored as DTYPE (default F32), e.g. the other families' full-size shapes:
#   PRESET=smollm2-135m Scripts/compare_bench.sh /tmp/lmscore-bench/smollm2-135m 5 1x16,8x128
#   PRESET=qwen2.5-0.5b DTYPE=BF16 Scripts/compare_bench.sh /tmp/lmscore-bench/qwen2.5-0.5b-bf16 5 1x16,8x128
# An F16 copy of the same preset and seed (MODEL_DIR-f16) is scored too (1x16, and peak RSS at 4096
# tokens). lmscore and PyTorch first time one product alone (1024x768x3072). PyTorch and CTranslate2 run from the
# venv of Scripts/setup_venv.sh (LMSCORE_VENV to override). All do the full scoring work: forward, log-softmax over
# the vocabulary, gather of the targets.
# llama.cpp: the same checkpoint converted to F32 and Q8_0 GGUF files by llama.cpp's convert_hf_to_gguf.py
# (cached as MODEL_DIR-f32.gguf, MODEL_DIR-q8_0.gguf; the vocabulary is the sdist's ggml-vocab-*.gguf with as many
# tokens as the model, llama.cpp wants one), `llama-bench -p 16,128 -n 0 -t THREADS` on both (it computes only the
# last position's logits), then `lmscore bench` on the same two files (all positions). Only when the llama.cpp build
# of Scripts/check_llama_cpp_q8.sh is cached (~/.cache/lmscore-llama-cpp-build); skipped with a message otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-/tmp/lmscore-bench/gpt2-random}
seconds=${2:-5}
shapes=${3:-1x16,32x16,8x128,1x1024,4x512}
. Scripts/bench_setup.sh
half="$model-f16"
if [ ! -f "$half/config.json" ]; then
  .build/release/lmscore make-checkpoint --preset "${PRESET:-gpt2}" --random --seed 0 --dtype F16 "$half" >&2
fi

echo "== lmscore"
.build/release/lmscore bench --model "$model" --threads "$threads" --seconds "$seconds" --shapes "$shapes" --invariance
echo
echo "== PyTorch"
"$venv/bin/python" Scripts/bench_pytorch.py --model "$model" --threads "$threads" --seconds "$seconds" --shapes "$shapes"
echo
echo "== CTranslate2 (Generator.score_batch; float32, or CT2_QUANTIZATION)"
"$venv/bin/python" Scripts/bench_ctranslate2.py --model "$model" --threads "$threads" --seconds "$seconds" --shapes "$shapes" \
  --quantization "${CT2_QUANTIZATION:-float32}"
echo
echo "== peak RSS with 4096 tokens in one call (4x1024, a fresh process)"
.build/release/lmscore bench --model "$model" --threads "$threads" --seconds 1 --product "" --shapes 4x1024 | tail -1
echo
echo "== the same checkpoint stored F16 (weights stay 16-bit): 1x16, then peak RSS at 4096 tokens (fresh processes)"
.build/release/lmscore bench --model "$half" --threads "$threads" --seconds "$seconds" --product "" --shapes 1x16 | tail -1
.build/release/lmscore bench --model "$half" --threads "$threads" --seconds 1 --product "" --shapes 4x1024 | tail -1
du -b "$half/model.safetensors" | awk '{printf "F16 file: %.0f MB\n", $1 / 1048576}'
echo
echo "== llama.cpp (llama-bench: pp16/pp128 = one row of 16/128 tokens, last position's logits only) and lmscore on the same GGUF files"
say() { echo "compare_bench.sh: $*" >&2; }
source Scripts/check_support.sh
llama_cpp_build_dir 0.3.36
if [ ! -f "$llama_build/.complete" ]; then
  echo "skipped: no llama.cpp build at $llama_build (Scripts/check_llama_cpp_q8.sh makes it)"
else
  llama_cpp=$(echo "$llama_build"/src/llama_cpp_python-*/vendor/llama.cpp)
  "$venv/bin/python" -m pip install -q --disable-pip-version-check pyyaml sentencepiece >&2
  for outtype in f32 q8_0; do
    [ -f "$model-$outtype.gguf" ] || "$venv/bin/python" Scripts/llama_cpp_convert.py --llama-cpp "$llama_cpp" "$model" "$model-$outtype.gguf" "$outtype" >&2
  done
  "$llama_cpp/build/bin/llama-bench" -m "$model-f32.gguf" -m "$model-q8_0.gguf" -p 16,128 -n 0 -t "$threads" -r 5
  for outtype in f32 q8_0; do
    echo "lmscore, $model-$outtype.gguf:"
    .build/release/lmscore bench --model "$model-$outtype.gguf" --threads "$threads" --seconds "$seconds" --product "" --shapes 1x16,1x128,8x128
  done
fi
