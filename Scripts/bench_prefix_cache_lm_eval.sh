#!/usr/bin/env bash
# The prefix cache through lm-eval (issue 23): an MMLU-shaped evaluation — SUBJECTS generated subjects
# x QUESTIONS questions, 5-shot (lm-eval's MMLU template: the same first 5 dev questions before every
# test question of a subject, choices " A".." D"), no download — run by lm-eval 0.4.x `local-completions`
# against a release `lmscore serve` with the cache off, then on. Prints lm-eval's wall time and
# accuracy for both, and checks that every logged request's log-likelihood and is_greedy are equal.
#
#   Scripts/bench_prefix_cache_lm_eval.sh MODEL_DIR     (a GPT-2-vocabulary model: its tokenizer is the
#                                                        bundled ranks, as run_lm_eval.sh uses them)
# Environment: VENV (lm-eval's venv, default $LMSCORE_VENV or ~/.cache/lmscore-venv, see
# Scripts/openai_compat/requirements.txt), LMSCORE_BIN (default .build/release/lmscore), SUBJECTS=20,
# QUESTIONS=10, BATCH_SIZE=8, BUDGET (cache bytes when on; default the server's).
set -euo pipefail

MODEL="${1:?usage: bench_prefix_cache_lm_eval.sh MODEL_DIR}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
VENV="${VENV:-${LMSCORE_VENV:-$HOME/.cache/lmscore-venv}}"
PY="$VENV/bin/python"
BIN="${LMSCORE_BIN:-$REPO/.build/release/lmscore}"
SUBJECTS="${SUBJECTS:-20}"
QUESTIONS="${QUESTIONS:-10}"
BATCH_SIZE="${BATCH_SIZE:-8}"
RANKS="$REPO/Models/lmscore-gpt2-small-en/gpt2.tiktoken"
export HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 TOKENIZERS_PARALLELISM=false
export OPENAI_API_KEY="${OPENAI_API_KEY:-unused}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/lmscore-prefix-lm-eval.XXXXXX")"
echo "bench_prefix_cache_lm_eval: work directory $WORK" >&2
"$PY" "$HERE/openai_compat/gpt2_tokenizer.py" write "$WORK/tokenizer" --ranks "$RANKS" >/dev/null

# The tasks: per subject a dev split (the 5 shots) and a test split, words drawn from a seeded
# syllable alphabet so that a question is ~60 GPT-2 tokens and the 5-shot prefix ~450.
"$PY" - "$WORK/tasks" "$SUBJECTS" "$QUESTIONS" <<'PY'
import json, random, sys
from pathlib import Path
out, subjects, questions = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
out.mkdir(parents=True)
rng = random.Random(23)
syllables = ["ka", "lo", "mi", "ter", "sun", "bra", "vo", "nel", "qui", "dor", "pha", "zen", "ru", "gat", "shi", "mon"]
word = lambda: "".join(rng.choice(syllables) for _ in range(rng.randint(1, 3)))
words = lambda n: " ".join(word() for _ in range(n))
def doc():
    return {"question": words(rng.randint(19, 24)) + "?", "choices": [words(rng.randint(1, 2)) for _ in range(4)],
            "answer": rng.randrange(4)}
names = []
for s in range(subjects):
    name = f"prefixbench_{s:02d}"
    names.append(name)
    for split, n in (("dev", 5), ("test", questions)):
        with open(out / f"{name}_{split}.jsonl", "w") as f:
            for _ in range(n):
                f.write(json.dumps(doc()) + "\n")
    (out / f"{name}.yaml").write_text(f"""task: {name}
dataset_path: json
dataset_name: null
dataset_kwargs:
  data_files:
    dev: {out}/{name}_dev.jsonl
    test: {out}/{name}_test.jsonl
test_split: test
fewshot_split: dev
fewshot_config:
  sampler: first_n
num_fewshot: 5
description: "The following are multiple choice questions (with answers) about {words(2)}.\\n\\n"
output_type: multiple_choice
doc_to_text: "{{{{question.strip()}}}}\\nA. {{{{choices[0]}}}}\\nB. {{{{choices[1]}}}}\\nC. {{{{choices[2]}}}}\\nD. {{{{choices[3]}}}}\\nAnswer:"
doc_to_choice: ["A", "B", "C", "D"]
doc_to_target: answer
target_delimiter: " "
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
""")
print(",".join(names), file=open(out / "names.txt", "w"))
PY
TASKS="$(cat "$WORK/tasks/names.txt")"

