#!/usr/bin/env bash
# Validates real lmscore HTTP responses against openapi.yaml (Scripts/check_openapi.py does the checking).
#
#   Scripts/check_openapi.sh [CHECKER OPTIONS]     e.g. --strict-known (see Scripts/check_openapi.py --help)
#
# 1. builds lmscore (debug) unless LMSCORE_BIN names a binary;
# 2. writes a tiny random checkpoint to a temp dir;
# 3. starts three servers on 127.0.0.1, on ports they pick themselves (--port 0):
#    - the main one, serving two random models (tiny, the default, and tiny2: `model`, `reference`), with small limits (max_body_bytes 65536, max_queued_tokens 64, request_timeout 0.5 s,
#      1 thread) so that 413, 429 and 504 can be provoked; its random model has no tokenizer (vocab 1000),
#      so text input gets 422 `tokenizer_unavailable`;
#    - a "loading" one whose model.safetensors is a FIFO: its load blocks in open() until a writer
#      comes, so /healthz, /v1/model and the POST routes answer 503 `loading` for as long as we like;
#    - a "text" one with the bundled model (Models/lmscore-gpt2-small-en, GPT-2's tokenizer), for
#      /tokenize, /detokenize, /v1/completions and the text forms of /score (skipped when it is absent);
# 4. makes or reuses a venv outside the repository (LMSCORE_OPENAPI_VENV, default
#    ~/.cache/lmscore-openapi-venv) with pinned openapi-core and openapi-spec-validator from PyPI;
# 5. runs the checker, which ends by sending SIGTERM to the main server with a request in flight;
# 6. checks that every server exits 0 after SIGTERM, cleans up, and exits non-zero if anything failed.
#
# Traffic goes to 127.0.0.1 only. Needs python3 with venv (Debian: apt-get install python3-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
started=$(date +%s)

venv=${LMSCORE_OPENAPI_VENV:-$HOME/.cache/lmscore-openapi-venv}
# Versions known to work together (openapi-core 0.23 validates OpenAPI 3.1 with jsonschema's 2020-12 dialect).
requirements="openapi-core==0.23.1
openapi-spec-validator==0.8.5
openapi-schema-validator==0.8.1
jsonschema==4.26.0
jsonschema-path==0.4.6
jsonschema-specifications==2025.9.1
referencing==0.37.0
Werkzeug==3.1.9
PyYAML==6.0.4"

say() { echo "check_openapi: $*" >&2; }

# ---- the binary
. Scripts/lmscore_bin.sh check_openapi

# ---- the venv
make_venv() { rm -rf "$venv"; mkdir -p "$(dirname "$venv")"; python3 -m venv "$venv" >&2; }
stamp="$venv/.lmscore-openapi-requirements"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$requirements" ]; then
  say "creating venv $venv"
  if ! make_venv; then
    # Debian's python3 needs python3-venv (ensurepip) to create venvs.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      say "python3 cannot create venvs: installing Debian's python3-venv"
      export DEBIAN_FRONTEND=noninteractive
      apt-get install -y -qq --no-install-recommends python3-venv >/dev/null 2>&1 \
        || { apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-venv >/dev/null; }
      make_venv
    else
      say "python3 cannot create venvs: install Debian's python3-venv (apt-get install python3-venv)"
      exit 1
    fi
  fi
  mapfile -t pins <<<"$requirements"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${pins[@]}" >&2
  printf '%s' "$requirements" >"$stamp"
fi

