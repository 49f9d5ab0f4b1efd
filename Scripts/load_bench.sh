#!/usr/bin/env bash
# Load benchmark for `lmscore serve`: wrk posts single 16-token sequences at 1, 8, 32, 128 and 256
# keep-alive connections; reports requests/s, scored tokens/s, p50/p99 latency, errors and the mean
# batch size (from /metrics), the server's peak RSS (VmHWM), then the offline `lmscore bench` figure
# for one 32×16 request. With PEER=fastapi the same wrk runs follow against Scripts/peer_fastapi.py
# (FastAPI + transformers, one request at a time, same checkpoint and thread count) on port+1.
# (A run must last longer than a full batch takes: at 256 connections on GPT-2 124M one batch of
# 256 requests takes ~9 s, so use 30 s runs there.)
#
#   Scripts/load_bench.sh MODEL_DIR [SECONDS_PER_RUN] [CONNECTIONS...]
#
# Needs wrk (Debian: apt-get install wrk) and a release build (built here if missing).
# Traffic goes to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

model=${1:?usage: Scripts/load_bench.sh MODEL_DIR [SECONDS] [CONNECTIONS...]}
seconds=${2:-10}
shift $(( $# >= 2 ? 2 : 1 ))
connections=("$@")
[ ${#connections[@]} -gt 0 ] || connections=(1 8 32 128)
port=${LMSCORE_BENCH_PORT:-18090}
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
[ -x .build/release/lmscore ] || swift build -c release >&2
bin=.build/release/lmscore

# wait_ready PORT TENTHS WHAT: until GET /healthz answers (at most TENTHS × 0.1 s), else the log and exit 1.
wait_ready() {
  for _ in $(seq 1 "$2"); do
    curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && return 0
    sleep 0.1
  done
  cat "$log" >&2; echo "$3 did not become ready" >&2; exit 1
}

log=$(mktemp)
LMSCORE_LOG_LEVEL=warning $bin serve --model "$model" --host 127.0.0.1 --port "$port" 2>"$log" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
wait_ready "$port" 100 server

# One request first, so page faults and buffer growth are not in the first run's latency.
curl -sf -X POST "http://127.0.0.1:$port/score" -d '{"sequences": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]]}' >/dev/null

metric() {  # metric NAME → value summed over label sets
  curl -s "http://127.0.0.1:$port/metrics" | awk -v name="$1" '$1 == name || index($1, name "{") == 1 { s += $2 } END { printf "%.0f", s }'
}

# wrk_row URL CONNECTIONS [BATCH_SIZE_SUM_BEFORE BATCH_COUNT_BEFORE] → one table row. Closed loop (as
# fast as the server answers), 16-token /score requests: the hardening suite's wrk script.
wrk_row() {
  local url=$1 c=$2 out line requests duration errors
  out=$(wrk -t1 -c"$c" -d"${seconds}s" --timeout 30s -s Scripts/hardening/wrk/paced.lua "$url" -- none 0 "$c" 1)
  line=$(grep '^HARDEN' <<<"$out")
  get() { if [[ " $line " == *" $1="* ]]; then sed -E "s/.*[ ]$1=([^ ]+).*/\1/" <<<"$line"; else echo 0; fi; }
  requests=$(get requests); duration=$(get duration_s)
  # Socket errors, plus every answer that was not a 200.
  errors=$(( $(get connect) + $(get read) + $(get write) + $(get timeout) + requests - $(get s200) ))
  awk -v c="$c" -v r="$requests" -v d="$duration" -v p50="$(get p50_ms)" -v p99="$(get p99_ms)" -v e="$errors" \
      'BEGIN { printf "| %d | %.0f | %.0f | %.1f | %.1f | %d |", c, r/d, 15*r/d, p50, p99, e }'
}

echo "lmscore load benchmark: model $model, ${seconds}s per run, $(nproc) cores shared by server and wrk"
echo "command: Scripts/load_bench.sh $model $seconds ${connections[*]}"
echo
echo "| connections | requests/s | scored tokens/s | p50 ms | p99 ms | errors | mean batch size |"
echo "|---|---|---|---|---|---|---|"
for c in "${connections[@]}"; do
  sum0=$(metric lmscore_batch_requests_sum); count0=$(metric lmscore_batch_requests_count)
  row=$(wrk_row "http://127.0.0.1:$port/score" "$c")
  sum1=$(metric lmscore_batch_requests_sum); count1=$(metric lmscore_batch_requests_count)
  awk -v row="$row" -v bs="$((sum1 - sum0))" -v bc="$((count1 - count0))" 'BEGIN { printf "%s %.1f |\n", row, (bc > 0 ? bs/bc : 0) }'
done

rss_kb() { awk -v f="$1" '$1 == f ":" { print $2 }' "/proc/$server/status"; }
echo
echo "server RSS: now $(( $(rss_kb VmRSS) / 1024 )) MB, peak $(( $(rss_kb VmHWM) / 1024 )) MB"
kill -TERM $server
wait $server && echo && echo "server drained and exited 0 after SIGTERM"
trap - EXIT
rm -f "$log"

echo
echo "offline reference (one 32x16 request; 32x15 = 480 scored tokens per call):"
$bin bench --model "$model" --shapes 32x16 --seconds 5 --product "" | grep '^| 32x16' 

if [ "${PEER:-}" = fastapi ]; then
  venv=$(Scripts/setup_venv.sh)
  peer_port=$((port + 1))
  "$venv/bin/python" Scripts/peer_fastapi.py --model "$model" --port "$peer_port" --threads "$(nproc)" 2>"$log" &
  peer=$!
  trap 'kill $peer 2>/dev/null || true; rm -f "$log"' EXIT
  wait_ready "$peer_port" 600 peer
  curl -sf -X POST -H 'Content-Type: application/json' "http://127.0.0.1:$peer_port/score" \
    -d '{"sequences": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]]}' >/dev/null
  echo
  echo "peer: FastAPI + transformers (Scripts/peer_fastapi.py, one request at a time, torch threads $(nproc)), same wrk runs:"
  echo
  echo "| connections | requests/s | scored tokens/s | p50 ms | p99 ms | errors |"
  echo "|---|---|---|---|---|---|"
  for c in "${connections[@]}"; do
    echo "$(wrk_row "http://127.0.0.1:$peer_port/score" "$c")"
  done
  kill $peer 2>/dev/null || true; wait $peer 2>/dev/null || true
  trap - EXIT
  rm -f "$log"
fi
