#!/usr/bin/env bash
# Holds `lmscore serve` to openapi.yaml with schemathesis, a property-based API tester nobody here wrote:
# it generates valid and invalid requests for every operation from the spec and checks each answer
# (status, content type, headers, body) against it, and that valid requests are accepted and invalid
# ones refused. Must end with 0 failures.
#
#   Scripts/check_schemathesis.sh [SCHEMATHESIS RUN OPTIONS]     e.g. --seed 7 --max-examples 200
#
# 1. builds lmscore (debug) unless LMSCORE_BIN names a binary;
# 2. makes or reuses a venv outside the repository (LMSCORE_SCHEMATHESIS_VENV, default
#    ~/.cache/lmscore-schemathesis-venv) with pinned schemathesis from PyPI;
# 3. starts `lmscore serve` on the bundled model (GPT-2's tokenizer, so every text path runs) on
#    127.0.0.1 and a port it picks;
# 4. binds the spec to the served model (GET /v1/model): TokenId and TargetId get `maximum: vocab_size - 1` and
#    window.stride `maximum: n_positions`. The spec cannot know the model, so ids beyond its vocabulary
#    and strides beyond its context are schema-valid yet refused (422 invalid_value); those cases are
#    left to Scripts/check_openapi.sh and the tests (openapi.yaml says so);
#    Scripts/schemathesis_hooks.py drops the reports of the other rules JSON Schema cannot state (paired
#    inputs/targets lengths, n_positions), recognised by the server's error code and message;
# 5. runs every check with a fixed seed (reproducible in CI; pass --seed N to explore), then sends
#    SIGTERM and requires exit 0.
# The rules schemathesis made us write down are at the top of openapi.yaml ("Rules this description and
# the server share"). Traffic goes to 127.0.0.1 only. Needs python3 with venv.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
started=$(date +%s)
venv=${LMSCORE_SCHEMATHESIS_VENV:-$HOME/.cache/lmscore-schemathesis-venv}
requirements="schemathesis==4.32.5
hypothesis==6.170.17"
say() { echo "check_schemathesis: $*" >&2; }

. Scripts/lmscore_bin.sh check_schemathesis

stamp="$venv/.lmscore-schemathesis-requirements"
if [ ! -x "$venv/bin/schemathesis" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$requirements" ]; then
  say "creating venv $venv"
  rm -rf "$venv"; mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv" >&2 || { say "python3 cannot create venvs: install Debian's python3-venv"; exit 1; }
  mapfile -t pins <<<"$requirements"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${pins[@]}" >&2
  printf '%s' "$requirements" >"$stamp"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/lmscore-schemathesis.XXXXXX")
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# No LMSCORE_* setting inherited, and from the temp dir so that Config/lmscore.json is not read.
unset_args=()
while IFS= read -r name; do unset_args+=(-u "$name"); done < <(env | sed -n 's/^\(LMSCORE_[A-Z_]*\)=.*/\1/p')
(cd "$work" && exec env "${unset_args[@]}" "$bin" serve --host 127.0.0.1 --port 0 >"$work/server.log" 2>&1 </dev/null) &
pid=$!
port=""
for _ in $(seq 1 300); do
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\);.*/\1/p' "$work/server.log" | head -n1)
  [ -n "$port" ] && grep -q 'ready' "$work/server.log" && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
grep -q 'ready' "$work/server.log" || { say "the server did not start; its log:"; cat "$work/server.log" >&2; exit 1; }
base=http://127.0.0.1:$port

"$venv/bin/python" - "$repo/openapi.yaml" "$base/v1/model" "$work/openapi.json" <<'PY'
import json, sys, urllib.request, yaml
spec_path, model_url, out = sys.argv[1:]
spec = yaml.safe_load(open(spec_path, encoding="utf-8"))
model = json.load(urllib.request.urlopen(model_url))
schemas = spec["components"]["schemas"]
schemas["TokenId"]["maximum"] = model["vocab_size"] - 1
schemas["TargetId"]["anyOf"][0]["maximum"] = model["vocab_size"] - 1   # the other branch is -100
schemas["Window"]["properties"]["stride"]["maximum"] = model["n_positions"]
json.dump(spec, open(out, "w"))
print(f"check_schemathesis: TokenId and TargetId bound to [0, {model['vocab_size'] - 1}], window.stride to "
      f"[1, {model['n_positions']}]", file=sys.stderr)
PY

say "schemathesis against $base (server pid $pid)"
set +e
(cd "$work" && SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$repo/Scripts" "$venv/bin/schemathesis" run "$work/openapi.json" --url "$base" --checks all --workers 1 \
   --seed 1 --max-examples 40 --no-color "$@")
status=$?
set -e

kill -TERM "$pid"
for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
wait "$pid" && server=0 || server=$?
pid=""
echo "check_schemathesis.sh: $(( $(date +%s) - started )) s; schemathesis exit $status; server exit $server after SIGTERM"
if [ "$server" != 0 ]; then say "the server exited $server after SIGTERM; its log:"; tail -n 5 "$work/server.log" >&2; fi
[ "$status" = 0 ] && [ "$server" = 0 ]
