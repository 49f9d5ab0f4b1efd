#!/usr/bin/env bash
# The cost of a two-model comparison against scoring with each model alone (issue 24's target: a
# compare call ≤ 1.15 × the sum). The same token stream, in the same sliding windows, is scored by
#   A: lmscore perplexity --model MODEL          B: lmscore perplexity --model REFERENCE
#   C: lmscore compare --model MODEL --reference REFERENCE
# each run reporting its own scoring seconds (model loading excluded), the three alternated ROUNDS times
# in one run; prints every round and the medians, and the ratio median(C) / (median(A) + median(B)).
#
#   Scripts/bench_compare.sh [MODEL] [REFERENCE] [TOKENS] [ROUNDS]
#     defaults: /tmp/lmscore-bench/gpt2-random (F32) against /tmp/lmscore-bench/gpt2-random-f16 (the
#     same weights in F16), 4096 tokens (n_positions 1024, stride 512: 7 windows), 5 rounds.
# Needs a release build (swift build -c release --product lmscore). Nothing is written to the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-/tmp/lmscore-bench/gpt2-random}
reference=${2:-/tmp/lmscore-bench/gpt2-random-f16}
tokens=${3:-4096}
rounds=${4:-5}
bin=.build/release/lmscore
[ -x "$bin" ] || { echo "$bin missing: swift build -c release --product lmscore" >&2; exit 1; }
work=$(mktemp -d /tmp/lmscore-bench-compare-XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 -c "import random; random.seed(24); print(' '.join(str(random.randrange(50000)) for _ in range($tokens)))" > "$work/ids.txt"

seconds() { python3 -c 'import json, sys; print(json.load(sys.stdin)["seconds"])'; }
kernel=$("$bin" inspect --model "$model" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["kernel"])')
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; kernel path: $kernel"
echo "model: $model   reference: $reference   tokens: $tokens   rounds: $rounds"
echo "| round | A: model alone (s) | B: reference alone (s) | C: compare (s) | C / (A + B) |"
echo "|---|---|---|---|---|"
a_all=(); b_all=(); c_all=()
for round in $(seq 1 "$rounds"); do
  a=$("$bin" perplexity --model "$model" --tokens "$work/ids.txt" --json --quiet | seconds)
  b=$("$bin" perplexity --model "$reference" --tokens "$work/ids.txt" --json --quiet | seconds)
  c=$("$bin" compare --model "$model" --reference "$reference" "$work/ids.txt" --format ids --json --quiet | seconds)
  a_all+=("$a"); b_all+=("$b"); c_all+=("$c")
  python3 -c "print(f'| $round | {$a:.3f} | {$b:.3f} | {$c:.3f} | {$c / ($a + $b):.3f} |')"
done
python3 - "${a_all[*]}" "${b_all[*]}" "${c_all[*]}" <<'PY'
import statistics, sys
a, b, c = (statistics.median(map(float, s.split())) for s in sys.argv[1:4])
print(f"| median | {a:.3f} | {b:.3f} | {c:.3f} | {c / (a + b):.3f} |")
print(f"compare / (model alone + reference alone) = {c / (a + b):.3f} (target ≤ 1.15)")
PY
