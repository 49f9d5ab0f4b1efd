#!/usr/bin/env bash
# Peak RSS of `lmscore batch` as the input grows: 1,000 and 100,000 lines, then a generated ~1 GB file,
# read streaming. Lines are mostly /tokenize of ~1 KB of text (model-free, so the large runs finish),
# with one /score of two 40-token sequences every 50 lines (every 1000 in the 1 GB file). Nothing is
# committed: inputs are generated under a temporary directory and removed.
#
#   Scripts/batch_rss.sh [GB]        (default 1; needs a release build and ~3x GB of free disk)
set -euo pipefail
cd "$(dirname "$0")/.."
gb=${1:-1}
bin=.build/release/lmscore
[ -x "$bin" ] || { echo "$bin missing: swift build -c release --product lmscore" >&2; exit 1; }
work=$(mktemp -d /tmp/lmscore-batch-rss-XXXXXX)
trap 'rm -rf "$work"' EXIT

generate() {  # generate LINES SCORE_EVERY FILE
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
lines, every, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
words = open("../shared/corpus/pride_and_prejudice.txt", encoding="utf-8").read().split()
with open(path, "w") as out:
    for i in range(lines):
        if i % every == 0:
            body = {"sequences": [[(i * 7 + k) % 50000 for k in range(40)], [(i * 11 + k) % 50000 for k in range(40)]]}
            url = "/score"
        else:
            start = (i * 131) % (len(words) - 200)
            body = {"text": " ".join(words[start:start + 170])}
            url = "/tokenize"
        out.write(json.dumps({"custom_id": f"line-{i}", "method": "POST", "url": url, "body": body}) + "\n")
PY
}

run() {  # run LABEL FILE
  local start end peak
  start=$(date +%s%N)
  peak=$(/usr/bin/time -f %M "$bin" batch -i "$2" -o "$work/out.jsonl.zst" --quiet 2>&1 >/dev/null | tail -1)
  end=$(date +%s%N)
  printf "| %s | %s | %d | %d |\n" "$1" "$(du -h "$2" | cut -f1)" "$(( (end - start) / 1000000000 ))" "$((peak / 1024))"
  rm -rf "$work/out.jsonl.zst" "$work/out.jsonl.zst.parts"
}

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| input | size | seconds | peak RSS MB |"
echo "|---|---|---|---|"
generate 1000 50 "$work/small.jsonl";   run "1,000 lines" "$work/small.jsonl"
generate 100000 50 "$work/large.jsonl"; run "100,000 lines" "$work/large.jsonl"
rm -f "$work/small.jsonl" "$work/large.jsonl"
lines=$((gb * 1024 * 1024 * 1024 / 1100))
generate "$lines" 1000 "$work/huge.jsonl"; run "$lines lines (~$gb GB)" "$work/huge.jsonl"
