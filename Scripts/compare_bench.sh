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
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-/tmp/lmscore-bench/gpt2-random}
seconds=${2:-5}
shapes=${3:-1x16,32x16,8x128,1x1024,4x512}
threads=$(nproc)

[ -x .build/release/lmscore ] || swift build -c release >&2
if [ ! -f "$model/config.json" ]; then
  .build/release/lmscore make-checkpoint --preset "${PRESET:-gpt2}" --dtype "${DTYPE:-F32}" --random --seed 0 "$model" >&2
fi
half="$model-f16"
if [ ! -f "$half/config.json" ]; then
  .build/release/lmscore make-checkpoint --preset "${PRESET:-gpt2}" --random --seed 0 --dtype F16 "$half" >&2
fi
venv=$(Scripts/setup_venv.sh)

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
