#!/usr/bin/env bash
# Acceptance run of lm-eval's `local-completions` against a running lmscore, once per
# tokenized_requests setting (ids and strings), each followed by a re-score of every logged request with
# lmscore's own POST /score (check_lm_eval.py); then the same tasks with `lm-eval --model hf` on the same
# model directory in transformers, and a comparison of the numbers (compare_lm_eval_runs.py: acc and
# acc_norm equal per task, every request's log-likelihood within 2e-4, is_greedy equal).
#
#   Scripts/openai_compat/run_lm_eval.sh [BASE_URL]          (default http://127.0.0.1:8080)
#
# Fully offline: the tokenizer lm-eval needs is a Hugging Face GPT-2 tokenizer directory generated
# into a temporary folder from Models/lmscore-gpt2-small-en/gpt2.tiktoken (gpt2_tokenizer.py), the
# data set is tasks/lmscore_mc.jsonl. Environment knobs:
#   VENV=DIR                 python venv with requirements.txt installed (default: Scripts/setup_venv.sh's,
#                            $LMSCORE_VENV or ~/.cache/lmscore-venv)
#   TASKS=lmscore_mc,lmscore_mc_noctx,lmscore_mc_greedy
#   OUT=DIR                  lm-eval --output_path (default: a fresh temporary folder, kept)
#   MODEL=ID                 model id for the payload (default: first id of GET /v1/models)
#   MAX_LENGTH=N             lm-eval max_length (default: n_positions from GET /v1/model, else 1024)
#   BATCH_SIZE=4             prompts per POST (lm-eval sends "prompt": [[ids], [ids], ...])
#   NUM_CONCURRENT=2         >1 uses lm-eval's aiohttp path; 1 its requests path
#   MAX_RETRIES=3            lm-eval's attempts per request (tenacity stop_after_attempt)
#   RANKS=FILE               tiktoken ranks file (default the default model's)
#   WAIT_SECONDS=60          how long to wait for GET /healthz to say "ok" first
#   TOKENIZER_BACKEND=huggingface  or tiktoken: lm-eval's own tiktoken backend, offline through a seeded
#                            TIKTOKEN_CACHE_DIR; it forces model=gpt2 in the requests (encoding_for_model),
#                            so the server must serve a model named gpt2 (a directory, or symlink, of that name);
#                            or remote: the server's /tokenizer_info, /tokenize, /detokenize (needs an
#                            lm-eval newer than 0.4.13: give its venv as VENV)
#   TOKENIZED_REQUESTS="True False"  lm-eval's tokenized_requests values to run (ids, then strings)
#   HF_MODEL=DIR             the transformers reference run's model (default Models/lmscore-gpt2-small-en);
#                            HF_MODEL=none skips the reference run and the comparison
set -euo pipefail

BASE_URL="${1:-${LMSCORE_URL:-http://127.0.0.1:8080}}"
BASE_URL="${BASE_URL%/}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VENV="${VENV:-${LMSCORE_VENV:-$HOME/.cache/lmscore-venv}}"
PY="$VENV/bin/python"
LM_EVAL="$VENV/bin/lm-eval"
TASKS="${TASKS:-lmscore_mc,lmscore_mc_noctx,lmscore_mc_greedy}"
BATCH_SIZE="${BATCH_SIZE:-4}"
NUM_CONCURRENT="${NUM_CONCURRENT:-2}"
MAX_RETRIES="${MAX_RETRIES:-3}"
RANKS="${RANKS:-$REPO/Models/lmscore-gpt2-small-en/gpt2.tiktoken}"
TOKENIZER_BACKEND="${TOKENIZER_BACKEND:-huggingface}"

export HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
export TOKENIZERS_PARALLELISM=false
# lm-eval sends "Authorization: Bearer $OPENAI_API_KEY" (empty if unset); lmscore needs no key.
export OPENAI_API_KEY="${OPENAI_API_KEY:-unused}"

cd "$REPO"   # tasks/lmscore_mc.yaml's data_files path is relative to the repository root

get_json() { # URL PYTHON-EXPR-ON-d  -> prints the value, or nothing on any failure
    "$PY" - "$1" "$2" <<'PY' 2>/dev/null || true
import json, sys, urllib.request
try:
    d = json.load(urllib.request.urlopen(sys.argv[1], timeout=10))
    print(eval(sys.argv[2]))
except Exception:
    pass
PY
}

# wait (up to WAIT_SECONDS, default 60) for the server to answer /healthz with status ok
for ((i = 0; i < ${WAIT_SECONDS:-60}; i++)); do
    [[ "$(get_json "$BASE_URL/healthz" 'd["status"]')" == ok ]] && break
    sleep 1