# ---- servers
work=$(mktemp -d "${TMPDIR:-/tmp}/lmscore-openapi.XXXXXX")
main_pid=""
loading_pid=""
text_pid=""
cleanup() {
  # only on an early exit: the servers are normally gone (and waited for) by the end
  for pid in $main_pid $loading_pid $text_pid; do
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" make-checkpoint --preset tiny --random --seed 0 "$work/tiny" >&2
# A second model of the same shape and vocabulary (another seed), served beside it for `model` and
# `reference` (two-model comparisons).
"$bin" make-checkpoint --preset tiny --random --seed 1 "$work/tiny2" >&2
mkdir "$work/loading-model"
cp "$work/tiny/config.json" "$work/loading-model/"
mkfifo "$work/loading-model/model.safetensors"

max_body_bytes=65536
max_queued_tokens=64
request_timeout=0.5

# Start a server with only the LMSCORE_* settings given here (none inherited), from the temp dir
# (so the repository's Config/lmscore.json is not read), as a child of this shell. Sets $server_pid.
serve() {  # serve MODEL_DIR LOG [VAR=VALUE...]
  local model=$1 log=$2; shift 2
  local unset_args=()
  while IFS= read -r name; do unset_args+=(-u "$name"); done < <(env | sed -n 's/^\(LMSCORE_[A-Z_]*\)=.*/\1/p')
  (cd "$work" && exec env "${unset_args[@]}" "$@" "$bin" serve --model "$model" --host 127.0.0.1 --port 0 \
     >"$log" 2>&1 </dev/null) &
  server_pid=$!
}

# Running, as opposed to gone or a zombie (an exited child not yet waited for, which kill -0 still
# finds). A status file that vanishes while being read (bash reaps children on its own) means gone.
alive() {
  local state
  state=$(sed -n 's/^State:[[:space:]]*\([A-Za-z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || true
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

wait_port() {  # wait_port LOG PID → prints the port once the log says it is listening
  local log=$1 pid=$2 port=""
  for _ in $(seq 1 300); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\);.*/\1/p' "$log" | head -n1)
    [ -n "$port" ] && { echo "$port"; return 0; }
    alive "$pid" || break
    sleep 0.1
  done
  say "server did not start; its log:"; cat "$log" >&2
  return 1
}

serve "$work/tiny,tiny2=$work/tiny2" "$work/main.log" LMSCORE_MAX_BODY_BYTES=$max_body_bytes \
  LMSCORE_MAX_QUEUED_TOKENS=$max_queued_tokens LMSCORE_REQUEST_TIMEOUT=$request_timeout LMSCORE_THREADS=1 \
  LMSCORE_DRAIN_TIMEOUT=10
main_pid=$server_pid
serve "$work/loading-model" "$work/loading.log"
loading_pid=$server_pid
text_model=$repo/Models/lmscore-gpt2-small-en
if [ -f "$text_model/config.json" ] && [ -f "$text_model/gpt2.tiktoken" ]; then
  serve "$text_model" "$work/text.log" LMSCORE_THREADS=1
  text_pid=$server_pid
else
  say "no bundled model at $text_model: the text cases are skipped"
fi
main_port=$(wait_port "$work/main.log" "$main_pid")
loading_port=$(wait_port "$work/loading.log" "$loading_pid")
base=http://127.0.0.1:$main_port
text_args=()
if [ -n "$text_pid" ]; then
  text_port=$(wait_port "$work/text.log" "$text_pid")
  text_args=(--text-url "http://127.0.0.1:$text_port")
fi

ready=""
for _ in $(seq 1 300); do
  if "$venv/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$base/healthz" 2>/dev/null; then
    ready=1; break
  fi
  sleep 0.1
done
[ -n "$ready" ] || { say "main server never answered 200 on /healthz; its log:"; cat "$work/main.log" >&2; exit 1; }
say "main server pid $main_pid on $base; loading server pid $loading_pid on port $loading_port${text_pid:+; text server pid $text_pid on port $text_port}"

set +e
"$venv/bin/python" Scripts/check_openapi.py --base-url "$base" --loading-url "http://127.0.0.1:$loading_port" \
  --max-body-bytes $max_body_bytes --max-queued-tokens $max_queued_tokens --request-timeout $request_timeout \
  ${text_args[@]+"${text_args[@]}"} --drain-pid "$main_pid" "$@" | tee "$work/checker.out"
checker=${PIPESTATUS[0]}
set -e

# ---- exits: the checker sent SIGTERM to the main server; the loading and text ones get it now.
# (The servers are seconds old by now: an earlier build was seen dying with status 143 instead of
# draining when SIGTERM came within ~50 ms of the port opening.)
server_checks=0
server_failures=0
wait_exit() {  # wait_exit NAME PID LOG
  local name=$1 pid=$2 log=$3 status
  for _ in $(seq 1 200); do alive "$pid" || break; sleep 0.1; done
  if alive "$pid"; then
    say "FAIL $name server (pid $pid) still running 20 s after SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    server_failures=$((server_failures + 1))
  else
    wait "$pid" && status=0 || status=$?
    if [ "$status" = 0 ]; then
      echo "PASS  $name server exited 0 after SIGTERM"
    else
      echo "FAIL  $name server exited $status after SIGTERM; last lines of its log:"
      tail -n 5 "$log" | sed 's/^/        /'
      server_failures=$((server_failures + 1))
    fi
  fi
  server_checks=$((server_checks + 1))
}
if alive "$main_pid" && ! grep -q '^\(PASS\|FAIL\|XFAIL\) *\[draining\]' "$work/checker.out"; then
  kill -TERM "$main_pid"   # the checker stopped before its drain phase
fi
wait_exit main "$main_pid" "$work/main.log"
main_pid=""
kill -TERM "$loading_pid" 2>/dev/null || true
wait_exit loading "$loading_pid" "$work/loading.log"
loading_pid=""
if [ -n "$text_pid" ]; then
  kill -TERM "$text_pid" 2>/dev/null || true
  wait_exit text "$text_pid" "$work/text.log"
  text_pid=""
fi

read -r passed failed < <(sed -n 's/^openapi: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$work/checker.out" | tail -n1) || true
passed=${passed:-0}
failed=${failed:-0}
[ "$checker" = 0 ] || [ "$failed" -gt 0 ] || failed=1   # the checker died before its summary
passed=$((passed + server_checks - server_failures))
failed=$((failed + server_failures))
echo "check_openapi.sh: $(( $(date +%s) - started )) s (spec + real exchanges + the servers' exit status)"
echo "total: $passed passed, $failed failed"
[ "$failed" = 0 ]
