#!/usr/bin/env bash
# 8-bit scoring, side by side on the same checkpoint, same shapes, same threads, alternating ROUNDS times:
#   lmscore F32 (as stored), lmscore --quantize q8_0 (LM head included), --quantize q8_0 --leave-lm-head,
#   CTranslate2 int8_float32 (Generator.score_batch), and llama.cpp's Q8_0 (llama-bench) when a build and
#   a GGUF file are given.
#
#   Scripts/compare_q8_bench.sh [MODEL_DIR] [SECONDS] [SHAPES] [ROUNDS]
#
# MODEL_DIR defaults to the random GPT-2 124M checkpoint of compare_bench.sh (/tmp/lmscore-bench/gpt2-random;
# made with PRESET when missing). LLAMA_BENCH=path/to/llama-bench and GGUF_Q8=file.gguf (the same checkpoint
# converted by llama.cpp's convert_hf_to_gguf.py --outtype q8_0) add llama.cpp's row: `llama-bench -p 16,128
# -n 0`, which computes only the last position's logits of each prompt (lmscore and CTranslate2 score every
# position). Also: peak RSS of one 4096-token call (4x1024) per lmscore variant, beside the F32 file's size.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-/tmp/lmscore-bench/gpt2-random}
seconds=${2:-3}
shapes=${3:-1x16,8x128}
rounds=${4:-2}
. Scripts/bench_setup.sh

lmscore_row() {   # label, extra flags…
  local label=$1; shift
  .build/release/lmscore bench --model "$model" --threads "$threads" --seconds "$seconds" --shapes "$shapes" --product "" "$@" \
    | awk -v label="$label" -F'|' '/^\| [0-9]/ {gsub(/ /, "", $2); printf "%-28s %-8s %10s ms %8s tok/s\n", label, $2, $4, $5}'
}

for round in $(seq "$rounds"); do
  echo "== round $round"
  lmscore_row "lmscore F32"
  lmscore_row "lmscore q8_0" --quantize q8_0
  lmscore_row "lmscore q8_0, LM head F32" --quantize q8_0 --leave-lm-head
  "$venv/bin/python" Scripts/bench_ctranslate2.py --model "$model" --threads "$threads" --seconds "$seconds" --shapes "$shapes" \
    --quantization int8_float32 2>/dev/null \
    | awk '/^[0-9]+x[0-9]+ / {printf "%-28s %-8s %10s ms %8s tok/s\n", "CTranslate2 int8_float32", $1, $3, $4}'
  if [ -n "${GGUF_Q8:-}" ]; then
    .build/release/lmscore bench --model "$GGUF_Q8" --threads "$threads" --seconds "$seconds" --shapes "$shapes" --product "" \
      | awk -F'|' '/^\| [0-9]/ {gsub(/ /, "", $2); printf "%-28s %-8s %10s ms %8s tok/s\n", "lmscore GGUF Q8_0", $2, $4, $5}'
  fi
  if [ -n "${LLAMA_BENCH:-}" ] && [ -n "${GGUF_Q8:-}" ]; then
    prompts=$(echo "$shapes" | tr ',' '\n' | sed 's/.*x//' | sort -un | paste -sd,)
    "$LLAMA_BENCH" -m "$GGUF_Q8" -t "$threads" -p "$prompts" -n 0 -r 3 -o csv 2>/dev/null | python3 -c '
import csv, sys
for row in csv.DictReader(sys.stdin):
    n = int(row["n_prompt"])
    print("%-28s %-8s %10.1f ms %8.0f tok/s" % ("llama.cpp Q8_0 (last logits)", "1x%d" % n, float(row["avg_ns"]) / 1e6, float(row["avg_ts"])))'
  fi
done

echo "== peak RSS at 4096 tokens in one call (4x1024, fresh processes)"
for flags in "" "--quantize q8_0" "--quantize q8_0 --leave-lm-head"; do
  # shellcheck disable=SC2086
  echo "lmscore ${flags:-F32}: $(.build/release/lmscore bench --model "$model" --threads "$threads" --seconds 1 --product "" --shapes 4x1024 $flags | awk -F'|' '/^\| 4x1024/ {gsub(/ /, "", $7); print $7 " MB"}')"
done
du -b "$model/model.safetensors" | awk '{printf "F32 safetensors: %.0f MB (its Q8_0 weights: about %.0f MB)\n", $1 / 1048576, $1 / 1048576 * 34 / 128}'