done
if [[ -z "${MODEL:-}" ]]; then
    MODEL="$(get_json "$BASE_URL/v1/models" 'd["data"][0]["id"]')"
    [[ -n "$MODEL" ]] || MODEL="$(get_json "$BASE_URL/v1/model" 'd["name"]')"
    [[ -n "$MODEL" ]] || { echo "run_lm_eval: cannot read a model id from $BASE_URL/v1/models (is lmscore serving?)" >&2; exit 2; }
fi
if [[ -z "${MAX_LENGTH:-}" ]]; then
    MAX_LENGTH="$(get_json "$BASE_URL/v1/model" 'd["n_positions"]')"
    [[ -n "$MAX_LENGTH" ]] || MAX_LENGTH=1024
fi

TOKDIR="$(mktemp -d "${TMPDIR:-/tmp}/lmscore-tokenizer.XXXXXX")"
trap 'rm -rf "$TOKDIR"' EXIT
case "$TOKENIZER_BACKEND" in
    huggingface)
        # a GPT-2 HF tokenizer directory generated from the ranks (nothing fetched, nothing committed)
        "$PY" "$HERE/gpt2_tokenizer.py" write "$TOKDIR" --ranks "$RANKS" >/dev/null
        TOKENIZER_ARGS="tokenizer_backend=huggingface,tokenizer=$TOKDIR" ;;
    tiktoken)
        # lm-eval calls tiktoken.encoding_for_model(model): only works with model=gpt2 (which is then also
        # the "model" sent in every request), and offline only with a seeded TIKTOKEN_CACHE_DIR
        "$PY" "$HERE/gpt2_tokenizer.py" seed-tiktoken-cache "$TOKDIR" --ranks "$RANKS" >/dev/null
        export TIKTOKEN_CACHE_DIR="$TOKDIR"
        MODEL=gpt2
        TOKENIZER_ARGS="tokenizer_backend=tiktoken" ;;
    remote)
        # lm-eval asks the server: GET /tokenizer_info, POST /tokenize and /detokenize (vLLM's field names)
        TOKENIZER_ARGS="tokenizer_backend=remote" ;;
    *) echo "run_lm_eval: TOKENIZER_BACKEND must be huggingface, tiktoken or remote" >&2; exit 2 ;;
esac
OUT="${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/lmscore-lm-eval.XXXXXX")}"
TOKENIZED_REQUESTS="${TOKENIZED_REQUESTS:-True False}"
HF_MODEL="${HF_MODEL:-$REPO/Models/lmscore-gpt2-small-en}"

RUNS=()
for tokenized in $TOKENIZED_REQUESTS; do
    run_out="$OUT/lmscore-$TOKENIZER_BACKEND-tokenized-$tokenized"
    echo "run_lm_eval: model=$MODEL base_url=$BASE_URL/v1/completions max_length=$MAX_LENGTH tasks=$TASKS tokenizer=$TOKENIZER_BACKEND tokenized_requests=$tokenized out=$run_out" >&2
    "$LM_EVAL" run \
        --model local-completions \
        --model_args "model=$MODEL,base_url=$BASE_URL/v1/completions,$TOKENIZER_ARGS,tokenized_requests=$tokenized,num_concurrent=$NUM_CONCURRENT,max_retries=$MAX_RETRIES,max_length=$MAX_LENGTH,timeout=120" \
        --batch_size "$BATCH_SIZE" \
        --tasks "$TASKS" \
        --include_path "$HERE/tasks" \
        --log_samples \
        --output_path "$run_out"

    "$PY" "$HERE/check_lm_eval.py" --base-url "$BASE_URL" --output-path "$run_out" --tasks "$TASKS" \
        --max-length "$MAX_LENGTH" --ranks "$RANKS"
    RUNS+=(--run "$TOKENIZER_BACKEND-tokenized-$tokenized=$run_out")
done

[[ "$HF_MODEL" == none ]] && exit 0
# The reference: the same model directory in transformers (FP32), the same tasks, with the HF tokenizer
# generated from the model's ranks (the tokenizer backend does not matter to it).
"$PY" "$HERE/gpt2_tokenizer.py" write "$TOKDIR/hf" --ranks "$RANKS" >/dev/null
echo "run_lm_eval: reference run lm-eval --model hf pretrained=$HF_MODEL out=$OUT/hf" >&2
"$LM_EVAL" run \
    --model hf \
    --model_args "pretrained=$HF_MODEL,tokenizer=$TOKDIR/hf,dtype=float32,max_length=$MAX_LENGTH" \
    --device cpu \
    --batch_size "$BATCH_SIZE" \
    --tasks "$TASKS" \
    --include_path "$HERE/tasks" \
    --log_samples \
    --output_path "$OUT/hf"
"$PY" "$HERE/compare_lm_eval_runs.py" --tasks "$TASKS" --reference "hf=$OUT/hf" "${RUNS[@]}"