run_once() { # SETTING BUDGET
    local setting="$1" budget="$2" port
    port="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    local args=(serve --model "$MODEL" --port "$port" --host 127.0.0.1)
    [[ -n "$budget" ]] && args+=(--prefix-cache-bytes "$budget")
    (cd "$REPO" && LMSCORE_LOG_LEVEL=warning exec "$BIN" "${args[@]}") >>"$WORK/server.log" 2>&1 &
    local pid=$!
    for _ in $(seq 600); do
        curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
        sleep 0.2
    done
    local name
    name="$(curl -sf "http://127.0.0.1:$port/v1/model" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["name"]); print(d["prefix_cache_bytes"], d["kernel"], file=sys.stderr)' 2>"$WORK/$setting.setting")"
    local start end
    start=$(date +%s.%N)
    "$VENV/bin/lm-eval" run --model local-completions \
        --model_args "model=$name,base_url=http://127.0.0.1:$port/v1/completions,tokenizer_backend=huggingface,tokenizer=$WORK/tokenizer,tokenized_requests=True,num_concurrent=1,max_retries=1,max_length=1024,timeout=600" \
        --batch_size "$BATCH_SIZE" --tasks "$TASKS" --include_path "$WORK/tasks" --log_samples \
        --output_path "$WORK/$setting" >"$WORK/$setting.log" 2>&1 || { echo "lm-eval failed: $WORK/$setting.log" >&2; kill "$pid"; exit 1; }
    end=$(date +%s.%N)
    curl -sf "http://127.0.0.1:$port/metrics" | grep '^lmscore_prefix_cache' >"$WORK/$setting.metrics" || true
    grep VmHWM "/proc/$pid/status" >"$WORK/$setting.rss" || true
    kill "$pid"
    wait "$pid" || true
    echo "$end - $start" | bc >"$WORK/$setting.seconds"
}

run_once off 0
run_once on "${BUDGET:-}"

"$PY" - "$WORK" <<'PY'
import glob, json, sys
from pathlib import Path
work = Path(sys.argv[1])
def load(setting):
    results = json.load(open(sorted(glob.glob(str(work / setting / "**" / "results_*.json"), recursive=True))[-1]))
    accs = {t: r["acc,none"] for t, r in results["results"].items()}
    samples = {}
    for path in glob.glob(str(work / setting / "**" / "samples_*.jsonl"), recursive=True):
        for line in open(path):
            s = json.loads(line)
            samples[(Path(path).name.split("_20")[0], s["doc_id"])] = s["resps"]
    return accs, samples
acc_off, samples_off = load("off")
acc_on, samples_on = load("on")
mean = lambda a: sum(a.values()) / len(a)
for setting, acc in (("off", acc_off), ("on", acc_on)):
    seconds = float((work / f"{setting}.seconds").read_text())
    print(f"lm-eval cache {setting}: {seconds:.1f} s wall, mean acc {mean(acc):.4f} over {len(acc)} tasks; "
          f"server {(work / f'{setting}.setting').read_text().strip()} (prefix_cache_bytes kernel); "
          f"{(work / f'{setting}.rss').read_text().strip()}")
print("metrics with the cache on:", " ".join(l.strip() for l in open(work / "on.metrics")))
same = acc_off == acc_on and samples_off == samples_on and len(samples_off) > 0
print(f"per-task acc equal: {acc_off == acc_on}; every logged response equal: {samples_off == samples_on} ({len(samples_off)} docs)")
speed = float((work / "off.seconds").read_text()) / float((work / "on.seconds").read_text())
print(f"lm-eval wall time off / on: {speed:.2f}x")
sys.exit(0 if same else 1)
PY
