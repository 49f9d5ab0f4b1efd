#!/usr/bin/env bash
# lmscore F32 against CTranslate2 float32 on the same checkpoint — issue 21's comparison as it asks for it:
# the two alternate ROUNDS times (lmscore, CTranslate2, lmscore, …), same shapes and threads, and the
# medians over the rounds are compared. A machine shared with other work drifts within minutes, so one run
# of each (Scripts/compare_bench.sh) can put the drift into the ratio; alternating spreads it over both.
#
#   Scripts/compare_ct2_rounds.sh [MODEL_DIR] [SECONDS] [SHAPES] [ROUNDS]
#
# MODEL_DIR defaults to compare_bench.sh's random GPT-2 124M (/tmp/lmscore-bench/gpt2-random; made from
# PRESET when missing). CTranslate2 runs from Scripts/setup_venv.sh's venv (Scripts/bench_ctranslate2.py:
# converted once with its Transformers converter, Generator.score_batch(..., max_input_length=0),
# intra_threads = threads). Prints each round's figures, then per shape: the medians, lmscore's speed
# over CTranslate2's (tokens/s ratio) and its time as a fraction of CTranslate2's.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-/tmp/lmscore-bench/gpt2-random}
seconds=${2:-3}
shapes=${3:-1x16,32x16,8x128,1x1024}
rounds=${4:-3}
. Scripts/bench_setup.sh

results=$(mktemp)
trap 'rm -f "$results"' EXIT
for round in $(seq "$rounds"); do
  .build/release/lmscore bench --model "$model" --threads "$threads" --seconds "$seconds" --shapes "$shapes" --product "" \
    | awk -F'|' -v round="$round" '/^\| [0-9]/ {gsub(/ /, "", $2); gsub(/ /, "", $4); gsub(/ /, "", $5); print round, "lmscore", $2, $4, $5}' \
    | tee -a "$results"
  "$venv/bin/python" Scripts/bench_ctranslate2.py --model "$model" --threads "$threads" --seconds "$seconds" --shapes "$shapes" 2>/dev/null \
    | awk -v round="$round" '/^[0-9]+x[0-9]+ / {print round, "ctranslate2", $1, $3, $4}' \
    | tee -a "$results"
done

echo "== medians over $rounds rounds (round engine shape ms tok/s above)"
python3 - "$results" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    _, engine, shape, ms, tps = line.split()
    runs.setdefault(shape, {}).setdefault(engine, []).append((float(ms), float(tps)))
print("%-8s %14s %14s %18s %18s" % ("shape", "lmscore tok/s", "CT2 tok/s", "lmscore / CT2", "time vs CT2"))
for shape, engines in runs.items():
    if set(engines) != {"lmscore", "ctranslate2"}:
        continue
    ms = {e: statistics.median(m for m, _ in v) for e, v in engines.items()}
    tps = {e: statistics.median(t for _, t in v) for e, v in engines.items()}
    print("%-8s %14.0f %14.0f %17.2f× %17.2f×" % (shape, tps["lmscore"], tps["ctranslate2"],
          tps["lmscore"] / tps["ctranslate2"], ms["lmscore"] / ms["ctranslate2"]))
EOF
