#!/usr/bin/env bash
# The cost of a two-model comparison against scoring with each model alone (issue 24's target: a
# compare call ≤ 1.15 × the sum). The same token stream, in the same sliding windows, is scored by
#   A: lmscore perplexity --model MODEL          B: lmscore perplexity --model REFERENCE
#   C: lmscore compare --model MODEL --reference REFERENCE
# the three alternated ROUNDS times in one run. Per run: the scoring seconds the command reports (wall
# time, model loading excluded) and the process's CPU seconds (user + system, loading included: ~0.1 s),
# which other processes on the machine disturb less. Prints every round, the medians, the ratio of the
# medians C / (A + B) and the median of the per-round ratios, for both clocks.
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

kernel=$("$bin" inspect --model "$model" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["kernel"])')
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; kernel path: $kernel; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "model: $model   reference: $reference   tokens: $tokens   rounds: $rounds"

measure() {  # measure COMMAND... → "WALL CPU": the command's reported seconds and its user + system seconds
  /usr/bin/time -f "%U %S" -o "$work/time" "$@" > "$work/out.json"
  python3 - "$work/out.json" "$work/time" <<'PY'
import json, sys
wall = json.load(open(sys.argv[1]))["seconds"]
user, system = map(float, open(sys.argv[2]).read().split()[-2:])
print(wall, user + system)
PY
}

echo "| round | A wall (s) | B wall (s) | C wall (s) | C / (A + B) wall | A cpu (s) | B cpu (s) | C cpu (s) | C / (A + B) cpu |"
echo "|---|---|---|---|---|---|---|---|---|"
: > "$work/rounds"
for round in $(seq 1 "$rounds"); do
  read -r aw ac < <(measure "$bin" perplexity --model "$model" --tokens "$work/ids.txt" --json --quiet)
  read -r bw bc < <(measure "$bin" perplexity --model "$reference" --tokens "$work/ids.txt" --json --quiet)
  read -r cw cc < <(measure "$bin" compare --model "$model" --reference "$reference" "$work/ids.txt" --format ids --json --quiet)
  echo "$aw $bw $cw $ac $bc $cc" >> "$work/rounds"
  python3 -c "print(f'| $round | {$aw:.3f} | {$bw:.3f} | {$cw:.3f} | {$cw / ($aw + $bw):.3f} | {$ac:.2f} | {$bc:.2f} | {$cc:.2f} | {$cc / ($ac + $bc):.3f} |')"
done
python3 - "$work/rounds" <<'PY'
import statistics, sys
rows = [list(map(float, line.split())) for line in open(sys.argv[1])]
med = [statistics.median(r[i] for r in rows) for i in range(6)]
paired_wall = statistics.median(r[2] / (r[0] + r[1]) for r in rows)
paired_cpu = statistics.median(r[5] / (r[3] + r[4]) for r in rows)
print(f"| median | {med[0]:.3f} | {med[1]:.3f} | {med[2]:.3f} | {paired_wall:.3f} | {med[3]:.2f} | {med[4]:.2f} | {med[5]:.2f} | {paired_cpu:.3f} |")
print(f"compare / (model alone + reference alone), target ≤ 1.15:")
print(f"  wall: ratio of medians {med[2] / (med[0] + med[1]):.3f}, median of the rounds' ratios {paired_wall:.3f}")
print(f"  cpu:  ratio of medians {med[5] / (med[3] + med[4]):.3f}, median of the rounds' ratios {paired_cpu:.3f}")
PY
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
