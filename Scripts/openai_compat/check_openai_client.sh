#!/usr/bin/env bash
# CI's check of /v1/completions and /v1/models with the official `openai` Python package: starts
# `lmscore serve` with the bundled model on a free loopback port, runs check_openai_client.py against
# it, stops the server (SIGTERM; it must exit 0).
#
#   Scripts/openai_compat/check_openai_client.sh
#
# Uses LMSCORE_BIN if set, else builds .build/debug/lmscore. The venv (openai + tiktoken, pinned as in
# requirements.txt; no torch) lives outside the repository: LMSCORE_OPENAI_VENV, default
# ~/.cache/lmscore-openai-venv. lm-eval is not run here (it pulls in torch): see run_lm_eval.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
say() { echo "check_openai_client: $*" >&2; }

venv=${LMSCORE_OPENAI_VENV:-$HOME/.cache/lmscore-openai-venv}
requirements="openai==3.57.0
tiktoken==0.14.0"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.lmscore-requirements" 2>/dev/null)" != "$requirements" ]; then
  say "creating venv $venv"
  rm -rf "$venv" && mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv" >&2 || { apt-get install -y -qq --no-install-recommends python3-venv >/dev/null && python3 -m venv "$venv" >&2; }
  mapfile -t pins <<<"$requirements"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${pins[@]}" >&2
  printf '%s' "$requirements" >"$venv/.lmscore-requirements"
fi

if [ -n "${LMSCORE_BIN:-}" ]; then bin=$LMSCORE_BIN; else swift build --product lmscore >&2; bin=.build/debug/lmscore; fi
log=$(mktemp)
LMSCORE_LOG_LEVEL=info "$bin" serve --model Models/lmscore-gpt2-small-en --host 127.0.0.1 --port 0 >"$log" 2>&1 &
server=$!
trap 'kill -KILL $server 2>/dev/null || true; rm -f "$log"' EXIT
port=""
for _ in $(seq 1 300); do
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\);.*/\1/p' "$log" | head -n1)
  [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.1
done
[ -n "$port" ] || { cat "$log" >&2; say "server did not start"; exit 1; }

PYTHONDONTWRITEBYTECODE=1 "$venv/bin/python" Scripts/openai_compat/check_openai_client.py --base-url "http://127.0.0.1:$port"
kill -TERM $server
wait $server || { cat "$log" >&2; say "server did not exit 0 after SIGTERM"; exit 1; }
trap 'rm -f "$log"' EXIT
